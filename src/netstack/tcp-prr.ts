/**
 * Proportional Rate Reduction (RFC 6937) with the Slow Start Reduction
 * Bound (PRR-SSRB, section 3.1): during fast recovery it spreads the window
 * reduction over the round trip, so the sender keeps ACK-clocking
 * (roughly one segment out for every two delivered with a halving
 * controller) instead of going silent, and rebuilds to ssthresh by slow
 * start when losses pushed the pipe below it.
 *
 *   enter(RecoverFS) -> per ACK: onAck(DeliveredData, pipe, ssthresh)
 *   -> sndcnt -> cwnd = pipe + sndcnt;  every byte sent: sent(n)
 */
export class Prr {
  /** prr_delivered, prr_out, RecoverFS (bytes). */
  delivered = 0;
  out = 0;
  recoverFs = 0;

  enter(recoverFs: number): void {
    this.delivered = 0;
    this.out = 0;
    this.recoverFs = Math.max(1, recoverFs);
  }

  sent(n: number): void {
    this.out += n;
  }

  /** RFC 6937 section 3: bytes the sender may send in answer to this ACK. */
  onAck(deliveredData: number, pipe: number, ssthresh: number, mss: number): number {
    this.delivered += deliveredData;
    let sndcnt: number;
    if (pipe > ssthresh) {
      // Proportional part: CEIL(prr_delivered * ssthresh / RecoverFS) - prr_out.
      sndcnt = Math.ceil((this.delivered * ssthresh) / this.recoverFs) - this.out;
    } else {
      // Slow start reduction bound: at most one MSS beyond what was delivered.
      const limit = Math.max(this.delivered - this.out, deliveredData) + mss;
      sndcnt = Math.min(ssthresh - pipe, limit);
    }
    return Math.max(sndcnt, 0);
  }
}
