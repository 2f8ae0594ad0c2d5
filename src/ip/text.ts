/**
 * The one IP text codec: text <-> bytes (RFC 791 dotted quad, RFC 4291
 * section 2.2 IPv6 text forms with an optional %zone, RFC 5952 canonical
 * output) and CIDR strings. Every folder that reads or writes an address as
 * text comes here (the config, the UAPI's Go netip grammar, the netstack,
 * the forwarder, the batched UDP socket's sources).
 *
 *   "fe80::1%eth0" -> parseIpZone -> { ip: 16 bytes, zone: 'eth0' }
 *   "10.0.0.1"     -> parseIp     -> 4 bytes -> formatIp -> "10.0.0.1"
 *
 * Addresses are Uint8Arrays of 4 or 16 bytes in network order. Parsing never
 * throws: malformed text gives null.
 */

/** IPv4 only as four decimal parts 0-255 without leading zeros (as Node's net.isIPv4). */
function parseV4(s: string, out: Uint8Array, at: number): boolean {
  let part = 0;
  let digits = 0;
  let parts = 0;
  for (let i = 0; i <= s.length; i++) {
    const ch = i < s.length ? s.charCodeAt(i) : 46; /* '.' ends the last part */
    if (ch === 46) {
      if (digits === 0 || parts === 4) return false;
      out[at + parts++] = part;
      part = 0;
      digits = 0;
    } else if (ch >= 48 && ch <= 57) {
      if (digits > 0 && part === 0) return false; // leading zero
      part = part * 10 + (ch - 48);
      if (++digits > 3 || part > 255) return false;
    } else {
      return false;
    }
  }
  return parts === 4;
}

/** One IPv6 group: 1-4 hex digits, or -1. */
function hexGroup(s: string): number {
  if (s.length === 0 || s.length > 4) return -1;
  let v = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let d: number;
    if (c >= 48 && c <= 57) d = c - 48;
    else if (c >= 97 && c <= 102) d = c - 87;
    else if (c >= 65 && c <= 70) d = c - 55;
    else return -1;
    v = v * 16 + d;
  }
  return v;
}

/**
 * Parses the groups of one side of an IPv6 address into 16-bit words.
 * `v4ok`: the last group may be a dotted quad (counts as two words).
 */
function v6Groups(s: string, v4ok: boolean): number[] | null {
  if (s.length === 0) return [];
  const parts = s.split(':');
  const words: number[] = [];
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (v4ok && i === parts.length - 1 && p.includes('.')) {
      const b = new Uint8Array(4);
      if (!parseV4(p, b, 0)) return null;
      words.push((b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!);
    } else {
      const w = hexGroup(p);
      if (w < 0) return null;
      words.push(w);
    }
  }
  return words;
}

function parseV6(s: string): Uint8Array | null {
  if (s.length < 2 || s.length > 45) return null;
  const gap = s.indexOf('::');
  let head: number[] | null;
  let tail: number[] | null;
  if (gap < 0) {
    head = v6Groups(s, true);
    tail = [];
    if (head === null || head.length !== 8) return null;
  } else {
    if (s.indexOf('::', gap + 1) >= 0) return null;
    head = v6Groups(s.slice(0, gap), false);
    tail = v6Groups(s.slice(gap + 2), true);
    // "::" stands for at least one zero group.
    if (head === null || tail === null || head.length + tail.length > 7) return null;
  }
  const out = new Uint8Array(16);
  head.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  const start = 8 - tail.length;
  tail.forEach((w, i) => {
    out[2 * (start + i)] = w >> 8;
    out[2 * (start + i) + 1] = w & 0xff;
  });
  return out;
}

/** Text to 4 or 16 address bytes; null when malformed (zone ids like "%eth0" are refused). */
export function parseIp(s: string): Uint8Array | null {
  if (s.includes(':')) return parseV6(s);
  if (s.length < 7 || s.length > 15) return null;
  const out = new Uint8Array(4);
  return parseV4(s, out, 0) ? out : null;
}

/** A zone may not hold control characters or spaces (it could smuggle line breaks into text protocols). */
function validZone(zone: string): boolean {
  if (zone.length === 0) return false;
  for (let i = 0; i < zone.length; i++) {
    const c = zone.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f) return false;
  }
  return true;
}

/**
 * As parseIp, and an IPv6 address may carry a scope zone after '%'
 * (RFC 4007 section 11: "fe80::1%eth0"); zone is '' when there is none.
 */
export function parseIpZone(s: string): { ip: Uint8Array; zone: string } | null {
  const pct = s.indexOf('%');
  if (pct < 0) {
    const ip = parseIp(s);
    return ip === null ? null : { ip, zone: '' };
  }
  const zone = s.slice(pct + 1);
  const head = s.slice(0, pct);
  if (!head.includes(':') || !validZone(zone)) return null;
  const ip = parseV6(head);
  return ip === null ? null : { ip, zone };
}

function dotted(b: Uint8Array, at: number): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

/**
 * Address bytes to text. IPv6 follows RFC 5952 (lower-case hex, no leading
 * zeros, the first longest run of two or more zero groups as "::") and, like
 * Node/libuv and glibc inet_ntop, writes the last 32 bits as a dotted quad for
 * IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d) addresses.
 * With `compatibleDotted: false` the deprecated IPv4-compatible form is
 * written in hex instead, as the WHATWG URL serializer does (the config's
 * canonical text). Any length other than 4 or 16 throws RangeError (a
 * programming error).
 */
export function formatIp(b: Uint8Array, opts: { compatibleDotted?: boolean } = {}): string {
  if (b.length === 4) return dotted(b, 0);
  if (b.length !== 16) throw new RangeError(`formatIp: ${b.length}-byte address`);
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push((b[2 * i]! << 8) | b[2 * i + 1]!);
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) best = -1;
  if (best === 0 && ((bestLen === 6 && opts.compatibleDotted !== false) || (bestLen === 5 && w[5] === 0xffff))) {
    return (bestLen === 5 ? '::ffff:' : '::') + dotted(b, 12);
  }
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (i === best) {
      out += '::';
      i += bestLen - 1;
      continue;
    }
    if (out.length > 0 && !out.endsWith(':')) out += ':';
    out += w[i]!.toString(16);
  }
  return out;
}

/**
 * "addr/len" to address bytes and prefix length; a bare address means a host
 * route (/32 or /128), as wg(8) accepts. Host bits are kept as written
 * (AllowedIPs.insert masks them; see maskPrefix). Null when malformed.
 */
export function parseCidr(s: string): { ip: Uint8Array; cidr: number } | null {
  const slash = s.indexOf('/');
  const ip = parseIp(slash < 0 ? s : s.slice(0, slash));
  if (ip === null) return null;
  const max = ip.length * 8;
  if (slash < 0) return { ip, cidr: max };
  const t = s.slice(slash + 1);
  if (!/^[0-9]{1,3}$/.test(t)) return null;
  const cidr = Number(t);
  return cidr <= max ? { ip, cidr } : null;
}

/** A copy of `ip` with the bits past `cidr` cleared. */
export function maskPrefix(ip: Uint8Array, cidr: number): Uint8Array {
  const out = new Uint8Array(ip);
  for (let i = 0; i < out.length; i++) {
    const keep = cidr - 8 * i;
    if (keep <= 0) out[i] = 0;
    else if (keep < 8) out[i]! &= (0xff << (8 - keep)) & 0xff;
  }
  return out;
}
