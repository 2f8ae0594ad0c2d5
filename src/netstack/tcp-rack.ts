/**
 * Per-segment send records and RACK loss detection (RFC 8985 section 6).
 *
 * SentLog keeps one record per transmitted segment from SND.UNA to SND.MAX:
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
import { seqGe, seqGt, seqLe, seqLt, seqDiff } from './tcp-seq.js';
import type { RateStamp } from './tcp-rate.js';

export interface SentRecord {
  start: number;
  end: number;
  /** Time of the latest transmission, ms. */
  xmit: number;
  /** Our TSval on the latest transmission (0 without timestamps). */
  tsval: number;
  /** The latest transmission is a retransmission, still counted in the pipe. */
  retrans: boolean;
  /** Sent more than once. */
  everRetrans: boolean;
  sacked: boolean;
  lost: boolean;
  /** Delivery-rate state when the latest transmission left (tcp-rate.ts). */
  delivered: number;
  deliveredTime: number;
  firstTxTime: number;
  appLimited: boolean;
  txInFlight: number;
}

/**
 * A record for a first transmission. Written out field by field (not spread
 * from the stamp): one is made per segment sent, and a literal of fixed
 * shape is far cheaper than copying properties at run time.
 */
function newRecord(start: number, end: number, now: number, tsval: number, rate: RateStamp): SentRecord {
  return {
    start, end, xmit: now, tsval, retrans: false, everRetrans: false, sacked: false, lost: false,
    delivered: rate.delivered, deliveredTime: rate.deliveredTime, firstTxTime: rate.firstTxTime, appLimited: rate.appLimited, txInFlight: rate.txInFlight,
  };
}

/** Records kept at most: the bound on segments in flight per connection. */
export const MAX_RECORDS = 8192;

export class SentLog {
  private recs: SentRecord[] = [];
  private head = 0;
  sackedBytes = 0;
  lostBytes = 0;
  retransBytes = 0;
  /** Index from which a lost, not yet retransmitted record may be found. */
  private lostHint = 0;

  get size(): number {
    return this.recs.length - this.head;
  }

  full(): boolean {
    return this.size >= MAX_RECORDS;
  }

  clear(): void {
    this.recs = [];
    this.head = 0;
    this.sackedBytes = 0;
    this.lostBytes = 0;
    this.retransBytes = 0;
    this.lostHint = 0;
  }

  /** Live records, oldest sequence first. */
  *records(): IterableIterator<SentRecord> {
    for (let i = this.head; i < this.recs.length; i++) yield this.recs[i]!;
  }

  last(): SentRecord | undefined {
    return this.size > 0 ? this.recs[this.recs.length - 1] : undefined;
  }

  /** Bytes in flight (RFC 6675 pipe): outstanding, less SACKed and lost, plus retransmissions in flight. */
  inflight(outstanding: number): number {
    return Math.max(0, outstanding - this.sackedBytes - this.lostBytes + this.retransBytes);
  }

