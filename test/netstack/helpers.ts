/** Shared test helpers: vector loading (test/netstack/vectors), hex, a seeded random source. */
import { loadVectors as loadVectorsFrom } from '../crypto/vectors.js';

export { hex, toHex } from '../crypto/vectors.js';

export function loadVectors<T>(name: string): T & { source: string } {
  return loadVectorsFrom<T>(name, ['test', 'netstack', 'vectors']);
}

/** Deterministic PRNG (mulberry32) returning floats in [0, 1). */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** A seeded `random(n)` for StackOptions. */
export function seededRandom(seed: number): (n: number) => Uint8Array {
  const r = prng(seed);
  return (n) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = Math.floor(r() * 256);
    return out;
  };
}

export interface PingCapture {
  ipv4: string[];
  ipv6: string[];
  ipv4Fragmented: string[];
  ipv6Fragmented: string[];
}

export interface TcpInfo {
  v: 4 | 6;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  win: number;
  len: number;
  sack: Array<[number, number]>;
  mss: number | null;
  wscale: number | null;
  sackOk: boolean;
  /** Timestamps option [TSval, TSecr], or null. */
  ts: [number, number] | null;
}

/**
 * Decodes the TCP/IP headers of a packet independently of src/netstack
 * (RFC 791, RFC 8200 without extension headers, RFC 9293 3.1), or null if it
 * is not a TCP packet.
 */
export function decodeTcp(p: Uint8Array): TcpInfo | null {
  const v = p[0]! >> 4;
  if (v !== 4 && v !== 6) return null;
  const hl = v === 4 ? (p[0]! & 15) * 4 : 40;
  const proto = v === 4 ? p[9]! : p[6]!;
  if (proto !== 6) return null;
  const total = v === 4 ? (p[2]! << 8) | p[3]! : 40 + ((p[4]! << 8) | p[5]!);
  const t = p.subarray(hl, total);
  const u32 = (o: number) => ((t[o]! << 24) | (t[o + 1]! << 16) | (t[o + 2]! << 8) | t[o + 3]!) >>> 0;
  const off = (t[12]! >> 4) * 4;
  const addr = (a: Uint8Array) => (a.length === 4 ? [...a].join('.') : Buffer.from(a).toString('hex'));
  const info: TcpInfo = {
    v,
    src: addr(v === 4 ? p.subarray(12, 16) : p.subarray(8, 24)),
    dst: addr(v === 4 ? p.subarray(16, 20) : p.subarray(24, 40)),
    sport: (t[0]! << 8) | t[1]!,
    dport: (t[2]! << 8) | t[3]!,
    seq: u32(4),
    ack: u32(8),
    flags: t[13]!,
    win: (t[14]! << 8) | t[15]!,
    len: t.length - off,
    sack: [],
    mss: null,
    wscale: null,
    sackOk: false,
    ts: null,
  };
  for (let i = 20; i < off; ) {
    const k = t[i]!;
    if (k === 0) break;
    if (k === 1) {
      i++;
      continue;
    }
    const l = t[i + 1]!;
    if (k === 2) info.mss = (t[i + 2]! << 8) | t[i + 3]!;
    if (k === 3) info.wscale = t[i + 2]!;
    if (k === 4) info.sackOk = true;
    if (k === 5) for (let j = i + 2; j < i + l; j += 8) info.sack.push([u32(j), u32(j + 4)]);
    if (k === 8 && l === 10) info.ts = [u32(i + 2), u32(i + 6)];
    i += l;
  }
  return info;
}

export const F_FIN = 1;
export const F_SYN = 2;
export const F_RST = 4;
export const F_PSH = 8;
export const F_ACK = 16;

/** One line per TCP/IP packet, tcpdump style, for debugging traces. */
export function describe(p: Uint8Array): string {
  const i = decodeTcp(p);
  if (i === null) return `non-TCP packet of ${p.length} bytes`;
  const flags = ['F', 'S', 'R', 'P', '.'].filter((_, k) => i.flags & (1 << k)).join('');
  return `${i.sport}>${i.dport} [${flags}] seq ${i.seq} ack ${i.ack} win ${i.win} len ${i.len}${i.sack.length ? ' sack ' + i.sack.map((s) => s.join('-')).join(',') : ''}`;
}

