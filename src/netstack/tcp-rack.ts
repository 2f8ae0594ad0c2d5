/**
 * Per-segment send records and RACK loss detection (RFC 8985 section 6).
 *
 * SentLog keeps one record per transmitted segment from SND.UNA to SND.MAX
 * (struct-of-arrays ring storage: sending a segment allocates nothing):
 * when it last left, whether that was a retransmission, and whether the
 * peer SACKed it or RACK declared it lost, with byte counters so the pipe
 * (RFC 6675 / Linux in_flight) costs nothing to read. It is bounded: the
 * sender stops adding new data when `full()`.
 *
 * Rack remembers the most recently sent segment the peer has delivered
 * (RACK.xmit_ts, RACK.end_seq, RACK.rtt) and declares lost every segment
 * sent more than a reordering window before it; the window is min_RTT/4,
 * zero once DupThresh segments are SACKed without reordering seen, and
 * grows with each D-SACK round (RFC 8985 6.2 step 4).
 *
 *   send -> log.onSend()     ACK -> log.ackTo() / log.sack() -> rack.update()
 *   -> rack.detectLoss(log) -> lost records (and a reorder-timer deadline)
 */
import { seqGe, seqGt, seqLe, seqLt, seqDiff, SEQ0 } from './tcp-seq.js';
import type { RateStamp } from './tcp-rate.js';

/** Records kept at most: the bound on segments in flight per connection. */
export const MAX_RECORDS = 8192;
/**
 * Initial ring capacity; it doubles on demand up to MAX_RECORDS, so an idle
 * or short connection stays small. 8 keeps each of the nine arrays within
 * V8's on-heap typed array limit (64 bytes): a new connection allocates no
 * ArrayBuffer backing stores, which at 64 slots were nine mallocs, frees and
 * GC-tracked external buffers per connection (a forwarded HTTP request sends
 * three or four segments).
 */
const MIN_CAPACITY = 8;

// Bits of SentLog.flags.
/** The latest transmission is a retransmission, still counted in the pipe. */
const RETRANS = 1;
/** Sent more than once. */
const EVER_RETRANS = 2;
const SACKED = 4;
const LOST = 8;
/** Delivery-rate stamp: the application, not the network, limited sending. */
const APP_LIMITED = 16;

/**
 * One record per transmitted segment, kept as a struct of arrays in a ring
 * (no object per segment sent). A record is named by its logical index i
 * (first <= i < end, oldest sequence first); its fields live at `i & mask`.
 */
export class SentLog {
  /** Sequence range [start, end) of each record. */
  start = new Uint32Array(MIN_CAPACITY);
  stop = new Uint32Array(MIN_CAPACITY);
  /** Time of the latest transmission, ms. */
  xmit = new Float64Array(MIN_CAPACITY);
  /** Our TSval on the latest transmission (0 without timestamps). */
  tsval = new Float64Array(MIN_CAPACITY);
  /** RETRANS | EVER_RETRANS | SACKED | LOST | APP_LIMITED. */
  flags = new Uint8Array(MIN_CAPACITY);
  /** Delivery-rate state when the latest transmission left (tcp-rate.ts RateStamp); deliveredTime -1 once counted. */
  delivered = new Float64Array(MIN_CAPACITY);
  deliveredTime = new Float64Array(MIN_CAPACITY);
  firstTxTime = new Float64Array(MIN_CAPACITY);
  txInFlight = new Float64Array(MIN_CAPACITY);
  mask = MIN_CAPACITY - 1;
  private head = 0;
  private tail = 0;
  sackedBytes = 0;
  lostBytes = 0;
  retransBytes = 0;
  /** Index from which a lost, not yet retransmitted record may be found. */
  private lostHint = 0;

  get size(): number {
    return this.tail - this.head;
  }

  full(): boolean {
    return this.size >= MAX_RECORDS;
  }

