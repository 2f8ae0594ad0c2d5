/**
 * HyStart++ (RFC 9406) inside CUBIC's slow start, on synthetic ACK clocks
 * whose RTT is scripted per round: a rise beyond the threshold moves to
 * Conservative Slow Start at a quarter of the growth and, after CSS_ROUNDS
 * rounds, to congestion avoidance with no loss; a spike that goes away
 * returns to slow start; a rise under the threshold changes nothing; an
 * ACK's growth is capped at L = 8 segments only when the sender does not pace.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { Cubic } from '../../../src/netstack/cc/cubic.js';
import { HyStartPlusPlus } from '../../../src/netstack/cc/hystart.js';
import { round, ackEvent } from './drive.js';

const MSS = 1000;

test('HyStart++: an RTT rise over the threshold leaves slow start through CSS, before any loss', () => {
  const clock = { now: 0 };
  const cc = new Cubic(MSS);
  for (let r = 0; r < 4; r++) {
    const before = cc.cwnd;
    round(cc, clock, { rtt: 40, mss: MSS });
    assert.equal(cc.cwnd, 2 * before, 'slow start doubles per round');
  }
  assert.equal(cc.hystart.phase, 'ss');
  // The queue builds: +6 ms over a 40 ms minimum beats RttThresh = max(4, min(40/8, 16)) = 5 ms.
  const atCss = cc.cwnd;
  round(cc, clock, { rtt: 46, mss: MSS });
  assert.equal(cc.hystart.phase, 'css');
  // The 7 ACKs before the N_RTT_SAMPLE-th grew at the slow-start rate; from the 8th, which shows the rise, a quarter.
  const n = atCss / MSS;
  assert.equal(cc.cwnd, atCss + 7 * MSS + ((n - 7) * MSS) / 4);
  let rounds = 0;
  while (cc.cwnd < cc.ssthresh) {
    const before = cc.cwnd;
    round(cc, clock, { rtt: 46, mss: MSS });
    rounds++;
    if (cc.cwnd < cc.ssthresh) assert.equal(cc.cwnd - before, (Math.floor(before / MSS) * MSS) / 4, 'CSS grows by cwnd / CSS_GROWTH_DIVISOR per round');
    assert.ok(rounds < 10);
  }
  assert.equal(rounds, 5, 'CSS_ROUNDS = 5 rounds, then congestion avoidance');
  // ssthresh = cwnd at the round's first ACK; the rest of that round grew by congestion avoidance only.
  assert.ok(cc.ssthresh <= cc.cwnd && cc.cwnd - cc.ssthresh <= 2 * MSS, `ssthresh ${cc.ssthresh}, cwnd ${cc.cwnd}`);
  assert.equal(cc.hystart.phase, 'done');
});

test('HyStart++: an RTT spike that falls back under the baseline resumes slow start', () => {
  const clock = { now: 0 };
  const cc = new Cubic(MSS);
  for (let r = 0; r < 3; r++) round(cc, clock, { rtt: 40, mss: MSS });
  round(cc, clock, { rtt: 60, mss: MSS });
  assert.equal(cc.hystart.phase, 'css');
  round(cc, clock, { rtt: 41, mss: MSS });
  assert.equal(cc.hystart.phase, 'ss', 'currentRoundMinRtt < cssBaselineMinRtt');
  const before = cc.cwnd;
  round(cc, clock, { rtt: 41, mss: MSS });
  assert.equal(cc.cwnd, 2 * before);
});

test('HyStart++: a rise under the threshold (MIN_RTT_THRESH 4 ms, lastRoundMinRtt / 8) keeps slow start', () => {
  const clock = { now: 0 };
  const cc = new Cubic(MSS);
  for (let r = 0; r < 3; r++) round(cc, clock, { rtt: 20, mss: MSS });
  round(cc, clock, { rtt: 23.9, mss: MSS }); // 20/8 = 2.5 ms, clamped up to 4 ms
  assert.equal(cc.hystart.phase, 'ss');
  const slow = new Cubic(MSS);
  for (let r = 0; r < 3; r++) round(slow, clock, { rtt: 200, mss: MSS });
  round(slow, clock, { rtt: 215.9, mss: MSS }); // 200/8 = 25 ms, clamped down to MAX_RTT_THRESH 16 ms
  assert.equal(slow.hystart.phase, 'ss');
  round(slow, clock, { rtt: 232, mss: MSS }); // 215.9 + 16 -> rise of 16.1
  assert.equal(slow.hystart.phase, 'css');
});

test('HyStart++: loss in slow start ends it; growth per ACK is capped at L = 8 segments without pacing, whole with it', () => {
  const unpaced = new HyStartPlusPlus(false);
  const stretch = ackEvent(40, MSS, { acked: 20 * MSS, rtt: 40, roundStart: true });
  assert.equal(unpaced.slowStartAck(stretch).increase, 8 * MSS, 'one ACK for 20 segments grows cwnd by L = 8 segments');
  assert.equal(new HyStartPlusPlus(true).slowStartAck(stretch).increase, 20 * MSS, 'paced: L = infinity');
  // CUBIC paces (pacingRate), so its slow start takes the whole ACK.
  const cc = new Cubic(MSS);
  const w = cc.cwnd;
  cc.onAck(stretch);
  assert.equal(cc.cwnd, w + 20 * MSS);
  cc.onCongestionEvent(40, cc.cwnd);
  assert.equal(cc.hystart.phase, 'done');
});
