/**
 * Pacing (tcp-pacer.ts): the release rule on its own (a quantum of two
 * segments at a time, the gap of the rate between quanta, idle time credited
 * up to two quanta, a late wakeup's owed time up to 10 ms), then on the wire with BBR over the fake-clock
 * path: in every 10 ms window a paced sender sends no more than its pacing
 * rate allows plus that credit, the bursts stay within a quantum, the
 * timer heap wakes the sender once per quantum (not per segment), and the
 * link still runs full; the same for CUBIC, paced at Linux's ratios.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { Pacer, PACING_CREDIT_QUANTA, PACING_LATE_CREDIT_MS } from '../../src/netstack/tcp-pacer.js';
import { Sim, establish, writeAll } from './link.js';
import { pathLink } from './path.js';
import { decodeTcp, prng } from './helpers.js';

test('Pacer: from idle two quanta and a segment go at once, then a quantum every quantum/rate ms', () => {
  const p = new Pacer();
  const mss = 1000;
  const rate = 500; // bytes per ms: the quantum is two segments (2000 bytes), 4 ms
  assert.equal(Pacer.quantum(rate, mss), 2000);
  const sendAll = (now: number): number => {
    let n = 0;
    while (p.ready(now, rate)) {
      p.sent(now, mss, rate, mss);
      n++;
    }
    p.wait(rate, mss);
    return n;
  };
  assert.equal(sendAll(0), 2 * PACING_CREDIT_QUANTA + 1, 'idle credit: two quanta plus the segment due now');
  assert.equal(p.at, 4);
  assert.ok(!p.ready(1.9, rate), 'the next segment is due one segment time (2 ms) after the burst');
  const times: number[] = [];
  let now = p.at;
  let sent = 0;
  for (let i = 0; i < 10; i++) {
    times.push(now);
    sent += sendAll(now);
    now = p.at;
  }
  assert.equal(sent, 20, 'two segments per wakeup');
  assert.deepEqual(times, [4, 8, 12, 16, 20, 24, 28, 32, 36, 40], 'one wakeup per 2000 bytes at 500 bytes/ms');
  // Held by the pacer, a late wakeup sends what it owes: 5 ms late, the 7 ms since the segment was due.
  assert.equal(sendAll(now + 5), 4);
  const due = p.at;
  assert.equal(sendAll(due + 1), 2);
  assert.equal(p.at, due + 4, 'the schedule did not slip by the late millisecond');
  // Lateness is made up for PACING_LATE_CREDIT_MS at most: 30 ms late sends 10 ms worth and the segment due.
  assert.equal(sendAll(p.at + 30), PACING_LATE_CREDIT_MS / 2 + 1);
  // After a pause of the sender's own (out of data or window) only two quanta of idle time count.
  p.paused();
  assert.equal(sendAll(1000), 2 * PACING_CREDIT_QUANTA + 1);
  // Without a finite rate nothing is held.
  const q = new Pacer();
  for (let i = 0; i < 100; i++) q.sent(0, mss, Infinity, mss);
  assert.ok(q.ready(0, Infinity));
});

// CUBIC paces as Linux does under fq (cc/window.ts): its window's bursts otherwise overflowed a
// small UDP receive buffer on the real path (bench/paths.bench.ts, 40 ms without loss).
for (const congestion of ['bbr', 'cubic'] as const) test(`${congestion} on the wire: departures follow the pacing rate, one wakeup per quantum, the 10 Mbit/s link stays full`, async () => {
  const p = { rtt: 20, loss: 0, mbit: 10, size: 0 };
  const sim = new Sim({ tcp: { congestion } }, {}, pathLink(p, 1), pathLink(p, 2), 1);
  const { client, server } = await establish(sim);
  const conn = client.tcb;
  const snd = conn.snd;
  const deps: Array<{ t: number; len: number; rate: number }> = [];
  sim.filter = (from, pkt, now) => {
    const i = decodeTcp(pkt)!;
    if (from === 'a' && i.len > 0) deps.push({ t: now, len: i.len, rate: snd.cc.pacingRate() });
    return true;
  };
  let wakeups = 0;
  const onTimers = conn.onTimers.bind(conn);
  conn.onTimers = (now) => {
    if (now > 1000 && snd.pacer.at <= now) wakeups++;
    onTimers(now);
  };
  server.resume();
  void writeAll(client, 1e9, 1);
  await sim.runUntil(3000);
  const late = deps.filter((d) => d.t > 1000);
  assert.ok(late.every((d) => d.rate < Infinity), `${congestion} paces`);
  const mss = snd.mss;
  // Any 10 ms window: at most the fastest pacing rate in it, plus the credit (two quanta) and a segment.
  for (let i = 0, j = 0; i < late.length; i++) {
    while (late[j]!.t < late[i]!.t - 10) j++;
    let bytes = 0;
    let rate = 0;
    for (let k = j; k <= i; k++) {
      bytes += late[k]!.len;
      rate = Math.max(rate, late[k]!.rate);
    }
    const allowed = rate * 10 + PACING_CREDIT_QUANTA * Pacer.quantum(rate, mss) + mss;
    assert.ok(bytes <= allowed, `${bytes} bytes in the 10 ms before ${late[i]!.t}, pacing allows ${allowed.toFixed(0)}`);
  }
  let burst = 0;
  let maxBurst = 0;
  for (let i = 0; i < late.length; i++) {
    burst = i > 0 && late[i]!.t === late[i - 1]!.t ? burst + 1 : 1;
    maxBurst = Math.max(maxBurst, burst);
  }
  const goodput = (late.reduce((a, d) => a + d.len, 0) * 8) / (3000 - 1000) / 1000;
  console.log(`${late.length} segments, ${wakeups} pacer wakeups, largest burst ${maxBurst}, ${goodput.toFixed(2)} Mbit/s payload, pacing ${((snd.cc.pacingRate() * 8) / 1000).toFixed(2)} Mbit/s`);
  const quantumSegs = Math.ceil(Pacer.quantum(snd.cc.pacingRate(), mss) / mss);
  // BBR's pacer always holds the next segment: one quantum. CUBIC also waits on its window, and the
  // pacer credits that wait: at most the credit and a segment.
  const burstBound = congestion === 'bbr' ? quantumSegs : PACING_CREDIT_QUANTA * quantumSegs + 1;
  assert.ok(maxBurst <= burstBound, `bursts of ${maxBurst} segments, at most ${burstBound} (no late wakeups here)`);
  assert.ok(wakeups > 0, 'the timer heap woke the sender for the pacer');
  assert.ok(wakeups <= late.length / 2, `${wakeups} wakeups for ${late.length} segments: a quantum each`);
  assert.ok(goodput > 0.9 * p.mbit, 'pacing did not starve the link');
});

/** BBR's goodput over [2 s, 6 s] on 20 ms / 1 % loss / 30 Mbit/s, with the stacks' timers firing `late()` ms late. */
async function bbrWithLateTimers(late: (() => number) | null): Promise<number> {
  const p = { rtt: 20, loss: 0.01, mbit: 30, size: 0 };
  const sim = new Sim({ tcp: { congestion: 'bbr' } }, {}, pathLink(p, 6), pathLink(p, 7), 3);
  sim.timerLateness = late;
  const { client, server } = await establish(sim);
  let got = 0;
  server.on('data', (b: Buffer) => (got += b.length));
  void writeAll(client, 1e10, 1);
  await sim.runUntil(2000);
  const from = got;
  await sim.runUntil(6000);
  return ((got - from) * 8) / 4000 / 1000;
}

test('BBR keeps its rate when the timers that release paced quanta fire late (whole-ms setTimeout plus up to 3 ms)', async (t) => {
  const exact = await bbrWithLateTimers(null);
  const rand = prng(17);
  const late = await bbrWithLateTimers(() => 1 + 3 * rand());
  console.log(`exact timers ${exact.toFixed(1)} Mbit/s, late timers ${late.toFixed(1)} Mbit/s`);
  assert.ok(late > 0.85 * exact, 'the time a late wakeup owes is sent, not lost');
});
