/**
 * ChaCha20-Poly1305 (RFC 8439 section 2.8) for short messages where the
 * WebAssembly AEAD is not used: cookie replies (under an HChaCha20 subkey,
 * xaead.ts), and the handshake's encrypted static key, timestamp and empty
 * payload on a runtime without WebAssembly SIMD (handshake.ts prefers
 * chachapoly-wasm.ts). node:crypto's cipher object costs ~5 µs to set up,
 * more than these messages cost to encrypt here.
 *
 *   ChaChaState keyed, nonce set -> Poly1305 key := keystream block 0 ->
 *   ct := data XOR blocks 1.. ->
 *   tag := Poly1305(aad || pad16 || ct || pad16 || le64(|aad|) || le64(|ct|))
 *
 * ChaCha20 is ours (chacha20-core.ts), Poly1305 is @noble/ciphers'.
 */
import { Poly1305 } from '@noble/ciphers/_poly1305.js';
import { ChaChaState } from './chacha20-core.js';

export const TAG_LEN = 16;
const chacha = new ChaChaState();
const polyKey = new Uint8Array(32);
const expected = new Uint8Array(TAG_LEN);

function le32(b: Uint8Array, at: number, v: number): void {
  b[at] = v; b[at + 1] = v >>> 8; b[at + 2] = v >>> 16; b[at + 3] = v >>> 24;
}

function pad16(n: number): number {
  return (n + 15) & ~15;
}

/** Poly1305 over aad || pad16 || ct[0..len] || pad16 || lengths under polyKey, into `out`. */
function tag(aad: Uint8Array, ct: Uint8Array, len: number, out: Uint8Array): void {
  const a = pad16(aad.length);
  const c = pad16(len);
  const data = new Uint8Array(a + c + 16);
  data.set(aad);
  data.set(len === ct.length ? ct : ct.subarray(0, len), a);
  // Both lengths as 64-bit little-endian (our messages are far below 2^32 bytes).
  le32(data, a + c, aad.length);
  le32(data, a + c + 8, len);
  const p = new Poly1305(polyKey);
  p.update(data);
  p.digestInto(out);
  p.destroy();
  polyKey.fill(0);
}

/** Seal under a state whose key and nonce words are set (the shared one from keyState()). */
export function sealWith(st: ChaChaState, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
  const out = new Uint8Array(plaintext.length + TAG_LEN);
  st.block32(0, polyKey);
  st.xor(1, plaintext, 0, plaintext.length, out, 0);
  st.wipe();
  tag(aad, out, plaintext.length, expected);
  out.set(expected, plaintext.length);
  expected.fill(0);
  return out;
}

/** Open under a keyed state; the plaintext, or null when the tag does not verify. */
export function openWith(st: ChaChaState, sealed: Uint8Array, aad: Uint8Array): Uint8Array | null {
  if (sealed.length < TAG_LEN) {
    st.wipe();
    return null;
  }
  const len = sealed.length - TAG_LEN;
  st.block32(0, polyKey);
  tag(aad, sealed, len, expected);
  let acc = 0;
  for (let i = 0; i < TAG_LEN; i++) acc |= expected[i]! ^ sealed[len + i]!;
  expected.fill(0);
  if (acc !== 0) {
    st.wipe();
    return null;
  }
  const out = new Uint8Array(len);
  st.xor(1, sealed, 0, len, out, 0);
  st.wipe();
  return out;
}

/** The shared state, keyed with a 32-byte key and a 12-byte nonce. */
export function keyState(key: Uint8Array, nonce12: Uint8Array): ChaChaState {
  chacha.setKeyNonce(key, nonce12, 0);
  return chacha;
}

/** The shared state for XChaCha20: HChaCha20 subkey words and the inner nonce words. */
export function sharedState(): ChaChaState {
  return chacha;
}

function check(key: Uint8Array, nonce: Uint8Array): void {
  if (key.length !== 32) throw new RangeError('aead: key must be 32 bytes');
  if (nonce.length !== 12) throw new RangeError('aead: nonce must be 12 bytes');
}

/** AEAD_CHACHA20_POLY1305 seal: ciphertext || tag. */
export function sealSmall(key: Uint8Array, nonce12: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
  check(key, nonce12);
  return sealWith(keyState(key, nonce12), plaintext, aad);
}

/** AEAD_CHACHA20_POLY1305 open: the plaintext, or null. */
export function openSmall(key: Uint8Array, nonce12: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array | null {
  check(key, nonce12);
  return openWith(keyState(key, nonce12), sealed, aad);
}
