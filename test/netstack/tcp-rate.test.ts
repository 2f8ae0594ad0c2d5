/**
 * Delivery-rate sampling (draft-cheng-iccrg-delivery-rate-estimation) in a
 * real connection over the fake-clock path: once a bulk sender fills a
 * known bottleneck, the rate samples the controller gets (AckEvent.rate)
 * measure that bottleneck's payload rate, also while SACK recovery repairs
 * queue drops; a sender the application starves gets samples marked
 * app-limited, and the mark clears once the application fills the pipe.
 * Without SACK the send records are trimmed by the cumulative ACK too (they
 * used to pile up until the 8192-record bound stopped the sender).
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { Sim, establish, writeAll, digestOf, payloadDigest } from './link.js';
import { pathLink } from './path.js';
import type { AckEvent, RateSample } from '../../src/netstack/cc/types.js';
import type { TcpSocket } from '../../src/netstack/tcp-socket.js';
import { MAX_RECORDS } from '../../src/netstack/tcp-rack.js';

/** IPv4 + TCP + timestamp option bytes each full segment carries besides its payload. */
const OVERHEAD = 20 + 20 + 12;

/** Every ACK event the client's controller hears, with its rate sample. */
function tap(client: TcpSocket): AckEvent[] {
  const events: AckEvent[] = [];
  const cc = client.tcb.snd.cc;
  const onAck = cc.onAck.bind(cc);
  cc.onAck = (e) => {
    events.push({ ...e });
    onAck(e);
  };
  return events;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

test('rate samples of a bulk transfer measure the bottleneck payload rate (10 Mbit/s, 20 ms), also through recovery', async (t) => {
  const p = { rtt: 20, loss: 0, mbit: 10, size: 3_000_000 };
  const sim = new Sim({}, {}, pathLink(p, 1), pathLink({ ...p, mbit: 1000 }, 2), 1);
  const { client, server } = await establish(sim);
  const events = tap(client);
  const rx = digestOf(server);
  let done = false;
  void rx.done.then(() => (done = true));
  void writeAll(client, p.size, 1);
  await sim.run(() => done);
  assert.equal(rx.hex(), payloadDigest(p.size, 1));
  const mss = client.tcb.snd.mss;
  const payloadRate = ((p.mbit * 1e6) / 8 / 1000) * (mss / (mss + OVERHEAD)); // bytes per ms
  const samples = events.filter((e) => e.rate !== null).map((e) => ({ t: e.now, rec: e.inRecovery, rs: e.rate! }));
  assert.ok(samples.length > 100, `${samples.length} samples`);
  // Past the first second the queue is never empty: every valid, network-limited sample is the bottleneck rate.
  const late = samples.filter((s) => s.t > 1000 && s.rs.deliveryRate > 0 && !s.rs.isAppLimited);
  const rates = late.map((s) => s.rs.deliveryRate / payloadRate);
  assert.ok(sim.counters.ab.queueDrops > 0, 'the queue overflowed: recovery ran');
  // Slow start overshoots the queue: samples from the SACK recovery that follows (the RTT has settled by then).
  const inRec = samples.filter((s) => s.rec && s.rs.deliveryRate > 0 && !s.rs.isAppLimited).map((s) => s.rs.deliveryRate / payloadRate);
  console.log(`${late.length} samples after 1 s: median ${median(rates).toFixed(3)}, min ${Math.min(...rates).toFixed(3)}, max ${Math.max(...rates).toFixed(3)} of the link; ${inRec.length} in recovery, median ${inRec.length ? median(inRec).toFixed(3) : '-'}`);
  assert.ok(Math.abs(median(rates) - 1) < 0.03, `median sample ${median(rates)} x the link`);
  assert.ok(Math.max(...rates) < 1.1, `no sample over the link rate by 10 %: ${Math.max(...rates)}`);
  assert.ok(rates.filter((r) => r > 0.85).length >= 0.9 * rates.length, 'nine in ten samples within 15 % below the link');
  assert.ok(inRec.length > 0 && median(inRec) > 0.9, 'samples taken during SACK recovery (SACKed segments) still measure the link');
  for (const s of samples) {
    assert.ok(s.rs.interval > 0 && s.rs.delivered > 0 && s.rs.txInFlight > 0, 'well-formed sample');
    assert.ok(s.rs.deliveryRate === 0 || s.rs.interval >= client.tcb.snd.minRtt, 'a valid rate spans at least min RTT');
  }
});

test('an application-limited sender gets samples marked app-limited until its bulk data fills the pipe', async () => {
  const p = { rtt: 20, loss: 0, mbit: 10, size: 0 };
  const sim = new Sim({}, {}, pathLink(p, 1), pathLink(p, 2), 1);
  const { client, server } = await establish(sim);
  const events = tap(client);
  server.resume();
  // 1 KB every 50 ms: 20 kB/s on a 1.25 MB/s link.
  for (let i = 0; i < 20; i++) {
    client.write(Buffer.alloc(1000, i));
    await sim.runUntil(sim.now + 50);
  }
  const quiet = events.filter((e) => e.rate !== null).map((e) => e.rate!);
  assert.ok(quiet.length >= 15, `${quiet.length} samples while app-limited`);
  assert.ok(quiet.every((rs) => rs.isAppLimited), 'every sample of the trickle is app-limited');
  const marked = client.tcb.snd.rate.appLimitedUntil;
  assert.ok(marked > 0, 'the sampler holds an app-limited mark');
  // Now bulk: once the data sent after the mark is delivered, samples are network-limited again.
  const from = events.length;
  client.write(Buffer.alloc(4_000_000, 7)); // 3.2 s at the link rate: still sending when the run stops
  await sim.runUntil(sim.now + 1500);
  const bulk: RateSample[] = events.slice(from).filter((e) => e.rate !== null).map((e) => e.rate!);
  const firstFree = bulk.findIndex((rs) => !rs.isAppLimited);
  assert.ok(firstFree >= 0, 'the bulk transfer produced network-limited samples');
  assert.ok(bulk[firstFree]!.priorDelivered >= marked, 'the first unmarked sample was sent after the bubble left the pipe');
  assert.ok(bulk.slice(firstFree).every((rs) => !rs.isAppLimited), 'and none after it is marked while the buffer stays full');
  assert.equal(client.tcb.snd.rate.appLimitedUntil, 0);
});

test('without SACK the cumulative ACK trims the send records: a transfer longer than the record bound completes', async () => {
  const size = Math.ceil(MAX_RECORDS * 1.5) * 1460;
  const sim = new Sim({ tcp: { sack: false } }, { tcp: { sack: false } }, { delay: 1 }, { delay: 1 }, 1);
  const { client, server } = await establish(sim);
  const rx = digestOf(server);
  let done = false;
  void rx.done.then(() => (done = true));
  void writeAll(client, size, 3);
  await sim.run(() => done && !client.tcb.snd.busy(), 120_000);
  assert.equal(rx.hex(), payloadDigest(size, 3));
  assert.equal(client.tcb.snd.log.size, 0, 'every record went with its ACK');
});
