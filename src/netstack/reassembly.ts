/**
 * IP fragment reassembly for IPv4 (RFC 791 section 3.2) and IPv6 (RFC 8200
 * section 4.5), with bounded memory and a timeout.
 *
 * add() files one fragment's data (copied) under its datagram key and
 * returns the whole payload once the last hole is filled. Overlapping
 * fragments discard the datagram (RFC 5722); exact duplicates are ignored
 * (RFC 8200 section 4.5 allows it). expire(now) drops datagrams older than
 * their timeout. Limits: datagrams in progress and total bytes held.
 */

export interface ReassemblyLimits {
  /** Datagrams in progress at once. */
  maxDatagrams: number;
  /** Bytes of fragment data held over all datagrams. */
  maxBytes: number;
}

export const DEFAULT_REASSEMBLY_LIMITS: ReassemblyLimits = { maxDatagrams: 64, maxBytes: 1 << 20 };

interface Piece {
  off: number;
  data: Uint8Array;
}

interface Pending {
  pieces: Piece[];
  /** Total payload length, known once the last fragment (MF clear) arrived; else -1. */
  total: number;
  bytes: number;
  deadline: number;
  /** Extra bytes kept from the first fragment (IPv4 header, IPv6 upper-layer protocol). */
  first: Uint8Array | null;
}

export type AddResult =
  | { done: false; drop?: string }
  | { done: true; payload: Uint8Array; first: Uint8Array | null };

export class Reassembler {
  private readonly table = new Map<string, Pending>();
  private held = 0;

  constructor(private readonly limits: ReassemblyLimits = DEFAULT_REASSEMBLY_LIMITS) {}

  /** Bytes held now (for tests and stats). */
  get bytesHeld(): number {
    return this.held;
  }

  get inProgress(): number {
    return this.table.size;
  }

  /**
   * Adds a fragment. `maxTotal` bounds the reassembled payload (65535 minus
   * the header). `first` is kept when off is 0 and returned with the result.
   */
  add(key: string, off: number, mf: boolean, data: Uint8Array, now: number, timeout: number, maxTotal: number, first: Uint8Array | null): AddResult {
    if (mf && data.length % 8 !== 0) return { done: false, drop: 'fragment-length-not-multiple-of-8' };
    if (data.length === 0 && mf) return { done: false, drop: 'fragment-empty' };
    const end = off + data.length;
    if (end > maxTotal) return { done: false, drop: 'fragment-too-big' };
    let p = this.table.get(key);
    if (p === undefined) {
      if (this.table.size >= this.limits.maxDatagrams) return { done: false, drop: 'reassembly-table-full' };
      p = { pieces: [], total: -1, bytes: 0, deadline: now + timeout, first: null };
      this.table.set(key, p);
    }
    if (this.held + data.length > this.limits.maxBytes) {
      this.discard(key, p);
      return { done: false, drop: 'reassembly-memory-full' };
    }
    if (!mf) {
      if ((p.total >= 0 && p.total !== end) || end < maxEnd(p)) {
        this.discard(key, p);
        return { done: false, drop: 'fragment-inconsistent-length' };
      }
      p.total = end;
    } else if (p.total >= 0 && end > p.total) {
      this.discard(key, p);
      return { done: false, drop: 'fragment-inconsistent-length' };
    }
    // Find the insertion point; check overlap with neighbours.
    let i = 0;
    while (i < p.pieces.length && p.pieces[i]!.off < off) i++;
    const prev = i > 0 ? p.pieces[i - 1]! : null;
    const next = i < p.pieces.length ? p.pieces[i]! : null;
    if (next !== null && next.off === off && next.data.length === data.length) {
      return { done: false, drop: 'fragment-duplicate' };
    }
    if ((prev !== null && prev.off + prev.data.length > off) || (next !== null && next.off < end)) {
      this.discard(key, p);
      return { done: false, drop: 'fragment-overlap' };
    }
    p.pieces.splice(i, 0, { off, data: data.slice() });
    p.bytes += data.length;
    this.held += data.length;
    if (off === 0 && first !== null) p.first = first.slice();
    if (p.total < 0 || p.bytes !== p.total) return { done: false };
    // No overlaps and bytes == total means there are no holes.
    const payload = new Uint8Array(p.total);
    for (const piece of p.pieces) payload.set(piece.data, piece.off);
    const firstBytes = p.first;
    this.discard(key, p);
    return { done: true, payload, first: firstBytes };
  }

  /** Drops datagrams whose timeout passed; returns how many. */
  expire(now: number): number {
    let n = 0;
    for (const [k, p] of this.table) {
      if (p.deadline <= now) {
        this.discard(k, p);
        n++;
      }
    }
    return n;
  }

  nextDeadline(): number {
    let d = Infinity;
    for (const p of this.table.values()) if (p.deadline < d) d = p.deadline;
    return d;
  }

  private discard(key: string, p: Pending): void {
    this.held -= p.bytes;
    this.table.delete(key);
  }
}

function maxEnd(p: Pending): number {
  let m = 0;
  for (const x of p.pieces) m = Math.max(m, x.off + x.data.length);
  return m;
}
