/**
 * Pacing for the sans-IO sender: segments leave no faster than the
 * controller's pacing rate (bytes per ms), released in small bursts (a
 * quantum: about 1 ms at the rate, at least two segments, at most 64 KiB,
 * as Linux sizes its pacing bursts) so a paced connection costs one wakeup
 * per quantum rather than a timer per segment. The pacer never reads a
 * clock: it keeps the earliest time the next segment may leave and, when
 * the sender stops for it, a deadline the stack's timer heap wakes it at.
 *
 *   sender loop: ready(now, rate)? -> send -> sent(now, bytes, rate, mss)
 *                 not ready        -> wait(rate, mss): `at` = next quantum due
 *                 stopped otherwise -> paused()
 *   timer heap:  at <= now -> the sender's output() runs again
 */

/** Longest burst a quantum spans at the pacing rate, ms (Linux: sk_pacing_shift 10, about 1 ms). */
export const PACING_QUANTUM_MS = 1;
/** Largest quantum, bytes (one TSO/GSO frame in Linux). */
export const PACING_QUANTUM_MAX = 64 * 1024;
/** Unused sending time credited after the sender paused on its own (idle, window-limited), in quanta. */
export const PACING_CREDIT_QUANTA = 2;
/**
 * While the sender is held by the pacer, a wakeup that comes late (the
 * driver's whole-ms setTimeout, a busy event loop) is made up for up to this
 * many ms: the time is owed, and losing it would leave the connection below
 * its pacing rate, which BBR then measures as a slower path.
 */
export const PACING_LATE_CREDIT_MS = 10;

export class Pacer {
  /** Earliest time the next segment may leave, ms. */
  private next = -Infinity;
  /** When the sender should run again to send the next quantum; Infinity when it is not waiting on the pacer. */
  at = Infinity;
  /** The sender has been held by the pacer (backlogged) since its last pause of its own. */
  private held = false;

  /** Bytes released back to back at `rate`. */
  static quantum(rate: number, mss: number): number {
    return Math.max(2 * mss, Math.min(rate * PACING_QUANTUM_MS, PACING_QUANTUM_MAX));
  }

  /** May a segment leave at `now`? Always, without a finite rate. */
  ready(now: number, rate: number): boolean {
    return !(rate < Infinity) || this.next <= now;
  }

  /**
   * `bytes` left at `now`. The next segment is due bytes/rate later. Time
   * the sender left unused on its own (idle, window-limited) is credited for
   * at most PACING_CREDIT_QUANTA quanta, which bounds the burst that
   * follows; a late wakeup while held is made up for PACING_LATE_CREDIT_MS.
   */
  sent(now: number, bytes: number, rate: number, mss: number): void {
    if (!(rate < Infinity) || !(rate > 0)) {
      this.next = -Infinity;
      return;
    }
    const credit = Math.max((PACING_CREDIT_QUANTA * Pacer.quantum(rate, mss)) / rate, this.held ? PACING_LATE_CREDIT_MS : 0);
    this.next = Math.max(this.next, now - credit) + bytes / rate;
  }

  /** The sender stopped for the pacer: wake once a quantum's worth of time has built up. */
  wait(rate: number, mss: number): void {
    this.held = true;
    this.at = this.next + Math.max(0, (Pacer.quantum(rate, mss) - mss) / rate);
  }

  /** The sender ran out of something other than pacing time (data, window): what it did not use is not owed. */
  paused(): void {
    this.held = false;
  }

  reset(): void {
    this.next = -Infinity;
    this.at = Infinity;
    this.held = false;
  }
}
