/**
 * Pacing (tcp-pacer.ts): the release rule on its own (a quantum of two
 * segments at a time, the gap of the rate between quanta, idle or lateness
 * credited up to two quanta), then on the wire with BBR over the fake-clock
 * path: in every 10 ms window a paced sender sends no more than its pacing
 * rate allows plus that credit, the bursts stay within a quantum, the
 * timer heap wakes the sender once per quantum (not per segment), and the
 * link still runs full.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Pacer, PACING_CREDIT_QUANTA } from '../../src/netstack/tcp-pacer.js';
import { Sim, establish, writeAll } from './link.js';
import { pathLink } from './path.js';
import { decodeTcp } from './helpers.js';

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
  // A wakeup 10 ms late earns at most two quanta of credit, not 10 ms worth; 1 ms late loses nothing.
  assert.equal(sendAll(now + 10), 5);
  const due = p.at;
  assert.equal(sendAll(due + 1), 2);
  assert.equal(p.at, due + 4, 'the schedule did not slip by the late millisecond');
  // Without a finite rate nothing is held.
  const q = new Pacer();
  for (let i = 0; i < 100; i++) q.sent(0, mss, Infinity, mss);
  assert.ok(q.ready(0, Infinity));
});

test('BBR on the wire: departures follow the pacing rate, one wakeup per quantum, the 10 Mbit/s link stays full', async (t) => {
  const p = { rtt: 20, loss: 0, mbit: 10, size: 0 };
  const sim = new Sim({ tcp: { congestion: 'bbr' } }, {}, pathLink(p, 1), pathLink(p, 2), 1);
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
  assert.ok(late.every((d) => d.rate < Infinity), 'BBR paces');
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
  t.diagnostic(`${late.length} segments, ${wakeups} pacer wakeups, largest burst ${maxBurst}, ${goodput.toFixed(2)} Mbit/s payload, pacing ${((snd.cc.pacingRate() * 8) / 1000).toFixed(2)} Mbit/s`);
  assert.ok(maxBurst <= Math.ceil(Pacer.quantum(snd.cc.pacingRate(), mss) / mss), `bursts of ${maxBurst} segments: one quantum (no late wakeups here)`);
  assert.ok(wakeups > 0, 'the timer heap woke the sender for the pacer');
  assert.ok(wakeups <= late.length / 2, `${wakeups} wakeups for ${late.length} segments: a quantum each`);
  assert.ok(goodput > 0.9 * p.mbit, 'pacing did not starve the link');
});
