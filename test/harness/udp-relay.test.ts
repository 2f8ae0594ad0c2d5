// Unit test of the impairing UDP relay on loopback: clean passthrough both
// ways (target learned from the sender), impairment rates close to the asked
// probabilities with receiver observations matching the relay's counters,
// ordering perturbed, and same seed -> same decisions.
import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { createPrng, UdpRelay, type Impairment } from './udp-relay.js';
import { waitFor } from './wait.js';

interface Endpoint {
  sock: Socket;
  port: number;
  got: number[];
}

function endpoint(): Promise<Endpoint> {
  return new Promise((resolve) => {
    const sock = createSocket('udp4');
    const ep: Endpoint = { sock, port: 0, got: [] };
    sock.on('message', (m: Buffer) => ep.got.push(m.readUInt32BE(0)));
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

async function setup(impair: Impairment, seed: number) {
  const [a, b] = await Promise.all([endpoint(), endpoint()]);
  const relay = await UdpRelay.start({
    listenA: { address: '127.0.0.1' },
    listenB: { address: '127.0.0.1' },
    targetB: { address: '127.0.0.1', port: b.port },
    seed,
    impair: { holdMs: 20, ...impair },
  });
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
async function pump(from: Endpoint, relayPort: number, to: Endpoint, n: number, sentSoFar: () => { received: number; sent: number }) {
  const batch = 50;
  for (let i = 0; i < n; i += batch) {
    for (let s = i; s < Math.min(n, i + batch); s++) {
      const buf = Buffer.alloc(8);
      buf.writeUInt32BE(s, 0);
      from.sock.send(buf, relayPort, '127.0.0.1');
    }
    const want = Math.min(n, i + batch);
    await waitFor(() => sentSoFar().received === want, 2000, `relay to read ${want} datagrams`, { intervalMs: 2 });
  }
  // Held datagrams leave after holdMs; then everything sent must have arrived.
  await waitFor(() => to.got.length === sentSoFar().sent, 2000, 'receiver to get all relayed datagrams', { intervalMs: 5 });
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

describe('udp-relay', () => {
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

  it('rejects rates outside [0, 1]', async () => {
    await assert.rejects(
      UdpRelay.start({ listenA: { address: '127.0.0.1' }, listenB: { address: '127.0.0.1' }, impair: { drop: 1.5 } }),
      /drop must be in \[0, 1\]/,
    );
  });
});
