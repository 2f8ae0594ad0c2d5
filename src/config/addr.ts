/**
 * Text forms of addresses in config files: IP literals (validated with
 * node:net, printed canonically: dotted quad, RFC 5952 IPv6), `ip/prefix`
 * CIDRs (optionally masked like wg masks AllowedIPs), `host:port` endpoints
 * (wg(8) Endpoint syntax, kept unresolved) and DNS names.
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { Cidr, Endpoint } from './types.js';

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const fail = <T>(error: string): Parsed<T> => ({ ok: false, error });

/** 16 bytes of a validated IPv6 literal without zone id. */
function v6Bytes(s: string): Uint8Array {
  const out = new Uint8Array(16);
  const words = (part: string): number[] => {
    if (part === '') return [];
    const w: number[] = [];
    for (const g of part.split(':')) {
      if (g.includes('.')) {
        const q = g.split('.').map(Number);
        w.push((q[0]! << 8) | q[1]!, (q[2]! << 8) | q[3]!);
      } else w.push(parseInt(g, 16));
    }
    return w;
  };
  const dbl = s.indexOf('::');
  const head = words(dbl >= 0 ? s.slice(0, dbl) : s);
  const tail = dbl >= 0 ? words(s.slice(dbl + 2)) : [];
  const put = (w: number, i: number): void => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  };
  head.forEach(put);
  tail.forEach((w, i) => put(w, 8 - tail.length + i));
  return out;
}

function v4Bytes(s: string): Uint8Array {
  return Uint8Array.from(s.split('.').map(Number));
}

function formatV4(b: Uint8Array, off = 0): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

/** RFC 5952 section 4: lower case, longest zero run (2+ words, first on tie) as `::`. */
function formatV6(b: Uint8Array): string {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push((b[2 * i]! << 8) | b[2 * i + 1]!);
  if (w.slice(0, 5).every((x) => x === 0) && w[5] === 0xffff) return `::ffff:${formatV4(b, 12)}`;
  let best = -1;
  let bestLen = 1;
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
  const hex = (a: number[]): string => a.map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(w);
  return `${hex(w.slice(0, best))}::${hex(w.slice(best + bestLen))}`;
}

/** Canonical form of an IP literal (no zone id), or undefined. */
export function canonicalIp(s: string): { ip: string; family: 4 | 6 } | undefined {
  if (isIPv4(s)) return { ip: s, family: 4 };
  if (!s.includes('%') && isIPv6(s)) return { ip: formatV6(v6Bytes(s)), family: 6 };
  return undefined;
}

function maskBytes(b: Uint8Array, prefix: number): { masked: Uint8Array; hostBits: boolean } {
  const m = Uint8Array.from(b);
  for (let i = 0; i < m.length; i++) {
    const keep = Math.max(0, Math.min(8, prefix - 8 * i));
    m[i]! &= (0xff00 >> keep) & 0xff;
  }
  return { masked: m, hostBits: m.some((x, i) => x !== b[i]) };
}

/**
 * `ip[/prefix]`; a bare IP gets /32 or /128. With `mask`, host bits are
 * cleared (wg's AllowedIPs behaviour) and `hostBits` says whether any were set.
 */
export function parseCidr(text: string, mask: boolean): Parsed<{ cidr: Cidr; hostBits: boolean }> {
  const slash = text.indexOf('/');
  const ipText = slash >= 0 ? text.slice(0, slash) : text;
  const ip = canonicalIp(ipText);
  if (!ip) return fail(`${ipText.includes(':') ? 'not a valid IPv6' : 'not a valid IPv4'} address`);
  const bits = ip.family === 4 ? 32 : 128;
  let prefix = bits;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^[0-9]{1,3}$/.test(p) || Number(p) > bits) return fail(`prefix length must be an integer 0-${bits}`);
    prefix = Number(p);
  }
  if (!mask || prefix === bits) return ok({ cidr: { ip: ip.ip, cidr: prefix, family: ip.family }, hostBits: false });
  const raw = ip.family === 4 ? v4Bytes(ip.ip) : v6Bytes(ip.ip);
  const { masked, hostBits } = maskBytes(raw, prefix);
  const out = ip.family === 4 ? formatV4(masked) : formatV6(masked);
  return ok({ cidr: { ip: out, cidr: prefix, family: ip.family }, hostBits });
}

export function formatCidr(c: Cidr): string {
  return `${c.ip}/${c.cidr}`;
}

/** A DNS name: dot-separated labels of letters, digits, `-` and `_`, optional final dot. */
export function isHostname(s: string): boolean {
  if (s.length === 0 || s.length > 253) return false;
  const name = s.endsWith('.') ? s.slice(0, -1) : s;
  if (name === '') return false;
  return name.split('.').every((l) => /^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/.test(l));
}

function parsePort(p: string): number | undefined {
  if (!/^[0-9]{1,5}$/.test(p)) return undefined;
  const n = Number(p);
  return n >= 1 && n <= 65535 ? n : undefined;
}

/** wg(8) Endpoint: `host:port`, `[ipv6]:port` (zone id allowed), host unresolved. */
export function parseEndpoint(text: string): Parsed<Endpoint> {
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) return fail('missing "]" after the IPv6 address; use [addr]:port');
    if (text[close + 1] !== ':') return fail('missing ":port" after "]"; use [addr]:port');
    host = text.slice(1, close);
    portText = text.slice(close + 2);
    if (!isIPv6(host)) return fail('the address inside [...] must be an IPv6 address');
    const zone = host.indexOf('%');
    host = zone >= 0 ? formatV6(v6Bytes(host.slice(0, zone))) + host.slice(zone) : formatV6(v6Bytes(host));
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) return fail('missing port; use host:port, 1.2.3.4:port or [ipv6]:port');
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(':')) return fail('an IPv6 endpoint needs brackets: [addr]:port');
    if (host === '') return fail('missing host before ":"');
    if (/^[0-9.]+$/.test(host)) {
      if (!isIPv4(host)) return fail('host is not a valid IPv4 address');
    } else if (!isHostname(host)) {
      return fail('host is neither an IP address nor a valid DNS name');
    }
  }
  const port = parsePort(portText);
  if (port === undefined) return fail('port must be an integer 1-65535');
  return ok({ host, port });
}

export function formatEndpoint(e: Endpoint): string {
  return e.host.includes(':') ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`;
}
