/**
 * Delivery-rate estimation (draft-cheng-iccrg-delivery-rate-estimation):
 * each transmission is stamped with the connection's delivery state, and
 * each ACK that delivers data (cumulatively or by SACK) turns the stamp of
 * the most recently sent of the delivered segments into one rate sample:
 * bytes delivered since that segment left, over the longer of its send and
 * ACK intervals. A sample taken while the application (not the network)
 * limited sending is marked app-limited, so a controller does not read a
 * quiet sender as a slow path. Sans-IO: every call carries `now` (ms).
 *
 *   send:  stamp(now, pipe, len)  -> fields written into the send record (SentLog)
 *   ACK:   onDelivered(log, index, now) for each newly delivered record
 *          lost(bytes)            as RACK marks losses (ACK or timer)
 *          sample(minRtt)         -> RateSample | null for AckEvent.rate
 *   after sending: checkAppLimited(...) marks the bubble the app left
 */
import type { RateSample } from './cc/types.js';
import { seqDiff, seqGt, SEQ0 } from './tcp-seq.js';

/** The delivery state a transmission carries (stored in the SentLog with its record). */
export interface RateStamp {
  /** Connection's delivered bytes when the segment left. */
  delivered: number;
  /** When `delivered` last grew, as of the send; -1 once the segment's delivery was counted. */
  deliveredTime: number;
  /** Send time of the first segment of the flight the segment belongs to. */
  firstTxTime: number;
  /** The application, not the network, limited sending. */
  appLimited: boolean;
  /** Bytes in flight just after the segment left, itself included. */
  txInFlight: number;
}

/** The send records the sampler reads a delivered record from (tcp-rack.ts SentLog, by index). */
export interface RateRecords {
  readonly mask: number;
  readonly start: Uint32Array;
  readonly stop: Uint32Array;
  /** Time of the latest transmission. */
  readonly xmit: Float64Array;
  readonly delivered: Float64Array;
  readonly deliveredTime: Float64Array;
  readonly firstTxTime: Float64Array;
  readonly txInFlight: Float64Array;
  appLimited(i: number): boolean;
}

export class RateSampler {
  /** C.delivered: bytes delivered (cumulatively ACKed or SACKed) so far. */
  delivered = 0;
  /** C.delivered_time: when `delivered` last grew. */
  deliveredTime = 0;
  /** C.first_send_time: send time of the newest delivered segment (start of the current send interval). */
  firstTxTime = 0;
  /** C.app_limited: 0, or the delivered count at which the app-limited bubble has left the pipe. */
  appLimitedUntil = 0;
  /** Bytes RACK (or an RTO) marked lost since the last sample. */
  private lostSince = 0;
  /** One stamp object reused for every send (SentLog copies its fields). */
  private readonly st: RateStamp = { delivered: 0, deliveredTime: 0, firstTxTime: 0, appLimited: false, txInFlight: 0 };

  // The sample being built from this ACK's newest delivered segment.
  private has = false;
  private priorDelivered = 0;
  private priorTime = 0;
  private sendElapsed = 0;
  private sampleAppLimited = false;
  private txInFlight = 0;
  private lastXmit = -Infinity;
  private lastEnd = SEQ0;

  /** The stamp for a segment of `len` bytes leaving now with `pipe` bytes already in flight. */
  stamp(now: number, pipe: number, len: number): RateStamp {
    if (pipe === 0) {
      // A new flight: its send and ACK intervals start now, not at a long-gone ACK.
      this.firstTxTime = now;
      this.deliveredTime = now;
    }
    const s = this.st;
    s.delivered = this.delivered;
    s.deliveredTime = this.deliveredTime;
    s.firstTxTime = this.firstTxTime;
    s.appLimited = this.appLimitedUntil !== 0;
    s.txInFlight = pipe + len;
    return s;
  }

  /** A record was newly delivered (ACKed or SACKed) at `now`; the newest-sent such record sets the sample. */
  onDelivered(r: RateRecords, i: number, now: number): void {
    const p = i & r.mask;
    if (r.deliveredTime[p]! < 0) return; // counted already (SACKed before an RTO cleared the marks)
    const end = r.stop[p]!;
    const xmit = r.xmit[p]!;
    this.delivered += seqDiff(end, r.start[p]!);
    this.deliveredTime = now;
    if (!this.has || xmit > this.lastXmit || (xmit === this.lastXmit && seqGt(end, this.lastEnd))) {
      this.has = true;
      this.priorDelivered = r.delivered[p]!;
      this.priorTime = r.deliveredTime[p]!;
      this.sampleAppLimited = r.appLimited(i);
      this.txInFlight = r.txInFlight[p]!;
      this.sendElapsed = xmit - r.firstTxTime[p]!;
      this.lastXmit = xmit;
      this.lastEnd = end;
      // The next sample's send interval starts at this segment's send.
      this.firstTxTime = xmit;
    }
    r.deliveredTime[p] = -1;
  }

  /** Bytes newly marked lost; reported with the next sample. */
  onLost(bytes: number): void {
    this.lostSince += bytes;
  }

  /**
   * The sample of the ACK just processed, or null when it delivered nothing
   * newly. The interval is the longer of the send and ACK intervals (ACK
   * compression cannot inflate the rate); one shorter than min RTT cannot be
   * a full flight's worth and gives deliveryRate 0 (no rate, losses still count).
   */
  sample(minRtt: number): RateSample | null {
    if (this.appLimitedUntil !== 0 && this.delivered > this.appLimitedUntil) this.appLimitedUntil = 0;
    if (!this.has) return null;
    this.has = false;
    const interval = Math.max(this.sendElapsed, this.deliveredTime - this.priorTime);
    const delivered = this.delivered - this.priorDelivered;
    const lost = this.lostSince;
    this.lostSince = 0;
    const valid = interval > 0 && !(interval < minRtt);
    return {
      delivered,
      interval,
      deliveryRate: valid ? delivered / interval : 0,
      isAppLimited: this.sampleAppLimited,
      priorDelivered: this.priorDelivered,
      txInFlight: this.txInFlight,
      lost,
    };
  }

  /**
   * After sending: when less than a segment waits to go, nothing lost waits
   * for retransmission and the window is not full, the application is what
   * limits sending; samples until this bubble is delivered are app-limited.
   */
  checkAppLimited(unsent: number, mss: number, pipe: number, cwnd: number, lostPending: boolean): void {
    if (unsent < mss && !lostPending && pipe < cwnd) this.appLimitedUntil = Math.max(this.delivered + pipe, 1);
  }
}
