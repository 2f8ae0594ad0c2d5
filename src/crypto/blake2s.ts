/**
 * BLAKE2s (RFC 7693) as WireGuard uses it (whitepaper section 5.4), on the
 * TypeScript compression in blake2s-core.ts: preallocated scratch, no
 * object per call. node:crypto's createHash and createHmac spend more than
 * a whole KDF here setting up their objects (bench/handshake.bench.ts).
 *
 *   HASH(x)       = BLAKE2s-256(x); up to 64 bytes is one compression
 *   MAC(k, x)     = keyed BLAKE2s, 16-byte output; KeyedMac keeps the state
 *                   after the key block for a fixed key (mac1, cookies)
 *   HMAC(k, x)    = HMAC-BLAKE2s-256 (RFC 2104, 64-byte blocks)
 *   KDFn(k, x)    = the HKDF-style chain of the whitepaper, section 5.4
 *
 * HMAC and the KDFs stay in 32-bit words from the key to the outputs: a
 * key's (K ^ ipad) and (K ^ opad) blocks are compressed once into hi/ho,
 * then HMAC(K, text) = F(ho, F(hi, text)). T0 becomes the next key without
 * a round trip through bytes, so KDFn costs 6 + 2n compressions.
 */
import { Blake2s, compressWords, initState, loadBlock } from './blake2s-core.js';

export const HASH_LEN = 32;
export const MAC_LEN = 16;
const BLOCK = 64;

// Shared scratch: every function below runs to completion before the next.
const st = new Blake2s();
/**
 * Word scratch in one array, so one fill wipes it: the block being
 * compressed (w), (K ^ ipad) kept for an empty HMAC text (ipadW), the
 * chaining values after the (K ^ ipad) and (K ^ opad) blocks (hi, ho), and
 * HMAC values (ta, tb: T0..T3 of a KDF).
 */
const scratch = new Int32Array(64);
const w = scratch.subarray(0, 16);
const ipadW = scratch.subarray(16, 32);
const hi = scratch.subarray(32, 40);
const ho = scratch.subarray(40, 48);
const ta = scratch.subarray(48, 56);
const tb = scratch.subarray(56, 64);
/** The unkeyed 32-byte-digest starting state (RFC 7693 section 2.5). */
const H0 = new Int32Array(8);
initState(H0, HASH_LEN, 0);

function storeWords(h: Int32Array, out: Uint8Array): void {
  for (let i = 0, o = 0; i < 8; i++, o += 4) {
    const x = h[i]!;
    out[o] = x; out[o + 1] = x >>> 8; out[o + 2] = x >>> 16; out[o + 3] = x >>> 24;
  }
}

/** Little-endian bytes of p into w from byte position pos (w zeroed there before); the new position. */
function put(p: Uint8Array, pos: number): number {
  const n = p.length;
  let i = 0;
  if ((pos & 3) === 0) {
    for (; i + 4 <= n; i += 4, pos += 4) w[pos >> 2] = p[i]! | (p[i + 1]! << 8) | (p[i + 2]! << 16) | (p[i + 3]! << 24);
  }
  for (; i < n; i++, pos++) w[pos >> 2]! |= p[i]! << ((pos & 3) << 3);
  return pos;
}

function zeroW(): void {
  for (let i = 0; i < 16; i++) w[i] = 0;
}

/** HASH(a || b || ...): unkeyed BLAKE2s-256. */
export function hash(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(HASH_LEN);
  let total = 0;
  for (const p of parts) total += p.length;
  if (total > BLOCK) {
    st.init(HASH_LEN);
    for (const p of parts) st.update(p);
    st.digestInto(out);
    return out;
  }
  // One block, the final one (RFC 7693 section 3.3): the usual HASH(H || x).
  zeroW();
  let pos = 0;
  for (const p of parts) pos = put(p, pos);
  compressWords(ta, H0, w, total, true);
  storeWords(ta, out);
  scratch.fill(0);
  return out;
}

function checkKey(key: Uint8Array): void {
  if (key.length < 1 || key.length > 32) throw new RangeError('mac: key must be 1..32 bytes');
}

