/**
 * Congestion window growth and reduction for NewReno: slow start and
 * congestion avoidance with byte counting (RFC 5681 section 3.1, RFC 3465
 * with L = 1 SMSS), the initial window of RFC 6928, multiplicative decrease
 * on loss (RFC 5681 equation 4) and the RTO reset to one segment. The loss
 * recovery state machines (RFC 6582 NewReno, RFC 6675 SACK) live in
 * tcp-conn.ts and call these hooks.
 */
export class NewReno {
  cwnd: number;
  ssthresh = 0x7fffffff;
  private acc = 0;

  constructor(private mss: number) {
    this.cwnd = NewReno.initialWindow(mss);
  }

  /** RFC 6928: min(10*MSS, max(2*MSS, 14600)). */
  static initialWindow(mss: number): number {
    return Math.min(10 * mss, Math.max(2 * mss, 14600));
  }

  setMss(mss: number): void {
    this.mss = mss;
  }

  /** New data acknowledged outside recovery; `limited` says the sender used less than cwnd (RFC 7661 spirit: do not grow). */
  onAck(acked: number, limited: boolean): void {
    if (limited) return;
    if (this.cwnd < this.ssthresh) {
      this.cwnd += Math.min(acked, this.mss);
    } else {
      this.acc += acked;
      if (this.acc >= this.cwnd) {
        this.acc -= this.cwnd;
        this.cwnd += this.mss;
      }
    }
  }

  /** Loss detected by dupacks/SACK: ssthresh = max(FlightSize/2, 2*SMSS). */
  onLoss(flight: number): void {
    this.ssthresh = Math.max(Math.floor(flight / 2), 2 * this.mss);
    this.acc = 0;
  }

  /** Retransmission timeout: ssthresh reduced only on the first expiry of a series (RFC 5681 step 4); cwnd = 1 SMSS. */
  onRto(flight: number, firstExpiry: boolean): void {
    if (firstExpiry) this.ssthresh = Math.max(Math.floor(flight / 2), 2 * this.mss);
    this.cwnd = this.mss;
    this.acc = 0;
  }
}
