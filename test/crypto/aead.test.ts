import { test } from 'vitest';
import assert from 'node:assert/strict';
import { seal, sealInto, open, sealNonce, openNonce, counterNonce, TAG_LEN } from '../../src/crypto/aead.js';
import { loadVectors, hex, toHex, seq } from './vectors.js';

interface AeadVector { name: string; key: string; nonce: string; aad: string; plaintext: string; ciphertext: string; tag: string }
const { vectors } = loadVectors<{ vectors: AeadVector[] }>('chacha20poly1305.json');

for (const v of vectors) {
  test(`sealNonce: ${v.name}`, () => {
    const sealed = sealNonce(hex(v.key), hex(v.nonce), hex(v.plaintext), hex(v.aad));
    assert.equal(toHex(sealed), v.ciphertext + v.tag);
  });
  test(`openNonce: ${v.name}`, () => {
    const pt = openNonce(hex(v.key), hex(v.nonce), hex(v.ciphertext + v.tag), hex(v.aad));
    assert.ok(pt);
    assert.equal(toHex(pt), v.plaintext);
  });
}

test('openNonce returns null when any input bit is flipped', () => {
  const v = vectors[0]!;
  const key = hex(v.key);
  const nonce = hex(v.nonce);
  const aad = hex(v.aad);
  const sealed = hex(v.ciphertext + v.tag);
  for (const pos of [0, 57, sealed.length - TAG_LEN - 1, sealed.length - TAG_LEN, sealed.length - 1]) {
    for (const bit of [0, 7]) {
      const bad = Uint8Array.from(sealed);
      bad[pos]! ^= 1 << bit;
      assert.equal(openNonce(key, nonce, bad, aad), null, `sealed byte ${pos} bit ${bit}`);
    }
  }
  const badAad = Uint8Array.from(aad);
  badAad[3]! ^= 0x80;
  assert.equal(openNonce(key, nonce, sealed, badAad), null, 'aad');
  assert.equal(openNonce(key, nonce, sealed), null, 'aad missing');
  const badNonce = Uint8Array.from(nonce);
  badNonce[11]! ^= 1;
  assert.equal(openNonce(key, badNonce, sealed, aad), null, 'nonce');
  const badKey = Uint8Array.from(key);
  badKey[0]! ^= 1;
  assert.equal(openNonce(badKey, nonce, sealed, aad), null, 'key');
  assert.equal(openNonce(key, nonce, sealed.subarray(0, sealed.length - 1), aad), null, 'truncated');
  assert.equal(openNonce(key, nonce, sealed.subarray(0, TAG_LEN - 1), aad), null, 'shorter than a tag');
  assert.equal(openNonce(key, nonce, new Uint8Array(0), aad), null, 'empty');
});

/** The WireGuard nonce, built here independently: 4 zero bytes, then the counter as 64-bit little-endian. */
function wgNonce(counter: bigint): Uint8Array {
  const n = Buffer.alloc(12);
  n.writeBigUInt64LE(counter, 4);
  return new Uint8Array(n);
}

const COUNTERS: Array<number | bigint> = [0, 1, 2 ** 32, 2 ** 53 - 1, 2n ** 64n - 1n];

test('seal(key, counter) equals sealNonce with nonce = 0^4 || LE64(counter)', () => {
  const key = seq(32, 0x80);
  const aad = seq(13, 0x10);
  for (const c of COUNTERS) {
    for (const len of [0, 1, 64, 1420]) {
      const pt = seq(len, 7);
      const want = sealNonce(key, wgNonce(BigInt(c)), pt, aad);
      assert.deepEqual(seal(key, c, pt, aad), want, `counter ${c} len ${len}`);
      assert.deepEqual(open(key, c, want, aad), pt, `open counter ${c} len ${len}`);
    }
  }
});

