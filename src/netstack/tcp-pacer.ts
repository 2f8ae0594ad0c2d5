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
 *   timer heap:  at <= now -> the sender's output() runs again
 */

/** Longest burst a quantum spans at the pacing rate, ms (Linux: sk_pacing_shift 10, about 1 ms). */
export const PACING_QUANTUM_MS = 1;
/** Largest quantum, bytes (one TSO/GSO frame in Linux). */
export const PACING_QUANTUM_MAX = 64 * 1024;
/**
 * Unused sending time credited, in quanta. Two, not one: a driver's timer
 * fires up to a millisecond or so late (whole-ms setTimeout, a busy event
 * loop), and a late wakeup should send what it owes rather than lose that
 * time, which would leave the connection below its pacing rate.
 */
export const PACING_CREDIT_QUANTA = 2;

export class Pacer {
  /** Earliest time the next segment may leave, ms. */
  private next = -Infinity;
  /** When the sender should run again to send the next quantum; Infinity when it is not waiting on the pacer. */
  at = Infinity;

  /** Bytes released back to back at `rate`. */
  static quantum(rate: number, mss: number): number {
    return Math.max(2 * mss, Math.min(rate * PACING_QUANTUM_MS, PACING_QUANTUM_MAX));
  }

  /** May a segment leave at `now`? Always, without a finite rate. */
  ready(now: number, rate: number): boolean {
    return !(rate < Infinity) || this.next <= now;
  }

  /**
   * `bytes` left at `now`. The next segment is due bytes/rate later; time
   * the sender did not use (idle, a late wakeup) is credited for at most
   * PACING_CREDIT_QUANTA quanta, which bounds every burst to those and a segment.
   */
  sent(now: number, bytes: number, rate: number, mss: number): void {
    if (!(rate < Infinity) || !(rate > 0)) {
      this.next = -Infinity;
      return;
    }
    const credit = (PACING_CREDIT_QUANTA * Pacer.quantum(rate, mss)) / rate;
    this.next = Math.max(this.next, now - credit) + bytes / rate;
  }

  /** The sender stopped for the pacer: wake once a quantum's worth of time has built up. */
  wait(rate: number, mss: number): void {
    this.at = this.next + Math.max(0, (Pacer.quantum(rate, mss) - mss) / rate);
  }

  reset(): void {
    this.next = -Infinity;
    this.at = Infinity;
  }
}
