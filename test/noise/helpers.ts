/** Shared fixtures for the noise tests: identities, deterministic randomness, low-order points. */
import { randomBytes } from 'node:crypto';
import { PrivateKey, clampPrivateKey } from '../../src/crypto/x25519.js';
import { makePeerCrypto, type LocalIdentity, type PeerCrypto } from '../../src/noise/handshake.js';

export function identity(raw: Uint8Array = new Uint8Array(randomBytes(32))): LocalIdentity {
  const privateKey = new PrivateKey(clampPrivateKey(raw));
  return { privateKey, publicKey: privateKey.publicKey };
}

export function rand(n: number): Uint8Array {
  return new Uint8Array(randomBytes(n));
}

/** A random(n) that hands out the given buffers in order, then fails the test. */
export function queuedRandom(...chunks: Uint8Array[]): (n: number) => Uint8Array {
  return (n) => {
    const next = chunks.shift();
    if (next === undefined || next.length !== n) throw new Error(`unexpected random(${n})`);
    return next;
  };
}

export function hex(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'hex'));
}

/** Two identities that know each other, optionally with a shared PSK. */
export function pair(psk?: Uint8Array): { a: LocalIdentity; b: LocalIdentity; aSeesB: PeerCrypto; bSeesA: PeerCrypto } {
  const a = identity();
  const b = identity();
  return { a, b, aSeesB: makePeerCrypto(a, b.publicKey, psk), bSeesA: makePeerCrypto(b, a.publicKey, psk) };
}

/**
 * Points of small order on Curve25519 (and non-canonical encodings of them):
 * X25519 with any clamped scalar gives all zeros (RFC 7748 section 6.1).
 */
export const LOW_ORDER_POINTS: Uint8Array[] = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
].map(hex);
