import { test } from 'vitest';
import assert from 'node:assert/strict';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { blake2s } from '@noble/hashes/blake2.js';
import { hash, mac, hmac, kdf1, kdf2, kdf3, KeyedMac, HASH_LEN, MAC_LEN } from '../../src/crypto/blake2s.js';
import { Blake2s, compress, compressWords, loadBlock } from '../../src/crypto/blake2s-core.js';
import { loadVectors, hex, toHex, seq } from './vectors.js';

interface Blake2sFile {
  rfc7693: Array<{ input: string; hash: string }>;
  keyedKat: { key: string; vectors: Array<{ inputLength: number; hash: string }> };
  wireguard: { construction: string; identifier: string; initialChainKey: string; initialHash: string };
  mac: Array<{ key: string; parts: string[]; mac: string }>;
  hmac: Array<{ key: string; parts: string[]; hmac: string }>;
  kdf: Array<{ key: string; input: string; t: [string, string, string] }>;
}
const V = loadVectors<Blake2sFile>('blake2s.json');
const enc = new TextEncoder();

test('hash: RFC 7693 Appendix B', () => {
  for (const v of V.rfc7693) assert.equal(toHex(hash(hex(v.input))), v.hash);
});

test('hash: parts are concatenated', () => {
  const v = V.rfc7693[0]!;
  const abc = hex(v.input);
  assert.equal(toHex(hash(abc.subarray(0, 1), abc.subarray(1))), v.hash);
  assert.equal(toHex(hash(new Uint8Array(0), abc, new Uint8Array(0))), v.hash);
  assert.equal(hash().length, HASH_LEN);
});

test('hash: WireGuard initial chaining key and hash', () => {
  const w = V.wireguard;
  const ck = hash(enc.encode(w.construction));
  assert.equal(toHex(ck), w.initialChainKey);
  assert.equal(toHex(hash(ck, enc.encode(w.identifier))), w.initialHash);
});

// The official keyed KAT has 32-byte digests: it checks the keyed core that
// mac() (16-byte digest) and KeyedMac share, byte by byte and in one piece.
test('keyed BLAKE2s core: official keyed KAT', () => {
  const key = hex(V.keyedKat.key);
  const km = new KeyedMac(key, 32);
  const st = new Blake2s();
  for (const v of V.keyedKat.vectors) {
    const input = seq(v.inputLength);
    const out = new Uint8Array(32);
    st.keyed(key, 32).update(input).digestInto(out);
    assert.equal(toHex(out), v.hash, `Blake2s, input length ${v.inputLength}`);
    st.keyed(key, 32);
    for (let i = 0; i < input.length; i++) st.update(input, i, i + 1);
    st.digestInto(out);
    assert.equal(toHex(out), v.hash, `Blake2s byte by byte, input length ${v.inputLength}`);
    assert.equal(toHex(km.mac(input)), v.hash, `KeyedMac, input length ${v.inputLength}`);
  }
});

/** Splits b into 1-4 random parts (some empty). */
function split(b: Uint8Array): Uint8Array[] {
  const n = 1 + (randomBytes(1)[0]! % 4);
  const cuts = [...randomBytes(n - 1)].map((x) => x % (b.length + 1)).sort((p, q) => p - q);
  const parts: Uint8Array[] = [];
  let at = 0;
  for (const c of cuts) { parts.push(b.subarray(at, c)); at = c; }
  parts.push(b.subarray(at));
  return parts;
}

test('hash, mac and KeyedMac agree with @noble/hashes and OpenSSL on random inputs', () => {
  for (let i = 0; i < 600; i++) {
    const msg = new Uint8Array(randomBytes(i % 300));
    const key = new Uint8Array(randomBytes(1 + (i % 32)));
    const what = `length ${msg.length}, key ${toHex(key)}, msg ${toHex(msg)}`;
    assert.equal(toHex(hash(...split(msg))), createHash('blake2s256').update(msg).digest('hex'), `hash: ${what}`);
    const want = toHex(blake2s(msg, { key, dkLen: MAC_LEN }));
    assert.equal(toHex(mac(key, ...split(msg))), want, `mac: ${what}`);
    const km = new KeyedMac(key);
    assert.equal(toHex(km.mac(...split(msg))), want, `KeyedMac.mac: ${what}`);
    const out = new Uint8Array(MAC_LEN + 3);
    const framed = new Uint8Array(msg.length + 10);
    framed.set(msg, 5);
    km.macInto(framed, 5, 5 + msg.length, out, 3);
    assert.equal(toHex(out.subarray(3)), want, `KeyedMac.macInto: ${what}`);
    assert.ok(km.verify(framed, 5, 5 + msg.length, out, 3), `KeyedMac.verify: ${what}`);
  }
});

test('KeyedMac.verify refuses any flipped bit and a short expected buffer', () => {
  const km = new KeyedMac(seq(32, 7));
  const msg = seq(116, 3);
  const tag = km.mac(msg);
  assert.ok(km.verify(msg, 0, 116, tag, 0));
  for (let bit = 0; bit < 128; bit++) {
    const bad = Uint8Array.from(tag);
    bad[bit >> 3]! ^= 1 << (bit & 7);
    assert.equal(km.verify(msg, 0, 116, bad, 0), false, `bit ${bit}`);
  }
  assert.equal(km.verify(msg, 0, 115, tag, 0), false, 'a shorter message');
  assert.equal(km.verify(msg, 0, 116, tag.subarray(0, 15), 0), false, 'expected shorter than the MAC');
  assert.throws(() => new KeyedMac(new Uint8Array(0)), RangeError);
  assert.throws(() => new KeyedMac(new Uint8Array(33)), RangeError);
  assert.throws(() => new KeyedMac(seq(32), 33), RangeError);
});

