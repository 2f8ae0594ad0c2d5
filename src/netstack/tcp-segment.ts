/**
 * TCP segments (RFC 9293 section 3.1) and the options this stack speaks:
 * MSS (RFC 9293 3.2), Window Scale (RFC 7323 section 2), SACK-Permitted and
 * SACK (RFC 2018), Timestamps (RFC 7323 section 3). Unknown options are
 * skipped by length.
 *
 * parseSegment() checks the header and the checksum with the pseudo-header
 * and returns views into the input; buildSegment() writes a whole IP packet.
 */
import { sum, finish, pseudoHeaderSum } from './checksum.js';
import { type Family, newPacket, sealPacket, headerLength, PROTO_TCP } from './ip.js';
import { SEQ0 } from './tcp-seq.js';

export const TCP_HEADER = 20;

export const FIN = 0x01;
export const SYN = 0x02;
export const RST = 0x04;
export const PSH = 0x08;
export const ACK = 0x10;
export const URG = 0x20;
export const ECE = 0x40;
export const CWR = 0x80;

const OPT_END = 0;
const OPT_NOP = 1;
const OPT_MSS = 2;
const OPT_WSCALE = 3;
const OPT_SACK_PERMITTED = 4;
const OPT_SACK = 5;
const OPT_TIMESTAMPS = 8;

/** Bytes the timestamps option takes in a segment: NOP NOP + kind, length, TSval, TSecr (RFC 7323 appendix A). */
export const TS_OPTION_BYTES = 12;

/** Largest window scale shift (RFC 7323 section 2.3). */
export const MAX_WSCALE = 14;

export interface SackBlock {
  start: number;
  end: number;
}

export interface Segment {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  /** Raw 16-bit window field (unscaled). */
  window: number;
  urgent: number;
  mss: number | null;
  wscale: number | null;
  sackPermitted: boolean;
  sack: SackBlock[];
  /** Timestamps option (RFC 7323 section 3), or null when absent. */
  tsVal: number | null;
  tsEcr: number | null;
  /** View into the input. */
  data: Uint8Array;
}

/** Parses and checksums a TCP segment; a string is a drop reason. */
export function parseSegment(p: Uint8Array, src: Uint8Array, dst: Uint8Array): Segment | string {
  if (p.length < TCP_HEADER) return 'tcp-short';
  const off = (p[12]! >> 4) * 4;
  if (off < TCP_HEADER || off > p.length) return 'tcp-data-offset';
  if (finish(sum(p, 0, p.length, pseudoHeaderSum(src, dst, PROTO_TCP, p.length))) !== 0) return 'tcp-checksum';
  // seq and ack start as SEQ0 so the literal's hidden class holds them as
  // doubles from the first segment on (see SEQ0): a first value of 2^31 or
  // more then does not deoptimize every function a Segment passed through.
  const seg: Segment = {
    srcPort: (p[0]! << 8) | p[1]!,
    dstPort: (p[2]! << 8) | p[3]!,
    seq: SEQ0,
    ack: SEQ0,
    flags: p[13]!,
    window: (p[14]! << 8) | p[15]!,
    urgent: (p[18]! << 8) | p[19]!,
    mss: null,
    wscale: null,
    sackPermitted: false,
    sack: [],
    tsVal: null,
    tsEcr: null,
    data: p.subarray(off),
  };
  seg.seq = readU32(p, 4);
  seg.ack = readU32(p, 8);
  let i = TCP_HEADER;
  while (i < off) {
    const kind = p[i]!;
    if (kind === OPT_END) break;
    if (kind === OPT_NOP) {
      i++;
      continue;
    }
    if (i + 2 > off) return 'tcp-option-truncated';
    const len = p[i + 1]!;
    if (len < 2 || i + len > off) return 'tcp-option-length';
    switch (kind) {
      case OPT_MSS:
        if (len !== 4) return 'tcp-option-length';
        seg.mss = (p[i + 2]! << 8) | p[i + 3]!;
        break;
      case OPT_WSCALE:
        if (len !== 3) return 'tcp-option-length';
        seg.wscale = Math.min(p[i + 2]!, MAX_WSCALE); // RFC 7323 2.3: larger values are treated as 14
        break;
      case OPT_SACK_PERMITTED:
        if (len !== 2) return 'tcp-option-length';
        seg.sackPermitted = true;
        break;
      case OPT_SACK:
        if ((len - 2) % 8 !== 0) return 'tcp-option-length';
        for (let j = i + 2; j < i + len; j += 8) {
          seg.sack.push({ start: readU32(p, j), end: readU32(p, j + 4) });
        }
        break;
      case OPT_TIMESTAMPS:
        if (len !== 10) return 'tcp-option-length';
        seg.tsVal = readU32(p, i + 2);
        seg.tsEcr = readU32(p, i + 6);
        break;
      default:
        break; // anything else: skipped
    }
    i += len;
  }
  return seg;
}