  clear(): void {
    if (this.mask !== MIN_CAPACITY - 1) this.resize(MIN_CAPACITY);
    this.head = 0;
    this.tail = 0;
    this.sackedBytes = 0;
    this.lostBytes = 0;
    this.retransBytes = 0;
    this.lostHint = 0;
  }

  /** Moves the live records into arrays of `cap` slots (a power of two). */
  private resize(cap: number): void {
    const m = this.mask;
    const nm = cap - 1;
    const move = <T extends Uint32Array | Float64Array | Uint8Array>(a: T, b: T): T => {
      for (let i = this.head; i < this.tail; i++) b[i & nm] = a[i & m]!;
      return b;
    };
    this.start = move(this.start, new Uint32Array(cap));
    this.stop = move(this.stop, new Uint32Array(cap));
    this.xmit = move(this.xmit, new Float64Array(cap));
    this.tsval = move(this.tsval, new Float64Array(cap));
    this.flags = move(this.flags, new Uint8Array(cap));
    this.delivered = move(this.delivered, new Float64Array(cap));
    this.deliveredTime = move(this.deliveredTime, new Float64Array(cap));
    this.firstTxTime = move(this.firstTxTime, new Float64Array(cap));
    this.txInFlight = move(this.txInFlight, new Float64Array(cap));
    this.mask = nm;
  }

  /** Index of the oldest live record; live records are first .. end - 1. */
  get first(): number {
    return this.head;
  }

  get end(): number {
    return this.tail;
  }

  /** Index of the newest record, or -1 when none is live. */
  last(): number {
    return this.tail > this.head ? this.tail - 1 : -1;
  }

  startOf(i: number): number {
    return this.start[i & this.mask]!;
  }

  endOf(i: number): number {
    return this.stop[i & this.mask]!;
  }

  everRetrans(i: number): boolean {
    return (this.flags[i & this.mask]! & EVER_RETRANS) !== 0;
  }

  appLimited(i: number): boolean {
    return (this.flags[i & this.mask]! & APP_LIMITED) !== 0;
  }

  /** Bytes in flight (RFC 6675 pipe): outstanding, less SACKed and lost, plus retransmissions in flight. */
  inflight(outstanding: number): number {
    return Math.max(0, outstanding - this.sackedBytes - this.lostBytes + this.retransBytes);
  }

