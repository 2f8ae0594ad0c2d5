/**
 * The retransmission timeout of RFC 6298: SRTT/RTTVAR smoothing (section
 * 2), a lower and upper bound, and exponential backoff on expiry (section
 * 5.5). Karn's rule (section 3) is the caller's job: only sample segments
 * that were never retransmitted. A backed-off RTO stays until a new sample.
 */
export interface RtoConfig {
  /** RTO before any sample (RFC 6298 2.1: 1 s). */
  initial: number;
  /**
   * Lower bound. RFC 6298 2.4 says 1 s; like Linux (TCP_RTO_MIN) we use
   * 200 ms: inside a tunnel RTTs are milliseconds, and a lost retransmission
   * would otherwise stall a transfer for a whole second.
   */
  min: number;
  /** Upper bound (RFC 6298 2.5: at least 60 s). */
  max: number;
  /** Clock granularity G in ms. */
  granularity: number;
}

export const DEFAULT_RTO: RtoConfig = { initial: 1000, min: 200, max: 60000, granularity: 1 };

const ALPHA = 1 / 8;
const BETA = 1 / 4;
const K = 4;

export class RtoEstimator {
  srtt = 0;
  rttvar = 0;
  hasSample = false;
  rto: number;

  constructor(private readonly cfg: RtoConfig) {
    this.rto = cfg.initial;
  }

  /**
   * Feeds one RTT measurement R in ms (RFC 6298 2.2 and 2.3). `expected`:
   * samples expected per round trip; alpha and beta are divided by it
   * (RFC 7323 appendix G), as when every ACK is timed.
   */
  sample(r: number, expected = 1): void {
    if (!(r >= 0)) return;
    if (!this.hasSample) {
      this.srtt = r;
      this.rttvar = r / 2;
      this.hasSample = true;
    } else {
      const beta = BETA / expected;
      const alpha = ALPHA / expected;
      this.rttvar = (1 - beta) * this.rttvar + beta * Math.abs(this.srtt - r);
      this.srtt = (1 - alpha) * this.srtt + alpha * r;
    }
    this.rto = this.clamp(this.srtt + Math.max(this.cfg.granularity, K * this.rttvar));
  }

  /** The timer expired: back off (RFC 6298 5.5). */
  backoff(): void {
    this.rto = this.clamp(this.rto * 2);
  }

  /** RFC 6298 5.7: SYN timed out and no sample yet, so data starts with RTO = 3 s. */
  afterSynTimeout(): void {
    if (!this.hasSample) this.rto = this.clamp(Math.max(this.rto, 3000));
  }

  private clamp(x: number): number {
    return Math.min(this.cfg.max, Math.max(this.cfg.min, x));
  }
}
