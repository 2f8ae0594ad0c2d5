/**
 * Whole transfers over simulated internet paths (path.ts): equal data both
 * ways at once over 20 ms RTT / 1 % loss and 100 ms RTT / 0.5 % loss with a
 * 100 Mbit/s bottleneck, digests checked. The goodput of each direction in
 * fake time is reported as a diagnostic (it is deterministic for a seed);
 * performance is judged in bench/, not asserted here.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { pathTransfer } from './path.js';

const MB = 1_000_000;

test('20 ms RTT, 1 % loss, 100 Mbit/s: 8 MB each way, digests equal', async (t) => {
  const r = await pathTransfer({ rtt: 20, loss: 0.01, mbit: 100, size: 8 * MB });
  console.log(`goodput up ${r.up.toFixed(1)} Mbit/s, down ${r.down.toFixed(1)} Mbit/s`);
  assert.ok(r.sim.counters.ab.lost > 0 && r.sim.counters.ba.lost > 0, 'the path lost packets both ways');
});

test('100 ms RTT, 0.5 % loss, 100 Mbit/s: 8 MB each way, digests equal', async (t) => {
  const r = await pathTransfer({ rtt: 100, loss: 0.005, mbit: 100, size: 8 * MB });
  console.log(`goodput up ${r.up.toFixed(1)} Mbit/s, down ${r.down.toFixed(1)} Mbit/s`);
  assert.ok(r.sim.counters.ab.lost > 0 && r.sim.counters.ba.lost > 0, 'the path lost packets both ways');
});

test('the simulated bottleneck bounds goodput and its drop-tail queue overflows in slow start', async () => {
  // No random loss: the only drops are the 20 ms x 10 Mbit/s path's queue overflowing.
  const r = await pathTransfer({ rtt: 20, loss: 0, mbit: 10, queue: 32 * 1024, size: 4 * MB });
  assert.ok(r.up <= 10 && r.down <= 10, `goodput ${r.up} / ${r.down} within the 10 Mbit/s bottleneck`);
  assert.ok(r.sim.counters.ab.queueDrops > 0 && r.sim.counters.ba.queueDrops > 0, 'the queue overflowed both ways');
  assert.equal(r.sim.counters.ab.lost + r.sim.counters.ba.lost, 0);
});
