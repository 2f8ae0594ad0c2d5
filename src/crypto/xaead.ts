/**
 * XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha), used only for cookie replies.
 * OpenSSL lacks it, so this is @noble/ciphers.
 */
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';

export function xseal(key: Uint8Array, nonce24: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
  if (key.length !== 32) throw new RangeError('xaead: key must be 32 bytes');
  if (nonce24.length !== 24) throw new RangeError('xaead: nonce must be 24 bytes');
  return xchacha20poly1305(key, nonce24, aad).encrypt(plaintext);
}

/** Returns the plaintext, or null when authentication fails. */
export function xopen(key: Uint8Array, nonce24: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array | null {
  if (key.length !== 32) throw new RangeError('xaead: key must be 32 bytes');
  if (nonce24.length !== 24) throw new RangeError('xaead: nonce must be 24 bytes');
  if (sealed.length < 16) return null;
  try {
    return xchacha20poly1305(key, nonce24, aad).decrypt(sealed);
  } catch {
    return null;
  }
}
