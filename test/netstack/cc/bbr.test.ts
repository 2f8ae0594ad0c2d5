/**
 * BBR (draft-ietf-ccwg-bbr, BBRv3) on synthetic ACK clocks whose delivery
 * rate and RTT are scripted: Startup -> Drain -> ProbeBW once the bandwidth
 * stops growing, ProbeRTT after PROBE_RTT_INTERVAL without a new minimum
 * RTT and back, the pacing rate and cwnd the draft's formulas give for a
 * known bandwidth and min_rtt, and the loss response (random loss under
 * LOSS_THRESH ignored, heavier loss while probing caps inflight_hi).
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { Bbr } from '../../../src/netstack/cc/bbr.js';
import { round, type Clock } from './drive.js';

const MSS = 1000;
/** 100 Mbit/s in bytes per ms. */
const BW = 12_500;
const RTT = 40;
const BDP = BW * RTT;

/**
 * A fluid model of one bottleneck: the sender puts min(pacing rate, cwnd / RTT)
 * on the path each round; what exceeds BW joins the queue, which adds
 * queue / BW to the RTT; deliveries come at min(rate, BW).
 */
class Fluid {
  queue = 0;
  constructor(readonly cc: Bbr, readonly clock: Clock, readonly bw = BW, readonly base = RTT) {}

  round(o: { lostPerMille?: number } = {}): void {
    const rtt = this.base + this.queue / this.bw;
    const rate = Math.min(this.cc.pacingRate(), this.cc.cwnd / rtt);
    const delivery = Math.min(rate, this.bw);
    this.queue = Math.max(0, this.queue + (rate - this.bw) * rtt);
    const inflight = Math.round(delivery * this.base + this.queue);
    const bytes = Math.max(MSS, Math.round(rate * rtt));
    const lostSegments = o.lostPerMille ? Math.floor((bytes / MSS) * o.lostPerMille / 1000) : 0;
    round(this.cc, this.clock, { rtt, mss: MSS, deliveryRate: delivery, bytes, inflight, lostSegments });
  }

  /** Rounds until `until` holds (at most `max`), returning the states passed through. */
  run(until: () => boolean, max = 500, o: { lostPerMille?: number } = {}): string[] {
    const states: string[] = [this.cc.state];
    for (let r = 0; r < max && !until(); r++) {
      this.round(o);
      if (states.at(-1) !== this.cc.state) states.push(this.cc.state);
    }
    return states;
  }
}

function toProbeBw(cc: Bbr, clock: Clock): Fluid {
  const f = new Fluid(cc, clock);
  f.run(() => cc.state.startsWith('probe_bw'));
  return f;
}

test('BBR: Startup -> Drain -> ProbeBW when the bandwidth stops growing 25 % per round', () => {
  const clock = { now: 0 };
  const cc = new Bbr(MSS, 1);
  assert.equal(cc.state, 'startup');
  assert.equal(cc.usesPrr, false);
  const states = new Fluid(cc, clock).run(() => cc.state.startsWith('probe_bw'));
  // Drain leaves inflight at the BDP, so ProbeBW_DOWN hands over to CRUISE on the same ACK.
  assert.deepEqual(states, ['startup', 'drain', 'probe_bw_cruise']);
  assert.ok(cc.filledPipe);
  assert.equal(cc.maxBw, BW);
  assert.equal(cc.minRtt, RTT);
});

test('BBR: pacing rate and cwnd follow pacing_gain * bw and cwnd_gain * BDP', () => {
  const clock = { now: 0 };
  const cc = new Bbr(MSS, 2);
  const f = toProbeBw(cc, clock);
  f.run(() => cc.state === 'probe_bw_down');
  assert.ok(Math.abs(cc.pacingRate() - 0.9 * BW * 0.99) < 1e-6, `ProbeBW_DOWN paces at 0.9 bw (minus the 1 % margin): ${cc.pacingRate()}`);
  f.run(() => cc.state === 'probe_bw_cruise');
  f.round();
  assert.equal(cc.state, 'probe_bw_cruise');
  assert.ok(Math.abs(cc.pacingRate() - BW * 0.99) < 1e-6, `CRUISE paces at bw: ${cc.pacingRate()}`);
  // cwnd = cwnd_gain * BDP + 3 send quanta (each about 1 ms at the pacing rate).
  const quanta = 3 * Math.min(BW * 0.99, 64 * 1024);
  assert.equal(cc.cwnd, Math.floor(2 * BDP + quanta));
  // Startup's gain before that: 2.77 x the first estimate.
  const fresh = new Bbr(MSS, 2);
  round(fresh, { now: 0 }, { rtt: RTT, mss: MSS, deliveryRate: 1000 });
  assert.ok(Math.abs(fresh.pacingRate() - 2.77 * 1000 * 0.99) < 1e-6);
});

