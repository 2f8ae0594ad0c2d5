/**
 * IP literals as wireguard-go reads and prints them (Go net/netip ParseAddr,
 * ParseAddrPort, ParsePrefix and Addr.String), on top of the one IP text
 * codec (src/ip/text.ts): text -> bytes + zone -> text. IPv4 octets may not
 * have leading zeros; IPv6 follows RFC 4291 section 2.2 (with embedded IPv4
 * and a %zone) and prints in RFC 5952 form, except that IPv4-mapped
 * addresses print as ::ffff:a.b.c.d, as Go does. One deliberate difference:
 * zones with control characters or spaces are refused, so a value can never
 * smuggle line breaks into a get response.
 */
import { formatIp, parseIpZone } from '../ip/text.js';

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

/** Go netip.ParseAddr. */
export function parseAddr(s: string): IpAddr | null {
  const a = parseIpZone(s);
  return a === null ? null : { family: a.ip.length === 4 ? 4 : 6, bytes: a.ip, zone: a.zone };
}

/** Go netip.Addr.String of 4 or 16 bytes: the deprecated IPv4-compatible form in hex, IPv4-mapped dotted. */
export function formatAddr(bytes: Uint8Array, zone = ''): string {
  return formatIp(bytes, { compatibleDotted: false }) + (zone ? `%${zone}` : '');
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
