/**
 * CUBIC (RFC 9438) against its formulas, driven by synthetic ACK clocks:
 * the window after each round is compared with W_cubic(t) and W_est
 * computed here from the RFC's equations (not from the implementation's
 * helpers), then fast convergence, the cwnd-limited rule, the timeout
 * reset and undo.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { Cubic } from '../../../src/netstack/cc/cubic.js';
import { round, ackEvent, type Clock } from './drive.js';

const MSS = 1000;
/** RFC 9438 equation 1 in segments, t in seconds. */
const rfcWCubic = (t: number, wMax: number, cwndEpoch: number) => {
  const k = Math.cbrt((wMax - cwndEpoch) / 0.4); // equation 2
  return 0.4 * (t - k) ** 3 + wMax;
};

/** A CUBIC sender that just finished recovery from a loss at `wMax` segments. */
function afterLoss(wMax: number, clock: Clock): Cubic {
  const cc = new Cubic(MSS);
  cc.cwnd = wMax * MSS;
  cc.hystart.onLoss();
  cc.onCongestionEvent(clock.now, cc.cwnd);
  cc.cwnd = cc.ssthresh; // what PRR leaves behind (RFC 6937)
  cc.onRecoveryExit(clock.now);
  return cc;
}

test('CUBIC: cwnd follows W_cubic(t) through the concave and convex regions (RFC 9438 4.4, 4.5)', () => {
  const clock = { now: 10_000 };
  const cc = afterLoss(100, clock);
  assert.equal(cc.ssthresh, 70 * MSS, 'ssthresh = beta_cubic * cwnd with beta = 0.7');
  const rtt = 200; // long enough that W_est (+0.53 segment per RTT) stays under the curve for 7 s
  const epoch = clock.now + rtt / Math.floor(cc.cwnd / MSS); // the first ACK in congestion avoidance opens the epoch
  const seen: [number, number, number][] = [];
  for (let r = 0; r < 35; r++) {
    round(cc, clock, { rtt, mss: MSS });
    const t = (clock.now - epoch) / 1000;
    seen.push([t, cc.cwnd / MSS, rfcWCubic(t, 100, 70)]);
  }
  const k = Math.cbrt(75);
  for (const at of [0.5, 1, 2, 3, k, 5, 6, 6.9]) {
    const [t, got, want] = seen.reduce((best, s) => (Math.abs(s[0] - at) < Math.abs(best[0] - at) ? s : best));
    assert.ok(Math.abs(got - want) <= Math.max(1, 0.02 * want), `t=${t.toFixed(2)} s: cwnd ${got.toFixed(1)} segments, W_cubic ${want.toFixed(1)}`);
  }
  // Concave below W_max (growth slows towards the plateau), convex above it (growth speeds up).
  const at = (t: number) => seen.find((s) => s[0] >= t)![1];
  assert.ok(at(1) - at(0.5) > at(4) - at(3.5), 'concave: slower growth approaching W_max');
  assert.ok(at(6.5) - at(6) > at(5) - at(4.5), 'convex: faster growth beyond W_max');
  assert.ok(Math.abs(at(k) - 100) <= 1.5, 'the plateau sits at W_max');
});

test('CUBIC: in the Reno-friendly region cwnd follows W_est, alpha_cubic then 1 per RTT (RFC 9438 4.3)', () => {
  const clock = { now: 0 };
  const cc = afterLoss(20, clock);
  const rtt = 50;
  const alpha = (3 * (1 - 0.7)) / (1 + 0.7);
  let wEst = 14; // segments: the window at the start of congestion avoidance
  let reno = 0;
  for (let r = 0; r < 30; r++) {
    const before = cc.cwnd / MSS;
    const n = Math.floor(before);
    round(cc, clock, { rtt, mss: MSS });
    // W_est += alpha * segments_acked / cwnd, per ACK, with alpha = 1 once W_est reaches cwnd_prior (20).
    for (let i = 0; i < n; i++) wEst += ((wEst >= 20 ? 1 : alpha) * 1) / (before + (cc.cwnd / MSS - before) * (i / n));
    const t = clock.now / 1000;
    if (rfcWCubic(t, 20, 14) < wEst) {
      reno++;
      assert.ok(Math.abs(cc.cwnd / MSS - wEst) <= 1, `round ${r}: cwnd ${cc.cwnd / MSS} vs W_est ${wEst.toFixed(2)}`);
    }
  }
  assert.ok(reno >= 10, `the Reno-friendly region was exercised (${reno} rounds)`);
  // With a 50 ms RTT, W_est (about 10.6 + 2/RTT) stays ahead of the cubic curve at first.
  assert.ok(cc.cwnd / MSS > 20, 'W_est grows past cwnd_prior with alpha = 1');
});