  /** First index whose record ends after seq. */
  private find(seq: number): number {
    let lo = this.head;
    let hi = this.recs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (seqLe(this.recs[mid]!.end, seq)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Splits the record at index i so that one ends at seq (when seq falls inside it and there is room). */
  private split(i: number, seq: number): void {
    const r = this.recs[i];
    if (r === undefined || !seqLt(r.start, seq) || !seqLt(seq, r.end) || this.full()) return;
    const tail: SentRecord = { ...r, start: seq };
    r.end = seq;
    this.recs.splice(i + 1, 0, tail);
  }

  /**
   * [start, end) just left at `now`. New data gets a record; a
   * retransmission updates (splitting where needed) the records it covers.
   */
  onSend(start: number, end: number, now: number, tsval: number, rate: RateStamp): void {
    const last = this.last();
    if (last === undefined || seqGe(start, last.end)) {
      this.recs.push(newRecord(start, end, now, tsval, rate));
      return;
    }
    let i = this.find(start);
    this.split(i, start);
    if (this.recs[i] !== undefined && seqLt(this.recs[i]!.start, start)) i++;
    for (; i < this.recs.length && seqLt(this.recs[i]!.start, end); i++) {
      this.split(i, end);
      const r = this.recs[i]!;
      if (r.sacked) continue;
      const len = seqDiff(r.end, r.start);
      r.xmit = now;
      r.tsval = tsval;
      r.everRetrans = true;
      Object.assign(r, rate);
      if (!r.retrans) {
        r.retrans = true;
        this.retransBytes += len;
      }
    }
    if (seqGt(end, last.end)) this.recs.push(newRecord(last.end, end, now, tsval, rate));
  }

  /** Drops records at or below the cumulative ACK; `delivered` sees each that was not SACKed before. */
  ackTo(una: number, delivered: (r: SentRecord) => void): void {
    while (this.head < this.recs.length) {
      const r = this.recs[this.head]!;
      if (seqGt(r.end, una)) {
        if (seqLt(r.start, una)) {
          // A partial ACK of a record: only its tail stays outstanding.
          const cut = seqDiff(una, r.start);
          if (r.lost) this.lostBytes -= cut;
          if (r.retrans) this.retransBytes -= cut;
          if (r.sacked) this.sackedBytes -= cut;
          r.start = una;
        }
        break;
      }
      this.forget(r);
      if (!r.sacked) delivered(r);
      this.head++;
    }
    if (this.lostHint < this.head) this.lostHint = this.head;
    if (this.head > 1024 && this.head * 2 > this.recs.length) {
      this.recs = this.recs.slice(this.head);
      this.lostHint = Math.max(0, this.lostHint - this.head);
      this.head = 0;
    }
  }

  private forget(r: SentRecord): void {
    const len = seqDiff(r.end, r.start);
    if (r.sacked) this.sackedBytes -= len;
    else {
      if (r.lost) this.lostBytes -= len;
      if (r.retrans) this.retransBytes -= len;
    }
  }

  /** Marks SACKed the records `covered` reports wholly received within [lo, hi); `delivered` sees each. */
  sack(lo: number, hi: number, covered: (s: number, e: number) => boolean, delivered: (r: SentRecord) => void): void {
    for (let i = this.find(lo); i < this.recs.length && seqLt(this.recs[i]!.start, hi); i++) {
      const r = this.recs[i]!;
      if (r.sacked || !covered(r.start, r.end)) continue;
      const len = seqDiff(r.end, r.start);
      if (r.lost) this.lostBytes -= len;
      if (r.retrans) this.retransBytes -= len;
      r.sacked = true;
      r.lost = false;
      r.retrans = false;
      this.sackedBytes += len;
      delivered(r);
    }
  }

  /** RACK (or the RTO) says the latest transmission of r is gone: it must be sent again. */
  markLost(r: SentRecord, index?: number): void {
    if (r.sacked || (r.lost && !r.retrans)) return;
    const len = seqDiff(r.end, r.start);
    if (!r.lost) {
      r.lost = true;
      this.lostBytes += len;
    }
    if (r.retrans) {
      r.retrans = false;
      this.retransBytes -= len;
    }
    if (index !== undefined && index < this.lostHint) this.lostHint = index;
    else if (index === undefined) this.lostHint = this.head;
  }

  /** The first record that is lost and not retransmitted since (RFC 6675 NextSeg rule 1 with RACK's marks). */
  nextLost(): SentRecord | null {
    for (let i = Math.max(this.lostHint, this.head); i < this.recs.length; i++) {
      const r = this.recs[i]!;
      if (r.lost && !r.retrans && !r.sacked) {
        this.lostHint = i;
        return r;
      }
    }
    this.lostHint = this.recs.length;
    return null;
  }

  /** A reduction proved spurious: records marked lost and not yet resent are in flight after all. */
  undoLost(): void {
    for (let i = this.head; i < this.recs.length; i++) {
      const r = this.recs[i]!;
      if (r.lost && !r.retrans && !r.sacked) {
        r.lost = false;
        this.lostBytes -= seqDiff(r.end, r.start);
      }
    }
  }

  /** After a retransmission timeout: every record not SACKed is lost; SACK state is dropped (RFC 2018 section 8). */
  rto(): void {
    this.sackedBytes = 0;
    this.lostBytes = 0;
    this.retransBytes = 0;
    for (let i = this.head; i < this.recs.length; i++) {
      const r = this.recs[i]!;
      r.sacked = false;
      r.retrans = false;
      r.lost = true;
      this.lostBytes += seqDiff(r.end, r.start);
    }
    this.lostHint = this.head;
  }

  /** Index of the oldest live record; live records are at(first) .. at(end - 1). */
  get first(): number {
    return this.head;
  }

  get end(): number {
    return this.recs.length;
  }

  at(i: number): SentRecord {
    return this.recs[i]!;
  }
}

/** RFC 8985 section 6: the RACK state of one sender. */
export class Rack {
  /** RACK.xmit_ts and RACK.end_seq of the most recently sent delivered segment. */
  xmitTs = -Infinity;
  endSeq = 0;
  /** RACK.rtt: round trip of that segment. */
  rtt = 0;
  /** SND.FACK: highest sequence SACKed or acknowledged. */
  fack = 0;
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
  update(r: SentRecord, now: number, minRtt: number, tsEcr: number | null): void {
    if (seqLt(r.end, this.fack)) this.reorderingSeen = true;
    else this.fack = r.end;
    const rtt = now - r.xmit;
    if (r.everRetrans) {
      if (tsEcr !== null && r.tsval !== 0 && ((tsEcr - r.tsval) | 0) < 0) return;
      if (rtt < minRtt) return;
    }
    this.rtt = rtt;
    if (r.xmit > this.xmitTs || (r.xmit === this.xmitTs && seqGt(r.end, this.endSeq))) {
      this.xmitTs = r.xmit;
      this.endSeq = r.end;
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
    let marked = false;
    let timeout = 0;
    if (this.xmitTs !== -Infinity) {
      for (let i = log.first, end = log.end; i < end; i++) {
        const r = log.at(i);
        const before = r.xmit < this.xmitTs || (r.xmit === this.xmitTs && seqLt(r.end, this.endSeq));
        if (!before) {
          if (r.everRetrans) continue;
          break; // records above one never resent were all sent after it
        }
        if (r.sacked || (r.lost && !r.retrans)) continue;
        const remaining = r.xmit + this.rtt + reoWnd - now;
        if (remaining <= 0) {
          log.markLost(r, i);
          marked = true;
        } else timeout = Math.max(timeout, remaining);
      }
    }
    this.timeout = timeout;
    return marked;
  }
}
