import { test } from 'vitest';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { x25519, publicKey, clampPrivateKey, PrivateKey, PublicKey } from '../../src/crypto/x25519.js';
import { hash } from '../../src/crypto/blake2s.js';
import { loadVectors, hex, toHex } from './vectors.js';

interface X25519File {
  scalarmult: Array<{ name: string; scalar: string; u: string; out: string }>;
  iterated: { start: string; after1: string; after1000: string };
  dh: { alicePrivate: string; alicePublic: string; bobPrivate: string; bobPublic: string; shared: string };
  lowOrder: Array<{ name: string; u: string }>;
}
const V = loadVectors<X25519File>('x25519.json');

for (const v of V.scalarmult) {
  test(`x25519: ${v.name}`, () => {
    const out = x25519(hex(v.scalar), hex(v.u));
    assert.ok(out);
    assert.equal(toHex(out), v.out);
  });
}

test('x25519: RFC 7748 5.2 iterated, 1 and 1000 iterations', () => {
  let k = hex(V.iterated.start);
  let u = hex(V.iterated.start);
  for (let i = 1; i <= 1000; i++) {
    const next = x25519(k, u);
    assert.ok(next, `iteration ${i}`);
    u = k;
    k = next;
    if (i === 1) assert.equal(toHex(k), V.iterated.after1);
  }
  assert.equal(toHex(k), V.iterated.after1000);
});

test('x25519: RFC 7748 6.1 Alice and Bob', () => {
  const d = V.dh;
  assert.equal(toHex(publicKey(hex(d.alicePrivate))), d.alicePublic);
  assert.equal(toHex(publicKey(hex(d.bobPrivate))), d.bobPublic);
  assert.equal(toHex(x25519(hex(d.alicePrivate), hex(d.bobPublic))!), d.shared);
  assert.equal(toHex(x25519(hex(d.bobPrivate), hex(d.alicePublic))!), d.shared);
  const alice = new PrivateKey(hex(d.alicePrivate));
  const bob = new PrivateKey(hex(d.bobPrivate));
  assert.equal(toHex(alice.publicKey), d.alicePublic);
  assert.equal(toHex(bob.publicKey), d.bobPublic);
  assert.equal(toHex(alice.dh(bob.publicKey)!), d.shared);
  assert.equal(toHex(bob.dh(alice.publicKey)!), d.shared);
});

test('x25519 and PrivateKey.dh return null for low-order points (all-zero result)', () => {
  const privs = [hex(V.dh.alicePrivate), hex(V.dh.bobPrivate), clampPrivateKey(hash(Uint8Array.of(1)))];
  for (const priv of privs) {
    const pk = new PrivateKey(priv);
    for (const p of V.lowOrder) {
      assert.equal(x25519(priv, hex(p.u)), null, p.name);
      assert.equal(pk.dh(hex(p.u)), null, p.name);
      assert.equal(pk.dhCached(hex(p.u)), null, p.name);
    }
  }
});

test('a peer key of the wrong length gives null, not an exception', () => {
  const pk = new PrivateKey(hex(V.dh.alicePrivate));
  assert.equal(pk.dh(new Uint8Array(31)), null);
  assert.equal(pk.dh(new Uint8Array(33)), null);
  assert.equal(pk.dhCached(new Uint8Array(31)), null);
  assert.equal(x25519(hex(V.dh.alicePrivate), new Uint8Array(0)), null);
});

test('dhCached: RFC 7748 6.1 through the cached key, and a changed array is imported again', () => {
  const d = V.dh;
  const alice = new PrivateKey(hex(d.alicePrivate));
  const bob = new PrivateKey(hex(d.bobPrivate));
  const peer = hex(d.bobPublic);
  assert.equal(toHex(alice.dhCached(peer)!), d.shared);
  assert.equal(toHex(alice.dhCached(peer)!), d.shared, 'second use, cached');
  // The same array now holds another key: the cache must not answer for the old one.
  peer.set(hex(d.alicePublic));
  assert.equal(toHex(alice.dhCached(peer)!), toHex(x25519(hex(d.alicePrivate), hex(d.alicePublic))!));
  assert.equal(toHex(bob.dhCached(peer)!), d.shared);
});