test('CUBIC: fast convergence lowers W_max when a loss comes below the previous one (RFC 9438 4.7)', () => {
  const clock = { now: 0 };
  const cc = afterLoss(100, clock);
  assert.equal(cc.wMax, 100 * MSS);
  cc.cwnd = 80 * MSS;
  cc.onCongestionEvent(clock.now, cc.cwnd);
  assert.equal(cc.wMax, 80 * MSS * (1 + 0.7) / 2, 'W_max = cwnd * (1 + beta) / 2');
  assert.equal(cc.ssthresh, 56 * MSS);
  cc.cwnd = cc.ssthresh;
  cc.onRecoveryExit(clock.now);
  // The new plateau is 68 segments, reached after K = cbrt((68 - 56) / 0.4) s.
  const k = Math.cbrt((68 - 56) / 0.4);
  while (clock.now < k * 1000) round(cc, clock, { rtt: 200, mss: MSS });
  assert.ok(Math.abs(cc.cwnd / MSS - 68) <= 1.5, `cwnd ${cc.cwnd / MSS} at t = K`);
  // A loss above W_max keeps the whole window as the new W_max.
  cc.cwnd = 90 * MSS;
  cc.onCongestionEvent(clock.now, cc.cwnd);
  assert.equal(cc.wMax, 90 * MSS);
});

test('CUBIC: no growth when the sender does not fill cwnd, and t skips the pause (RFC 9438 4.2, RFC 7661)', () => {
  const a = { now: 0 };
  const b = { now: 0 };
  const limited = afterLoss(100, a);
  const steady = afterLoss(100, b);
  for (let r = 0; r < 10; r++) {
    round(limited, a, { rtt: 100, mss: MSS });
    round(steady, b, { rtt: 100, mss: MSS });
  }
  const held = limited.cwnd;
  for (let r = 0; r < 20; r++) round(limited, a, { rtt: 100, mss: MSS, bytes: held / 4, cwndLimited: false });
  assert.equal(limited.cwnd, held, 'cwnd holds while application-limited');
  for (let r = 0; r < 10; r++) {
    round(limited, a, { rtt: 100, mss: MSS });
    round(steady, b, { rtt: 100, mss: MSS });
  }
  // Two seconds of application-limited time later, the curve resumes where it paused.
  assert.ok(Math.abs(limited.cwnd - steady.cwnd) <= 2 * MSS, `${limited.cwnd} vs ${steady.cwnd}`);
});

test('CUBIC: an idle restart shrinks to the restart window and shifts the epoch by the idle time', () => {
  const clock = { now: 0 };
  const cc = afterLoss(100, clock);
  for (let r = 0; r < 10; r++) round(cc, clock, { rtt: 100, mss: MSS });
  const epoch = cc.epochStart!;
  const before = cc.cwnd;
  clock.now += 5000;
  cc.onIdleRestart(clock.now);
  assert.equal(cc.cwnd, 10 * MSS, 'RFC 5681 4.1: cwnd = min(cwnd, IW)');
  assert.equal(cc.ssthresh, Math.max(70 * MSS, Math.floor((3 * before) / 4)), 'ssthresh = max(ssthresh, 3/4 cwnd)');
  round(cc, clock, { rtt: 100, mss: MSS });
  assert.equal(cc.epochStart, epoch + 5000, 'the idle time does not count as curve time');
});

test('CUBIC: a timeout drops to one segment, and the next epoch starts convex at K = 0 (RFC 9438 4.8)', () => {
  const clock = { now: 0 };
  const cc = afterLoss(100, clock);
  for (let r = 0; r < 5; r++) round(cc, clock, { rtt: 100, mss: MSS });
  const w = cc.cwnd;
  cc.onRto(clock.now, w, true);
  assert.equal(cc.cwnd, MSS);
  assert.equal(cc.ssthresh, Math.floor(w * 0.7));
  cc.onRto(clock.now + 1000, MSS, false);
  assert.equal(cc.ssthresh, Math.floor(w * 0.7), 'backed-off repeats do not lower ssthresh again');
  while (cc.cwnd < cc.ssthresh) round(cc, clock, { rtt: 100, mss: MSS });
  round(cc, clock, { rtt: 100, mss: MSS });
  assert.equal(cc.k, 0);
  assert.ok(cc.originPoint <= cc.ssthresh + 2 * MSS, 'the curve starts at the window reached, not the old W_max');
});

test('CUBIC: undo restores the window, ssthresh and curve saved at the spurious reduction (RFC 9438 4.9)', () => {
  const clock = { now: 0 };
  const cc = afterLoss(100, clock);
  for (let r = 0; r < 10; r++) round(cc, clock, { rtt: 100, mss: MSS });
  const before = { cwnd: cc.cwnd, ssthresh: cc.ssthresh, wMax: cc.wMax, k: cc.k, epochStart: cc.epochStart };
  cc.onCongestionEvent(clock.now, cc.cwnd);
  cc.cwnd = cc.ssthresh;
  assert.notEqual(cc.wMax, before.wMax);
  cc.undo(clock.now);
  assert.deepEqual({ cwnd: cc.cwnd, ssthresh: cc.ssthresh, wMax: cc.wMax, k: cc.k, epochStart: cc.epochStart }, before);
  cc.undo(clock.now);
  assert.equal(cc.cwnd, before.cwnd, 'a second undo has nothing to restore');
});

test('CUBIC: in recovery ACKs leave cwnd to PRR', () => {
  const cc = new Cubic(MSS);
  const w = cc.cwnd;
  cc.onAck(ackEvent(1, MSS, { inRecovery: true, rtt: 10 }));
  assert.equal(cc.cwnd, w);
  cc.onAck(ackEvent(2, MSS, { rtt: 10 }));
  assert.equal(cc.cwnd, w + MSS, 'slow start: one segment per segment acknowledged');
});
