/**
 * IPv4 headers (RFC 791 section 3.1): parse an inbound packet into a header
 * and a payload view, write a header in front of an already-built payload,
 * and split an oversized packet into fragments.
 *
 * Parsing never throws: a malformed packet gives a drop reason string.
 */
import { checksum } from './checksum.js';

export const IPV4_HEADER = 20;

export interface Ipv4Packet {
  src: Uint8Array;
  dst: Uint8Array;
  proto: number;
  ttl: number;
  id: number;
  /** More-fragments flag. */
  mf: boolean;
  /** Fragment offset in bytes. */
  fragOffset: number;
  headerLength: number;
  /** Options and all, for quoting in ICMP errors: header plus up to 8 payload bytes. */
  packet: Uint8Array;
  /** View of the payload (trailing link padding trimmed). */
  payload: Uint8Array;
}

/** Parses an IPv4 packet; returns a drop reason when malformed. Views alias `p`. */
export function parseIpv4(p: Uint8Array): Ipv4Packet | string {
  if (p.length < IPV4_HEADER) return 'ipv4-short';
  if (p[0]! >> 4 !== 4) return 'ipv4-version';
  const hl = (p[0]! & 0x0f) * 4;
  if (hl < IPV4_HEADER) return 'ipv4-ihl';
  const total = (p[2]! << 8) | p[3]!;
  if (total < hl || total > p.length) return 'ipv4-length';
  if (checksum(p, 0, hl) !== 0) return 'ipv4-checksum';
  const flags = p[6]! >> 5;
  if (flags & 4) return 'ipv4-reserved-flag';
  const fragOffset = (((p[6]! & 0x1f) << 8) | p[7]!) * 8;
  const pkt = p.subarray(0, total);
  return {
    src: p.subarray(12, 16),
    dst: p.subarray(16, 20),
    proto: p[9]!,
    ttl: p[8]!,
    id: (p[4]! << 8) | p[5]!,
    mf: (flags & 1) !== 0,
    fragOffset,
    headerLength: hl,
    packet: pkt,
    payload: pkt.subarray(hl),
  };
}

export interface Ipv4Fields {
  src: Uint8Array;
  dst: Uint8Array;
  proto: number;
  ttl?: number;
  id?: number;
  df?: boolean;
  mf?: boolean;
  fragOffset?: number;
}

/** Writes a 20-byte header at buf[0..20) for a packet of buf.length bytes (payload already in place). */
export function writeIpv4Header(buf: Uint8Array, f: Ipv4Fields): void {
  const total = buf.length;
  const off = (f.fragOffset ?? 0) / 8;
  buf[0] = 0x45;
  buf[1] = 0;
  buf[2] = total >> 8;
  buf[3] = total & 0xff;
  const id = f.id ?? 0;
  buf[4] = (id >> 8) & 0xff;
  buf[5] = id & 0xff;
  buf[6] = (f.df ? 0x40 : 0) | (f.mf ? 0x20 : 0) | ((off >> 8) & 0x1f);
  buf[7] = off & 0xff;
  buf[8] = f.ttl ?? 64;
  buf[9] = f.proto;
  buf[10] = 0;
  buf[11] = 0;
  buf.set(f.src, 12);
  buf.set(f.dst, 16);
  const c = checksum(buf, 0, IPV4_HEADER);
  buf[10] = c >> 8;
  buf[11] = c & 0xff;
}

/**
 * Splits a packet built with a plain 20-byte header (as writeIpv4Header makes)
 * into fragments of at most `mtu` bytes; the original goes out whole when it fits.
 */
export function fragmentIpv4(pkt: Uint8Array, mtu: number): Uint8Array[] {
  if (pkt.length <= mtu) return [pkt];
  const payload = pkt.subarray(IPV4_HEADER);
  const chunk = Math.floor((mtu - IPV4_HEADER) / 8) * 8;
  const fields: Ipv4Fields = {
    src: pkt.subarray(12, 16),
    dst: pkt.subarray(16, 20),
    proto: pkt[9]!,
    ttl: pkt[8]!,
    id: (pkt[4]! << 8) | pkt[5]!,
  };
  const out: Uint8Array[] = [];
  for (let at = 0; at < payload.length; at += chunk) {
    const end = Math.min(payload.length, at + chunk);
    const frag = new Uint8Array(IPV4_HEADER + end - at);
    frag.set(payload.subarray(at, end), IPV4_HEADER);
    writeIpv4Header(frag, { ...fields, mf: end < payload.length, fragOffset: at });
    out.push(frag);
  }
  return out;
}
