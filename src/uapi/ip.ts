/**
 * IP literals as wireguard-go reads and prints them (Go net/netip ParseAddr,
 * ParseAddrPort, ParsePrefix and Addr.String): text -> bytes + zone -> text.
 * IPv4 octets may not have leading zeros; IPv6 follows RFC 4291 section 2.2
 * (with embedded IPv4 and a %zone) and prints in RFC 5952 form, except that
 * IPv4-mapped addresses print as ::ffff:a.b.c.d, as Go does.
 * One deliberate difference: zones with control characters or spaces are
 * refused, so a value can never smuggle line breaks into a get response.
 */

export interface IpAddr {
  family: 4 | 6;
  /** 4 or 16 bytes, network order. */
  bytes: Uint8Array;
  /** IPv6 scope zone ('' = none); always '' for IPv4. */
  zone: string;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function hexVal(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

/** Dotted quad into out[off..off+4]; false if malformed. */
function parseIPv4Into(s: string, out: Uint8Array, off: number): boolean {
  let val = 0;
  let digits = 0;
  let pos = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (isDigit(c)) {
      if (digits === 1 && val === 0) return false; // leading zero
      val = val * 10 + (c - 0x30);
      digits++;
      if (val > 255) return false;
    } else if (c === 0x2e) {
      if (i === 0 || i === s.length - 1 || s.charCodeAt(i - 1) === 0x2e) return false;
      if (pos === 3) return false;
      out[off + pos++] = val;
      val = 0;
      digits = 0;
    } else {
      return false;
    }
  }
  if (pos < 3) return false;
  out[off + 3] = val;
  return true;
}

function validZone(zone: string): boolean {
  for (let i = 0; i < zone.length; i++) {
    const c = zone.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f) return false;
  }
  return true;
}

function parseIPv6(input: string): IpAddr | null {
  let s = input;
  let zone = '';
  const pct = s.indexOf('%');
  if (pct !== -1) {
    zone = s.slice(pct + 1);
    s = s.slice(0, pct);
    if (zone === '' || !validZone(zone)) return null;
  }
  const ip = new Uint8Array(16);
  let ellipsis = -1;
  if (s.length >= 2 && s[0] === ':' && s[1] === ':') {
    ellipsis = 0;
    s = s.slice(2);
    if (s.length === 0) return { family: 6, bytes: ip, zone };
  }
  let i = 0;
  while (i < 16) {
    let off = 0;
    let acc = 0;
    for (; off < s.length; off++) {
      const v = hexVal(s.charCodeAt(off));
      if (v < 0) break;
      if (off > 3) return null; // more than 4 hex digits
      acc = (acc << 4) | v;
    }
    if (off === 0) return null;
    if (off < s.length && s[off] === '.') {
      // Trailing embedded IPv4: only in the last 32 bits (or after a ::).
      if (ellipsis < 0 && i !== 12) return null;
      if (i + 4 > 16) return null;
      if (!parseIPv4Into(s, ip, i)) return null;
      s = '';
      i += 4;
      break;
    }
    ip[i] = acc >> 8;
    ip[i + 1] = acc & 0xff;
    i += 2;
    s = s.slice(off);
    if (s.length === 0) break;
    if (s[0] !== ':' || s.length === 1) return null;
    s = s.slice(1);
    if (s[0] === ':') {
      if (ellipsis >= 0) return null; // second ::
      ellipsis = i;
      s = s.slice(1);
      if (s.length === 0) break;
    }
  }
  if (s.length !== 0) return null;
  if (i < 16) {
    if (ellipsis < 0) return null;
    const n = 16 - i;
    for (let j = i - 1; j >= ellipsis; j--) ip[j + n] = ip[j]!;
    ip.fill(0, ellipsis, ellipsis + n);
  } else if (ellipsis >= 0) {
    return null; // :: must stand for at least one zero group
  }
  return { family: 6, bytes: ip, zone };
}

/** Go netip.ParseAddr: the first '.', ':' or '%' decides the family. */
export function parseAddr(s: string): IpAddr | null {
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '.') {
      const out = new Uint8Array(4);
      return parseIPv4Into(s, out, 0) ? { family: 4, bytes: out, zone: '' } : null;
    }
    if (c === ':') return parseIPv6(s);
    if (c === '%') return null;
  }
  return null;
}

function isV4Mapped(b: Uint8Array): boolean {
  if (b.length !== 16) return false;
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

/** Go netip.Addr.String. */
export function formatAddr(a: IpAddr): string {
  const b = a.bytes;
  if (a.family === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  const zone = a.zone ? `%${a.zone}` : '';
  if (isV4Mapped(b)) return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}${zone}`;
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((b[i]! << 8) | b[i + 1]!);
  // Longest run of >= 2 zero words; the first one wins a tie.
  let zStart = -1;
  let zLen = 0;
  for (let i = 0; i < 8; i++) {
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i >= 2 && j - i > zLen) {
      zStart = i;
      zLen = j - i;
    }
  }
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (i === zStart) {
      out += '::';
      i += zLen - 1;
      continue;
    }
    if (i > 0 && !out.endsWith(':')) out += ':';
    out += words[i]!.toString(16);
  }
  return out + zone;
}

/** Decimal like Go strconv.ParseUint(s, 10, bits): digits only (leading zeros fine), in range. */
export function parseUintDec(s: string, max: number): number | null {
  if (s.length === 0 || s.length > 20) return null;
  for (let i = 0; i < s.length; i++) if (!isDigit(s.charCodeAt(i))) return null;
  const n = Number(s);
  return n <= max ? n : null;
}

/** Go netip.ParseAddrPort: "a.b.c.d:port" or "[v6%zone]:port". */
export function parseAddrPort(s: string): { addr: IpAddr; port: number } | null {
  const colon = s.lastIndexOf(':');
  if (colon === -1) return null;
  let host = s.slice(0, colon);
  const portStr = s.slice(colon + 1);
  if (portStr.length === 0 || host.length === 0) return null;
  let bracketed = false;
  if (host[0] === '[') {
    if (host.length < 2 || host[host.length - 1] !== ']') return null;
    host = host.slice(1, -1);
    bracketed = true;
  }
  const port = parseUintDec(portStr, 0xffff);
  if (port === null) return null;
  const addr = parseAddr(host);
  if (addr === null) return null;
  if (bracketed !== (addr.family === 6)) return null;
  return { addr, port };
}

/** Go netip.ParsePrefix: no zone, no sign or leading zero in the length. */
export function parsePrefix(s: string): { addr: IpAddr; bits: number } | null {
  const slash = s.lastIndexOf('/');
  if (slash === -1) return null;
  const addr = parseAddr(s.slice(0, slash));
  if (addr === null || addr.zone !== '') return null;
  const bitsStr = s.slice(slash + 1);
  if (bitsStr.length > 1 && !(bitsStr[0]! >= '1' && bitsStr[0]! <= '9')) return null;
  const bits = parseUintDec(bitsStr, addr.family === 4 ? 32 : 128);
  if (bits === null) return null;
  return { addr, bits };
}

/** Zero every bit past the first `bits` (wireguard-go's allowedips trie stores prefixes masked). */
export function maskAddr(a: IpAddr, bits: number): IpAddr {
  const out = Uint8Array.from(a.bytes);
  for (let i = 0; i < out.length; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    out[i]! &= (0xff00 >> keep) & 0xff;
  }
  return { family: a.family, bytes: out, zone: '' };
}
