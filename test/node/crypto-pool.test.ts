/**
 * CryptoPool: transport messages sealed and opened on worker threads come
 * back in submission order, byte-identical to sealing/opening on the main
 * thread, including messages too big for a slot (done inline) mixed in;
 * forged messages open to null; nothing is sent under a wiped keypair; no
 * slot keeps a key or a plaintext once its result is handed back.
 */
import { describe, it, afterAll } from 'vitest';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { open } from '../../src/crypto/aead.js';
import { Keypair } from '../../src/transport/keypair.js';
import { sealFrame } from '../../src/transport/packet.js';
import type { Datagram, PendingOpen } from '../../src/transport/device.js';
import type { Peer } from '../../src/transport/peer.js';
import { CryptoPool } from '../../src/node/crypto-pool.js';
import { KEY, SLOT_SIZE } from '../../src/node/crypto-ring.js';

const TO = { address: '192.0.2.1', port: 51820 };

function keypair(): Keypair {
  return new Keypair(new Uint8Array(randomBytes(32)), new Uint8Array(randomBytes(32)), true, 0, 1, 2);
}

/** header | plaintext | 16 spare bytes, as Device frames a transport message. */
function frame(counter: number, body: Uint8Array): Uint8Array {
  const m = new Uint8Array(16 + body.length + 16);
  m[0] = 4;
  new DataView(m.buffer).setUint32(8, counter, true);
  m.set(body, 16);
  return m;
}

function body(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (seed * 31 + i * 7) & 0xff;
  return b;
}

/** Sizes with a few above the slot size (2048 - 64 data bytes), so inline and worker items interleave. */
const SIZES = [0, 16, 64, 1420, 3000, 1400, 1984 - 32, 1984 - 31, 9000, 80, 1280, 1420];

/** Offsets of non-zero key or data bytes left in any slot of the pool's rings (its shared memory, read as the workers see it). */
function leftInSlots(pool: CryptoPool): number[] {
  const lanes = (pool as unknown as { lanes: Array<{ bytes: Uint8Array }> }).lanes;
  const dirty: number[] = [];
  for (const { bytes } of lanes) {
    for (let base = 0; base < bytes.length; base += SLOT_SIZE) {
      for (let i = base + KEY; i < base + SLOT_SIZE; i++) if (bytes[i] !== 0) { dirty.push(i); break; }
    }
  }
  return dirty;
}

function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const t = setInterval(() => {
      if (cond()) { clearInterval(t); resolve(); } else if (Date.now() > end) { clearInterval(t); reject(new Error('timeout')); }
    }, 2);
  });
}