test('PrivateKey agrees with x25519() and publicKey() for many keys', () => {
  let seed: Uint8Array = Uint8Array.of(0);
  for (let i = 0; i < 40; i++) {
    seed = hash(seed);
    const a = clampPrivateKey(seed);
    const b = clampPrivateKey(hash(seed, Uint8Array.of(2)));
    const ka = new PrivateKey(a);
    const kb = new PrivateKey(b);
    assert.deepEqual(ka.publicKey, publicKey(a));
    assert.deepEqual(kb.publicKey, publicKey(b));
    const s1 = ka.dh(kb.publicKey);
    const s2 = kb.dh(ka.publicKey);
    assert.ok(s1 && s2);
    assert.deepEqual(s1, s2);
    assert.deepEqual(x25519(a, kb.publicKey), s1);
    assert.deepEqual(x25519(b, publicKey(a)), s1);
    // repeated DH on the cached KeyObject stays stable
    assert.deepEqual(ka.dh(kb.publicKey), s1);
  }
});

test('clampPrivateKey clamps per RFC 7748 section 5 and copies', () => {
  const ones = new Uint8Array(32).fill(0xff);
  const c1 = clampPrivateKey(ones);
  assert.equal(c1[0], 0xf8);
  assert.equal(c1[31], 0x7f);
  assert.ok(c1.subarray(1, 31).every((b) => b === 0xff));
  assert.ok(ones.every((b) => b === 0xff), 'input untouched');
  assert.notEqual(c1, ones);
  const zeros = new Uint8Array(32);
  const c0 = clampPrivateKey(zeros);
  assert.equal(c0[31], 0x40);
  assert.ok(c0.subarray(0, 31).every((b) => b === 0));
  // clamping is idempotent and does not change the public key (X25519 clamps internally)
  const raw = hash(Uint8Array.of(9));
  assert.deepEqual(clampPrivateKey(clampPrivateKey(raw)), clampPrivateKey(raw));
  assert.deepEqual(publicKey(raw), publicKey(clampPrivateKey(raw)));
  assert.throws(() => clampPrivateKey(new Uint8Array(31)), RangeError);
});

test('PrivateKey copies its input and wipe() zeroes the raw copy', () => {
  const raw = clampPrivateKey(hash(Uint8Array.of(3)));
  const keep = Uint8Array.from(raw);
  const pk = new PrivateKey(raw);
  raw.fill(0);
  assert.deepEqual(pk.raw, keep);
  pk.wipe();
  assert.ok(pk.raw.every((b) => b === 0));
  assert.throws(() => new PrivateKey(new Uint8Array(16)), RangeError);
});

test('PublicKey: one import serves DHs with two private keys (RFC 7748 6.1)', () => {
  const d = V.dh;
  const alice = new PrivateKey(hex(d.alicePrivate));
  const bob = new PrivateKey(hex(d.bobPrivate));
  const bobPub = new PublicKey(hex(d.bobPublic));
  assert.equal(toHex(alice.dhWith(bobPub)!), d.shared);
  // Bob with his own public key: X25519(b, B), checked against x25519().
  assert.equal(toHex(bob.dhWith(bobPub)!), toHex(x25519(hex(d.bobPrivate), hex(d.bobPublic))!));
  assert.equal(toHex(alice.dhWith(bobPub)!), d.shared, 'the same import again');
});

test('PublicKey keeps a copy of its bytes and is() compares against them', () => {
  const bytes = hex(V.dh.bobPublic);
  const k = new PublicKey(bytes);
  assert.ok(k.is(hex(V.dh.bobPublic)));
  bytes[0]! ^= 1;
  assert.equal(k.is(bytes), false, 'the caller changed its array, the key did not change');
  assert.equal(toHex(k.raw), V.dh.bobPublic);
  assert.equal(k.is(hex(V.dh.bobPublic).subarray(0, 31)), false);
});

test('PublicKey: wrong length or low-order bytes make every DH null, without throwing', () => {
  const alice = new PrivateKey(hex(V.dh.alicePrivate));
  for (const len of [0, 31, 33]) {
    const k = new PublicKey(new Uint8Array(len));
    assert.equal(k.obj, null);
    assert.equal(alice.dhWith(k), null);
  }
  for (const p of V.lowOrder) assert.equal(alice.dhWith(new PublicKey(hex(p.u))), null, p.name);
});

test('clampPrivateKey copies a Buffer input too (never a view of it)', () => {
  const buf = randomBytes(32);
  buf[0] = 0xff;
  buf[31] = 0xff;
  const before = Buffer.from(buf);
  const k = clampPrivateKey(buf);
  assert.ok(buf.equals(before), 'input untouched');
  assert.equal(k[0], 0xf8);
  assert.notEqual(k.buffer, buf.buffer);
});
