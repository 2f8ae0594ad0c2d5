/**
 * BLAKE2s (RFC 7693) as WireGuard uses it.
 *
 *   HASH(x)       = BLAKE2s-256(x)                 -> node:crypto (OpenSSL "blake2s256")
 *   MAC(k, x)     = keyed BLAKE2s, 16-byte output  -> @noble/hashes (OpenSSL has no keyed BLAKE2s)
 *   HMAC(k, x)    = HMAC-BLAKE2s-256 (RFC 2104)    -> node:crypto createHmac("blake2s256")
 *   KDFn(k, x)    = the HKDF-style chain of the WireGuard paper, section 5.4
 */
import { createHash, createHmac } from 'node:crypto';
import { blake2s } from '@noble/hashes/blake2.js';

export const HASH_LEN = 32;
export const MAC_LEN = 16;

/** HASH(a || b || ...): unkeyed BLAKE2s-256. */
export function hash(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('blake2s256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

/** MAC(key, a || b || ...): keyed BLAKE2s with a 16-byte digest (key length 1..32). */
export function mac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  if (key.length < 1 || key.length > 32) throw new RangeError('mac: key must be 1..32 bytes');
  const h = blake2s.create({ key, dkLen: MAC_LEN });
  for (const p of parts) h.update(p);
  return h.digest();
}

/** HMAC(key, a || b || ...) with BLAKE2s-256. */
export function hmac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const h = createHmac('blake2s256', key);
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

const ONE = Uint8Array.of(1);

/** KDF1(key, input) = T1 where T0 = HMAC(key, input), T1 = HMAC(T0, 0x1). */
export function kdf1(key: Uint8Array, input: Uint8Array): Uint8Array {
  const t0 = hmac(key, input);
  const t1 = hmac(t0, ONE);
  t0.fill(0);
  return t1;
}

/** KDF2: (T1, T2) with T2 = HMAC(T0, T1 || 0x2). */
export function kdf2(key: Uint8Array, input: Uint8Array): [Uint8Array, Uint8Array] {
  const t0 = hmac(key, input);
  const t1 = hmac(t0, ONE);
  const t2 = hmac(t0, t1, Uint8Array.of(2));
  t0.fill(0);
  return [t1, t2];
}

/** KDF3: (T1, T2, T3) with T3 = HMAC(T0, T2 || 0x3). */
export function kdf3(key: Uint8Array, input: Uint8Array): [Uint8Array, Uint8Array, Uint8Array] {
  const t0 = hmac(key, input);
  const t1 = hmac(t0, ONE);
  const t2 = hmac(t0, t1, Uint8Array.of(2));
  const t3 = hmac(t0, t2, Uint8Array.of(3));
  t0.fill(0);
  return [t1, t2, t3];
}
