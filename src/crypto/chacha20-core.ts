/**
 * The ChaCha20 block function (RFC 8439 section 2.3) and HChaCha20
 * (draft-irtf-cfrg-xchacha section 2.2) in 32-bit integer arithmetic, for
 * the short handshake and cookie-reply AEADs (chachapoly-small.ts, xaead.ts).
 * Bulk transport data goes through chachapoly-wasm.ts (node:crypto as the
 * fallback), not here.
 *
 *   state (16 words: constants, key, counter/nonce) -> 20 rounds ->
 *   ChaCha20: + input state, little-endian bytes of keystream
 *   HChaCha20: words 0-3 and 12-15 without the addition, the subkey
 */

const C0 = 0x61707865;
const C1 = 0x3320646e;
const C2 = 0x79622d32;
const C3 = 0x6b206574;

/** Scratch for the state after the rounds. */
const x = new Int32Array(16);

function le32(b: Uint8Array, o: number): number {
  return b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24);
}

/** The 20 rounds over `s` into x (no feed-forward). */
function rounds(s: Int32Array): void {
  let x0 = s[0]!, x1 = s[1]!, x2 = s[2]!, x3 = s[3]!, x4 = s[4]!, x5 = s[5]!, x6 = s[6]!, x7 = s[7]!;
  let x8 = s[8]!, x9 = s[9]!, x10 = s[10]!, x11 = s[11]!, x12 = s[12]!, x13 = s[13]!, x14 = s[14]!, x15 = s[15]!;
  for (let i = 0; i < 10; i++) {
    // Column rounds: QR(0, 4, 8, 12), QR(1, 5, 9, 13), QR(2, 6, 10, 14), QR(3, 7, 11, 15)
    x0 = (x0 + x4) | 0; x12 ^= x0; x12 = (x12 << 16) | (x12 >>> 16);
    x8 = (x8 + x12) | 0; x4 ^= x8; x4 = (x4 << 12) | (x4 >>> 20);
    x0 = (x0 + x4) | 0; x12 ^= x0; x12 = (x12 << 8) | (x12 >>> 24);
    x8 = (x8 + x12) | 0; x4 ^= x8; x4 = (x4 << 7) | (x4 >>> 25);
    x1 = (x1 + x5) | 0; x13 ^= x1; x13 = (x13 << 16) | (x13 >>> 16);
    x9 = (x9 + x13) | 0; x5 ^= x9; x5 = (x5 << 12) | (x5 >>> 20);
    x1 = (x1 + x5) | 0; x13 ^= x1; x13 = (x13 << 8) | (x13 >>> 24);
    x9 = (x9 + x13) | 0; x5 ^= x9; x5 = (x5 << 7) | (x5 >>> 25);
    x2 = (x2 + x6) | 0; x14 ^= x2; x14 = (x14 << 16) | (x14 >>> 16);
    x10 = (x10 + x14) | 0; x6 ^= x10; x6 = (x6 << 12) | (x6 >>> 20);
    x2 = (x2 + x6) | 0; x14 ^= x2; x14 = (x14 << 8) | (x14 >>> 24);
    x10 = (x10 + x14) | 0; x6 ^= x10; x6 = (x6 << 7) | (x6 >>> 25);
    x3 = (x3 + x7) | 0; x15 ^= x3; x15 = (x15 << 16) | (x15 >>> 16);
    x11 = (x11 + x15) | 0; x7 ^= x11; x7 = (x7 << 12) | (x7 >>> 20);
    x3 = (x3 + x7) | 0; x15 ^= x3; x15 = (x15 << 8) | (x15 >>> 24);
    x11 = (x11 + x15) | 0; x7 ^= x11; x7 = (x7 << 7) | (x7 >>> 25);
    // Diagonal rounds: QR(0, 5, 10, 15), QR(1, 6, 11, 12), QR(2, 7, 8, 13), QR(3, 4, 9, 14)
    x0 = (x0 + x5) | 0; x15 ^= x0; x15 = (x15 << 16) | (x15 >>> 16);
    x10 = (x10 + x15) | 0; x5 ^= x10; x5 = (x5 << 12) | (x5 >>> 20);
    x0 = (x0 + x5) | 0; x15 ^= x0; x15 = (x15 << 8) | (x15 >>> 24);
    x10 = (x10 + x15) | 0; x5 ^= x10; x5 = (x5 << 7) | (x5 >>> 25);
    x1 = (x1 + x6) | 0; x12 ^= x1; x12 = (x12 << 16) | (x12 >>> 16);
    x11 = (x11 + x12) | 0; x6 ^= x11; x6 = (x6 << 12) | (x6 >>> 20);
    x1 = (x1 + x6) | 0; x12 ^= x1; x12 = (x12 << 8) | (x12 >>> 24);
    x11 = (x11 + x12) | 0; x6 ^= x11; x6 = (x6 << 7) | (x6 >>> 25);
    x2 = (x2 + x7) | 0; x13 ^= x2; x13 = (x13 << 16) | (x13 >>> 16);
    x8 = (x8 + x13) | 0; x7 ^= x8; x7 = (x7 << 12) | (x7 >>> 20);
    x2 = (x2 + x7) | 0; x13 ^= x2; x13 = (x13 << 8) | (x13 >>> 24);
    x8 = (x8 + x13) | 0; x7 ^= x8; x7 = (x7 << 7) | (x7 >>> 25);
    x3 = (x3 + x4) | 0; x14 ^= x3; x14 = (x14 << 16) | (x14 >>> 16);
    x9 = (x9 + x14) | 0; x4 ^= x9; x4 = (x4 << 12) | (x4 >>> 20);
    x3 = (x3 + x4) | 0; x14 ^= x3; x14 = (x14 << 8) | (x14 >>> 24);
    x9 = (x9 + x14) | 0; x4 ^= x9; x4 = (x4 << 7) | (x4 >>> 25);
  }
  x[0] = x0; x[1] = x1; x[2] = x2; x[3] = x3; x[4] = x4; x[5] = x5; x[6] = x6; x[7] = x7;
  x[8] = x8; x[9] = x9; x[10] = x10; x[11] = x11; x[12] = x12; x[13] = x13; x[14] = x14; x[15] = x15;
}