test('hmac and kdf agree with OpenSSL HMAC-BLAKE2s on random inputs (keys up to 100 bytes)', () => {
  const ref = (key: Uint8Array, ...parts: Uint8Array[]): Buffer => {
    const h = createHmac('blake2s256', key);
    for (const p of parts) h.update(p);
    return h.digest();
  };
  for (let i = 0; i < 300; i++) {
    const key = new Uint8Array(randomBytes(i % 101));
    const msg = new Uint8Array(randomBytes((i * 7) % 200));
    const what = `key ${toHex(key)}, msg ${toHex(msg)}`;
    assert.equal(toHex(hmac(key, ...split(msg))), ref(key, msg).toString('hex'), `hmac: ${what}`);
    // KDF per whitepaper 5.4, composed from OpenSSL's HMAC.
    const t0 = ref(key, msg);
    const t1 = ref(t0, Uint8Array.of(1));
    const t2 = ref(t0, t1, Uint8Array.of(2));
    const t3 = ref(t0, t2, Uint8Array.of(3));
    assert.deepEqual(kdf3(key, msg).map(toHex), [t1, t2, t3].map((t) => t.toString('hex')), `kdf3: ${what}`);
    assert.deepEqual(kdf2(key, msg).map(toHex), [t1, t2].map((t) => t.toString('hex')), `kdf2: ${what}`);
    assert.equal(toHex(kdf1(key, msg)), t1.toString('hex'), `kdf1: ${what}`);
  }
});

test('mac: keyed BLAKE2s-128 vectors', () => {
  for (const [i, v] of V.mac.entries()) {
    const out = mac(hex(v.key), ...v.parts.map(hex));
    assert.equal(out.length, MAC_LEN);
    assert.equal(toHex(out), v.mac, `case ${i}`);
    assert.equal(toHex(mac(hex(v.key), hex(v.parts.join('')))), v.mac, `case ${i} joined`);
  }
});

test('mac: key length outside 1..32 throws', () => {
  assert.throws(() => mac(new Uint8Array(0), seq(1)), RangeError);
  assert.throws(() => mac(new Uint8Array(33), seq(1)), RangeError);
});

test('hmac: HMAC-BLAKE2s vectors', () => {
  for (const [i, v] of V.hmac.entries()) {
    assert.equal(toHex(hmac(hex(v.key), ...v.parts.map(hex))), v.hmac, `case ${i}`);
  }
});

test('kdf1/kdf2/kdf3: whitepaper 5.4 vectors', () => {
  for (const [i, v] of V.kdf.entries()) {
    const key = hex(v.key);
    const input = hex(v.input);
    const keyCopy = Uint8Array.from(key);
    assert.deepEqual([toHex(kdf1(key, input))], v.t.slice(0, 1), `kdf1 case ${i}`);
    assert.deepEqual(kdf2(key, input).map(toHex), v.t.slice(0, 2), `kdf2 case ${i}`);
    assert.deepEqual(kdf3(key, input).map(toHex), v.t, `kdf3 case ${i}`);
    assert.deepEqual(key, keyCopy, 'key not modified');
  }
});

test('hash of up to one block, split at every point into two or three parts, agrees with OpenSSL', () => {
  for (let len = 0; len <= 66; len++) {
    const msg = new Uint8Array(randomBytes(len));
    const want = createHash('blake2s256').update(msg).digest('hex');
    for (let cut = 0; cut <= len; cut++) {
      assert.equal(toHex(hash(msg.subarray(0, cut), msg.subarray(cut))), want, `length ${len}, cut ${cut}`);
      const mid = (cut + len) >> 1;
      assert.equal(toHex(hash(msg.subarray(0, cut), msg.subarray(cut, mid), msg.subarray(mid))), want, `length ${len}, cuts ${cut} ${mid}`);
    }
  }
});

test('loadBlock: little-endian words, zero padded, from any offset and length', () => {
  const data = new Uint8Array(randomBytes(80));
  const w = new Int32Array(16).fill(-1);
  for (const [off, len] of [[0, 64], [3, 64], [5, 17], [16, 0], [1, 63]] as const) {
    loadBlock(w, data, off, len);
    const padded = new Uint8Array(64);
    padded.set(data.subarray(off, off + len));
    const dv = new DataView(padded.buffer);
    for (let i = 0; i < 16; i++) assert.equal(w[i], dv.getInt32(4 * i, true), `offset ${off}, length ${len}, word ${i}`);
  }
});

test('compressWords writes F(h, block) to out and leaves h as it was; the same as compress on bytes', () => {
  for (const [t, last] of [[64, false], [128, true], [2 ** 32 + 64, false], [7, true]] as const) {
    const block = new Uint8Array(randomBytes(64));
    const h = Int32Array.from({ length: 8 }, () => randomBytes(4).readInt32LE(0));
    const hBefore = Int32Array.from(h);
    const w = new Int32Array(16);
    loadBlock(w, block, 0, 64);
    const out = new Int32Array(8);
    compressWords(out, h, w, t, last);
    assert.deepEqual(h, hBefore, 'h untouched');
    const inPlace = Int32Array.from(h);
    compress(inPlace, block, 0, t, last);
    assert.deepEqual(out, inPlace, `t ${t}, last ${last}`);
  }
});