/** MAC(key, a || b || ...): keyed BLAKE2s with a 16-byte digest (key length 1..32). */
export function mac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  checkKey(key);
  st.keyed(key, MAC_LEN);
  for (const p of parts) st.update(p);
  const out = new Uint8Array(MAC_LEN);
  st.digestInto(out);
  st.wipe();
  return out;
}

/**
 * MAC under a fixed key, with the key block compressed once. mac1 keys
 * (HASH(LABEL_MAC1 || public key)) and the cookie secret use it.
 */
export class KeyedMac {
  private readonly base = new Blake2s();
  private readonly keyBlock = new Uint8Array(BLOCK);
  private readonly scratch: Uint8Array;
  private readonly keyLen: number;

  constructor(key: Uint8Array, readonly outLen = MAC_LEN) {
    checkKey(key);
    if (!Number.isInteger(outLen) || outLen < 1 || outLen > 32) throw new RangeError('mac: output must be 1..32 bytes');
    this.scratch = new Uint8Array(outLen);
    this.keyLen = key.length;
    this.keyBlock.set(key);
    // Parameter block with the key length, then the key block compressed as
    // a non-final block (macInto() handles an empty message itself).
    this.base.keyed(key, outLen);
    this.base.bufLen = 0;
    this.base.buf.fill(0);
    this.base.absorbBlock(this.keyBlock);
  }

  /** MAC(key, data[start..end]) written to out at `at`. */
  macInto(data: Uint8Array, start: number, end: number, out: Uint8Array, at: number): void {
    if (end <= start) {
      // An empty message: the key block is the final block (RFC 7693 section 3.3).
      st.keyed(this.keyBlock.subarray(0, this.keyLen), this.outLen);
    } else {
      st.copyFrom(this.base);
      st.update(data, start, end);
    }
    st.digestInto(out, at);
    st.wipe();
  }

  /** MAC(key, a || b || ...) in a fresh array. */
  mac(...parts: Uint8Array[]): Uint8Array {
    const out = new Uint8Array(this.outLen);
    let total = 0;
    for (const p of parts) total += p.length;
    if (total === 0) {
      this.macInto(out, 0, 0, out, 0);
      return out;
    }
    st.copyFrom(this.base);
    for (const p of parts) st.update(p);
    st.digestInto(out);
    st.wipe();
    return out;
  }

  /** Constant-time: does data[start..end] carry the MAC stored at expected[at..at+outLen]? */
  verify(data: Uint8Array, start: number, end: number, expected: Uint8Array, at: number): boolean {
    if (expected.length - at < this.outLen) return false;
    this.macInto(data, start, end, this.scratch, 0);
    let acc = 0;
    for (let i = 0; i < this.outLen; i++) acc |= this.scratch[i]! ^ expected[at + i]!;
    this.scratch.fill(0);
    return acc === 0;
  }

  wipe(): void {
    this.keyBlock.fill(0);
    this.base.wipe();
  }
}

const IPAD = 0x36363636;
const OPAD = 0x5c5c5c5c;

/** Load the key whose zero-padded block is in w: ipadW, hi, ho. */
function keyFromBlock(): void {
  for (let i = 0; i < 16; i++) {
    const k = w[i]!;
    ipadW[i] = k ^ IPAD;
    w[i] = k ^ OPAD;
  }
  compressWords(hi, H0, ipadW, BLOCK, false);
  compressWords(ho, H0, w, BLOCK, false);
}

/** A key given as bytes; one longer than the block is hashed first (RFC 2104 section 2). */
function keyFromBytes(key: Uint8Array): void {
  const k = key.length > BLOCK ? hash(key) : key;
  loadBlock(w, k, 0, k.length);
  keyFromBlock();
}

/** A 32-byte key given as 8 words (T0 of a KDF). */
function keyFromWords(k: Int32Array): void {
  for (let i = 0; i < 8; i++) w[i] = k[i]!;
  for (let i = 8; i < 16; i++) w[i] = 0;
  keyFromBlock();
}

