/**
 * Bulk transfers between two stacks over the fault-injecting link, both
 * directions at once, checked by SHA-256 of what each reader got against
 * the generated stream. Sizes: 50 MB each way in every case below (the
 * whole file takes a few seconds of CPU; the fake clock makes loss free in
 * wall time), 8 MB for IPv6 and for NewReno without SACK.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { Sim, establish, writeAll, digestOf, payloadDigest, type LinkOptions } from './link.js';
import type { TcpConfig } from '../../src/netstack/tcp-config.js';

const MB = 1_000_000;

async function transfer(link: LinkOptions, size: number, opts: { v6?: boolean; tcp?: Partial<TcpConfig>; seed?: number } = {}) {
  const tcp = opts.tcp ?? {};
  const sim = new Sim({ tcp }, { tcp }, link, link, opts.seed ?? 11);
  const { client, server } = await establish(sim, 80, opts.v6 ? { host: 'fd00::2' } : {});
  const up = digestOf(server);
  const down = digestOf(client);
  let finished = 0;
  void up.done.then(() => finished++);
  void down.done.then(() => finished++);
  void writeAll(client, size, 1);
  void writeAll(server, size, 2);
  await sim.run(() => finished === 2);
  assert.equal(up.bytes(), size);
  assert.equal(down.bytes(), size);
  assert.equal(up.hex(), payloadDigest(size, 1), 'client -> server digest');
  assert.equal(down.hex(), payloadDigest(size, 2), 'server -> client digest');
  for (const s of [sim.a, sim.b]) assert.equal(s.drops.get('internal-error'), undefined);
  return sim;
}

test('0 % loss: 50 MB each way, digests equal, no retransmissions', async () => {
  const sim = await transfer({ delay: 1 }, 50 * MB);
  assert.equal(sim.a.tcp.stats.retransmits + sim.b.tcp.stats.retransmits, 0);
});

test('1 % loss: 50 MB each way, digests equal', async () => {
  const sim = await transfer({ delay: 5, loss: 0.01 }, 50 * MB);
  assert.ok(sim.counters.ab.lost > 100 && sim.counters.ba.lost > 100);
  assert.ok(sim.a.tcp.stats.fastRetransmits > 0 && sim.b.tcp.stats.fastRetransmits > 0);
});

test('5 % loss: 50 MB each way, digests equal', async () => {
  const sim = await transfer({ delay: 5, loss: 0.05 }, 50 * MB);
  assert.ok(sim.counters.ab.lost > 1000 && sim.counters.ba.lost > 1000);
  assert.ok(sim.a.tcp.stats.timeouts > 0, 'some losses need the timer');
});

test('reordering, duplication and corruption (with 1 % loss): 50 MB each way, digests equal', async () => {
  const sim = await transfer({ delay: 5, jitter: 4, duplicate: 0.02, corrupt: 0.01, loss: 0.01 }, 50 * MB);
  const c = sim.counters;
  assert.ok(c.ab.duplicated > 0 && c.ab.corrupted > 0 && c.ba.duplicated > 0 && c.ba.corrupted > 0);
  // Every corrupted packet was caught by a checksum or a header check, never delivered.
  const caught = (m: Map<string, number>) => [...m].filter(([k]) => /checksum|length|version|ihl|offset|short|not-for-us|option/.test(k)).reduce((n, [, v]) => n + v, 0);
  assert.ok(caught(sim.a.drops) + caught(sim.b.drops) > 0);
});

test('IPv6 with 1 % loss and reordering: 8 MB each way, digests equal', async () => {
  await transfer({ delay: 5, jitter: 3, loss: 0.01 }, 8 * MB, { v6: true });
});

test('NewReno without SACK at 2 % loss: 8 MB each way, digests equal', async () => {
  const sim = await transfer({ delay: 5, loss: 0.02 }, 8 * MB, { tcp: { sack: false } });
  const conn = [...sim.a.tcp.connections()][0];
  if (conn) assert.equal(conn.snd.sackOk, false);
  assert.ok(sim.a.tcp.stats.fastRetransmits > 0);
});

test('small buffers (16 KiB receive, 8 KiB send) still move 2 MB each way at 1 % loss', async () => {
  await transfer({ delay: 5, loss: 0.01 }, 2 * MB, { tcp: { rcvBuf: 16 * 1024, sndBufMin: 8 * 1024, sndBufMax: 16 * 1024 } });
});

test('100 concurrent connections with 100 kB each way at 1 % loss all complete intact', async () => {
  const sim = new Sim({}, {}, { delay: 5, jitter: 2, loss: 0.01 }, { delay: 5, jitter: 2, loss: 0.01 }, 5);
  const size = 100_000;
  let done = 0;
  const bad: string[] = [];
  sim.b.tcp.listen(80, (s) => {
    const rx = digestOf(s);
    void rx.done.then(() => {
      // Each client sends seed = its port; the server answers with seed = port + 1.
      if (rx.hex() !== payloadDigest(size, s.remotePort)) bad.push(`up ${s.remotePort}`);
      done++;
    });
    void writeAll(s, size, s.remotePort + 1);
  });
  for (let i = 0; i < 100; i++) {
    const c = sim.a.tcp.connect({ host: '10.0.0.2', port: 80 });
    const rx = digestOf(c);
    void rx.done.then(() => {
      if (rx.hex() !== payloadDigest(size, c.localPort + 1)) bad.push(`down ${c.localPort}`);
      done++;
    });
    void writeAll(c, size, c.localPort);
  }
  await sim.run(() => done === 200);
  assert.deepEqual(bad, []);
});
