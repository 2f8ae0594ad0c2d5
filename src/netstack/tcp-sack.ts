/**
 * Selective acknowledgment (RFC 2018) on both sides.
 *
 * Scoreboard (sender): the ranges above SND.UNA the peer reported as
 * received, merged and bounded, with the queries of RFC 6675 section 4
 * (IsLost via a loss boundary, holes, un-SACKed bytes for the pipe).
 *
 * OooQueue (receiver): out-of-order data kept until the hole before it is
 * filled, and the SACK blocks to report, the block holding the newest
 * arrival first (RFC 2018 section 4).
 */
import { type SackBlock } from './tcp-segment.js';
import { seqAdd, seqDiff, seqGt, seqLt, seqLe, seqMax, seqMin } from './tcp-seq.js';

const DUP_THRESH = 3;

export class Scoreboard {
  /** Sorted, disjoint, non-adjacent ranges, all above SND.UNA. */
  ranges: SackBlock[] = [];
  /** Total SACKed bytes. */
  sacked = 0;

  constructor(private readonly maxRanges = 128) {}

  clear(): void {
    this.ranges = [];
    this.sacked = 0;
  }

  /** Adds reported blocks, clipped to (una, max]; returns the bytes newly SACKed. */
  add(blocks: readonly SackBlock[], una: number, max: number): number {
    const before = this.sacked;
    for (const b of blocks) {
      if (!seqLt(b.start, b.end)) continue;
      if (seqLe(b.end, una) || seqGt(b.end, max)) continue; // stale/D-SACK, or data we never sent
      if (seqDiff(b.end, b.start) > seqDiff(max, una)) continue;
      this.insert(seqMax(b.start, una), b.end);
    }
    while (this.ranges.length > this.maxRanges) {
      const r = this.ranges.pop()!; // forget the highest: SACK state is advisory
      this.sacked -= seqDiff(r.end, r.start);
    }
    return this.sacked - before;
  }

  private insert(start: number, end: number): void {
    const rs = this.ranges;
    let i = 0;
    while (i < rs.length && seqLt(rs[i]!.end, start)) i++;
    let s = start;
    let e = end;
    let j = i;
    let removed = 0;
    while (j < rs.length && seqLe(rs[j]!.start, e)) {
      s = seqMin(s, rs[j]!.start);
      e = seqMax(e, rs[j]!.end);
      removed += seqDiff(rs[j]!.end, rs[j]!.start);
      j++;
    }
    rs.splice(i, j - i, { start: s, end: e });
    this.sacked += seqDiff(e, s) - removed;
  }

  /** Forgets everything at or below the new SND.UNA. */
  advance(una: number): void {
    const rs = this.ranges;
    let k = 0;
    while (k < rs.length && seqLe(rs[k]!.end, una)) {
      this.sacked -= seqDiff(rs[k]!.end, rs[k]!.start);
      k++;
    }
    if (k > 0) rs.splice(0, k);
    if (rs.length > 0 && seqLt(rs[0]!.start, una)) {
      this.sacked -= seqDiff(una, rs[0]!.start);
      rs[0] = { start: una, end: rs[0]!.end };
    }
  }

  isSacked(seq: number): boolean {
    for (const r of this.ranges) {
      if (seqLt(seq, r.start)) return false;
      if (seqLt(seq, r.end)) return true;
    }
    return false;
  }

  /** Highest SACKed sequence (exclusive end), or null. */
  highest(): number | null {
    return this.ranges.length === 0 ? null : this.ranges[this.ranges.length - 1]!.end;
  }

  /**
   * RFC 6675 IsLost as a boundary: every un-SACKed sequence number below the
   * returned value is lost (more than (DupThresh-1)*SMSS bytes, or DupThresh
   * ranges, SACKed above it). Returns `una` when nothing is lost.
   */
  lossBoundary(una: number, mss: number): number {
    let bytes = 0;
    for (let i = this.ranges.length - 1; i >= 0; i--) {
      const r = this.ranges[i]!;
      bytes += seqDiff(r.end, r.start);
      if (bytes > (DUP_THRESH - 1) * mss || this.ranges.length - i >= DUP_THRESH) return r.start;
    }
    return una;
  }

  /** The first un-SACKed hole at or after `from`, below `limit`: [start, end). */
  hole(from: number, limit: number): SackBlock | null {
    let s = from;
    for (const r of this.ranges) {
      if (seqLe(r.end, s)) continue;
      if (seqLe(r.start, s)) {
        s = r.end;
        continue;
      }
      const e = seqMin(r.start, limit);
      return seqLt(s, e) ? { start: s, end: e } : null;
    }
    return seqLt(s, limit) ? { start: s, end: limit } : null;
  }

