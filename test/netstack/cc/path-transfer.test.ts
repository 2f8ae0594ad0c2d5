/**
 * The congestion controllers inside real connections over the simulated
 * path (../path.ts): a whole transfer with each of newreno, cubic and bbr
 * (equal data, digests checked, the connection built the controller asked
 * for, per stack and per connection), HyStart++ leaving slow start on
 * the rising RTT before the bottleneck queue first overflows, and slow
 * start doubling per round behind a receiver that ACKs once per batch.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { pathTransfer, pathLink } from '../path.js';
import { Sim, establish, writeAll, digestOf, payloadDigest } from '../link.js';
import { CONGESTION_NAMES } from '../../../src/netstack/cc/types.js';
import type { Cubic } from '../../../src/netstack/cc/cubic.js';

const MB = 1_000_000;

for (const congestion of CONGESTION_NAMES) {
  test(`${congestion}: 2 MB each way over 20 ms RTT, 1 % loss, 100 Mbit/s, digests equal`, async (t) => {
    const r = await pathTransfer({ rtt: 20, loss: 0.01, mbit: 100, size: 2 * MB, tcp: { congestion } });
    for (const s of [r.sim.a, r.sim.b]) for (const c of s.tcp.connections()) assert.equal(c.snd.cc.name, congestion);
    assert.ok(r.sim.counters.ab.lost > 0 && r.sim.counters.ba.lost > 0, 'the path lost packets both ways');
    console.log(`goodput up ${r.up.toFixed(1)} Mbit/s, down ${r.down.toFixed(1)} Mbit/s`);
  });
}

test('connect({ congestion }) and listen(port, fn, { congestion }) override the stack default per connection', async () => {
  const sim = new Sim({}, {}, { delay: 1 }, { delay: 1 }, 1);
  let server: import('../../../src/netstack/tcp-socket.js').TcpSocket | null = null;
  sim.b.tcp.listen(80, (s) => (server = s), { congestion: 'bbr' });
  const client = sim.a.tcp.connect({ host: '10.0.0.2', port: 80, congestion: 'newreno' });
  await sim.run(() => server !== null);
  assert.equal(client.tcb.snd.cc.name, 'newreno');
  assert.equal([...sim.b.tcp.connections()][0]!.snd.cc.name, 'bbr');
  const other = sim.a.tcp.connect({ host: '10.0.0.2', port: 80 });
  assert.equal(other.tcb.snd.cc.name, 'cubic', 'the stack default is CUBIC');
});

test('HyStart++ on a path: CUBIC leaves slow start on the rising RTT before the bottleneck queue first drops', async (t) => {
  // 40 ms RTT, 20 Mbit/s, a queue of two BDPs, no random loss: only the queue can drop.
  const p = { rtt: 40, loss: 0, mbit: 20, queue: 200_000, size: 8 * MB };
  const sim = new Sim({}, {}, pathLink(p, 1), pathLink(p, 2), 1);
  const { client, server } = await establish(sim);
  const rx = digestOf(server);
  let done = false;
  void rx.done.then(() => (done = true));
  void writeAll(client, p.size, 1);
  const cc = client.tcb.snd.cc as Cubic;
  let cssAt = 0;
  let dropAt = 0;
  await sim.run(() => {
    if (cssAt === 0 && cc.hystart.phase !== 'ss') cssAt = sim.now;
    if (dropAt === 0 && sim.counters.ab.queueDrops > 0) dropAt = sim.now;
    return done;
  });
  assert.equal(rx.hex(), payloadDigest(p.size, 1));
  console.log(`CSS at ${cssAt} ms, ssthresh ${cc.ssthresh}, first queue drop at ${dropAt} ms, ${sim.counters.ab.queueDrops} queue drops`);
  assert.ok(cssAt > 0, 'HyStart++ saw the RTT rise');
  assert.ok(dropAt === 0 || cssAt < dropAt, `left slow start at ${cssAt} ms, first queue drop at ${dropAt} ms`);
});

test('CUBIC slow start doubles per round behind a receiver that ACKs once per received batch (stretch ACKs)', async () => {
  // 40 ms RTT, no loss, no bottleneck; each side's driver takes its arrivals in 5 ms batches, so the
  // receiver's one ACK per batch covers many segments (up to 64 KiB), as wgts's and Linux's (GRO) do.
  const link = (seed: number) => ({ delay: 20, seed, batch: 5 });
  const sim = new Sim({}, {}, link(2), link(3), 1);
  const { client, server } = await establish(sim);
  server.resume();
  const cc = client.tcb.snd.cc as Cubic;
  void writeAll(client, 50 * MB, 1);
  const t0 = sim.now;
  const sent0 = sim.counters.ab.sent;
  const acks0 = sim.counters.ba.sent;
  const cwnd: number[] = [];
  for (let r = 1; r <= 8; r++) {
    await sim.runUntil(t0 + 40 * r + 1);
    cwnd.push(cc.cwnd);
  }
  const perAck = (sim.counters.ab.sent - sent0) / (sim.counters.ba.sent - acks0);
  console.log(`cwnd per round (segments): ${cwnd.map((c) => Math.round(c / client.tcb.snd.mss)).join(' ')}; ${perAck.toFixed(1)} data segments per ACK`);
  assert.equal(cc.hystart.phase, 'ss', 'no RTT rise, no loss: still in slow start');
  assert.ok(perAck >= 8, `the receiver's ACKs stretch over ${perAck.toFixed(1)} segments (more than HyStart++'s unpaced L = 8)`);
  // Four rounds from round 4 to 8: x16 when every acked byte grows cwnd; x1.8 per round at the least.
  assert.ok(cwnd[7]! >= 1.8 ** 4 * cwnd[3]!, `cwnd ${cwnd[3]} -> ${cwnd[7]} over four rounds`);
  client.destroy();
  server.destroy();
});
