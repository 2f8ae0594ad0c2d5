/**
 * Text forms of addresses in config files: IP literals (validated with
 * node:net, printed canonically: dotted quad, RFC 5952 IPv6), `ip/prefix`
 * CIDRs (optionally masked like wg masks AllowedIPs), `host:port` endpoints
 * (wg(8) Endpoint syntax, kept unresolved) and DNS names.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { formatIp, parseIp } from '../ip/text.js';
import type { Cidr, Endpoint } from './types.js';

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const fail = <T>(error: string): Parsed<T> => ({ ok: false, error });

/** Canonical text of address bytes: the config writes IPv4-compatible IPv6 in hex, as URLs do. */
function formatAddress(b: Uint8Array): string {
  return formatIp(b, { compatibleDotted: false });
}

/** Bytes of a literal already validated by node:net. */
function bytesOf(s: string): Uint8Array {
  const b = parseIp(s);
  if (b === null) throw new RangeError(`not an IP literal: ${s}`);
  return b;
}

/** Canonical form of an IP literal (no zone id), or undefined. */
export function canonicalIp(s: string): { ip: string; family: 4 | 6 } | undefined {
  if (isIPv4(s)) return { ip: s, family: 4 };
  if (!s.includes('%') && isIPv6(s)) return { ip: formatAddress(bytesOf(s)), family: 6 };
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
  const { masked, hostBits } = maskBytes(bytesOf(ip.ip), prefix);
  const out = formatAddress(masked);
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

/** The messages that differ between the users of splitHostPort. */
export interface HostPortHints {
  noPort: string;
  noHost: string;
  unbracketedV6: string;
}

/**
 * `host:port` or `[ipv6]:port` split at the port's colon, brackets removed;
 * neither half is checked beyond that. Endpoint and the [Forward]/[Expose]
 * Listen and Target values share it.
 */
export function splitHostPort(text: string, hints: HostPortHints): Parsed<{ host: string; port: string; bracketed: boolean }> {
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) return fail('missing "]" after the IPv6 address; use [addr]:port');
    if (text[close + 1] !== ':') return fail('missing ":port" after "]"; use [addr]:port');
    return ok({ host: text.slice(1, close), port: text.slice(close + 2), bracketed: true });
  }
  const colon = text.lastIndexOf(':');
  if (colon < 0) return fail(hints.noPort);
  const host = text.slice(0, colon);
  if (host.includes(':')) return fail(hints.unbracketedV6);
  if (host === '') return fail(hints.noHost);
  return ok({ host, port: text.slice(colon + 1), bracketed: false });
}

const ENDPOINT_HINTS: HostPortHints = {
  noPort: 'missing port; use host:port, 1.2.3.4:port or [ipv6]:port',
  noHost: 'missing host before ":"',
  unbracketedV6: 'an IPv6 endpoint needs brackets: [addr]:port',
};

/** wg(8) Endpoint: `host:port`, `[ipv6]:port` (zone id allowed), host unresolved. */
export function parseEndpoint(text: string): Parsed<Endpoint> {
  const split = splitHostPort(text, ENDPOINT_HINTS);
  if (!split.ok) return split;
  let host = split.value.host;
  if (split.value.bracketed) {
    if (!isIPv6(host)) return fail('the address inside [...] must be an IPv6 address');
    const zone = host.indexOf('%');
    host = zone >= 0 ? formatAddress(bytesOf(host.slice(0, zone))) + host.slice(zone) : formatAddress(bytesOf(host));
  } else if (/^[0-9.]+$/.test(host)) {
    if (!isIPv4(host)) return fail('host is not a valid IPv4 address');
  } else if (!isHostname(host)) {
    return fail('host is neither an IP address nor a valid DNS name');
  }
  const port = parsePort(split.value.port);
  if (port === undefined) return fail('port must be an integer 1-65535');
  return ok({ host, port });
}

export function formatEndpoint(e: Endpoint): string {
  return e.host.includes(':') ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`;
}
