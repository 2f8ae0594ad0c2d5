/**
 * TCP timestamps (RFC 7323 sections 3 to 5) for one connection: the
 * option's negotiation on the SYNs, the TSval clock (the `now` passed in,
 * in ms, plus a per-connection offset, so nothing reads a clock), TS.Recent
 * and Last.ACK.sent for the echo (section 4.3), RTT measurement from the
 * echo (section 4.1, RTTM), and PAWS (section 5.3) against old duplicates.
 *
 *   SYN in/out -> negotiate();  every segment out -> val(now), recent
 *   segment in -> paws() reject? -> acceptable, ACK accepted -> remember()
 *   ACK of new data -> rtt(now, TSecr)
 */
import type { Segment } from './tcp-segment.js';
import { SEQ0 } from './tcp-seq.js';

/** RFC 7323 5.5: TS.Recent older than 24 days is invalid (the peer's clock may have wrapped). */
const PAWS_IDLE = 24 * 24 * 3600_000;
/** Ticks a TSval may lag TS.Recent and pass, as Linux's TCP_PAWS_WINDOW (one tick of clock jitter). */
const PAWS_WINDOW = 1;

/** a < b in the 32-bit timestamp space (RFC 7323 5.2). */
export function tsLt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

export class Timestamps {
  /** Both sides sent the option on their SYN. */
  ok = false;
  /** TS.Recent: the TSval to echo. */
  recent = SEQ0;
  /** When TS.Recent was last set, ms. */
  private recentAt = 0;
  /** Last.ACK.sent: the ACK field of our latest segment. */
  lastAckSent = SEQ0;
  /** Segments dropped by PAWS. */
  pawsDrops = 0;

  /** `offset` randomizes the clock per host pair (RFC 7323 7.1; see TcpLayer.tsOffset). */
  constructor(
    private readonly offset: number,
    readonly enabled: boolean,
  ) {}

  /** Our TSval at `now` (1 ms per tick, RFC 7323 5.4: between 1 ms and 1 s). */
  val(now: number): number {
    return (Math.floor(now) + this.offset) >>> 0;
  }

  /** The peer's SYN or SYN-ACK: timestamps are on when it carried the option and we offered (or offer) it. */
  negotiate(seg: Segment, now: number): void {
    this.ok = this.enabled && seg.tsVal !== null;
    if (this.ok) {
      this.recent = seg.tsVal!;
      this.recentAt = now;
    }
  }

  /**
   * PAWS (RFC 7323 5.3 R1): a segment whose TSval is older than TS.Recent is
   * an old duplicate, unless TS.Recent is older than 24 days. True: drop it.
   * `disorderedAck` allows what Linux allows: a pure ACK that changes nothing,
   * reordered behind a newer one by less than `rto` ms of the peer's clock.
   */
  paws(seg: Segment, now: number, disorderedAck: boolean, rto: number): boolean {
    if (!this.ok || seg.tsVal === null) return false;
    const behind = (this.recent - seg.tsVal) | 0;
    if (behind <= PAWS_WINDOW) return false;
    if (disorderedAck && behind <= rto) return false;
    if (now - this.recentAt > PAWS_IDLE) {
      this.recentAt = now; // RFC 7323 5.5: the stale TS.Recent no longer guards
      return false;
    }
    this.pawsDrops++;
    return true;
  }

  /**
   * RFC 7323 4.3 (2): an acceptable segment starting at or before
   * Last.ACK.sent updates TS.Recent. Called once its ACK was accepted too
   * (as Linux does), so a segment with a bogus ACK cannot move TS.Recent.
   */
  remember(seg: Segment, seqAtOrBeforeLastAck: boolean, now: number): void {
    if (!this.ok || seg.tsVal === null || !seqAtOrBeforeLastAck) return;
    if (tsLt(seg.tsVal, this.recent)) return;
    this.recent = seg.tsVal;
    this.recentAt = now;
  }

  /** RTTM (RFC 7323 4.1): the round trip of an ACK that echoes one of our TSvals; undefined when it echoes nothing usable. */
  rtt(seg: Segment, now: number): number | undefined {
    if (!this.ok || seg.tsEcr === null || seg.tsEcr === 0) return undefined;
    const r = (this.val(now) - seg.tsEcr) | 0;
    return r >= 0 ? r : undefined;
  }
}
