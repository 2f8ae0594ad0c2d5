/**
 * Synthetic ACK clocks for the congestion controllers: what the sender
 * would report over a path with a fixed (or scripted) RTT and a sender
 * that always has data. One round sends cwnd bytes; their ACKs arrive one
 * MSS at a time spread over the round's RTT, the first flagged roundStart.
 *
 *   round(cc, clock, {rtt}) -> cc.onAck(...) x cwnd/mss, clock.now advanced by rtt
 */
import type { AckEvent, CongestionControl, RateSample } from '../../../src/netstack/cc/types.js';

export interface Clock {
  now: number;
}

export function ackEvent(now: number, mss: number, over: Partial<AckEvent> = {}): AckEvent {
  return {
    now,
    acked: mss,
    rtt: undefined,
    minRtt: Infinity,
    srtt: 0,
    inflight: 0,
    priorInflight: 0,
    cwndLimited: true,
    inRecovery: false,
    roundStart: false,
    rate: null,
    mss,
    ...over,
  };
}

export interface RoundOptions {
  rtt: number;
  mss: number;
  /** Smoothed RTT reported (default: rtt). */
  srtt?: number;
  /** Minimum RTT reported (default: rtt). */
  minRtt?: number;
  cwndLimited?: boolean;
  /** Delivery-rate sample for each ACK (bytes per ms), or none. */
  deliveryRate?: number;
  /** Bytes sent this round (default: the cwnd at the round's start). */
  bytes?: number;
  /** Segments reported lost in this round, spread evenly over its ACKs (with deliveryRate). */
  lostSegments?: number;
  /** Bytes in flight reported on every ACK (default: what is left of this round's bytes). */
  inflight?: number;
}

/** One round trip of ACKs for a full window; returns the bytes acknowledged. */
export function round(cc: CongestionControl, clock: Clock, o: RoundOptions): number {
  const bytes = Math.max(o.mss, o.bytes ?? cc.cwnd);
  const n = Math.max(1, Math.floor(bytes / o.mss));
  const start = clock.now;
  const lostEvery = o.lostSegments ? n / o.lostSegments : Infinity;
  for (let i = 0; i < n; i++) {
    const now = start + (o.rtt * (i + 1)) / n;
    const lost = Math.floor((i + 1) / lostEvery) > Math.floor(i / lostEvery) ? o.mss : 0;
    const rate: RateSample | null =
      o.deliveryRate === undefined
        ? null
        : { delivered: o.deliveryRate * o.rtt, interval: o.rtt, deliveryRate: o.deliveryRate, isAppLimited: false, priorDelivered: 0, txInFlight: bytes, lost };
    cc.onAck(
      ackEvent(now, o.mss, {
        rtt: o.rtt,
        srtt: o.srtt ?? o.rtt,
        minRtt: o.minRtt ?? o.rtt,
        inflight: o.inflight ?? (n - i - 1) * o.mss,
        priorInflight: o.inflight ?? (n - i) * o.mss,
        cwndLimited: o.cwndLimited ?? true,
        roundStart: i === 0,
        rate,
      }),
    );
  }
  clock.now = start + o.rtt;
  return n * o.mss;
}
