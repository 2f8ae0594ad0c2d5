import { test } from 'vitest';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { sealSmall, openSmall } from '../../src/crypto/chachapoly-small.js';
import { sealNonce } from '../../src/crypto/aead.js';
import { loadVectors, hex, toHex } from './vectors.js';

interface AeadVector { name: string; key: string; nonce: string; aad: string; plaintext: string; ciphertext: string; tag: string }
const { vectors } = loadVectors<{ vectors: AeadVector[] }>('chacha20poly1305.json');

for (const v of vectors) {
  test(`sealSmall/openSmall: ${v.name}`, () => {
    assert.equal(toHex(sealSmall(hex(v.key), hex(v.nonce), hex(v.plaintext), hex(v.aad))), v.ciphertext + v.tag);
    const pt = openSmall(hex(v.key), hex(v.nonce), hex(v.ciphertext + v.tag), hex(v.aad));
    assert.ok(pt);
    assert.equal(toHex(pt), v.plaintext);
  });
}

test('sealSmall agrees with OpenSSL (aead.ts sealNonce) on random inputs, and openSmall inverts it', () => {
  for (let i = 0; i < 300; i++) {
    const key = new Uint8Array(randomBytes(32));
    const nonce = new Uint8Array(randomBytes(12));
    const pt = new Uint8Array(randomBytes((i * 11) % 260));
    const aad = new Uint8Array(randomBytes(i % 50));
    const what = `pt ${pt.length} B, aad ${aad.length} B, key ${toHex(key)}, nonce ${toHex(nonce)}`;
    const sealed = sealSmall(key, nonce, pt, aad);
    assert.equal(toHex(sealed), toHex(sealNonce(key, nonce, pt, aad)), what);
    assert.equal(toHex(openSmall(key, nonce, sealed, aad) ?? new Uint8Array(1)), toHex(pt), what);
  }
});

test('openSmall returns null on any flipped bit, a short input or other associated data', () => {
  const v = vectors[0]!;
  const key = hex(v.key);
  const nonce = hex(v.nonce);
  const aad = hex(v.aad);
  const sealed = hex(v.ciphertext + v.tag);
  for (let bit = 0; bit < sealed.length * 8; bit += 5) {
    const bad = Uint8Array.from(sealed);
    bad[bit >> 3]! ^= 1 << (bit & 7);
    assert.equal(openSmall(key, nonce, bad, aad), null, `bit ${bit}`);
  }
  const badNonce = Uint8Array.from(nonce);
  badNonce[11]! ^= 1;
  assert.equal(openSmall(key, badNonce, sealed, aad), null, 'nonce');
  assert.equal(openSmall(key, nonce, sealed, aad.subarray(1)), null, 'aad');
  assert.equal(openSmall(key, nonce, sealed.subarray(0, 15), aad), null, 'shorter than a tag');
  assert.throws(() => sealSmall(key.subarray(1), nonce, sealed, aad), RangeError);
  assert.throws(() => openSmall(key, nonce.subarray(1), sealed, aad), RangeError);
});