/**
 * out := HMAC(K, text) under the loaded key: inner := F(hi, text), then
 * F(ho, inner). An empty text makes the ipad block the final one.
 */
function hmacBytes(text: Uint8Array, out: Int32Array): void {
  const n = text.length;
  if (n === 0) {
    compressWords(out, H0, ipadW, BLOCK, true);
  } else {
    let from: Int32Array = hi;
    let off = 0;
    while (n - off > BLOCK) {
      loadBlock(w, text, off, BLOCK);
      off += BLOCK;
      compressWords(out, from, w, BLOCK + off, false);
      from = out;
    }
    loadBlock(w, text, off, n - off);
    compressWords(out, from, w, BLOCK + n, true);
  }
  outer(out);
}

/** v := F(ho, v): the outer hash of an inner hash held in v. */
function outer(v: Int32Array): void {
  for (let i = 0; i < 8; i++) w[i] = v[i]!;
  for (let i = 8; i < 16; i++) w[i] = 0;
  compressWords(v, ho, w, BLOCK + HASH_LEN, true);
}

/** out := HMAC(K, prev || i), or HMAC(K, i) when prev is null: one KDF output. */
function expand(prev: Int32Array | null, i: number, out: Int32Array): void {
  let len = 1;
  if (prev === null) {
    w[0] = i;
    for (let k = 1; k < 16; k++) w[k] = 0;
  } else {
    for (let k = 0; k < 8; k++) w[k] = prev[k]!;
    w[8] = i;
    for (let k = 9; k < 16; k++) w[k] = 0;
    len = HASH_LEN + 1;
  }
  compressWords(out, hi, w, BLOCK + len, true);
  outer(out);
}

function bytesOf(v: Int32Array): Uint8Array {
  const out = new Uint8Array(HASH_LEN);
  storeWords(v, out);
  return out;
}

/** HMAC(key, a || b || ...) with BLAKE2s-256. */
export function hmac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  keyFromBytes(key);
  let text = parts.length === 1 ? parts[0]! : EMPTY;
  if (parts.length > 1) {
    let total = 0;
    for (const p of parts) total += p.length;
    text = new Uint8Array(total);
    let at = 0;
    for (const p of parts) { text.set(p, at); at += p.length; }
  }
  hmacBytes(text, ta);
  const out = bytesOf(ta);
  if (text !== parts[0]) text.fill(0);
  scratch.fill(0);
  return out;
}

const EMPTY = new Uint8Array(0);

/**
 * T0 = HMAC(key, input), loaded as the key of the outputs
 * T1 = HMAC(T0, 0x1), Ti = HMAC(T0, T(i-1) || i) (whitepaper section 5.4).
 */
function kdfStart(key: Uint8Array, input: Uint8Array): void {
  keyFromBytes(key);
  hmacBytes(input, ta);
  keyFromWords(ta);
}

/** KDF1(key, input) = T1. */
export function kdf1(key: Uint8Array, input: Uint8Array): Uint8Array {
  kdfStart(key, input);
  expand(null, 1, ta);
  const t1 = bytesOf(ta);
  scratch.fill(0);
  return t1;
}

/** KDF2: (T1, T2). */
export function kdf2(key: Uint8Array, input: Uint8Array): [Uint8Array, Uint8Array] {
  kdfStart(key, input);
  expand(null, 1, ta);
  expand(ta, 2, tb);
  const out: [Uint8Array, Uint8Array] = [bytesOf(ta), bytesOf(tb)];
  scratch.fill(0);
  return out;
}

/** KDF3: (T1, T2, T3). */
export function kdf3(key: Uint8Array, input: Uint8Array): [Uint8Array, Uint8Array, Uint8Array] {
  kdfStart(key, input);
  expand(null, 1, ta);
  expand(ta, 2, tb);
  const t1 = bytesOf(ta);
  expand(tb, 3, ta);
  const out: [Uint8Array, Uint8Array, Uint8Array] = [t1, bytesOf(tb), bytesOf(ta)];
  scratch.fill(0);
  return out;
}
