/**
 * The WebAssembly ChaCha20-Poly1305: RFC 8439 vectors (test/vectors), then
 * agreement with node:crypto (OpenSSL, an independent implementation) on
 * random keys, nonces, AAD and every length across the 256-byte step and
 * 16-byte padding boundaries; forged input opens to null and is not
 * decrypted; after every seal and open (forgeries included) the whole wasm
 * memory reads zero: no key, keystream, plaintext or AAD is left in it.
 */
import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { loadVectors, hex } from './vectors.js';
import { chachaPolyModule, MAX_AAD, MAX_DATA, wasmAeadAvailable, wasmAeadMemory, wasmOpen, wasmSealInto } from '../../src/crypto/chachapoly-wasm.js';

interface AeadVector { name: string; key: string; nonce: string; aad: string; plaintext: string; ciphertext: string; tag: string }
const { vectors } = loadVectors<{ vectors: AeadVector[] }>('chacha20poly1305.json');

/** The 64-bit counter a 12-byte WireGuard-style nonce (4 zero bytes | le64) encodes, or null. */
function counterOf(nonce: Uint8Array): bigint | null {
  if (nonce[0] || nonce[1] || nonce[2] || nonce[3]) return null;
  return new DataView(nonce.buffer, nonce.byteOffset + 4, 8).getBigUint64(0, true);
}

function nodeSeal(key: Uint8Array, counter: bigint, pt: Uint8Array, aad: Uint8Array): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeBigUInt64LE(counter, 4);
  const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
  if (aad.length) c.setAAD(aad, { plaintextLength: pt.length });
  const body = c.update(pt);
  const fin = c.final();
  return Buffer.concat([body, fin, c.getAuthTag()]);
}

function wasmSeal(key: Uint8Array, counter: bigint | number, pt: Uint8Array, aad?: Uint8Array): Uint8Array {
  const out = new Uint8Array(pt.length + 16);
  assert.equal(wasmSealInto(key, counter, pt, out, 0, aad), true);
  return out;
}

