/**
 * ChaCha20-Poly1305 (RFC 8439 section 2.8) with WireGuard's nonce: 4 zero
 * bytes then the 64-bit little-endian counter (whitepaper section 5.4.6).
 * Backed by node:crypto (OpenSSL): one cipher object per packet, since
 * OpenSSL cannot re-key a context with a fresh nonce from JS.
 *
 * seal:     plaintext -> update() -> [ciphertext | tag] in a pooled buffer
 * sealInto: the same, written into the caller's packet buffer at an offset
 *           (the transport puts it right after its 16-byte header);
 *           sealNonceInto takes the nonce as bytes (the crypto workers)
 * open:     [ciphertext | tag] -> setAuthTag, update(), final() -> plaintext or null
 * Figures behind these choices: bench/crypto.bench.ts.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';

export const AEAD_KEY_LEN = 32;
const KEY_LEN = AEAD_KEY_LEN;
export const TAG_LEN = 16;

const EMPTY = new Uint8Array(0);
/** Scratch nonce for seal/open: createCipheriv copies the IV before returning. */
const SCRATCH_NONCE = new Uint8Array(12);

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

/**
 * Seal plaintext; returns ciphertext || tag (plaintext.length + 16 bytes).
 * The result may be a view into Node's shared buffer pool: use it through
 * byteOffset/byteLength, never through `.buffer` alone.
 */
export function seal(key: Uint8Array, counter: number | bigint, plaintext: Uint8Array, aad: Uint8Array = EMPTY): Uint8Array {
  return sealNonce(key, counterNonce(counter, SCRATCH_NONCE), plaintext, aad);
}

/**
 * Seal into dst at dstOffset; returns the bytes written (plaintext.length + 16).
 * dst may overlap plaintext (in-place encryption): the plaintext is fully
 * consumed before anything is written. Throws RangeError if dst is too small.
 */
export function sealInto(
  key: Uint8Array,
  counter: number | bigint,
  plaintext: Uint8Array,
  dst: Uint8Array,
  dstOffset = 0,
  aad: Uint8Array = EMPTY,
): number {
  return sealNonceInto(key, counterNonce(counter, SCRATCH_NONCE), plaintext, dst, dstOffset, aad);
}

/** sealInto with an explicit 12-byte nonce. */
export function sealNonceInto(
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  dst: Uint8Array,
  dstOffset = 0,
  aad: Uint8Array = EMPTY,
): number {
  checkKey(key);
  if (!Number.isInteger(dstOffset) || dstOffset < 0 || dstOffset + plaintext.length + TAG_LEN > dst.length) {
    throw new RangeError('aead: destination too small');
  }
  return writeSealed(key, nonce, plaintext, aad, dst, dstOffset);
}

/** Open ciphertext || tag; returns the plaintext, or null when authentication fails. */
export function open(key: Uint8Array, counter: number | bigint, sealed: Uint8Array, aad: Uint8Array = EMPTY): Uint8Array | null {
  return openNonce(key, counterNonce(counter, SCRATCH_NONCE), sealed, aad);
}

/** Seal with an explicit 12-byte nonce (RFC 8439 vectors use arbitrary nonces). Same result caveat as seal(). */
export function sealNonce(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array = EMPTY): Uint8Array {
  checkKey(key);
  const n = plaintext.length + TAG_LEN;
  // allocUnsafe draws small sizes from Node's pool (measurably cheaper than a
  // zeroed ArrayBuffer per packet); writeSealed overwrites every byte.
  const pooled = Buffer.allocUnsafe(n);
  const out = new Uint8Array(pooled.buffer, pooled.byteOffset, n);
  writeSealed(key, nonce, plaintext, aad, out, 0);
  return out;
}

/** Open with an explicit 12-byte nonce. */
export function openNonce(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array = EMPTY): Uint8Array | null {
  checkKey(key);
  if (sealed.length < TAG_LEN) return null;
  const ctLen = sealed.length - TAG_LEN;
  const d = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_LEN });
  d.setAuthTag(sealed.subarray(ctLen));
  if (aad.length) d.setAAD(aad, { plaintextLength: ctLen });
  try {
    const body = ctLen ? d.update(sealed.subarray(0, ctLen)) : EMPTY;
    d.final();
    return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  } catch {
    return null;
  }
}

function checkKey(key: Uint8Array): void {
  if (key.length !== KEY_LEN) throw new RangeError('aead: key must be 32 bytes');
}

function writeSealed(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array, dst: Uint8Array, off: number): number {
  const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_LEN });
  if (aad.length) c.setAAD(aad, { plaintextLength: plaintext.length });
  let n = off;
  if (plaintext.length) {
    const body = c.update(plaintext);
    dst.set(body, n);
    n += body.length;
  }
  const fin = c.final();
  if (fin.length) {
    dst.set(fin, n);
    n += fin.length;
  }
  // A stream cipher returns exactly one output byte per input byte; anything
  // else would leave pooled bytes unwritten, so refuse it loudly.
  if (n - off !== plaintext.length) throw new Error('aead: unexpected ciphertext length');
  dst.set(c.getAuthTag(), n);
  return n + TAG_LEN - off;
}
