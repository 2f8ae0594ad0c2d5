/**
 * What the transports see of IP: an inbound datagram (already reassembled)
 * and helpers to build an outbound packet in one buffer. A transport asks
 * for newPacket(v, n), writes its n bytes at headerLength(v), fills its
 * checksum with transportSum(), then sealPacket() writes the IP header.
 */
import { pseudoHeaderSum, sum, finish } from './checksum.js';
import { IPV4_HEADER, writeIpv4Header } from './ipv4.js';
import { IPV6_HEADER, writeIpv6Header } from './ipv6.js';

export type Family = 4 | 6;

export const PROTO_ICMP = 1;
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;
export const PROTO_ICMPV6 = 58;

export interface Datagram {
  version: Family;
  src: Uint8Array;
  dst: Uint8Array;
  proto: number;
  /** Upper-layer bytes. A view into the input; copy before keeping. */
  payload: Uint8Array;
  /** IP header bytes (IPv6: with extension headers) for quoting in ICMP errors. */
  header: Uint8Array;
  /** True when this datagram was reassembled from fragments. */
  reassembled: boolean;
}

export function headerLength(v: Family): number {
  return v === 4 ? IPV4_HEADER : IPV6_HEADER;
}

/**
 * A zeroed buffer for an IP packet carrying `payloadLength` upper-layer
 * bytes. Drawn from Node's buffer pool and zeroed here: a fresh ArrayBuffer
 * per packet costs about twice as much. A view: use byteOffset/byteLength.
 */
export function newPacket(v: Family, payloadLength: number): Uint8Array {
  const n = headerLength(v) + payloadLength;
  const pooled = Buffer.allocUnsafe(n);
  const p = new Uint8Array(pooled.buffer, pooled.byteOffset, n);
  p.fill(0);
  return p;
}

/** The checksum over buf's upper-layer part with the pseudo-header for (src, dst, proto). */
export function transportChecksum(buf: Uint8Array, start: number, src: Uint8Array, dst: Uint8Array, proto: number): number {
  return finish(sum(buf, start, buf.length, pseudoHeaderSum(src, dst, proto, buf.length - start)));
}

/** Writes the IP header of a packet made with newPacket(). `id` is only used by IPv4. */
export function sealPacket(buf: Uint8Array, v: Family, src: Uint8Array, dst: Uint8Array, proto: number, id: number): void {
  if (v === 4) writeIpv4Header(buf, { src, dst, proto, id });
  else writeIpv6Header(buf, { src, dst, next: proto });
}

export function sameAddress(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** An address as a Latin-1 string, for Map keys. */
export function addressKey(a: Uint8Array): string {
  return String.fromCharCode(...a);
}

/** 0.0.0.0 or ::, "any address" to bind(). */
export function isUnspecified(a: Uint8Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== 0) return false;
  return true;
}

/** Multicast and the IPv4 limited broadcast: never a socket's local address. */
export function isGroupAddress(a: Uint8Array): boolean {
  if (a.length === 4) return a[0]! >= 224;
  return a[0] === 0xff;
}

/** Addresses we never answer: unspecified, multicast, IPv4 broadcast/limited broadcast, loopback from outside. */
export function isUnicastSource(a: Uint8Array): boolean {
  if (a.length === 4) {
    if (a[0] === 0 || a[0] === 127 || a[0]! >= 224) return false;
    return true;
  }
  if (a[0] === 0xff) return false;
  let zero = true;
  for (let i = 0; i < 15; i++) if (a[i] !== 0) zero = false;
  if (zero && (a[15] === 0 || a[15] === 1)) return false; // :: and ::1
  return true;
}