export interface OutSegment {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  /** SYN options. */
  mss?: number;
  wscale?: number;
  sackPermitted?: boolean;
  sack?: SackBlock[];
  /** Timestamps option: our TSval and the TSecr we echo. */
  ts?: { val: number; ecr: number };
}

/** Bytes of TCP options buildSegment() writes for these fields (a multiple of 4). */
export function optionsLength(o: OutSegment): number {
  let n = 0;
  if (o.mss !== undefined) n += 4;
  if (o.wscale !== undefined) n += 4; // NOP + 3
  if (o.sackPermitted) n += 4; // NOP NOP + 2
  if (o.ts !== undefined) n += TS_OPTION_BYTES;
  if (o.sack !== undefined && o.sack.length > 0) n += 4 + 8 * o.sack.length; // NOP NOP + 2 + 8n
  return n;
}

/**
 * Writes an IP packet holding one TCP segment; `data` (or dataLength bytes
 * filled by `fill` at the given offset) is the payload.
 */
export function buildSegment(
  v: Family,
  src: Uint8Array,
  dst: Uint8Array,
  o: OutSegment,
  dataLength: number,
  fill: ((buf: Uint8Array, at: number) => void) | null,
  ipId: number,
): Uint8Array {
  const optLen = optionsLength(o);
  const tcpLen = TCP_HEADER + optLen + dataLength;
  const pkt = newPacket(v, tcpLen);
  const h = headerLength(v);
  pkt[h] = o.srcPort >> 8;
  pkt[h + 1] = o.srcPort & 0xff;
  pkt[h + 2] = o.dstPort >> 8;
  pkt[h + 3] = o.dstPort & 0xff;
  writeU32(pkt, h + 4, o.seq);
  writeU32(pkt, h + 8, o.ack);
  pkt[h + 12] = ((TCP_HEADER + optLen) / 4) << 4;
  pkt[h + 13] = o.flags;
  pkt[h + 14] = (o.window >> 8) & 0xff;
  pkt[h + 15] = o.window & 0xff;
  let i = h + TCP_HEADER;
  if (o.mss !== undefined) {
    pkt[i++] = OPT_MSS;
    pkt[i++] = 4;
    pkt[i++] = o.mss >> 8;
    pkt[i++] = o.mss & 0xff;
  }
  if (o.wscale !== undefined) {
    pkt[i++] = OPT_NOP;
    pkt[i++] = OPT_WSCALE;
    pkt[i++] = 3;
    pkt[i++] = o.wscale;
  }
  if (o.sackPermitted) {
    pkt[i++] = OPT_NOP;
    pkt[i++] = OPT_NOP;
    pkt[i++] = OPT_SACK_PERMITTED;
    pkt[i++] = 2;
  }
  if (o.ts !== undefined) {
    pkt[i++] = OPT_NOP;
    pkt[i++] = OPT_NOP;
    pkt[i++] = OPT_TIMESTAMPS;
    pkt[i++] = 10;
    writeU32(pkt, i, o.ts.val);
    writeU32(pkt, i + 4, o.ts.ecr);
    i += 8;
  }
  if (o.sack !== undefined && o.sack.length > 0) {
    pkt[i++] = OPT_NOP;
    pkt[i++] = OPT_NOP;
    pkt[i++] = OPT_SACK;
    pkt[i++] = 2 + 8 * o.sack.length;
    for (const b of o.sack) {
      writeU32(pkt, i, b.start);
      writeU32(pkt, i + 4, b.end);
      i += 8;
    }
  }
  if (dataLength > 0 && fill !== null) fill(pkt, i);
  const c = finish(sum(pkt, h, pkt.length, pseudoHeaderSum(src, dst, PROTO_TCP, tcpLen)));
  pkt[h + 16] = c >> 8;
  pkt[h + 17] = c & 0xff;
  sealPacket(pkt, v, src, dst, PROTO_TCP, ipId);
  return pkt;
}

function readU32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

function writeU32(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >>> 24) & 0xff;
  b[at + 1] = (v >>> 16) & 0xff;
  b[at + 2] = (v >>> 8) & 0xff;
  b[at + 3] = v & 0xff;
}
