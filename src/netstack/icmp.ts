/**
 * ICMP for IPv4 (RFC 792) and ICMPv6 (RFC 4443): answer echo requests sent
 * to our addresses, build destination-unreachable errors quoting the packet
 * that caused them, and hand received errors (with the quoted transport
 * header) to the transports.
 *
 * Inbound: input*() verifies the checksum (ICMPv6 with the pseudo-header,
 * RFC 4443 section 2.3), then replies or reports. Outbound: send*Error().
 */
import { checksum, sum, finish, pseudoHeaderSum } from './checksum.js';
import type { Host } from './host.js';
import { type Datagram, newPacket, sealPacket, headerLength, transportChecksum, isUnicastSource, PROTO_ICMP, PROTO_ICMPV6 } from './ip.js';
import { parseIpv6 } from './ipv6.js';

export const ICMP4_ECHO_REPLY = 0;
export const ICMP4_DEST_UNREACH = 3;
export const ICMP4_ECHO_REQUEST = 8;
export const ICMP4_TIME_EXCEEDED = 11;
export const ICMP4_CODE_PORT_UNREACH = 3;
export const ICMP4_CODE_FRAG_NEEDED = 4;

export const ICMP6_DEST_UNREACH = 1;
export const ICMP6_PACKET_TOO_BIG = 2;
export const ICMP6_TIME_EXCEEDED = 3;
export const ICMP6_PARAM_PROBLEM = 4;
export const ICMP6_ECHO_REQUEST = 128;
export const ICMP6_ECHO_REPLY = 129;
export const ICMP6_CODE_PORT_UNREACH = 4;

/** A received ICMP error, with the addresses and protocol of the packet we had sent. */
export interface IcmpError {
  version: 4 | 6;
  /** 'unreachable' (hard for TCP in SYN-SENT, soft otherwise), 'too-big' (path MTU), 'other'. */
  kind: 'unreachable' | 'too-big' | 'other';
  /** Next-hop MTU for 'too-big', else 0. */
  mtu: number;
  /** Source and destination of the quoted (our own) packet. */
  src: Uint8Array;
  dst: Uint8Array;
  proto: number;
  /** The quoted transport header bytes (at least 8 when present). */
  transport: Uint8Array;
}

/** Largest ICMP error packets: 576 bytes for IPv4 (RFC 1812 4.3.2.3), 1280 for IPv6 (RFC 4443 2.4(c)). */
const MAX_ERROR_V4 = 576;
const MAX_ERROR_V6 = 1280;

export function inputIcmpv4(host: Host, d: Datagram, onError: (e: IcmpError) => void): void {
  const p = d.payload;
  if (p.length < 8) return host.drop('icmp-short');
  if (checksum(p) !== 0) return host.drop('icmp-checksum');
  const type = p[0]!;
  if (type === ICMP4_ECHO_REQUEST) {
    if (p[1] !== 0) return host.drop('icmp-bad-code');
    if (!isUnicastSource(d.src)) return host.drop('icmp-echo-bad-source');
    if (!host.isLocal(d.dst)) return host.drop('icmp-echo-not-ours');
    const out = newPacket(4, p.length);
    out.set(p, 20);
    out[20] = ICMP4_ECHO_REPLY;
    out[22] = 0;
    out[23] = 0;
    const c = checksum(out, 20);
    out[22] = c >> 8;
    out[23] = c & 0xff;
    sealPacket(out, 4, d.dst, d.src, PROTO_ICMP, host.nextIpId());
    host.emit(out);
    return;
  }
  if (type === ICMP4_DEST_UNREACH || type === ICMP4_TIME_EXCEEDED) {
    const q = parseIpv4Quote(p.subarray(8));
    if (q === null) return host.drop('icmp-error-bad-quote');
    const frag = type === ICMP4_DEST_UNREACH && p[1] === ICMP4_CODE_FRAG_NEEDED;
    onError({
      version: 4,
      kind: frag ? 'too-big' : type === ICMP4_DEST_UNREACH ? 'unreachable' : 'other',
      mtu: frag ? (p[6]! << 8) | p[7]! : 0,
      ...q,
    });
    return;
  }
  host.drop('icmp-type-ignored');
}

/** A quoted IPv4 header as sent by us (the checksum of a quote may be stale; only the fields are read). */
function parseIpv4Quote(q: Uint8Array): Omit<IcmpError, 'version' | 'kind' | 'mtu'> | null {
  if (q.length < 20 || q[0]! >> 4 !== 4) return null;
  const hl = (q[0]! & 0x0f) * 4;
  if (hl < 20 || q.length < hl + 8) return null;
  return { src: q.subarray(12, 16), dst: q.subarray(16, 20), proto: q[9]!, transport: q.subarray(hl) };
}

