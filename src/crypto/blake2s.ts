/**
 * BLAKE2s (RFC 7693) as WireGuard uses it (whitepaper section 5.4), on the
 * TypeScript compression in blake2s-core.ts: one preallocated state, no
 * object per call, ~0.2 µs per 64-byte block. node:crypto's createHash and
 * createHmac spend more than that setting up their objects: HASH is ~5x,
 * HMAC ~2.5x and KDF2 ~4x faster here (bench/handshake.bench.ts).
 *
 *   HASH(x)       = BLAKE2s-256(x)
 *   MAC(k, x)     = keyed BLAKE2s, 16-byte output; KeyedMac keeps the state
 *                   after the key block for a fixed key (mac1, cookies)
 *   HMAC(k, x)    = HMAC-BLAKE2s-256 (RFC 2104, 64-byte blocks)
 *   KDFn(k, x)    = the HKDF-style chain of the whitepaper, section 5.4
 */
import { Blake2s } from './blake2s-core.js';

export const HASH_LEN = 32;
export const MAC_LEN = 16;
const BLOCK = 64;

// Shared scratch: every function below runs to completion before the next.
const st = new Blake2s();
const pad = new Uint8Array(BLOCK);
const inner = new Uint8Array(HASH_LEN);

/** HASH(a || b || ...): unkeyed BLAKE2s-256. */
export function hash(...parts: Uint8Array[]): Uint8Array {
  st.init(HASH_LEN);
  for (const p of parts) st.update(p);
  const out = new Uint8Array(HASH_LEN);
  st.digestInto(out);
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

// HMAC states after the (K ^ ipad) and (K ^ opad) blocks for the current key.
const ist = new Blake2s();
const ost = new Blake2s();
const ipad = new Uint8Array(BLOCK);

/** Load `key` into ist/ost. A key longer than the block is hashed first (RFC 2104 section 2). */
function hmacKey(key: Uint8Array): void {
  const k = key.length > BLOCK ? hash(key) : key;
  ipad.fill(0x36);
  for (let i = 0; i < k.length; i++) ipad[i] = k[i]! ^ 0x36;
  ist.init(HASH_LEN).absorbBlock(ipad);
  for (let i = 0; i < BLOCK; i++) pad[i] = ipad[i]! ^ (0x36 ^ 0x5c);
  ost.init(HASH_LEN).absorbBlock(pad);
  pad.fill(0);
}

/**
 * HMAC under the key in ist/ost over a || b (b may be null):
 * inner := HASH((K ^ ipad) || text), HMAC := HASH((K ^ opad) || inner).
 * An empty text makes the ipad block the last one, so it is hashed again.
 */
function hmacWith(a: Uint8Array, b: Uint8Array | null, out: Uint8Array, at: number): void {
  if (a.length === 0 && (b === null || b.length === 0)) st.init(HASH_LEN).update(ipad);
  else st.copyFrom(ist).update(a);
  if (b !== null) st.update(b);
  st.digestInto(inner);
  st.copyFrom(ost).update(inner).digestInto(out, at);
  inner.fill(0);
}

function wipeHmac(): void {
  ist.wipe();
  ost.wipe();
  st.wipe();
  ipad.fill(0);
}

/** HMAC(key, a || b || ...) with BLAKE2s-256. */
export function hmac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(HASH_LEN);
  hmacKey(key);
  const nonEmpty = parts.filter((p) => p.length > 0);
  if (nonEmpty.length <= 2) {
    hmacWith(nonEmpty[0] ?? EMPTY, nonEmpty[1] ?? null, out, 0);
  } else {
    st.copyFrom(ist);
    for (const p of nonEmpty) st.update(p);
    st.digestInto(inner);
    st.copyFrom(ost).update(inner).digestInto(out, 0);
    inner.fill(0);
  }
  wipeHmac();
  return out;
}

const EMPTY = new Uint8Array(0);
const ONE = Uint8Array.of(1);
const TWO = Uint8Array.of(2);
const THREE = Uint8Array.of(3);
const t0 = new Uint8Array(HASH_LEN);

/**
 * T0 = HMAC(key, input), then T1 = HMAC(T0, 0x1), Ti = HMAC(T0, T(i-1) || i)
 * for the n outputs (whitepaper section 5.4); T0's pad blocks are compressed once.
 */
function kdf(key: Uint8Array, input: Uint8Array, n: 1 | 2 | 3): Uint8Array[] {
  hmacKey(key);
  hmacWith(input, null, t0, 0);
  hmacKey(t0);
  t0.fill(0);
  const t1 = new Uint8Array(HASH_LEN);
  hmacWith(ONE, null, t1, 0);
  const out = [t1];
  if (n >= 2) {
    const t2 = new Uint8Array(HASH_LEN);
    hmacWith(t1, TWO, t2, 0);
    out.push(t2);
    if (n === 3) {
      const t3 = new Uint8Array(HASH_LEN);
      hmacWith(t2, THREE, t3, 0);
      out.push(t3);
    }
  }
  wipeHmac();
  return out;
}

/** KDF1(key, input) = T1. */
export function kdf1(key: Uint8Array, input: Uint8Array): Uint8Array {
  return kdf(key, input, 1)[0]!;
}

/** KDF2: (T1, T2). */
export function kdf2(key: Uint8Array, input: Uint8Array): [Uint8Array, Uint8Array] {
  const [a, b] = kdf(key, input, 2);
  return [a!, b!];
}

/** KDF3: (T1, T2, T3). */
export function kdf3(key: Uint8Array, input: Uint8Array): [Uint8Array, Uint8Array, Uint8Array] {
  const [a, b, c] = kdf(key, input, 3);
  return [a!, b!, c!];
}