/** A ChaCha20 state: constants, 256-bit key, 32-bit block counter, 96-bit nonce. */
export class ChaChaState {
  readonly s = new Int32Array(16);

  /** Key words from 32 bytes; nonce words from 12 bytes of `nonce` at `nonceOff`. */
  setKeyNonce(key: Uint8Array, nonce: Uint8Array, nonceOff: number): void {
    const s = this.s;
    s[0] = C0; s[1] = C1; s[2] = C2; s[3] = C3;
    for (let i = 0; i < 8; i++) s[4 + i] = le32(key, 4 * i);
    s[12] = 0;
    for (let i = 0; i < 3; i++) s[13 + i] = le32(nonce, nonceOff + 4 * i);
  }

  /** Key words straight from a HChaCha20 subkey (8 words). */
  setKeyWords(key: Int32Array): void {
    const s = this.s;
    s[0] = C0; s[1] = C1; s[2] = C2; s[3] = C3;
    s.set(key, 4);
  }

  /**
   * out[outOff..+len] = data[off..+len] XOR the keystream from block `counter`
   * on (len may be anything; out may alias data at the same offset).
   */
  xor(counter: number, data: Uint8Array, off: number, len: number, out: Uint8Array, outOff: number): void {
    const s = this.s;
    for (let done = 0; done < len; counter++) {
      s[12] = counter;
      rounds(s);
      const n = Math.min(64, len - done);
      for (let i = 0; i < n; i++) {
        const w = i >> 2;
        const k = ((x[w]! + s[w]!) >>> (8 * (i & 3))) & 0xff;
        out[outOff + done + i] = data[off + done + i]! ^ k;
      }
      done += n;
    }
    x.fill(0);
  }

  /** The first 32 bytes of keystream block `counter` (the Poly1305 one-time key at 0). */
  block32(counter: number, out: Uint8Array): void {
    const s = this.s;
    s[12] = counter;
    rounds(s);
    for (let w = 0; w < 8; w++) {
      const v = (x[w]! + s[w]!) | 0;
      out[4 * w] = v; out[4 * w + 1] = v >>> 8; out[4 * w + 2] = v >>> 16; out[4 * w + 3] = v >>> 24;
    }
    x.fill(0);
  }

  wipe(): void {
    this.s.fill(0);
  }
}

const hs = new Int32Array(16);

/**
 * HChaCha20(key, nonce[off..off+16]) as 8 little-endian words in `out`
 * (draft-irtf-cfrg-xchacha section 2.2: words 0-3 and 12-15 after 20 rounds).
 */
export function hchacha20(key: Uint8Array, nonce: Uint8Array, off: number, out: Int32Array): void {
  hs[0] = C0; hs[1] = C1; hs[2] = C2; hs[3] = C3;
  for (let i = 0; i < 8; i++) hs[4 + i] = le32(key, 4 * i);
  for (let i = 0; i < 4; i++) hs[12 + i] = le32(nonce, off + 4 * i);
  rounds(hs);
  out[0] = x[0]!; out[1] = x[1]!; out[2] = x[2]!; out[3] = x[3]!;
  out[4] = x[12]!; out[5] = x[13]!; out[6] = x[14]!; out[7] = x[15]!;
  x.fill(0);
  hs.fill(0);
}