describe('CryptoPool', { timeout: 30_000 }, () => {
  const pools: CryptoPool[] = [];
  afterAll(async () => { for (const p of pools) await p.close(); });

  async function make(workers: number) {
    const sealed: Array<{ d: Datagram; ok: boolean }> = [];
    const opened: Array<{ job: PendingOpen; plain: Uint8Array | null }> = [];
    let drains = 0;
    const pool = await CryptoPool.create(workers, {
      onSealed: (d, ok) => sealed.push({ d, ok: ok }),
      onOpened: (job, plain) => opened.push({ job, plain: plain ? plain.slice() : null }),
      onDrained: () => { drains++; },
    });
    pools.push(pool);
    return { pool, sealed, opened, drains: () => drains };
  }

  for (const workers of [1, 2]) {
    it(`seals in order, byte-identical to the main thread (${workers} worker${workers > 1 ? 's' : ''})`, async () => {
      const { pool, sealed } = await make(workers);
      const kp = keypair();
      const expected: Uint8Array[] = [];
      const ds: Datagram[] = [];
      for (let round = 0; round < 40; round++) {
        for (const n of SIZES) {
          const counter = ds.length;
          const m = frame(counter, body(n, counter));
          const copy = m.slice();
          sealFrame(kp.sendKey, counter, copy);
          expected.push(copy);
          const d: Datagram = { data: m, to: TO, seal: { keypair: kp, counter } };
          ds.push(d);
          pool.seal(d);
        }
        pool.flush();
      }
      await until(() => sealed.length === ds.length);
      assert.equal(pool.workers, workers);
      assert.ok(pool.inline < ds.length / 2, `most went to workers (inline ${pool.inline} of ${ds.length})`);
      for (let i = 0; i < ds.length; i++) {
        assert.equal(sealed[i]!.d, ds[i], `order at ${i}`);
        assert.equal(sealed[i]!.ok, true);
        assert.equal(sealed[i]!.d.seal, undefined);
        assert.deepEqual(sealed[i]!.d.data, expected[i], `bytes of #${i} (${SIZES[i % SIZES.length]} B)`);
      }
    });

    it(`opens in order, forged messages to null (${workers} worker${workers > 1 ? 's' : ''})`, async () => {
      const { pool, opened } = await make(workers);
      const kp = keypair();
      const recv = new Keypair(kp.recvKey, kp.sendKey, false, 0, 2, 1); // b's view: receives under a's send key
      const jobs: PendingOpen[] = [];
      const plains: Array<Uint8Array | null> = [];
      for (let round = 0; round < 30; round++) {
        for (const n of SIZES) {
          const counter = jobs.length;
          const pt = body(n, counter);
          const m = frame(counter, pt);
          sealFrame(kp.sendKey, counter, m);
          const forged = counter % 7 === 3;
          if (forged) m[m.length - 1]! ^= 1;
          const job: PendingOpen = { keypair: recv, peer: null as unknown as Peer, counter: BigInt(counter), data: m, from: TO };
          jobs.push(job);
          plains.push(forged ? null : pt);
          pool.open(job);
        }
        pool.flush();
      }
      await until(() => opened.length === jobs.length);
      assert.ok(pool.offloaded > jobs.length / 2, `the workers opened most (${pool.offloaded})`);
      assert.deepEqual(leftInSlots(pool), [], 'no key or plaintext stays in a slot');
      for (let i = 0; i < jobs.length; i++) {
        assert.equal(opened[i]!.job, jobs[i], `order at ${i}`);
        if (plains[i] === null) assert.equal(opened[i]!.plain, null, `forged #${i}`);
        else assert.deepEqual(opened[i]!.plain, plains[i], `plaintext of #${i}`);
      }
      // The same results as opening on the main thread.
      const again = frame(5, body(SIZES[5]!, 5));
      sealFrame(kp.sendKey, 5, again);
      assert.deepEqual(open(recv.recvKey, 5, again.subarray(16)), opened[5]!.plain);
    });
  }

  it('sends nothing sealed under a keypair wiped before or while it was queued', async () => {
    const { pool, sealed } = await make(1);
    const kp = keypair();
    const ds: Datagram[] = [];
    for (let i = 0; i < 64; i++) {
      const d: Datagram = { data: frame(i, body(1400, i)), to: TO, seal: { keypair: kp, counter: i } };
      ds.push(d);
      pool.seal(d);
    }
    kp.wipe(); // the session ends with datagrams in flight
    const late: Datagram = { data: frame(64, body(100, 64)), to: TO, seal: { keypair: kp, counter: 64 } };
    pool.seal(late);
    pool.flush();
    await until(() => sealed.length === 65);
    // The first one may have been sealed on the spot (idle pool) before the wipe; none after it.
    for (let i = 1; i < 65; i++) assert.equal(sealed[i]!.ok, false, `#${i} must not be sent`);
    assert.equal(sealed[64]!.d, late);
  });

  it('does sparse traffic on the main thread and bursts on the workers', async () => {
    const { pool, sealed } = await make(1);
    const kp = keypair();
    const one: Datagram = { data: frame(0, body(64, 0)), to: TO, seal: { keypair: kp, counter: 0 } };
    pool.seal(one);
    assert.equal(sealed.length, 1, 'an idle pool seals a lone message at once');
    assert.equal(pool.inline, 1);
    for (let i = 1; i <= 32; i++) pool.seal({ data: frame(i, body(1400, i)), to: TO, seal: { keypair: kp, counter: i } });
    pool.flush();
    await until(() => sealed.length === 33);
    assert.ok(pool.inline <= 2, `the burst went to the worker (inline ${pool.inline})`);
  });
});