  /** First index whose record ends after seq. */
  private find(seq: number): number {
    let lo = this.head;
    let hi = this.tail;
    while (lo < hi) {
      const mid = lo + ((hi - lo) >> 1);
      if (seqLe(this.stop[mid & this.mask]!, seq)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Copies record a's fields to slot b (physical indices). */
  private copy(a: number, b: number): void {
    this.start[b] = this.start[a]!;
    this.stop[b] = this.stop[a]!;
    this.xmit[b] = this.xmit[a]!;
    this.tsval[b] = this.tsval[a]!;
    this.flags[b] = this.flags[a]!;
    this.delivered[b] = this.delivered[a]!;
    this.deliveredTime[b] = this.deliveredTime[a]!;
    this.firstTxTime[b] = this.firstTxTime[a]!;
    this.txInFlight[b] = this.txInFlight[a]!;
  }

  /** Room for one more record, growing the ring when it is full (never beyond MAX_RECORDS). */
  private reserve(): void {
    if (this.size > this.mask) this.resize((this.mask + 1) * 2);
  }

  /** Splits the record at index i so that one ends at seq (when seq falls inside it and there is room). */
  private split(i: number, seq: number): void {
    const m = this.mask;
    if (i >= this.tail || !seqLt(this.start[i & m]!, seq) || !seqLt(seq, this.stop[i & m]!) || this.full()) return;
    this.reserve();
    const k = this.mask;
    for (let j = this.tail; j > i + 1; j--) this.copy((j - 1) & k, j & k);
    this.tail++;
    this.copy(i & k, (i + 1) & k);
    this.start[(i + 1) & k] = seq;
    this.stop[i & k] = seq;
    if (this.lostHint > i) this.lostHint++;
  }

  /** Writes the rate stamp into slot p (physical). */
  private stampAt(p: number, rate: RateStamp): void {
    this.delivered[p] = rate.delivered;
    this.deliveredTime[p] = rate.deliveredTime;
    this.firstTxTime[p] = rate.firstTxTime;
    this.txInFlight[p] = rate.txInFlight;
  }

  /** Appends the record of a first transmission. */
  private push(start: number, end: number, now: number, tsval: number, rate: RateStamp): void {
    this.reserve();
    const p = this.tail & this.mask;
    this.start[p] = start;
    this.stop[p] = end;
    this.xmit[p] = now;
    this.tsval[p] = tsval;
    this.flags[p] = rate.appLimited ? APP_LIMITED : 0;
    this.stampAt(p, rate);
    this.tail++;
  }

  /**
   * [start, end) just left at `now`. New data gets a record; a
   * retransmission updates (splitting where needed) the records it covers.
   */
  onSend(start: number, end: number, now: number, tsval: number, rate: RateStamp): void {
    if (this.tail === this.head) {
      this.push(start, end, now, tsval, rate);
      return;
    }
    const lastEnd = this.stop[(this.tail - 1) & this.mask]!;
    if (seqGe(start, lastEnd)) {
      this.push(start, end, now, tsval, rate);
      return;
    }
    let i = this.find(start);
    this.split(i, start);
    if (i < this.tail && seqLt(this.start[i & this.mask]!, start)) i++;
    for (; i < this.tail && seqLt(this.start[i & this.mask]!, end); i++) {
      this.split(i, end);
      const p = i & this.mask;
      let f = this.flags[p]!;
      if (f & SACKED) continue;
      this.xmit[p] = now;
      this.tsval[p] = tsval;
      this.stampAt(p, rate);
      f = (f & ~APP_LIMITED) | EVER_RETRANS | (rate.appLimited ? APP_LIMITED : 0);
      if (!(f & RETRANS)) {
        f |= RETRANS;
        this.retransBytes += seqDiff(this.stop[p]!, this.start[p]!);
      }
      this.flags[p] = f;
    }
    if (seqGt(end, lastEnd)) this.push(lastEnd, end, now, tsval, rate);
  }

  /** Drops records at or below the cumulative ACK; `delivered` sees the index of each that was not SACKed before. */
  ackTo(una: number, delivered: (i: number) => void): void {
    const m = this.mask;
    while (this.head < this.tail) {
      const p = this.head & m;
      const s = this.start[p]!;
      const e = this.stop[p]!;
      const f = this.flags[p]!;
      if (seqGt(e, una)) {
        if (seqLt(s, una)) {
          // A partial ACK of a record: only its tail stays outstanding.
          const cut = seqDiff(una, s);
          if (f & LOST) this.lostBytes -= cut;
          if (f & RETRANS) this.retransBytes -= cut;
          if (f & SACKED) this.sackedBytes -= cut;
          this.start[p] = una;
        }
        break;
      }
      const len = seqDiff(e, s);
      if (f & SACKED) this.sackedBytes -= len;
      else {
        if (f & LOST) this.lostBytes -= len;
        if (f & RETRANS) this.retransBytes -= len;
        delivered(this.head);
      }
      this.head++;
    }
    if (this.lostHint < this.head) this.lostHint = this.head;
    if (this.head >= 1 << 30) {
      // Keep indices small integers; a multiple of MAX_RECORDS leaves every slot where it is.
      const k = this.head - (this.head & (MAX_RECORDS - 1));
      this.head -= k;
      this.tail -= k;
      this.lostHint -= k;
    }
  }

  /** Marks SACKed the records `covered` reports wholly received within [lo, hi); `delivered` sees each index. */
  sack(lo: number, hi: number, covered: (s: number, e: number) => boolean, delivered: (i: number) => void): void {
    for (let i = this.find(lo); i < this.tail; i++) {
      const p = i & this.mask;
      const s = this.start[p]!;
      if (!seqLt(s, hi)) break;
      const f = this.flags[p]!;
      const e = this.stop[p]!;
      if (f & SACKED || !covered(s, e)) continue;
      const len = seqDiff(e, s);
      if (f & LOST) this.lostBytes -= len;
      if (f & RETRANS) this.retransBytes -= len;
      this.flags[p] = (f & ~(LOST | RETRANS)) | SACKED;
      this.sackedBytes += len;
      delivered(i);
    }
  }

  /** Whether RACK may still mark record i lost: not SACKed, and not already lost with no retransmission since. */
  private markable(f: number): boolean {
    return (f & SACKED) === 0 && (f & (LOST | RETRANS)) !== LOST;
  }

  /** RACK (or the RTO) says the latest transmission of record i is gone: it must be sent again. */
  markLost(i: number): void {
    const p = i & this.mask;
    let f = this.flags[p]!;
    if (!this.markable(f)) return;
    const len = seqDiff(this.stop[p]!, this.start[p]!);
    if (!(f & LOST)) {
      f |= LOST;
      this.lostBytes += len;
    }
    if (f & RETRANS) {
      f &= ~RETRANS;
      this.retransBytes -= len;
    }
    this.flags[p] = f;
    if (i < this.lostHint) this.lostHint = i;
  }

  /** Index of the first record that is lost and not retransmitted since (RFC 6675 NextSeg rule 1 with RACK's marks), or -1. */
  nextLost(): number {
    for (let i = Math.max(this.lostHint, this.head); i < this.tail; i++) {
      if ((this.flags[i & this.mask]! & (LOST | RETRANS | SACKED)) === LOST) {
        this.lostHint = i;
        return i;
      }
    }
    this.lostHint = this.tail;
    return -1;
  }

  /** A reduction proved spurious: records marked lost and not yet resent are in flight after all. */
  undoLost(): void {
    for (let i = this.head; i < this.tail; i++) {
      const p = i & this.mask;
      const f = this.flags[p]!;
      if ((f & (LOST | RETRANS | SACKED)) === LOST) {
        this.flags[p] = f & ~LOST;
        this.lostBytes -= seqDiff(this.stop[p]!, this.start[p]!);
      }
    }
  }

  /** After a retransmission timeout: every record not SACKed is lost; SACK state is dropped (RFC 2018 section 8). */
  rto(): void {
    this.sackedBytes = 0;
    this.lostBytes = 0;
    this.retransBytes = 0;
    for (let i = this.head; i < this.tail; i++) {
      const p = i & this.mask;
      this.flags[p] = (this.flags[p]! & ~(SACKED | RETRANS)) | LOST;
      this.lostBytes += seqDiff(this.stop[p]!, this.start[p]!);
    }
    this.lostHint = this.head;
  }

  /**
   * RFC 8985 6.2 step 5 over the records: marks lost every one sent before
   * (xmitTs, endSeq) and more than rtt + reoWnd ms before `now`. Returns whether
   * anything was marked, with `timeout` set to the ms until the latest record
   * not yet due is (0: none).
   */
  markBefore(xmitTs: number, endSeq: number, now: number, rtt: number, reoWnd: number): boolean {
    let marked = false;
    let timeout = 0;
    for (let i = this.head; i < this.tail; i++) {
      const p = i & this.mask;
      const x = this.xmit[p]!;
      const f = this.flags[p]!;
      const before = x < xmitTs || (x === xmitTs && seqLt(this.stop[p]!, endSeq));
      if (!before) {
        if (f & EVER_RETRANS) continue;
        break; // records above one never resent were all sent after it
      }
      if (!this.markable(f)) continue;
      const remaining = x + rtt + reoWnd - now;
      if (remaining <= 0) {
        this.markLost(i);
        marked = true;
      } else timeout = Math.max(timeout, remaining);
    }
    this.timeout = timeout;
    return marked;
  }

  /** Set by markBefore(): ms until the reorder timer should fire, 0 for none. */
  timeout = 0;
}

/** RFC 8985 section 6: the RACK state of one sender. */
export class Rack {
  /** RACK.xmit_ts and RACK.end_seq of the most recently sent delivered segment. */
  xmitTs = -Infinity;
  endSeq = SEQ0;
  /** RACK.rtt: round trip of that segment. */
  rtt = 0;
  /** SND.FACK: highest sequence SACKed or acknowledged. */
  fack = SEQ0;
  reorderingSeen = false;
  /** RACK.reo_wnd_mult and RACK.reo_wnd_persist (RFC 8985 6.2 step 4). */
  reoWndMult = 1;
  reoWndPersist = 0;
  /** RACK.dsack_round: SND.NXT when the last D-SACK widened the window; null outside such a round. */
  dsackRound: number | null = null;
  /** Set by detectLoss(): ms until the reorder timer should fire, 0 for none. */
  timeout = 0;

  reset(seq: number): void {
    this.xmitTs = -Infinity;
    this.endSeq = seq;
    this.fack = seq;
  }

  /**
   * RFC 8985 6.2 step 2 and 3 for one newly delivered record. A
   * retransmitted record is skipped when its delivery may be the original's:
   * the ACK echoes an older TSval, or came back faster than min_RTT.
   */
  update(log: SentLog, i: number, now: number, minRtt: number, tsEcr: number | null): void {
    const p = i & log.mask;
    const end = log.stop[p]!;
    const xmit = log.xmit[p]!;
    if (seqLt(end, this.fack)) this.reorderingSeen = true;
    else this.fack = end;
    const rtt = now - xmit;
    if (log.everRetrans(i)) {
      const tsval = log.tsval[p]!;
      if (tsEcr !== null && tsval !== 0 && ((tsEcr - tsval) | 0) < 0) return;
      if (rtt < minRtt) return;
    }
    this.rtt = rtt;
    if (xmit > this.xmitTs || (xmit === this.xmitTs && seqGt(end, this.endSeq))) {
      this.xmitTs = xmit;
      this.endSeq = end;
    }
  }

  /** A D-SACK arrived (RFC 8985 6.2 step 4): widen the window once per round trip. */
  onDsack(sndNxt: number, una: number): void {
    if (this.dsackRound !== null && seqGe(una, this.dsackRound)) this.dsackRound = null;
    if (this.dsackRound === null) {
      this.dsackRound = sndNxt;
      this.reoWndMult++;
      this.reoWndPersist = 16;
    }
  }

  /** Recovery ended: after 16 recoveries without D-SACK the window returns to its base. */
  onRecoveryExit(): void {
    if (--this.reoWndPersist <= 0) this.reoWndMult = 1;
  }

  /** RACK.reo_wnd (RFC 8985 6.2 step 4). */
  reoWnd(inRecovery: boolean, sackedSegments: number, minRtt: number, srtt: number): number {
    if (!this.reorderingSeen && (inRecovery || sackedSegments >= 3)) return 0;
    if (!Number.isFinite(minRtt)) return 0;
    return Math.min((minRtt / 4) * this.reoWndMult, srtt);
  }

  /**
   * RFC 8985 6.2 step 5: marks lost every outstanding record sent before
   * the RACK segment by more than reo_wnd and RACK.rtt ago. Returns whether
   * anything was marked; `timeout` is then, for records not yet due, the ms
   * until the latest of them is (0: none). Runs on every ACK, so it
   * allocates nothing.
   */
  detectLoss(log: SentLog, now: number, reoWnd: number): boolean {
    const marked = this.xmitTs !== -Infinity && log.markBefore(this.xmitTs, this.endSeq, now, this.rtt, reoWnd);
    this.timeout = this.xmitTs !== -Infinity ? log.timeout : 0;
    return marked;
  }
}
