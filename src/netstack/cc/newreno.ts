/**
 * NewReno congestion control behind the CongestionControl contract (types.ts):
 * slow start and congestion avoidance with byte counting (RFC 5681 section
 * 3.1, RFC 3465 with L = 1 SMSS), the initial window of RFC 6928,
 * multiplicative decrease on loss (RFC 5681 equation 4) and the RTO reset to
 * one segment. Loss detection and recovery (RFC 6582, RFC 6675, RACK, PRR)
 * belong to the sender, which writes cwnd while it recovers (usesPrr).
 *
 *   onAck (outside recovery, cwnd-limited) -> slow start | +1 SMSS per cwnd
 *   onCongestionEvent -> ssthresh = max(FlightSize/2, 2 SMSS), saved for undo
 *   onRto -> cwnd = 1 SMSS          undo -> the saved cwnd/ssthresh back
 */
import type { AckEvent, CongestionControl } from './types.js';
import { initialWindow } from './window.js';

export class NewReno implements CongestionControl {
  readonly name = 'newreno' as const;
  readonly usesPrr = true;
  cwnd: number;
  ssthresh = 0x7fffffff;
  private acc = 0;
  /** cwnd and ssthresh before the last reduction, for undo(); null when there is nothing to undo. */
  private prior: { cwnd: number; ssthresh: number } | null = null;

  constructor(private mss: number) {
    this.cwnd = initialWindow(mss);
  }

  pacingRate(): number {
    return Infinity;
  }

  setMss(mss: number): void {
    this.mss = mss;
  }

  onAck(e: AckEvent): void {
    if (e.inRecovery || !e.cwndLimited) return;
    if (this.cwnd < this.ssthresh) {
      this.cwnd += Math.min(e.acked, this.mss);
    } else {
      this.acc += e.acked;
      if (this.acc >= this.cwnd) {
        this.acc -= this.cwnd;
        this.cwnd += this.mss;
      }
    }
  }

  /** Loss detected by dupacks, SACK or RACK: ssthresh = max(FlightSize/2, 2*SMSS) (RFC 5681 equation 4). */
  onCongestionEvent(_now: number, inflight: number): void {
    this.prior = { cwnd: this.cwnd, ssthresh: this.ssthresh };
    this.ssthresh = Math.max(Math.floor(inflight / 2), 2 * this.mss);
    this.acc = 0;
  }

  onRecoveryExit(_now: number): void {
    // The sender sets cwnd at the end of recovery (RFC 6582 3.2 step 3, RFC 6937 end of PRR).
  }

  /** Retransmission timeout: ssthresh reduced only on the first expiry of a series (RFC 5681 step 4); cwnd = 1 SMSS. */
  onRto(_now: number, inflight: number, firstExpiry: boolean): void {
    if (firstExpiry) {
      this.prior = { cwnd: this.cwnd, ssthresh: this.ssthresh };
      this.ssthresh = Math.max(Math.floor(inflight / 2), 2 * this.mss);
    }
    this.cwnd = this.mss;
    this.acc = 0;
  }

  /** RFC 3708 / RFC 4015 response: restore the window from before the spurious reduction. */
  undo(_now: number): void {
    const p = this.prior;
    if (p === null) return;
    this.prior = null;
    this.cwnd = Math.max(this.cwnd, p.cwnd);
    this.ssthresh = Math.max(this.ssthresh, p.ssthresh);
  }

  /** RFC 5681 section 4.1: after an idle period longer than the RTO, restart from the initial window. */
  onIdleRestart(_now: number): void {
    this.cwnd = Math.min(this.cwnd, initialWindow(this.mss));
  }
}
