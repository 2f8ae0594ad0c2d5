/**
 * ChaCha20-Poly1305 (RFC 8439) with WireGuard's nonce: 4 zero bytes then the
 * 64-bit little-endian counter. Backed by node:crypto (OpenSSL), which is ~3x
 * faster per packet than the pure-JS implementation (see bench/crypto).
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';

export const AEAD_KEY_LEN = 32;
const KEY_LEN = AEAD_KEY_LEN;
export const TAG_LEN = 16;

const EMPTY = new Uint8Array(0);

/** Build the 12-byte nonce for a counter (number up to 2^53, or bigint up to 2^64-1). */
export function counterNonce(counter: number | bigint, out: Uint8Array = new Uint8Array(12)): Uint8Array {
  const dv = new DataView(out.buffer, out.byteOffset, 12);
  dv.setUint32(0, 0, true);
  if (typeof counter === 'bigint') {
    dv.setBigUint64(4, counter, true);
  } else {
    dv.setUint32(4, counter >>> 0, true);
    dv.setUint32(8, Math.floor(counter / 0x1_0000_0000), true);
  }
  return out;
}

/** Seal plaintext; returns ciphertext || tag (plaintext.length + 16 bytes). */
export function seal(key: Uint8Array, counter: number | bigint, plaintext: Uint8Array, aad: Uint8Array = EMPTY): Uint8Array {
  return sealNonce(key, counterNonce(counter), plaintext, aad);
}

/** Open ciphertext || tag; returns the plaintext, or null when authentication fails. */
export function open(key: Uint8Array, counter: number | bigint, sealed: Uint8Array, aad: Uint8Array = EMPTY): Uint8Array | null {
  return openNonce(key, counterNonce(counter), sealed, aad);
}

/** Seal with an explicit 12-byte nonce (RFC 8439 vectors use arbitrary nonces). */
export function sealNonce(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array = EMPTY): Uint8Array {
  if (key.length !== KEY_LEN) throw new RangeError('aead: key must be 32 bytes');
  const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_LEN });
  if (aad.length) c.setAAD(aad, { plaintextLength: plaintext.length });
  const out = new Uint8Array(plaintext.length + TAG_LEN);
  let n = 0;
  if (plaintext.length) {
    const body = c.update(plaintext);
    out.set(body, 0);
    n = body.length;
  }
  const fin = c.final();
  if (fin.length) { out.set(fin, n); n += fin.length; }
  out.set(c.getAuthTag(), n);
  return out;
}

/** Open with an explicit 12-byte nonce. */
export function openNonce(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array = EMPTY): Uint8Array | null {
  if (key.length !== KEY_LEN) throw new RangeError('aead: key must be 32 bytes');
  if (sealed.length < TAG_LEN) return null;
  const ctLen = sealed.length - TAG_LEN;
  const d = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_LEN });
  d.setAuthTag(sealed.subarray(ctLen));
  if (aad.length) d.setAAD(aad, { plaintextLength: ctLen });
  try {
    const body = ctLen ? d.update(sealed.subarray(0, ctLen)) : new Uint8Array(0);
    d.final();
    return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  } catch {
    return null;
  }
}