test('number and bigint counters give the same nonce; distinct counters differ', () => {
  for (const c of [0, 1, 255, 256, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 2 ** 53 - 1]) {
    assert.equal(toHex(counterNonce(c)), toHex(counterNonce(BigInt(c))), `counter ${c}`);
    assert.equal(toHex(counterNonce(c)), toHex(wgNonce(BigInt(c))));
  }
  const key = seq(32);
  const pt = seq(32);
  assert.notDeepEqual(seal(key, 0, pt), seal(key, 1, pt));
  assert.equal(open(key, 1, seal(key, 0, pt)), null, 'opening with the wrong counter fails');
});

test('counterNonce writes into a caller buffer at its byte offset', () => {
  const backing = new Uint8Array(20).fill(0xee);
  const out = backing.subarray(4, 16);
  const r = counterNonce(2n ** 64n - 2n, out);
  assert.equal(r, out);
  assert.equal(toHex(backing), 'eeeeeeee' + '00000000' + 'feffffffffffffff' + 'eeeeeeee');
});

test('empty plaintext (keepalive) seals to a bare tag and opens to empty', () => {
  const key = seq(32, 1);
  const sealed = seal(key, 5, new Uint8Array(0));
  assert.equal(sealed.length, TAG_LEN);
  const pt = open(key, 5, sealed);
  assert.ok(pt);
  assert.equal(pt.length, 0);
});

test('wrong key length throws (a programming error, not network input)', () => {
  assert.throws(() => seal(new Uint8Array(31), 0, new Uint8Array(1)), RangeError);
  assert.throws(() => open(new Uint8Array(33), 0, new Uint8Array(16)), RangeError);
});

test('sealInto writes exactly seal()\'s bytes at the offset and nothing else', () => {
  const key = seq(32, 0x80);
  for (const c of COUNTERS) {
    for (const len of [0, 1, 64, 1420]) {
      const pt = seq(len, 3);
      const dst = new Uint8Array(16 + len + TAG_LEN + 8).fill(0xaa);
      const n = sealInto(key, c, pt, dst, 16);
      assert.equal(n, len + TAG_LEN);
      assert.deepEqual(dst.subarray(16, 16 + n), seal(key, c, pt), `counter ${c} len ${len}`);
      assert.ok(dst.subarray(0, 16).every((b) => b === 0xaa), 'prefix untouched');
      assert.ok(dst.subarray(16 + n).every((b) => b === 0xaa), 'suffix untouched');
    }
  }
});

test('sealInto with aad, in place over its own plaintext, equals sealNonce and opens', () => {
  const v = vectors[0]!;
  const pt = hex(v.plaintext);
  const packet = new Uint8Array(16 + pt.length + TAG_LEN);
  packet.set(pt, 16);
  const n = sealInto(hex(v.key), 0, packet.subarray(16, 16 + pt.length), packet, 16, hex(v.aad));
  assert.equal(n, pt.length + TAG_LEN);
  assert.deepEqual(packet.subarray(16), sealNonce(hex(v.key), counterNonce(0), pt, hex(v.aad)));
  assert.deepEqual(open(hex(v.key), 0, packet.subarray(16), hex(v.aad)), pt);
});

test('sealInto refuses a destination that is too small', () => {
  const key = seq(32);
  assert.throws(() => sealInto(key, 0, seq(10), new Uint8Array(25)), RangeError);
  assert.throws(() => sealInto(key, 0, seq(10), new Uint8Array(40), 15), RangeError);
  assert.throws(() => sealInto(key, 0, seq(10), new Uint8Array(40), -1), RangeError);
  assert.equal(sealInto(key, 0, seq(10), new Uint8Array(40), 14), 26);
});

test('seal results are independent of each other (pooled buffers are not reused while alive)', () => {
  const key = seq(32);
  const a = seal(key, 1, seq(100));
  const aCopy = Uint8Array.from(a);
  for (let i = 0; i < 200; i++) seal(key, i, seq(100, i));
  assert.deepEqual(a, aCopy);
  assert.deepEqual(open(key, 1, a), seq(100));
});