export function inputIcmpv6(host: Host, d: Datagram, onError: (e: IcmpError) => void): void {
  const p = d.payload;
  if (p.length < 8) return host.drop('icmp6-short');
  if (finish(sum(p, 0, p.length, pseudoHeaderSum(d.src, d.dst, PROTO_ICMPV6, p.length))) !== 0) return host.drop('icmp6-checksum');
  const type = p[0]!;
  if (type === ICMP6_ECHO_REQUEST) {
    if (p[1] !== 0) return host.drop('icmp6-bad-code');
    if (!isUnicastSource(d.src)) return host.drop('icmp6-echo-bad-source');
    if (!host.isLocal(d.dst)) return host.drop('icmp6-echo-not-ours');
    const out = newPacket(6, p.length);
    out.set(p, 40);
    out[40] = ICMP6_ECHO_REPLY;
    out[42] = 0;
    out[43] = 0;
    const c = transportChecksum(out, 40, d.dst, d.src, PROTO_ICMPV6);
    out[42] = c >> 8;
    out[43] = c & 0xff;
    sealPacket(out, 6, d.dst, d.src, PROTO_ICMPV6, 0);
    host.emit(out);
    return;
  }
  if (type === ICMP6_DEST_UNREACH || type === ICMP6_PACKET_TOO_BIG || type === ICMP6_TIME_EXCEEDED || type === ICMP6_PARAM_PROBLEM) {
    const q = parseIpv6(p.subarray(8));
    // A quote is usually truncated, so parseIpv6's length check fails: read the fixed fields directly.
    const quote = p.subarray(8);
    if (quote.length < 48 || quote[0]! >> 4 !== 6) return host.drop('icmp6-error-bad-quote');
    const proto = typeof q === 'string' ? quote[6]! : q.proto;
    const off = typeof q === 'string' ? 40 : q.header.length;
    const tooBig = type === ICMP6_PACKET_TOO_BIG;
    onError({
      version: 6,
      kind: tooBig ? 'too-big' : type === ICMP6_DEST_UNREACH ? 'unreachable' : 'other',
      mtu: tooBig ? ((p[4]! << 24) | (p[5]! << 16) | (p[6]! << 8) | p[7]!) >>> 0 : 0,
      src: quote.subarray(8, 24),
      dst: quote.subarray(24, 40),
      proto,
      transport: quote.subarray(off),
    });
    return;
  }
  // Neighbour discovery and the rest have no meaning on a layer-3 tunnel.
  host.drop('icmp6-type-ignored');
}

/**
 * Sends an ICMP destination-unreachable (or other error) about datagram `d`
 * back to its source, quoting as much of it as fits. Never about ICMP errors,
 * non-unicast sources, or beyond the rate limit.
 */
export function sendIcmpError(host: Host, d: Datagram, now: number, type: number, code: number): void {
  if (!isUnicastSource(d.src)) return;
  if (d.proto === (d.version === 4 ? PROTO_ICMP : PROTO_ICMPV6)) {
    const t = d.payload[0] ?? 0;
    if (d.version === 4 ? t !== ICMP4_ECHO_REQUEST : t < 128) return; // never an error about an error
  }
  if (!host.icmpErrorAllowed(now)) {
    host.drop('icmp-error-rate-limited');
    return;
  }
  const hl = headerLength(d.version);
  const max = (d.version === 4 ? MAX_ERROR_V4 : MAX_ERROR_V6) - hl - 8;
  const quoteLen = Math.min(max, d.header.length + d.payload.length);
  const out = newPacket(d.version, 8 + quoteLen);
  out[hl] = type;
  out[hl + 1] = code;
  const quoteHead = Math.min(d.header.length, quoteLen);
  out.set(d.header.subarray(0, quoteHead), hl + 8);
  out.set(d.payload.subarray(0, quoteLen - quoteHead), hl + 8 + quoteHead);
  const proto = d.version === 4 ? PROTO_ICMP : PROTO_ICMPV6;
  const c = d.version === 4 ? checksum(out, hl) : transportChecksum(out, hl, d.dst, d.src, proto);
  out[hl + 2] = c >> 8;
  out[hl + 3] = c & 0xff;
  sealPacket(out, d.version, d.dst, d.src, proto, host.nextIpId());
  host.emit(out);
}

/** Port unreachable for the datagram's family. */
export function sendPortUnreachable(host: Host, d: Datagram, now: number): void {
  if (d.version === 4) sendIcmpError(host, d, now, ICMP4_DEST_UNREACH, ICMP4_CODE_PORT_UNREACH);
  else sendIcmpError(host, d, now, ICMP6_DEST_UNREACH, ICMP6_CODE_PORT_UNREACH);
}

