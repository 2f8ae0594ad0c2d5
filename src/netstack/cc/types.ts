/**
 * The contract between the TCP sender (tcp-sender.ts) and a congestion
 * controller (NewReno, CUBIC with HyStart++, BBR). The sender owns loss
 * detection (dupacks, SACK, RACK-TLP), Proportional Rate Reduction during
 * recovery, the delivery-rate sampler and pacing; a controller only turns
 * those events into a congestion window, a slow-start threshold and (for
 * rate-based controllers) a pacing rate. Sans-IO: every call carries `now`
 * (ms) and nothing here reads a clock.
 *
 *   ACK with new data -> onAck(AckEvent)          (every ACK, also in recovery)
 *   fast recovery     -> onCongestionEvent()      once per episode, then PRR
 *                        (window controllers) or the controller's own
 *                        response (usesPrr = false) until onRecoveryExit()
 *   RTO               -> onRto()
 *   D-SACK / Eifel    -> undo()                   the last reduction was spurious
 */

export type CongestionName = 'newreno' | 'cubic' | 'bbr';

export const CONGESTION_NAMES: readonly CongestionName[] = ['newreno', 'cubic', 'bbr'];

/** One delivery-rate sample (draft-cheng-iccrg-delivery-rate-estimation), built by the sender. */
export interface RateSample {
  /** Bytes delivered over `interval` (cumulative and SACKed). */
  delivered: number;
  /** Milliseconds the sample spans (max of send and ACK intervals); > 0. */
  interval: number;
  /** delivered / interval, bytes per ms. */
  deliveryRate: number;
  /** The sender was application-limited when the sampled segment left. */
  isAppLimited: boolean;
  /** The connection's delivered counter when the sampled segment was sent. */
  priorDelivered: number;
  /** Bytes in flight when the sampled segment was sent. */
  txInFlight: number;
  /** Bytes newly marked lost while processing this ACK. */
  lost: number;
}

/**
 * What the sender reports for an ACK that acknowledged new data (cumulatively
 * or by SACK). The sender refills one object per connection for every ACK:
 * a controller copies the fields it keeps, never the object.
 */
export interface AckEvent {
  now: number;
  /** Bytes newly acknowledged: cumulative plus newly SACKed. */
  acked: number;
  /** RTT sample from this ACK (timestamp echo, or Karn-safe timing), ms; undefined when none. */
  rtt: number | undefined;
  /** Smallest RTT sample seen (windowed as the sender chooses), ms; Infinity before the first. */
  minRtt: number;
  /** Smoothed RTT (RFC 6298 SRTT), ms; 0 before the first sample. */
  srtt: number;
  /** Bytes in flight after this ACK was processed (RFC 6675 pipe). */
  inflight: number;
  /** Bytes in flight before this ACK was processed. */
  priorInflight: number;
  /** False when the sender did not fill cwnd (application or receive-window limited): do not grow. */
  cwndLimited: boolean;
  /** The sender is in loss recovery (PRR drives cwnd for window controllers). */
  inRecovery: boolean;
  /** The ACK ended a round trip (it covers data sent after the previous round ended). */
  roundStart: boolean;
  /** Delivery-rate sample, or null when this ACK gave none. */
  rate: RateSample | null;
  /** Send MSS in bytes. */
  mss: number;
}

export interface CongestionControl {
  readonly name: CongestionName;
  /** Congestion window, bytes. The sender writes it during PRR when usesPrr is true. */
  cwnd: number;
  /** Slow-start threshold, bytes (0x7fffffff until the first reduction). */
  ssthresh: number;
  /** True: the sender runs PRR (RFC 6937) during recovery and sets cwnd = ssthresh at its end. */
  readonly usesPrr: boolean;
  /** Pacing rate in bytes per ms; Infinity when the controller does not pace. */
  pacingRate(): number;
  /** The send MSS changed (PMTU, options). */
  setMss(mss: number): void;
  onAck(e: AckEvent): void;
  /** Fast recovery starts (dupacks, SACK or RACK loss): reduce ssthresh once per episode. */
  onCongestionEvent(now: number, inflight: number): void;
  /** Recovery ended (cumulative ACK reached the recovery point). */
  onRecoveryExit(now: number): void;
  /** Retransmission timeout; `firstExpiry` is false for backed-off repeats. */
  onRto(now: number, inflight: number, firstExpiry: boolean): void;
  /** The last reduction was spurious (D-SACK, or a timestamp echo older than the retransmit): restore what it took. */
  undo(now: number): void;
  /** Sending resumes after an idle period longer than the RTO (RFC 7661 / RFC 5681 4.1). */
  onIdleRestart(now: number): void;
}