describe('ChaCha20-Poly1305 in WebAssembly', () => {
  it('compiles and runs here (Node 20 has WebAssembly SIMD)', () => {
    const api = (globalThis as unknown as { WebAssembly: { validate(b: Uint8Array): boolean } }).WebAssembly;
    assert.ok(api.validate(chachaPolyModule()));
    assert.equal(wasmAeadAvailable(), true);
  });

  it('RFC 8439 vectors whose nonce is WireGuard-shaped seal and open exactly', () => {
    let used = 0;
    for (const v of vectors) {
      const counter = counterOf(hex(v.nonce));
      if (counter === null) continue; // the 2.8.2 example nonce starts 07000000: see the next test
      used++;
      const sealed = wasmSeal(hex(v.key), counter, hex(v.plaintext), hex(v.aad));
      assert.deepEqual(Buffer.from(sealed), Buffer.concat([hex(v.ciphertext), hex(v.tag)]), v.name);
    }
    for (const v of vectors) {
      const counter = counterOf(hex(v.nonce));
      if (counter === null) continue;
      const pt = wasmOpen(hex(v.key), counter, Buffer.concat([hex(v.ciphertext), hex(v.tag)]), undefined, hex(v.aad));
      assert.deepEqual(Buffer.from(pt!), Buffer.from(hex(v.plaintext)), v.name);
    }
    assert.ok(used >= 1, 'at least one RFC vector exercised');
  });

  it('agrees with node:crypto on every length 0..600, across 256-byte steps and large messages', () => {
    const lengths = [...Array.from({ length: 601 }, (_, i) => i), 767, 768, 769, 1420, 1436, 4095, 4096, 9000, MAX_DATA];
    for (const n of lengths) {
      const key = new Uint8Array(randomBytes(32));
      const counter = n % 5 === 0 ? randomBytes(8).readBigUInt64LE() : BigInt(n * 977);
      const aad = new Uint8Array(randomBytes(n % 7 === 0 ? n % 40 : 0));
      const pt = new Uint8Array(randomBytes(n));
      const want = nodeSeal(key, counter, pt, aad);
      const got = wasmSeal(key, counter, pt, aad);
      assert.deepEqual(Buffer.from(got), want, `seal, ${n} bytes`);
      const back = wasmOpen(key, counter, want, undefined, aad);
      assert.ok(back, `open, ${n} bytes`);
      assert.deepEqual(Buffer.from(back), Buffer.from(pt), `open, ${n} bytes`);
    }
  });

  it('takes the counter as a number or a bigint, with the same result', () => {
    const key = new Uint8Array(randomBytes(32));
    const pt = new Uint8Array(randomBytes(100));
    for (const c of [0, 1, 0xffffffff, 0x1_0000_0000, 2 ** 53 - 1]) {
      assert.deepEqual(wasmSeal(key, c, pt), wasmSeal(key, BigInt(c), pt));
      assert.deepEqual(Buffer.from(wasmSeal(key, c, pt)), nodeSeal(key, BigInt(c), pt, new Uint8Array(0)));
    }
  });

  it('seals in place (dst overlapping the plaintext) and into an offset', () => {
    const key = new Uint8Array(randomBytes(32));
    const pt = new Uint8Array(randomBytes(300));
    const msg = new Uint8Array(16 + 300 + 16);
    msg.set(pt, 16);
    assert.equal(wasmSealInto(key, 9, msg.subarray(16, 316), msg, 16), true);
    assert.deepEqual(Buffer.from(msg.subarray(16)), nodeSeal(key, 9n, pt, new Uint8Array(0)));
  });

  it('refuses forgeries without decrypting them, and a too-short message', () => {
    const key = new Uint8Array(randomBytes(32));
    const pt = new Uint8Array(randomBytes(1420));
    const sealed = nodeSeal(key, 77n, pt, new Uint8Array(0));
    for (const at of [0, 1, 700, 1419, 1420, 1435]) {
      const f = Buffer.from(sealed);
      f[at]! ^= 0x80;
      const out = new Uint8Array(1420).fill(0xee);
      assert.equal(wasmOpen(key, 77n, f, out), null, `flip at ${at}`);
      assert.ok(out.every((b) => b === 0xee), 'nothing written for a forgery');
    }
    assert.equal(wasmOpen(key, 78n, sealed), null, 'wrong counter');
    assert.equal(wasmOpen(key, 77n, sealed.subarray(0, 15)), null);
  });

  it('leaves messages over MAX_DATA to node:crypto (returns false/undefined)', () => {
    const key = new Uint8Array(32);
    const big = new Uint8Array(MAX_DATA + 1);
    assert.equal(wasmSealInto(key, 0, big, new Uint8Array(big.length + 16), 0), false);
    assert.equal(wasmOpen(key, 0, new Uint8Array(MAX_DATA + 17)), undefined);
  });

  it('leaves nothing in wasm memory after seal and open: no key, keystream, plaintext or AAD', () => {
    const mem = wasmAeadMemory()!;
    /** Where the first non-zero byte is, or -1. */
    const dirty = (): number => mem.findIndex((b) => b !== 0);
    assert.equal(dirty(), -1, 'zero before the first call');
    const key = new Uint8Array(randomBytes(32));
    for (const n of [0, 1, 15, 64, 191, 192, 193, 448, 449, 1420, 1500, 9000, MAX_DATA]) {
      for (const aadLen of [0, 7, 32, MAX_AAD]) {
        const pt = new Uint8Array(randomBytes(n));
        const aad = new Uint8Array(randomBytes(aadLen));
        const sealed = wasmSeal(key, n, pt, aad);
        assert.equal(dirty(), -1, `after seal of ${n} bytes, AAD ${aadLen}`);
        const back = wasmOpen(key, n, sealed, undefined, aad);
        assert.deepEqual(back, pt);
        assert.equal(dirty(), -1, `after open of ${n} bytes, AAD ${aadLen}`);
        if (n > 0) {
          sealed[0]! ^= 1;
          assert.equal(wasmOpen(key, n, sealed, undefined, aad), null);
          assert.equal(dirty(), -1, `after a refused forgery of ${n} bytes`);
        }
      }
    }
  });
});
