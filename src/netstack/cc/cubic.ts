/**
 * CUBIC (RFC 9438) with HyStart++ (RFC 9406) in slow start: the default
 * congestion controller, as on Linux. In congestion avoidance the window
 * follows W_cubic(t) = C*(t-K)^3 + W_max, concave up to the window of the
 * last congestion event and convex beyond it, never below the Reno-friendly
 * estimate W_est. All windows are bytes; C is scaled by the MSS so the
 * curve matches the RFC's segment units.
 *
 *   onAck(e)                  cwnd < ssthresh: HyStart++ slow start (paced: the whole
 *                             acked count per ACK, however many segments one ACK covers)
 *                             else: epoch (t from e.now) -> target = W_cubic(t+RTT)
 *                                   clamped to [cwnd, 1.5 cwnd]; cwnd = max(that, W_est)
 *   onCongestionEvent()       W_max (fast convergence), ssthresh = beta*cwnd; PRR
 *                             (in the sender) brings cwnd down to it
 *   onRto()                   ssthresh as above, cwnd = 1 MSS, next epoch K = 0
 *   undo()                    the state saved at the last reduction
 *   onIdleRestart(), app-limited ACKs: the epoch is shifted by the pause, so
 *                             t counts only time spent growing (RFC 9438 4.2)
 *   pacingRate()              2 x cwnd/SRTT below ssthresh/2, 1.2 x after (window.ts)
 */
import type { AckEvent, CongestionControl } from './types.js';
import { HyStartPlusPlus } from './hystart.js';
import { INITIAL_SSTHRESH, initialWindow, minSsthresh, windowPacingRate } from './window.js';

// RFC 9438 section 5 constants.
/** Scaling constant C, segments per second^3. */
export const CUBIC_C = 0.4;
/** Multiplicative decrease factor beta_cubic. */
export const CUBIC_BETA = 0.7;
/** Reno-friendly additive increase alpha_cubic = 3(1-beta)/(1+beta), segments per RTT (RFC 9438 4.3). */
export const CUBIC_ALPHA = (3 * (1 - CUBIC_BETA)) / (1 + CUBIC_BETA);

/** W_cubic(t) of RFC 9438 equation 1, in whatever unit wMax and c share; t and k in seconds. */
export function wCubic(t: number, k: number, wMax: number, c: number): number {
  return c * (t - k) ** 3 + wMax;
}

/** K of RFC 9438 equation 2: the time the curve takes from cwndEpoch to wMax. */
export function cubicK(wMax: number, cwndEpoch: number, c: number): number {
  return Math.cbrt(Math.max(0, wMax - cwndEpoch) / c);
}

interface Saved {
  cwnd: number;
  ssthresh: number;
  wMax: number;
  cwndPrior: number;
  k: number;
  originPoint: number;
  epochStart: number | undefined;
  wEst: number;
}

export class Cubic implements CongestionControl {
  readonly name = 'cubic' as const;
  readonly usesPrr = true;
  cwnd: number;
  ssthresh = INITIAL_SSTHRESH;
  /** Window at the last congestion event, after fast convergence (bytes); 0 until one. */
  wMax = 0;
  /** cwnd when ssthresh was last set (bytes): W_est switches to alpha = 1 beyond it. */
  cwndPrior = 0;
  /** Seconds the curve takes to reach originPoint from the epoch's start. */
  k = 0;
  /** The plateau of the current epoch's curve (bytes). */
  originPoint = 0;
  /** Start of the current congestion-avoidance epoch (ms), undefined until the first CA ACK after a reduction. */
  epochStart: number | undefined;
  /** Reno-friendly estimate (bytes, fractional). */
  wEst = 0;
  readonly hystart: HyStartPlusPlus;
  /** Fractional bytes of growth not yet added to the integer cwnd. */
  private growth = 0;
  /** When growth stopped for lack of data to send (ms); the epoch is shifted by the pause. */
  private pausedAt: number | undefined;
  private lastAckAt = 0;
  private saved: Saved | null = null;
  /** The latest smoothed RTT the sender reported, ms (0 before a sample). */
  private srtt = 0;

  constructor(private mss: number) {
    this.cwnd = initialWindow(mss);
    // Paced (pacingRate below), so slow start takes each ACK's whole acked count (RFC 9406's L = infinity), as
    // Linux's tcp_slow_start does: a receiver that ACKs once per received batch (ours, Linux's GRO) sends ACKs
    // covering 10-45 segments, and a cap of 8 per ACK made slow start grow by a constant per round, not double.
    this.hystart = new HyStartPlusPlus(true);
  }

  /**
   * Paced as Linux paces CUBIC under fq: a window's bursts (a sender's
   * batch, a relay's replay of it) spread over the round trip instead of
   * overflowing a small receive buffer on the path.
   */
  pacingRate(): number {
    return windowPacingRate(this.cwnd, this.ssthresh, this.srtt);
  }

  setMss(mss: number): void {
    this.mss = mss;
  }

