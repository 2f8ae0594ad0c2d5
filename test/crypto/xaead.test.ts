import { test } from 'node:test';
import assert from 'node:assert/strict';
import { xseal, xopen } from '../../src/crypto/xaead.js';
import { loadVectors, hex, toHex } from './vectors.js';

interface XVector { name: string; key: string; nonce: string; aad: string; plaintext: string; ciphertext: string; tag: string }
const { vectors } = loadVectors<{ vectors: XVector[] }>('xchacha20poly1305.json');

for (const v of vectors) {
  test(`xseal: ${v.name}`, () => {
    assert.equal(toHex(xseal(hex(v.key), hex(v.nonce), hex(v.plaintext), hex(v.aad))), v.ciphertext + v.tag);
  });
  test(`xopen: ${v.name}`, () => {
    const pt = xopen(hex(v.key), hex(v.nonce), hex(v.ciphertext + v.tag), hex(v.aad));
    assert.ok(pt);
    assert.equal(toHex(pt), v.plaintext);
  });
}

test('xopen returns null on any tampering', () => {
  const v = vectors[0]!;
  const key = hex(v.key);
  const nonce = hex(v.nonce);
  const aad = hex(v.aad);
  const sealed = hex(v.ciphertext + v.tag);
  for (const pos of [0, 40, sealed.length - 17, sealed.length - 16, sealed.length - 1]) {
    const bad = Uint8Array.from(sealed);
    bad[pos]! ^= 0x01;
    assert.equal(xopen(key, nonce, bad, aad), null, `byte ${pos}`);
  }
  const badNonce = Uint8Array.from(nonce);
  badNonce[23]! ^= 0x40; // the last 8 bytes go to the inner ChaCha20 nonce
  assert.equal(xopen(key, badNonce, sealed, aad), null, 'nonce tail');
  const badNonce2 = Uint8Array.from(nonce);
  badNonce2[0]! ^= 0x40; // the first 16 bytes go to HChaCha20
  assert.equal(xopen(key, badNonce2, sealed, aad), null, 'nonce head');
  assert.equal(xopen(key, nonce, sealed, aad.subarray(1)), null, 'aad');
  assert.equal(xopen(key, nonce, sealed.subarray(0, 15), aad), null, 'shorter than a tag');
});

test('cookie-sized round trip (16-byte cookie, 16-byte mac1 as aad)', () => {
  const key = hex(vectors[0]!.key);
  const nonce = hex(vectors[0]!.nonce);
  const cookie = new Uint8Array(16).fill(0x42);
  const mac1 = new Uint8Array(16).fill(0x17);
  const sealed = xseal(key, nonce, cookie, mac1);
  assert.equal(sealed.length, 32);
  assert.deepEqual(xopen(key, nonce, sealed, mac1), cookie);
});

test('bad key or nonce length throws', () => {
  assert.throws(() => xseal(new Uint8Array(31), new Uint8Array(24), new Uint8Array(0), new Uint8Array(0)), RangeError);
  assert.throws(() => xopen(new Uint8Array(32), new Uint8Array(12), new Uint8Array(16), new Uint8Array(0)), RangeError);
});
