/**
 * IPv6 headers (RFC 8200): parse the fixed header, walk the extension
 * headers (section 4) to the upper-layer protocol or a Fragment header,
 * write a fixed header in front of a built payload, and fragment an
 * oversized packet (section 4.5).
 *
 * Parsing never throws: a malformed packet gives a drop reason string.
 */
export const IPV6_HEADER = 40;
export const IPV6_FRAG_HEADER = 8;

export const NH_HOP_BY_HOP = 0;
export const NH_ROUTING = 43;
export const NH_FRAGMENT = 44;
export const NH_NONE = 59;
export const NH_DEST_OPTS = 60;

export interface Ipv6Fragment {
  id: number;
  /** Offset in bytes. */
  offset: number;
  mf: boolean;
}

export interface Ipv6Packet {
  src: Uint8Array;
  dst: Uint8Array;
  hopLimit: number;
  /** Upper-layer protocol, or the Fragment header's next header when `frag` is set. */
  proto: number;
  /** Fixed header plus the extension headers walked so far (for ICMPv6 error quotes). */
  header: Uint8Array;
  /** View of the upper-layer payload (or of the fragment data). */
  payload: Uint8Array;
  frag?: Ipv6Fragment;
}

/** Validates Hop-by-Hop/Destination options TLVs: unknown options whose action bits say "discard" drop the packet. */
function checkOptions(p: Uint8Array, start: number, end: number): string | null {
  let i = start;
  while (i < end) {
    const t = p[i]!;
    if (t === 0) {
      i++; // Pad1
      continue;
    }
    if (i + 2 > end) return 'ipv6-option-truncated';
    const len = p[i + 1]!;
    if (i + 2 + len > end) return 'ipv6-option-truncated';
    if (t !== 1 && t >> 6 !== 0) return 'ipv6-unknown-option';
    i += 2 + len;
  }
  return null;
}

export interface Walked {
  proto: number;
  offset: number;
  frag?: Ipv6Fragment;
}

/**
 * Walks extension headers in p[start, p.length) starting with next header
 * `next`. Stops at an upper-layer protocol, or right after a Fragment header.
 * `first` tells whether Hop-by-Hop is allowed here (only directly after the fixed header).
 */
export function walkExtensions(p: Uint8Array, start: number, next: number, first: boolean): Walked | string {
  let off = start;
  for (let n = 0; n < 16; n++) {
    switch (next) {
      case NH_HOP_BY_HOP:
      case NH_DEST_OPTS:
      case NH_ROUTING: {
        if (next === NH_HOP_BY_HOP && !(first && off === start)) return 'ipv6-hop-by-hop-position';
        if (off + 8 > p.length) return 'ipv6-ext-truncated';
        const len = (p[off + 1]! + 1) * 8;
        if (off + len > p.length) return 'ipv6-ext-truncated';
        if (next === NH_ROUTING) {
          if (p[off + 3]! !== 0) return 'ipv6-routing-segments-left';
        } else {
          const bad = checkOptions(p, off + 2, off + len);
          if (bad !== null) return bad;
        }
        next = p[off]!;
        off += len;
        break;
      }
      case NH_FRAGMENT: {
        if (off + IPV6_FRAG_HEADER > p.length) return 'ipv6-ext-truncated';
        const fo = (p[off + 2]! << 8) | p[off + 3]!;
        const id = ((p[off + 4]! << 24) | (p[off + 5]! << 16) | (p[off + 6]! << 8) | p[off + 7]!) >>> 0;
        return { proto: p[off]!, offset: off + IPV6_FRAG_HEADER, frag: { id, offset: fo & 0xfff8, mf: (fo & 1) !== 0 } };
      }
      default:
        return { proto: next, offset: off };
    }
  }
  return 'ipv6-ext-chain-too-long';
}

/** Parses an IPv6 packet; returns a drop reason when malformed. Views alias `p`. */
export function parseIpv6(p: Uint8Array): Ipv6Packet | string {
  if (p.length < IPV6_HEADER) return 'ipv6-short';
  if (p[0]! >> 4 !== 6) return 'ipv6-version';
  const plen = (p[4]! << 8) | p[5]!;
  if (plen === 0) return 'ipv6-jumbogram';
  if (IPV6_HEADER + plen > p.length) return 'ipv6-length';
  const pkt = p.subarray(0, IPV6_HEADER + plen);
  const w = walkExtensions(pkt, IPV6_HEADER, pkt[6]!, true);
  if (typeof w === 'string') return w;
  const out: Ipv6Packet = {
    src: pkt.subarray(8, 24),
    dst: pkt.subarray(24, 40),
    hopLimit: pkt[7]!,
    proto: w.proto,
    header: pkt.subarray(0, w.offset),
    payload: pkt.subarray(w.offset),
  };
  if (w.frag) out.frag = w.frag;
  return out;
}

export interface Ipv6Fields {
  src: Uint8Array;
  dst: Uint8Array;
  next: number;
  hopLimit?: number;
}

/** Writes the 40-byte fixed header at buf[0..40) for a packet of buf.length bytes. */
export function writeIpv6Header(buf: Uint8Array, f: Ipv6Fields): void {
  const plen = buf.length - IPV6_HEADER;
  buf[0] = 0x60;
  buf[1] = 0;
  buf[2] = 0;
  buf[3] = 0;
  buf[4] = plen >> 8;
  buf[5] = plen & 0xff;
  buf[6] = f.next;
  buf[7] = f.hopLimit ?? 64;
  buf.set(f.src, 8);
  buf.set(f.dst, 24);
}

/**
 * Splits a packet with a plain 40-byte header (no extension headers, as
 * writeIpv6Header makes) into fragments of at most `mtu` bytes, each with a
 * Fragment header carrying `id`; whole when it fits.
 */
export function fragmentIpv6(pkt: Uint8Array, mtu: number, id: number): Uint8Array[] {
  if (pkt.length <= mtu) return [pkt];
  const payload = pkt.subarray(IPV6_HEADER);
  const chunk = Math.floor((mtu - IPV6_HEADER - IPV6_FRAG_HEADER) / 8) * 8;
  const next = pkt[6]!;
  const out: Uint8Array[] = [];
  for (let at = 0; at < payload.length; at += chunk) {
    const end = Math.min(payload.length, at + chunk);
    const frag = new Uint8Array(IPV6_HEADER + IPV6_FRAG_HEADER + end - at);
    frag.set(pkt.subarray(0, IPV6_HEADER), 0);
    const plen = frag.length - IPV6_HEADER;
    frag[4] = plen >> 8;
    frag[5] = plen & 0xff;
    frag[6] = NH_FRAGMENT;
    const h = IPV6_HEADER;
    frag[h] = next;
    frag[h + 1] = 0;
    const fo = at | (end < payload.length ? 1 : 0);
    frag[h + 2] = fo >> 8;
    frag[h + 3] = fo & 0xff;
    frag[h + 4] = (id >>> 24) & 0xff;
    frag[h + 5] = (id >>> 16) & 0xff;
    frag[h + 6] = (id >>> 8) & 0xff;
    frag[h + 7] = id & 0xff;
    frag.set(payload.subarray(at, end), h + IPV6_FRAG_HEADER);
    out.push(frag);
  }
  return out;
}