test('BBR: ProbeBW cycles DOWN -> CRUISE -> REFILL -> UP and back to DOWN, with the queue drained after', () => {
  const clock = { now: 0 };
  const cc = new Bbr(MSS, 3);
  const f = toProbeBw(cc, clock);
  const seen = f.run(() => false, 200);
  assert.deepEqual(seen.slice(0, 6), ['probe_bw_cruise', 'probe_bw_refill', 'probe_bw_up', 'probe_bw_down', 'probe_bw_cruise', 'probe_bw_refill']);
  assert.equal(cc.maxBw, BW);
  assert.ok(f.queue < 0.3 * BDP, `standing queue ${f.queue} bytes`);
});

test('BBR: ProbeRTT after PROBE_RTT_INTERVAL (5 s) without a new minimum, then back to ProbeBW', () => {
  const clock = { now: 0 };
  const cc = new Bbr(MSS, 4);
  const f = toProbeBw(cc, clock);
  f.run(() => cc.state === 'probe_bw_cruise');
  // From here on the path's base RTT is 5 ms longer: no sample refreshes the minimum.
  const slower = new Fluid(cc, clock, BW, RTT + 5);
  const from = clock.now;
  slower.run(() => cc.state === 'probe_rtt' || clock.now > from + 6000, 1000);
  assert.equal(cc.state, 'probe_rtt');
  const lastMin = from;
  assert.ok(clock.now - lastMin > 4500 && clock.now - lastMin <= 5000 + 3 * (RTT + 5), `entered ${clock.now - lastMin} ms after the last minimum`);
  const entered = clock.now;
  slower.round();
  assert.ok(cc.cwnd <= Math.max(0.5 * BDP, 4 * MSS), `cwnd ${cc.cwnd} held at half a BDP`);
  slower.run(() => cc.state !== 'probe_rtt', 100);
  assert.equal(cc.state, 'probe_bw_cruise');
  assert.ok(clock.now - entered >= 200, 'held for PROBE_RTT_DURATION (200 ms) and a round');
  assert.equal(cc.probeRttMinDelay, RTT + 5, 'ProbeRTT learned the new minimum (min_rtt itself keeps 40 ms for its 10 s window)');
  assert.ok(cc.cwnd > BDP, 'cwnd restored');
});

test('BBR: random loss under 2 % neither lowers max_bw nor ends probes; over 2 % while probing caps inflight_hi', () => {
  const clock = { now: 0 };
  const cc = new Bbr(MSS, 5);
  const f = toProbeBw(cc, clock);
  // 1 % loss in every round for 8 s: the probes keep cycling and max_bw stays at the path's rate.
  const seen = f.run(() => false, 200, { lostPerMille: 10 });
  assert.equal(cc.maxBw, BW);
  assert.ok(seen.filter((s) => s === 'probe_bw_up').length >= 2, `probed up again: ${seen.join(' ')}`);
  assert.equal(cc.inflightHi, Infinity, 'no probe saw loss over LOSS_THRESH');
  // bw_lo only trims to the latest delivery rate (draft: max(bw_latest, beta * bw_lo)), never below beta * bw per round.
  assert.ok(cc.bw >= 0.5 * BW, `bw ${cc.bw}`);
  // Into ProbeBW_UP, then 10 % loss: inflight_hi is set and the probe ends.
  f.run(() => cc.state === 'probe_bw_up');
  f.round({ lostPerMille: 100 });
  assert.equal(cc.state, 'probe_bw_down');
  assert.ok(cc.inflightHi < Infinity && cc.inflightHi >= 0.7 * BDP, `inflight_hi ${cc.inflightHi}`);
});

test('BBR: fast recovery conserves packets for a round and restores cwnd at its end; RTO drops to one segment', () => {
  const clock = { now: 0 };
  const cc = new Bbr(MSS, 6);
  const f = toProbeBw(cc, clock);
  f.run(() => cc.state === 'probe_bw_cruise');
  const before = cc.cwnd;
  cc.onCongestionEvent(clock.now, BDP / 2);
  assert.equal(cc.cwnd, BDP / 2 + MSS, 'cwnd = inflight + 1 MSS');
  cc.onRecoveryExit(clock.now);
  assert.equal(cc.cwnd, before);
  cc.onRto(clock.now, BDP, true);
  assert.equal(cc.cwnd, MSS);
  cc.undo(clock.now);
  assert.equal(cc.cwnd, before, 'undo restores the window saved at the timeout');
});