  /** Un-SACKed bytes in [lo, hi). */
  unsacked(lo: number, hi: number): number {
    if (!seqLt(lo, hi)) return 0;
    let n = seqDiff(hi, lo);
    for (const r of this.ranges) {
      const s = seqMax(r.start, lo);
      const e = seqMin(r.end, hi);
      if (seqLt(s, e)) n -= seqDiff(e, s);
    }
    return n;
  }
}

interface Block {
  start: number;
  end: number;
  /** Contiguous chunks covering [start, end) in order. */
  chunks: Uint8Array[];
}

export class OooQueue {
  /** Sorted, disjoint, non-adjacent blocks above RCV.NXT. */
  private list: Block[] = [];
  private recent: number[] = [];
  bytes = 0;
  private chunkCount = 0;

  constructor(private readonly maxChunks = 4096) {}

  get count(): number {
    return this.chunkCount;
  }

  /** The blocks as (start, end) pairs, for invariant checks. */
  spans(): SackBlock[] {
    return this.list.map((b) => ({ start: b.start, end: b.end }));
  }

  clear(): void {
    this.list = [];
    this.recent = [];
    this.bytes = 0;
    this.chunkCount = 0;
  }

  /** First index whose block ends at or after seq (touching counts). */
  private find(seq: number): number {
    let lo = 0;
    let hi = this.list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (seqLt(this.list[mid]!.end, seq)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * Keeps the parts of data (at seq) not already held, copying them.
   * Returns the bytes added, or -1 when the chunk limit refused it.
   */
  insert(seq: number, data: Uint8Array): number {
    if (data.length === 0) return 0;
    const s = seq;
    const e = seqAdd(seq, data.length);
    const piece = (a: number, b: number) => data.slice(seqDiff(a, s), seqDiff(b, s));
    const j = this.find(s);
    let k = j - 1;
    while (k + 1 < this.list.length && seqLe(this.list[k + 1]!.start, e)) k++;
    let added = 0;
    if (k < j) {
      if (this.chunkCount + 1 > this.maxChunks) return -1;
      this.list.splice(j, 0, { start: s, end: e, chunks: [data.slice()] });
      this.chunkCount++;
      added = data.length;
    } else {
      if (this.chunkCount + (k - j) + 2 > this.maxChunks) return -1;
      const m = this.list[j]!;
      if (seqLt(s, m.start)) {
        m.chunks.unshift(piece(s, m.start));
        this.chunkCount++;
        added += seqDiff(m.start, s);
        m.start = s;
      }
      for (let x = j + 1; x <= k; x++) {
        const nb = this.list[x]!;
        m.chunks.push(piece(m.end, nb.start));
        added += seqDiff(nb.start, m.end);
        for (const c of nb.chunks) m.chunks.push(c);
        this.chunkCount++;
        m.end = nb.end;
      }
      if (seqGt(e, m.end)) {
        m.chunks.push(piece(m.end, e));
        this.chunkCount++;
        added += seqDiff(e, m.end);
        m.end = e;
      }
      if (k > j) this.list.splice(j + 1, k - j);
    }
    this.bytes += added;
    if (this.recent[0] !== s) this.recent = [s, ...this.recent.filter((x) => x !== s)].slice(0, 8);
    return added;
  }

  /** Removes and returns the data now contiguous from rcvNxt (trimming bytes below it). */
  pop(rcvNxt: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    let nxt = rcvNxt;
    while (this.list.length > 0 && seqLe(this.list[0]!.start, nxt)) {
      const b = this.list.shift()!;
      let at = b.start;
      for (const c of b.chunks) {
        const cend = seqAdd(at, c.length);
        if (seqGt(cend, nxt)) {
          out.push(seqLt(at, nxt) ? c.subarray(seqDiff(nxt, at)) : c);
          nxt = cend;
        }
        at = cend;
      }
      this.bytes -= seqDiff(b.end, b.start);
      this.chunkCount -= b.chunks.length;
    }
    return out;
  }

  /** Up to `max` SACK blocks: the newest arrivals' blocks first, then the lowest others. */
  blocks(max: number): SackBlock[] {
    const out: SackBlock[] = [];
    const keep: number[] = [];
    for (const s of this.recent) {
      const i = this.find(s);
      const b = this.list[i];
      if (b === undefined || seqLt(s, b.start) || !seqLt(s, b.end)) continue;
      keep.push(s);
      if (out.length < max && !out.some((o) => o.start === b.start)) out.push({ start: b.start, end: b.end });
    }
    this.recent = keep;
    for (let i = 0; out.length < max && i < this.list.length; i++) {
      const b = this.list[i]!;
      if (!out.some((o) => o.start === b.start)) out.push({ start: b.start, end: b.end });
    }
    return out;
  }
}