/** Internet checksum written independently of src/netstack (RFC 1071), for crafting test packets. */
export function inetChecksum(...parts: Uint8Array[]): number {
  const all = Buffer.concat(parts);
  let s = 0;
  for (let i = 0; i + 1 < all.length; i += 2) s += all.readUInt16BE(i);
  if (all.length % 2) s += all[all.length - 1]! << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

export interface RawTcp {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  seq: number;
  ack?: number;
  flags: number;
  win?: number;
  /** Raw option bytes (padded to 4 here). */
  options?: number[];
  data?: Uint8Array;
}

function ipBytes(s: string): Buffer {
  if (s.includes(':')) {
    const [head, tail] = s.split('::');
    const h = head ? head.split(':') : [];
    const t = tail !== undefined && tail ? tail.split(':') : [];
    const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
    return Buffer.from(groups.map((g) => g.padStart(4, '0')).join(''), 'hex');
  }
  return Buffer.from(s.split('.').map(Number));
}

/** Builds an IPv4 or IPv6 packet with one TCP segment, independently of src/netstack. */
export function rawTcp(r: RawTcp): Uint8Array {
  const opts = Buffer.from(r.options ?? []);
  const optLen = Math.ceil(opts.length / 4) * 4;
  const data = Buffer.from(r.data ?? new Uint8Array(0));
  const tcp = Buffer.alloc(20 + optLen + data.length);
  tcp.writeUInt16BE(r.sport, 0);
  tcp.writeUInt16BE(r.dport, 2);
  tcp.writeUInt32BE(r.seq >>> 0, 4);
  tcp.writeUInt32BE((r.ack ?? 0) >>> 0, 8);
  tcp[12] = ((20 + optLen) / 4) << 4;
  tcp[13] = r.flags;
  tcp.writeUInt16BE(r.win ?? 65535, 14);
  opts.copy(tcp, 20);
  data.copy(tcp, 20 + optLen);
  const src = ipBytes(r.src);
  const dst = ipBytes(r.dst);
  const pseudo = Buffer.alloc(src.length === 4 ? 12 : 40);
  src.copy(pseudo, 0);
  dst.copy(pseudo, src.length);
  if (src.length === 4) {
    pseudo[9] = 6;
    pseudo.writeUInt16BE(tcp.length, 10);
  } else {
    pseudo.writeUInt32BE(tcp.length, 32);
    pseudo[39] = 6;
  }
  tcp.writeUInt16BE(inetChecksum(pseudo, tcp), 16);
  if (src.length === 4) {
    const ip = Buffer.alloc(20);
    ip[0] = 0x45;
    ip.writeUInt16BE(20 + tcp.length, 2);
    ip[8] = 64;
    ip[9] = 6;
    src.copy(ip, 12);
    dst.copy(ip, 16);
    ip.writeUInt16BE(inetChecksum(ip), 10);
    return new Uint8Array(Buffer.concat([ip, tcp]));
  }
  const ip = Buffer.alloc(40);
  ip[0] = 0x60;
  ip.writeUInt16BE(tcp.length, 4);
  ip[6] = 6;
  ip[7] = 64;
  src.copy(ip, 8);
  dst.copy(ip, 24);
  return new Uint8Array(Buffer.concat([ip, tcp]));
}

/** A UDP datagram in IPv4 or IPv6 built independently of src/netstack; `checksum: 0` leaves it empty. */
export function rawUdp(r: { src: string; dst: string; sport: number; dport: number; data: Uint8Array; checksum?: number }): Uint8Array {
  const src = ipBytes(r.src);
  const dst = ipBytes(r.dst);
  const udp = Buffer.alloc(8 + r.data.length);
  udp.writeUInt16BE(r.sport, 0);
  udp.writeUInt16BE(r.dport, 2);
  udp.writeUInt16BE(udp.length, 4);
  Buffer.from(r.data).copy(udp, 8);
  const pseudo = Buffer.alloc(src.length === 4 ? 12 : 40);
  src.copy(pseudo, 0);
  dst.copy(pseudo, src.length);
  if (src.length === 4) {
    pseudo[9] = 17;
    pseudo.writeUInt16BE(udp.length, 10);
  } else {
    pseudo.writeUInt32BE(udp.length, 32);
    pseudo[39] = 17;
  }
  const c = r.checksum ?? (inetChecksum(pseudo, udp) || 0xffff);
  udp.writeUInt16BE(c, 6);
  return rawIp({ src: r.src, dst: r.dst, proto: 17, payload: udp });
}

/** An IPv4 or IPv6 packet (no extension headers) around `payload`, with IPv4 fragment fields if given. */
export function rawIp(r: { src: string; dst: string; proto: number; payload: Uint8Array; id?: number; mf?: boolean; offset?: number }): Uint8Array {
  const src = ipBytes(r.src);
  const dst = ipBytes(r.dst);
  const payload = Buffer.from(r.payload);
  if (src.length === 4) {
    const ip = Buffer.alloc(20);
    ip[0] = 0x45;
    ip.writeUInt16BE(20 + payload.length, 2);
    ip.writeUInt16BE(r.id ?? 0, 4);
    ip.writeUInt16BE((r.mf ? 0x2000 : 0) | ((r.offset ?? 0) / 8), 6);
    ip[8] = 64;
    ip[9] = r.proto;
    src.copy(ip, 12);
    dst.copy(ip, 16);
    ip.writeUInt16BE(inetChecksum(ip), 10);
    return new Uint8Array(Buffer.concat([ip, payload]));
  }
  const ip = Buffer.alloc(40);
  ip[0] = 0x60;
  ip.writeUInt16BE(payload.length, 4);
  ip[6] = r.proto;
  ip[7] = 64;
  src.copy(ip, 8);
  dst.copy(ip, 24);
  return new Uint8Array(Buffer.concat([ip, payload]));
}

export { ipBytes };
