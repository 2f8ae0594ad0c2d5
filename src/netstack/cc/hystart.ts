/**
 * HyStart++ (RFC 9406): leaves slow start before the first loss when the
 * RTT of a round rises by more than a threshold over the previous round's,
 * through Conservative Slow Start (CSS), a few rounds of quarter-speed
 * growth that either confirm the rise (then congestion avoidance) or show
 * it was a spike (then back to slow start).
 *
 *   slowStartAck(e) per ACK while cwnd < ssthresh
 *     e.roundStart -> lastRoundMinRtt = currentRoundMinRtt, new round
 *     e.rtt        -> currentRoundMinRtt, rttSampleCount
 *     'ss'   : N_RTT_SAMPLE samples and a rise >= RttThresh -> 'css'
 *     'css'  : RTT back under the baseline -> 'ss'; CSS_ROUNDS rounds -> exit
 *     returns the bytes to add to cwnd and whether to leave slow start now
 *   onLoss() -> 'done': loss decides from here (RFC 9406 section 4.2)
 *
 * Used only in the initial slow start: after a loss the slow-start
 * threshold is known and plain slow start runs up to it (section 4.3).
 */
import type { AckEvent } from './types.js';

// RFC 9406 section 4.3 constants.
/** Lower bound of the RTT rise threshold, ms. */
export const MIN_RTT_THRESH = 4;
/** Upper bound of the RTT rise threshold, ms. */
export const MAX_RTT_THRESH = 16;
/** The threshold is lastRoundMinRtt / MIN_RTT_DIVISOR, clamped to the bounds above. */
export const MIN_RTT_DIVISOR = 8;
/** RTT samples needed in a round before it is compared with the previous one. */
export const N_RTT_SAMPLE = 8;
/** CSS grows cwnd at 1/CSS_GROWTH_DIVISOR of the slow-start rate. */
export const CSS_GROWTH_DIVISOR = 4;
/** Rounds spent in CSS before congestion avoidance. */
export const CSS_ROUNDS = 5;
/** Segments of growth per ACK without pacing (L, RFC 3465 / RFC 9406 section 4.2). */
export const L_NON_PACED = 8;

export type HyStartPhase = 'ss' | 'css' | 'done';

export interface SlowStartStep {
  /** Bytes to add to cwnd. */
  increase: number;
  /** Leave slow start now: the caller sets ssthresh = cwnd (after the increase). */
  exit: boolean;
}

export class HyStartPlusPlus {
  phase: HyStartPhase = 'ss';
  lastRoundMinRtt = Infinity;
  currentRoundMinRtt = Infinity;
  rttSampleCount = 0;
  cssBaselineMinRtt = Infinity;
  cssRounds = 0;

  /** `paced`: the sender paces, so there is no per-ACK burst limit (L = infinity). */
  constructor(private readonly paced = false) {}

  slowStartAck(e: AckEvent): SlowStartStep {
    const limit = this.paced ? Infinity : L_NON_PACED * e.mss;
    const base = Math.min(e.acked, limit);
    if (this.phase === 'done') return { increase: base, exit: false };
    if (e.roundStart) {
      this.lastRoundMinRtt = this.currentRoundMinRtt;
      this.currentRoundMinRtt = Infinity;
      this.rttSampleCount = 0;
      if (this.phase === 'css' && ++this.cssRounds >= CSS_ROUNDS) {
        this.phase = 'done';
        return { increase: 0, exit: true };
      }
    }
    if (e.rtt !== undefined) {
      this.currentRoundMinRtt = Math.min(this.currentRoundMinRtt, e.rtt);
      this.rttSampleCount++;
    }
    const enough = this.rttSampleCount >= N_RTT_SAMPLE && this.currentRoundMinRtt !== Infinity;
    if (this.phase === 'ss') {
      if (enough && this.lastRoundMinRtt !== Infinity) {
        const rttThresh = Math.max(MIN_RTT_THRESH, Math.min(this.lastRoundMinRtt / MIN_RTT_DIVISOR, MAX_RTT_THRESH));
        if (this.currentRoundMinRtt >= this.lastRoundMinRtt + rttThresh) {
          this.cssBaselineMinRtt = this.currentRoundMinRtt;
          this.cssRounds = 0;
          this.phase = 'css';
        }
      }
    } else if (enough && this.currentRoundMinRtt < this.cssBaselineMinRtt) {
      // The rise was a spike: resume slow start (RFC 9406 section 4.2).
      this.cssBaselineMinRtt = Infinity;
      this.phase = 'ss';
    }
    return { increase: this.phase === 'css' ? base / CSS_GROWTH_DIVISOR : base, exit: false };
  }

  /** Loss (or a timeout) in slow start or CSS ends HyStart++ for this connection. */
  onLoss(): void {
    this.phase = 'done';
  }
}
