// Unit test of the impairing UDP relay on loopback: clean passthrough both
// ways (target learned from the sender), impairment rates close to the asked
// probabilities with receiver observations matching the relay's counters,
// ordering perturbed, and same seed -> same decisions; then the delay line:
// every datagram at least delayMs late, in order under jitter, the same drop
// decisions with and without delay. Run with both socket kinds (native, dgram).
import { describe, it, beforeAll, afterEach } from 'vitest';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { createPrng, UdpRelay, type Impairment } from './udp-relay.js';
import { nativeUdp } from '../../src/host/native-udp.js';
import { waitFor } from './wait.js';

interface Endpoint {
  sock: Socket;
  port: number;
  got: number[];
  /** performance.now() at each arrival, parallel to got. */
  at: number[];
}

function endpoint(): Promise<Endpoint> {
  return new Promise((resolve) => {
    // A large receive buffer: the native relay sends a batch faster than this process reads it.
    const sock = createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
    const ep: Endpoint = { sock, port: 0, got: [], at: [] };
    sock.on('message', (m: Buffer) => {
      ep.got.push(m.readUInt32BE(0));
      ep.at.push(performance.now());
    });
    sock.bind(0, '127.0.0.1', () => {
      ep.port = sock.address().port;
      resolve(ep);
    });
  });
}

const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

let io: 'native' | 'dgram' = 'dgram';

async function setup(impair: Impairment, seed: number) {
  const [a, b] = await Promise.all([endpoint(), endpoint()]);
  const relay = await UdpRelay.start({
    listenA: { address: '127.0.0.1' },
    listenB: { address: '127.0.0.1' },
    targetB: { address: '127.0.0.1', port: b.port },
    seed,
    impair: { holdMs: 20, ...impair },
    io,
  });
  assert.equal(relay.io, io);
  closers.push(
    () => relay.close(),
    () => void a.sock.close(),
    () => void b.sock.close(),
  );
  return { a, b, relay };
}

/**
 * Send seq 0..n-1 from `from` to the relay port in batches, each time waiting
 * until the relay has read the batch and `to` has received everything the
 * relay sent (held datagrams included), so loopback buffers never overflow.
 */
async function pump(
  from: Endpoint,
  relayPort: number,
  to: Endpoint,
  n: number,
  sentSoFar: () => { received: number; sent: number; waiting: number },
) {
  const batch = 50;
  const drained = async (what: string) => {
    await waitFor(() => sentSoFar().waiting === 0 && to.got.length === sentSoFar().sent, 3000, what, { intervalMs: 2 }).catch((e: Error) => {
      throw new Error(`${e.message}: got ${to.got.length}, stats ${JSON.stringify(sentSoFar())}`);
    });
  };
  for (let i = 0; i < n; i += batch) {
    for (let s = i; s < Math.min(n, i + batch); s++) {
      const buf = Buffer.alloc(8);
      buf.writeUInt32BE(s, 0);
      from.sock.send(buf, relayPort, '127.0.0.1');
    }
    const want = Math.min(n, i + batch);
    await waitFor(() => sentSoFar().received === want, 2000, `relay to read ${want} datagrams`, { intervalMs: 2 });
    // Whatever the relay sent so far has arrived (a held datagram may still wait for the next batch).
    await waitFor(() => to.got.length === sentSoFar().sent, 2000, `receiver to get what the relay sent of ${want}`, { intervalMs: 2 });
  }
  // Held and delayed datagrams leave after holdMs / delayMs; then everything sent must have arrived.
  await drained('receiver to get all relayed datagrams');
}

/** Pairs (i < j) with got[i] > got[j], counted against the running maximum. */
function lateArrivals(got: number[]): number {
  let max = -1;
  let late = 0;
  for (const s of got) {
    if (s < max) late++;
    else max = s;
  }
  return late;
}

const kinds: Array<'native' | 'dgram'> = nativeUdp() ? ['native', 'dgram'] : ['dgram'];
if (kinds.length === 1) process.stderr.write('udp-relay test: the native UDP addon is not built; testing the dgram relay only\n');

