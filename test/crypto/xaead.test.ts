import { test } from 'vitest';
import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { xseal, xopen } from '../../src/crypto/xaead.js';
import { hchacha20 } from '../../src/crypto/chacha20-core.js';
import { loadVectors, hex, toHex } from './vectors.js';

interface XVector { name: string; key: string; nonce: string; aad: string; plaintext: string; ciphertext: string; tag: string }
interface HVector { name: string; key: string; nonce: string; subkey: string }
const { vectors, hchacha20: hvectors } = loadVectors<{ vectors: XVector[]; hchacha20: HVector[] }>('xchacha20poly1305.json');

function subkeyBytes(key: Uint8Array, nonce: Uint8Array, off = 0): Uint8Array {
  const w = new Int32Array(8);
  hchacha20(key, nonce, off, w);
  const out = new Uint8Array(32);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < 8; i++) dv.setInt32(4 * i, w[i]!, true);
  return out;
}

for (const v of hvectors) {
  test(`hchacha20: ${v.name}`, () => {
    assert.equal(toHex(subkeyBytes(hex(v.key), hex(v.nonce))), v.subkey);
    const framed = new Uint8Array(24);
    framed.set(hex(v.nonce), 5);
    assert.equal(toHex(subkeyBytes(hex(v.key), framed, 5)), v.subkey, 'nonce at an offset');
  });
}

test('xseal/xopen agree with @noble/ciphers and with OpenSSL chacha20-poly1305 under the HChaCha20 subkey, random inputs', () => {
  for (let i = 0; i < 300; i++) {
    const key = new Uint8Array(randomBytes(32));
    const nonce = new Uint8Array(randomBytes(24));
    const pt = new Uint8Array(randomBytes((i * 13) % 300));
    const aad = new Uint8Array(randomBytes(i % 40));
    const what = `pt ${pt.length} B, aad ${aad.length} B, key ${toHex(key)}, nonce ${toHex(nonce)}`;
    const sealed = xseal(key, nonce, pt, aad);
    assert.equal(toHex(sealed), toHex(xchacha20poly1305(key, nonce, aad).encrypt(pt)), `noble: ${what}`);
    const inner = new Uint8Array(12);
    inner.set(nonce.subarray(16), 4);
    const c = createCipheriv('chacha20-poly1305', subkeyBytes(key, nonce), inner, { authTagLength: 16 });
    c.setAAD(aad, { plaintextLength: pt.length });
    const ossl = Buffer.concat([c.update(pt), c.final(), c.getAuthTag()]);
    assert.equal(toHex(sealed), ossl.toString('hex'), `OpenSSL: ${what}`);
    assert.equal(toHex(xopen(key, nonce, sealed, aad) ?? new Uint8Array(1)), toHex(pt), `open: ${what}`);
  }
});

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
