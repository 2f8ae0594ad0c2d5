/**
 * The pieces under the TCP state machine, each against a naive model or
 * the formula in its RFC: sequence arithmetic across the 2^32 wrap, the
 * send buffer, the SACK scoreboard and the out-of-order queue (RFC 2018,
 * RFC 6675 IsLost), the RTO estimator (RFC 6298), and option parsing.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { seqAdd, seqLt, seqDiff, seqGt } from '../../src/netstack/tcp-seq.js';
import { ByteQueue, pooledBlocks } from '../../src/netstack/tcp-buffer.js';
import { Scoreboard, OooQueue } from '../../src/netstack/tcp-sack.js';
import { RtoEstimator } from '../../src/netstack/tcp-rto.js';
import { parseSegment } from '../../src/netstack/tcp-segment.js';
import { prng, rawTcp, ipBytes } from './helpers.js';

test('sequence comparisons wrap at 2^32 (RFC 9293 3.4)', () => {
  const top = 0xffffff00;
  assert.equal(seqAdd(top, 0x200), 0x100);
  assert.ok(seqLt(top, 0x100));
  assert.ok(seqGt(0x100, top));
  assert.equal(seqDiff(0x100, top), 0x200);
  assert.equal(seqDiff(top, 0x100), -0x200);
});

test('ByteQueue matches a plain array model under random pushes, consumes and reads', () => {
  const r = prng(1);
  const q = new ByteQueue();
  let model = Buffer.alloc(0);
  let counter = 0;
  for (let i = 0; i < 2000; i++) {
    const op = r();
    if (op < 0.5) {
      const n = Math.floor(r() * (r() < 0.1 ? 200_000 : 3000));
      const b = Buffer.alloc(n);
      for (let k = 0; k < n; k++) b[k] = (counter++ * 131) >>> 3;
      q.push(b);
      model = Buffer.concat([model, b]);
    } else if (op < 0.8) {
      const n = Math.floor(r() * (model.length + 1));
      q.consume(n);
      model = model.subarray(n);
    } else if (model.length > 0) {
      const off = Math.floor(r() * model.length);
      const n = Math.floor(r() * (model.length - off + 1));
      const out = Buffer.alloc(n + 3);
      q.copyTo(off, n, out, 3);
      assert.ok(out.subarray(3).equals(model.subarray(off, off + n)));
    }
    assert.equal(q.length, model.length);
  }
});

test('ByteQueue: an emptied queue holds no block; blocks go to a bounded shared pool and are reused', () => {
  const idle = Array.from({ length: 100 }, () => new ByteQueue());
  const before = pooledBlocks();
  for (const q of idle) {
    q.push(Uint8Array.of(1, 2, 3)); // a connection that sent a little...
    q.consume(3); // ...and had it acknowledged
  }
  const held = (q: ByteQueue) => (q as unknown as { blocks: Uint8Array[] }).blocks.length;
  assert.deepEqual(idle.map(held).filter((n) => n > 0), [], 'idle queues hold no 64 KiB block');
  assert.equal(pooledBlocks(), Math.max(before, 1), 'one block went round: taken from the pool and given back each time');
  // Many queues emptied at once: the pool keeps at most 64 blocks (4 MiB).
  const busy = Array.from({ length: 100 }, () => new ByteQueue());
  for (const q of busy) q.push(Uint8Array.of(9));
  for (const q of busy) q.consume(1);
  assert.equal(pooledBlocks(), 64);
  const q = new ByteQueue();
  const n = pooledBlocks();
  q.push(new Uint8Array(70_000).fill(7)); // two blocks, taken from the pool
  assert.equal(pooledBlocks(), n - 2);
  const out = new Uint8Array(70_000);
  q.copyTo(0, 70_000, out, 0);
  assert.ok(out.every((b) => b === 7), 'a reused block carries only the new bytes');
  q.consume(70_000);
  assert.equal(pooledBlocks(), n);
});

test('Scoreboard: merges blocks, ignores stale and unsent ones, advances with SND.UNA', () => {
  const una = 0xfffff000; // across the wrap
  const max = seqAdd(una, 20_000);
  const sb = new Scoreboard();
  const at = (k: number) => seqAdd(una, k * 1000);
  assert.equal(sb.add([{ start: at(3), end: at(4) }], una, max), 1000);
  assert.equal(sb.add([{ start: at(5), end: at(6) }, { start: at(4), end: at(5) }], una, max), 2000);
  assert.deepEqual(sb.ranges, [{ start: at(3), end: at(6) }]);
  assert.equal(sb.add([{ start: at(3), end: at(5) }], una, max), 0, 'already known');
  assert.equal(sb.add([{ start: at(19), end: at(21) }], una, max), 0, 'beyond SND.MAX: ignored');
  assert.equal(sb.add([{ start: seqAdd(una, -500), end: una }], una, max), 0, 'below SND.UNA (D-SACK): ignored');
  sb.add([{ start: at(8), end: at(9) }], una, max);
  assert.deepEqual(sb.hole(una, max), { start: una, end: at(3) });
  assert.deepEqual(sb.hole(at(3), max), { start: at(6), end: at(8) });
  assert.equal(sb.unsacked(una, at(10)), 10_000 - 4000);
  sb.advance(at(4));
  assert.deepEqual(sb.ranges, [{ start: at(4), end: at(6) }, { start: at(8), end: at(9) }]);
  assert.equal(sb.sacked, 3000);
});

test('Scoreboard IsLost boundary (RFC 6675 4): more than 2 SMSS SACKed above, or 3 ranges', () => {
  const mss = 1000;
  const sb = new Scoreboard();
  const max = 100_000;
  sb.add([{ start: 5000, end: 7000 }], 0, max);
  assert.equal(sb.lossBoundary(0, mss), 0, '2 SMSS above: not yet lost');
  sb.add([{ start: 7000, end: 7001 }], 0, max);
  assert.equal(sb.lossBoundary(0, mss), 5000, 'just over 2 SMSS');
  const sb2 = new Scoreboard();
  sb2.add([{ start: 1000, end: 1100 }, { start: 2000, end: 2100 }, { start: 3000, end: 3100 }], 0, max);
  assert.equal(sb2.lossBoundary(0, mss), 1000, 'three discontiguous ranges');
});

test('OooQueue matches a byte-map model; SACK blocks name the newest arrival first (RFC 2018 4)', () => {
  const r = prng(2);
  for (let round = 0; round < 6; round++) {
    const base = Math.floor(r() * 2 ** 32);
    const q = new OooQueue();
    const have = new Map<number, number>();
    let nxt = 0;
    const byte = (k: number) => (k * 7 + 3) & 0xff;
    for (let i = 0; i < 200; i++) {
      const start = nxt + 1 + Math.floor(r() * 20_000);
      const len = 1 + Math.floor(r() * 1500);
      const data = new Uint8Array(len).map((_, j) => byte(start + j));
      q.insert(seqAdd(base, start), data);
      for (let j = 0; j < len; j++) have.set(start + j, byte(start + j));
      const blocks = q.blocks(4);
      assert.ok(blocks[0] && seqDiff(blocks[0].start, base) <= start && seqDiff(blocks[0].end, base) >= start + len, 'first block holds the newest data');
      for (const b of blocks) for (let k = seqDiff(b.start, base); k < seqDiff(b.end, base); k++) assert.ok(have.has(k));
      if (r() < 0.2) {
        // Fill up to some point and pop.
        const upto = nxt + Math.floor(r() * 10_000);
        for (let k = nxt; k < upto; k++) have.set(k, byte(k));
        const chunks = q.pop(seqAdd(base, upto));
        let k = upto;
        for (const c of chunks) for (const x of c) assert.equal(x, have.get(k++));
        while (have.has(k)) k++;
        // pop hands out exactly the contiguous run after `upto`
        nxt = k;
        for (const key of [...have.keys()]) if (key < nxt) have.delete(key);
      }
    }
    const held = [...have.keys()].filter((k) => k > nxt).length;
    assert.equal(q.bytes, held);
  }
});

test('RTO estimator follows RFC 6298 2.2-2.5 and 5.5', () => {
  const e = new RtoEstimator({ initial: 1000, min: 200, max: 60_000, granularity: 1 });
  assert.equal(e.rto, 1000);
  e.sample(100);
  assert.deepEqual([e.srtt, e.rttvar, e.rto], [100, 50, 300]);
  e.sample(300);
  // RTTVAR = 3/4*50 + 1/4*|100-300| = 87.5; SRTT = 7/8*100 + 1/8*300 = 125
  assert.deepEqual([e.srtt, e.rttvar, e.rto], [125, 87.5, 475]);
  e.backoff();
  assert.equal(e.rto, 950);
  for (let i = 0; i < 20; i++) e.backoff();
  assert.equal(e.rto, 60_000);
  e.sample(10);
  assert.ok(e.rto >= 200, 'lower bound');
});

test('option parsing: well-formed options read, malformed lengths are drops', () => {
  const src = ipBytes('10.0.0.1');
  const dst = ipBytes('10.0.0.2');
  const seg = (options: number[]) => parseSegment(rawTcp({ src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2, seq: 0, flags: 2, options }).subarray(20), src, dst);
  const ok = seg([2, 4, 5, 0xb4, 1, 3, 3, 20, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
  assert.ok(typeof ok !== 'string');
  assert.equal(ok.mss, 1460);
  assert.equal(ok.wscale, 14, 'shifts over 14 are taken as 14 (RFC 7323 2.3)');
  assert.equal(ok.sackPermitted, true);
  assert.equal(seg([2, 3, 5]), 'tcp-option-length');
  assert.equal(seg([5, 9, 0, 0, 0, 0, 0, 0, 0]), 'tcp-option-length');
  assert.equal(seg([8, 40]), 'tcp-option-length');
  assert.equal(seg([1, 1, 1, 2]), 'tcp-option-truncated');
});
