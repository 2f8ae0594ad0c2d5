/**
 * XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha-03 section 2.3), used only for
 * cookie replies (16-byte cookie, 16-byte mac1 as associated data).
 *
 *   subkey := HChaCha20(key, nonce[0..16]); inner nonce := 0^4 || nonce[16..24]
 *   -> ChaCha20-Poly1305 of RFC 8439 under the subkey (chachapoly-small.ts)
 *
 * For 16 bytes this costs ~2.5 µs, against ~6.5 µs for HChaCha20 +
 * node:crypto's chacha20-poly1305 (cipher object set-up) and ~9 µs for
 * @noble/ciphers' xchacha20poly1305 (bench/flood.bench.ts measures both).
 */
import { hchacha20, type ChaChaState } from './chacha20-core.js';
import { openWith, sealWith, sharedState } from './chachapoly-small.js';

const subkey = new Int32Array(8);

function keyed(key: Uint8Array, nonce24: Uint8Array): ChaChaState {
  if (key.length !== 32) throw new RangeError('xaead: key must be 32 bytes');
  if (nonce24.length !== 24) throw new RangeError('xaead: nonce must be 24 bytes');
  hchacha20(key, nonce24, 0, subkey);
  const st = sharedState();
  st.setKeyWords(subkey);
  subkey.fill(0);
  const s = st.s;
  s[13] = 0;
  s[14] = nonce24[16]! | (nonce24[17]! << 8) | (nonce24[18]! << 16) | (nonce24[19]! << 24);
  s[15] = nonce24[20]! | (nonce24[21]! << 8) | (nonce24[22]! << 16) | (nonce24[23]! << 24);
  return st;
}

export function xseal(key: Uint8Array, nonce24: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
  return sealWith(keyed(key, nonce24), plaintext, aad);
}

/** Returns the plaintext, or null when authentication fails. */
export function xopen(key: Uint8Array, nonce24: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array | null {
  return openWith(keyed(key, nonce24), sealed, aad);
}
