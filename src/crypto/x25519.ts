/**
 * X25519 (RFC 7748) through node:crypto, which is ~25x faster than pure JS.
 * Raw keys enter OpenSSL through JWK (~5 µs for a public key) rather than
 * PKCS#8/SPKI DER (~70-400 µs measured here).
 *
 *   32 private bytes -> PrivateKey (import; OpenSSL derives the public key
 *   with its fixed-base table, about one DH's cost, read back through the
 *   private key's own JWK export) -> dh(raw) / dhCached(raw) / dhWith(PublicKey)
 *   32 public bytes -> PublicKey (one import for several DHs)
 *
 * dhCached keeps the imported KeyObject of a public key while the caller's
 * array lives (a peer's static key); PublicKey is the explicit form for a
 * remote ephemeral used by two private keys.
 * The core never draws randomness itself: callers pass 32 random bytes in.
 */
import { createPrivateKey, createPublicKey, diffieHellman, type KeyObject } from 'node:crypto';

export const X25519_KEY_LEN = 32;
const KEY_LEN = X25519_KEY_LEN;

function b64url(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64url');
}

/** Clamp 32 random bytes into an X25519 private key (RFC 7748 section 5), in a fresh array. */
export function clampPrivateKey(random32: Uint8Array): Uint8Array {
  if (random32.length !== KEY_LEN) throw new RangeError('x25519: need 32 bytes');
  const k = new Uint8Array(random32);
  k[0]! &= 248;
  k[31]! &= 127;
  k[31]! |= 64;
  return k;
}

// u = 9, the base point. OpenSSL builds an X25519 private key from "d" alone
// and derives the public half itself, so "x" is only a well-formed placeholder.
const BASE_POINT_B64 = b64url(Uint8Array.of(9, ...new Array<number>(31).fill(0)));

function importPrivate(priv: Uint8Array): KeyObject {
  return createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: b64url(priv), x: BASE_POINT_B64 }, format: 'jwk' });
}

/** The public half OpenSSL derived on import, from the private key's JWK (half the cost of createPublicKey + export). */
function publicOf(obj: KeyObject): Uint8Array {
  const jwk = obj.export({ format: 'jwk' }) as { x: string };
  return new Uint8Array(Buffer.from(jwk.x, 'base64url'));
}

/** The public key for a private key. */
export function publicKey(priv: Uint8Array): Uint8Array {
  if (priv.length !== KEY_LEN) throw new RangeError('x25519: private key must be 32 bytes');
  return publicOf(importPrivate(priv));
}

function publicKeyObject(pub: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: b64url(pub) }, format: 'jwk' });
}

/** A peer public key imported once, for DHs with several private keys (PrivateKey.dhWith). */
export class PublicKey {
  /** A copy of the bytes imported. */
  readonly raw: Uint8Array;
  /** null when the bytes are not a 32-byte key OpenSSL accepts: every DH with it is null. */
  readonly obj: KeyObject | null;
  constructor(raw: Uint8Array) {
    this.raw = new Uint8Array(raw);
    let obj: KeyObject | null = null;
    if (raw.length === KEY_LEN) {
      try {
        obj = publicKeyObject(raw);
      } catch {
        obj = null;
      }
    }
    this.obj = obj;
  }

  /** Was this key imported from exactly these bytes? (Public data: no constant time needed.) */
  is(bytes: Uint8Array): boolean {
    const a = this.raw;
    if (a.length !== bytes.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== bytes[i]) return false;
    return true;
  }
}

/** A private key held with its KeyObject so repeated DH skips the import. */
export class PrivateKey {
  readonly raw: Uint8Array;
  readonly publicKey: Uint8Array;
  private readonly obj: KeyObject;
  constructor(raw: Uint8Array) {
    if (raw.length !== KEY_LEN) throw new RangeError('x25519: private key must be 32 bytes');
    this.raw = new Uint8Array(raw);
    this.obj = importPrivate(this.raw);
    this.publicKey = publicOf(this.obj);
  }
  /** DH with a peer public key; null if the shared secret is all zeros (low-order point). */
  dh(peerPublic: Uint8Array): Uint8Array | null {
    return this.dhWith(new PublicKey(peerPublic));
  }

  /** dh() with a key imported beforehand. */
  dhWith(peer: PublicKey): Uint8Array | null {
    return peer.obj === null ? null : dhObjects(this.obj, peer.obj);
  }

  /**
   * dh() with a public key used more than once (a peer's static key, a
   * remote ephemeral): its KeyObject is cached by array identity, checked
   * against a copy of the bytes.
   */
  dhCached(peerPublic: Uint8Array): Uint8Array | null {
    if (peerPublic.length !== KEY_LEN) return null;
    let key = staticCache.get(peerPublic);
    if (key === undefined || !key.is(peerPublic)) {
      key = new PublicKey(peerPublic);
      staticCache.set(peerPublic, key);
    }
    return this.dhWith(key);
  }
  /** Overwrite the raw copy. The OpenSSL copy is freed with the KeyObject. */
  wipe(): void {
    this.raw.fill(0);
  }
}

const staticCache = new WeakMap<Uint8Array, PublicKey>();

function dhObjects(privObj: KeyObject, pubObj: KeyObject): Uint8Array | null {
  let out: Buffer;
  try {
    out = diffieHellman({ privateKey: privObj, publicKey: pubObj });
  } catch {
    // OpenSSL refuses an all-zero result itself on some versions.
    return null;
  }
  let acc = 0;
  for (let i = 0; i < out.length; i++) acc |= out[i]!;
  if (acc === 0) return null;
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** X25519(priv, pub); null when the result is all zeros (RFC 7748 section 6.1 check). */
export function x25519(priv: Uint8Array, peerPublic: Uint8Array): Uint8Array | null {
  if (priv.length !== KEY_LEN) throw new RangeError('x25519: private key must be 32 bytes');
  return new PrivateKey(priv).dh(peerPublic);
}