for (const kind of kinds) describe(`udp-relay (${kind} sockets)`, () => {
  beforeAll(() => {
    io = kind;
  });

  it('createPrng is deterministic per seed and roughly uniform', () => {
    const r1 = createPrng(42);
    const r2 = createPrng(42);
    const r3 = createPrng(43);
    const a = Array.from({ length: 1000 }, () => r1());
    assert.deepEqual(a, Array.from({ length: 1000 }, () => r2()));
    assert.notDeepEqual(a, Array.from({ length: 1000 }, () => r3()));
    assert.ok(a.every((x) => x >= 0 && x < 1));
    const buckets = new Array(10).fill(0) as number[];
    const r = createPrng(7);
    for (let i = 0; i < 100_000; i++) buckets[Math.floor(r() * 10)]!++;
    // Each bucket expects 10000, sigma ~95: allow 6 sigma.
    for (const c of buckets) assert.ok(Math.abs(c - 10_000) < 600, `bucket count ${c}`);
  });

  it('forwards both ways unchanged and in order with no impairment, learning A from its first datagram', async () => {
    const { a, b, relay } = await setup({}, 1);
    await pump(a, relay.portA, b, 300, () => relay.stats.aToB);
    assert.deepEqual(b.got, Array.from({ length: 300 }, (_, i) => i));
    // B -> A: B sends to the relay's B side; the relay sends to where A's datagrams came from.
    await pump(b, relay.portB, a, 300, () => relay.stats.bToA);
    assert.deepEqual(a.got, Array.from({ length: 300 }, (_, i) => i));
    const s = relay.stats;
    assert.deepEqual(
      [s.aToB.dropped, s.aToB.duplicated, s.aToB.reordered, s.bToA.noTarget],
      [0, 0, 0, 0],
    );
  });

  it('rebindB moves B-side traffic to a fresh source port, as a NAT rebinding; the old port is gone', async () => {
    const { a, b, relay } = await setup({}, 1);
    const fromPorts: number[] = [];
    b.sock.on('message', (_m: Buffer, r: { port: number }) => fromPorts.push(r.port));
    const old = relay.portB;
    a.sock.send(Buffer.alloc(8), relay.portA, '127.0.0.1');
    await waitFor(() => b.got.length === 1, 2000, 'first datagram');
    const fresh = await relay.rebindB();
    assert.notEqual(fresh, old);
    assert.equal(relay.portB, fresh);
    const buf = Buffer.alloc(8);
    buf.writeUInt32BE(1, 0);
    a.sock.send(buf, relay.portA, '127.0.0.1');
    await waitFor(() => b.got.length === 2, 2000, 'datagram after the rebinding');
    assert.deepEqual(fromPorts, [old, fresh]);
    // B answers the new port: it reaches A. The old port relays nothing any more.
    b.sock.send(buf, old, '127.0.0.1');
    b.sock.send(buf, fresh, '127.0.0.1');
    await waitFor(() => a.got.length === 1, 2000, 'reply through the new port');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(relay.stats.bToA.received, 1);
    assert.equal(a.got.length, 1);
  });

  it('drops, duplicates and reorders at roughly the configured rates', async () => {
    const n = 3000;
    const rates = { drop: 0.1, duplicate: 0.1, reorder: 0.1 };
    const { a, b, relay } = await setup(rates, 12345);
    await pump(a, relay.portA, b, n, () => relay.stats.aToB);
    const s = relay.stats.aToB;
    // Receiver observations match the relay's own counters exactly.
    const unique = new Set(b.got);
    assert.equal(s.received, n);
    assert.equal(n - unique.size, s.dropped, 'missing datagrams = dropped');
    assert.equal(b.got.length - unique.size, s.duplicated, 'extra copies = duplicated');
    assert.equal(b.got.length, s.sent);
    // Rates: binomial, so allow about 5 sigma around the expectation.
    const within = (count: number, trials: number, p: number, what: string) => {
      const mean = trials * p;
      const tol = 5 * Math.sqrt(trials * p * (1 - p));
      assert.ok(Math.abs(count - mean) <= tol, `${what}: ${count} not within ${mean.toFixed(0)} +- ${tol.toFixed(0)}`);
    };
    within(s.dropped, n, rates.drop, 'dropped');
    const kept = n - s.dropped;
    within(s.duplicated, kept, rates.duplicate, 'duplicated');
    // A hold is skipped while one is pending, so holds happen on a fraction p/(1+p) of kept datagrams.
    within(s.reordered + s.delayed, kept, rates.reorder / (1 + rates.reorder), 'held back');
    // Batches follow each other at once, so only a final hold should be left to the timer.
    assert.ok(s.reordered > s.delayed, `most holds end up reordered (${s.reordered} vs ${s.delayed})`);
    // Ordering really is perturbed, by about the number of reordered datagrams.
    const late = lateArrivals([...new Map(b.got.map((x) => [x, x])).keys()]);
    assert.ok(late > 0, `some datagrams arrive after later ones (stats ${JSON.stringify(s)})`);
    assert.ok(Math.abs(late - s.reordered) <= s.delayed + 5, `late arrivals ${late} ~ reordered ${s.reordered}`);
  });

  it('makes the same decisions for the same seed and different ones for another seed', async () => {
    const n = 600;
    const rates = { drop: 0.2, duplicate: 0.2, reorder: 0 };
    const outcome = async (seed: number) => {
      const { a, b, relay } = await setup(rates, seed);
      await pump(a, relay.portA, b, n, () => relay.stats.aToB);
      const counts = new Map<number, number>();
      for (const x of b.got) counts.set(x, (counts.get(x) ?? 0) + 1);
      // Per sequence number: 0 = dropped, 1 = passed, 2 = duplicated.
      return Array.from({ length: n }, (_, i) => counts.get(i) ?? 0);
    };
    const first = await outcome(99);
    const again = await outcome(99);
    const other = await outcome(100);
    assert.deepEqual(again, first);
    assert.notDeepEqual(other, first);
    assert.ok(first.includes(0) && first.includes(2));
  });

  it('rejects rates outside [0, 1] and delays outside [0, 60000] ms', async () => {
    await assert.rejects(
      UdpRelay.start({ listenA: { address: '127.0.0.1' }, listenB: { address: '127.0.0.1' }, impair: { drop: 1.5 } }),
      /drop must be in \[0, 1\]/,
    );
    await assert.rejects(
      UdpRelay.start({ listenA: { address: '127.0.0.1' }, listenB: { address: '127.0.0.1' }, bToA: { delayMs: -1 } }),
      /delayMs must be in \[0, 60000\] ms/,
    );
  });

  it('delays every datagram by at least delayMs, one way, and keeps order under jitter', async () => {
    const delayMs = 30;
    const { a, b, relay } = await setup({ delayMs, jitterMs: 15 }, 5);
    const sentAt: number[] = [];
    const n = 400;
    // Paced in bursts so many datagrams wait in the line at once (the line, not a timer each, holds them).
    for (let i = 0; i < n; i += 20) {
      for (let s = i; s < i + 20; s++) {
        const buf = Buffer.alloc(8);
        buf.writeUInt32BE(s, 0);
        sentAt[s] = performance.now();
        a.sock.send(buf, relay.portA, '127.0.0.1');
      }
      await new Promise((r) => setTimeout(r, 2));
    }
    await waitFor(() => b.got.length === n, 5000, 'every delayed datagram to arrive', { intervalMs: 5 });
    assert.deepEqual(b.got, Array.from({ length: n }, (_, i) => i), 'jitter without reorder keeps the order');
    const late = b.got.map((seq, i) => b.at[i]! - sentAt[seq]!);
    const least = Math.min(...late);
    assert.ok(least >= delayMs - 1, `earliest arrival ${least.toFixed(1)} ms after sending, want >= ${delayMs}`);
    // Jitter spreads the delays: not all within a millisecond of each other (on a quiet or busy machine alike).
    assert.ok(Math.max(...late) - least > 2, `delays spread by jitter: ${least.toFixed(1)}..${Math.max(...late).toFixed(1)} ms`);
    const s = relay.stats.aToB;
    assert.equal(s.queued, n);
    assert.ok(s.maxQueue > 20, `datagrams waited in the line together (max ${s.maxQueue})`);
    // The other direction has no delay set: not queued.
    assert.equal(relay.stats.bToA.queued, 0);
  });

  it('makes the same drop decisions with and without delay and jitter', async () => {
    const n = 500;
    const outcome = async (extra: Impairment) => {
      const { a, b, relay } = await setup({ drop: 0.2, ...extra }, 77);
      await pump(a, relay.portA, b, n, () => relay.stats.aToB);
      return new Set(b.got);
    };
    const plain = await outcome({});
    const delayed = await outcome({ delayMs: 5, jitterMs: 5 });
    assert.deepEqual([...delayed].sort((x, y) => x - y), [...plain].sort((x, y) => x - y));
    assert.ok(plain.size < n && plain.size > n / 2, `some but not most dropped (${plain.size} of ${n} kept)`);
  });

  it('still reorders when asked, behind the delay', async () => {
    const n = 1000;
    const { a, b, relay } = await setup({ delayMs: 5, reorder: 0.1 }, 3);
    await pump(a, relay.portA, b, n, () => relay.stats.aToB);
    const s = relay.stats.aToB;
    assert.equal(new Set(b.got).size, n);
    assert.ok(s.reordered > 0 && lateArrivals(b.got) > 0, `reordered ${s.reordered}, late arrivals ${lateArrivals(b.got)}`);
  });
});
