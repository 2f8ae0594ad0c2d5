import { test } from 'vitest';
import assert from 'node:assert/strict';
import { tai64n, tai64nAfter, TAI64N_LEN } from '../../src/crypto/tai64n.js';
import { loadVectors, toHex } from './vectors.js';

interface TaiFile {
  vectors: Array<{ wallMs: number; tai64n: string }>;
  monotonic: { startNs: number; cases: Array<{ name: string; deltaNs: number; after: boolean }> };
}
const V = loadVectors<TaiFile>('tai64n.json');

test('tai64n: vectors derived from the wireguard-go rule', () => {
  for (const v of V.vectors) assert.equal(toHex(tai64n(v.wallMs)), v.tai64n, `wallMs ${v.wallMs}`);
});

test('tai64n: structure (2^62 + 10 + seconds, nanoseconds in whole 2^24 steps)', () => {
  for (const ms of [0, 0.5, 16.777215, 16.777216, 999.9, 1234567.891, 1_700_000_000_000, 1_700_000_000_777.25]) {
    const t = tai64n(ms);
    assert.equal(t.length, TAI64N_LEN);
    const dv = new DataView(t.buffer, t.byteOffset, t.byteLength);
    assert.equal(dv.getBigUint64(0, false), 2n ** 62n + 10n + BigInt(Math.floor(ms / 1000)), `secs at ${ms}`);
    const nanos = dv.getUint32(8, false);
    assert.equal(nanos % 2 ** 24, 0, `nanos whitened at ${ms}`);
    assert.ok(nanos < 1e9);
    const exact = (ms - Math.floor(ms / 1000) * 1000) * 1e6;
    assert.ok(nanos <= exact && exact - nanos < 2 ** 24 + 1, `nanos round down at ${ms}`);
  }
});

test('tai64nAfter: wireguard-go TestMonotonic cases', () => {
  const { startNs, cases } = V.monotonic;
  const t1 = tai64n(startNs / 1e6);
  for (const c of cases) {
    const t2 = tai64n((startNs + c.deltaNs) / 1e6);
    assert.equal(tai64nAfter(t2, t1), c.after, c.name);
  }
});

test('tai64nAfter: strict, big-endian ordering', () => {
  const a = tai64n(1_000_000);
  assert.equal(tai64nAfter(a, a), false, 'equal is not after');
  const b = tai64n(1_000_999); // same second (1000), 999 ms later
  assert.equal(tai64nAfter(b, a), true);
  assert.equal(tai64nAfter(a, b), false);
  // a later second with smaller nanoseconds is still later
  const c = tai64n(1_001_000);
  assert.equal(tai64nAfter(c, b), true);
  assert.equal(tai64nAfter(b, c), false);
  // a stream of stamps 20 ms apart is strictly increasing
  let prev = tai64n(1_699_999_999_000);
  for (let ms = 1_699_999_999_020; ms < 1_700_000_003_000; ms += 20) {
    const next = tai64n(ms);
    assert.ok(tai64nAfter(next, prev), `strictly later at ${ms}`);
    prev = next;
  }
  // the top byte decides first
  const hi = new Uint8Array(12);
  hi[0] = 0x41;
  const lo = new Uint8Array(12).fill(0xff);
  lo[0] = 0x40;
  assert.equal(tai64nAfter(hi, lo), true);
  assert.equal(tai64nAfter(lo, hi), false);
});