  onAck(e: AckEvent): void {
    this.lastAckAt = e.now;
    this.srtt = e.srtt;
    if (e.inRecovery) return; // PRR owns cwnd until onRecoveryExit
    if (!e.cwndLimited) {
      this.pausedAt ??= e.now;
      return;
    }
    this.resumeEpoch(e.now);
    if (this.cwnd < this.ssthresh) {
      const step = this.hystart.slowStartAck(e);
      this.cwnd += Math.floor(step.increase);
      if (step.exit) this.ssthresh = this.cwnd;
      else this.cwnd = Math.min(this.cwnd, this.ssthresh);
      return;
    }
    this.congestionAvoidance(e);
  }

  private congestionAvoidance(e: AckEvent): void {
    const mss = this.mss;
    const c = CUBIC_C * mss; // bytes per s^3
    if (this.epochStart === undefined) {
      this.epochStart = e.now;
      if (this.cwnd < this.wMax) {
        this.k = cubicK(this.wMax, this.cwnd, c);
        this.originPoint = this.wMax;
      } else {
        this.k = 0;
        this.originPoint = this.cwnd;
      }
      this.wEst = this.cwnd;
      this.growth = 0;
    }
    const t = (e.now - this.epochStart) / 1000;
    const rtt = (e.srtt > 0 ? e.srtt : e.minRtt === Infinity ? 0 : e.minRtt) / 1000;
    // Reno-friendly region (RFC 9438 4.3): W_est grows by alpha per cwnd of ACKed bytes.
    const alpha = this.wEst >= this.cwndPrior ? 1 : CUBIC_ALPHA;
    this.wEst += (alpha * mss * e.acked) / this.cwnd;
    if (wCubic(t, this.k, this.originPoint, c) < this.wEst) {
      this.setCwnd(this.wEst);
      return;
    }
    // Concave and convex regions (RFC 9438 4.4, 4.5).
    const target = Math.min(Math.max(wCubic(t + rtt, this.k, this.originPoint, c), this.cwnd), 1.5 * this.cwnd);
    this.setCwnd(this.cwnd + this.growth + ((target - this.cwnd) * e.acked) / this.cwnd);
  }

  /** Integer cwnd with the fractional remainder kept for the next ACK. */
  private setCwnd(bytes: number): void {
    const whole = Math.floor(bytes);
    this.growth = bytes - whole;
    this.cwnd = Math.max(whole, this.mss);
  }

  private save(): void {
    const { cwnd, ssthresh, wMax, cwndPrior, k, originPoint, epochStart, wEst } = this;
    this.saved = { cwnd, ssthresh, wMax, cwndPrior, k, originPoint, epochStart, wEst };
  }

  /** RFC 9438 4.6 and 4.7: remember the window, with fast convergence when it is below the previous one. */
  private reduce(): void {
    this.save();
    this.hystart.onLoss();
    this.wMax = this.cwnd < this.wMax ? (this.cwnd * (1 + CUBIC_BETA)) / 2 : this.cwnd;
    this.cwndPrior = this.cwnd;
    this.ssthresh = Math.max(Math.floor(this.cwnd * CUBIC_BETA), minSsthresh(this.mss));
    this.epochStart = undefined;
    this.pausedAt = undefined;
    this.growth = 0;
  }

  onCongestionEvent(_now: number, _inflight: number): void {
    this.reduce();
  }

  onRecoveryExit(_now: number): void {
    // The sender sets cwnd = ssthresh; the next ACK in congestion avoidance opens the epoch.
  }

  onRto(_now: number, _inflight: number, firstExpiry: boolean): void {
    if (firstExpiry) {
      this.reduce();
      // RFC 9438 4.8: the first epoch after a timeout starts with K = 0 at the window it reaches.
      this.wMax = 0;
    }
    this.epochStart = undefined;
    this.cwnd = this.mss;
  }

  undo(_now: number): void {
    const s = this.saved;
    if (s === null) return;
    this.saved = null;
    this.cwnd = Math.max(this.cwnd, s.cwnd);
    this.ssthresh = Math.max(this.ssthresh, s.ssthresh);
    this.wMax = s.wMax;
    this.cwndPrior = s.cwndPrior;
    this.k = s.k;
    this.originPoint = s.originPoint;
    this.epochStart = s.epochStart;
    this.wEst = s.wEst;
    this.growth = 0;
  }

  onIdleRestart(now: number): void {
    // RFC 5681 4.1 restart window, keeping ssthresh high enough to slow-start back (as Linux does).
    this.ssthresh = Math.max(this.ssthresh, Math.floor((3 * this.cwnd) / 4));
    this.cwnd = Math.min(this.cwnd, initialWindow(this.mss));
    this.pausedAt ??= Math.min(this.lastAckAt, now);
    this.resumeEpoch(now);
  }

  /** Growth resumes: move the epoch's start forward by the pause, as Linux does on CA_EVENT_TX_START. */
  private resumeEpoch(now: number): void {
    if (this.pausedAt === undefined) return;
    if (this.epochStart !== undefined) this.epochStart = Math.min(now, this.epochStart + (now - this.pausedAt));
    this.pausedAt = undefined;
  }
}
