/**
 * What a handshake flood costs the core, per datagram, on one core:
 * Device.receive of (a) garbage initiations (bad mac1: one keyed BLAKE2s and
 * a drop) and (b) valid-mac1 initiations under load (mac1, mac2 check, cookie
 * reply: two BLAKE2s MACs, 24 random bytes, XChaCha20-Poly1305), with the
 * driver's pooled random(). The reference, measured in the same run, is the
 * one unavoidable step: the mac1 check, a keyed BLAKE2s over 116 bytes.
 * µs per datagram = 1e6 / rate. Then the two primitives of the cookie path
 * against the libraries they replaced: mac1 (KeyedMac, key block compressed
 * once) vs @noble/hashes, and the cookie seal vs @noble/ciphers and vs
 * HChaCha20 + node:crypto chacha20-poly1305.
 * A UDP server cannot read faster than its per-datagram cost allows, so a
 * flood above it fills the socket queue and the kernel drops the excess,
 * legitimate datagrams included (test/hostile/flood.test.ts).
 */
import { createCipheriv, randomBytes } from 'node:crypto';
import { blake2s } from '@noble/hashes/blake2.js';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { Device } from '../src/transport/device.js';
import { clampPrivateKey, publicKey } from '../src/crypto/x25519.js';
import { hash, KeyedMac, mac } from '../src/crypto/blake2s.js';
import { hchacha20 } from '../src/crypto/chacha20-core.js';
import { xseal } from '../src/crypto/xaead.js';
import { LABEL_MAC1 } from '../src/noise/constants.js';
import { measure, type Row } from './harness.js';

const ROUNDS = 3;
let sink = 0;

/** Best of ROUNDS interleaved runs of each function, so load from elsewhere hits all alike. */
function race(fns: Record<string, () => void>, ms = 300): Record<string, number> {
  const best: Record<string, number> = {};
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, fn] of Object.entries(fns)) best[name] = Math.max(best[name] ?? 0, measure(fn, ms));
  }
  return best;
}

/** random() as the driver draws it: slices of a pooled randomBytes(4096). */
function pooledRandom(): (n: number) => Uint8Array {
  let pool = randomBytes(4096);
  let at = 0;
  return (n) => {
    if (at + n > pool.length) { pool = randomBytes(4096); at = 0; }
    at += n;
    return new Uint8Array(pool.buffer, pool.byteOffset + at - n, n);
  };
}

export async function run(): Promise<Row[]> {
  const priv = clampPrivateKey(randomBytes(32));
  const pub = publicKey(priv);
  const mac1Key = hash(new TextEncoder().encode(LABEL_MAC1), pub);
  const garbage: Uint8Array[] = [];
  const valid: Uint8Array[] = [];
  for (let i = 0; i < 256; i++) {
    const m = new Uint8Array(randomBytes(148));
    m.set([1, 0, 0, 0]);
    garbage.push(m);
    const v = Uint8Array.from(m);
    v.set(mac(mac1Key, v.subarray(0, 116)), 116);
    v.fill(0, 132);
    valid.push(v);
  }
  const from = { address: '198.51.100.7', port: 40000 };
  const device = (): Device => new Device({ privateKey: priv, random: pooledRandom(), wallClock: () => Date.now() });

  // Garbage is dropped before it counts as load; valid mac1 puts the device under load at once.
  const dg = device();
  const dv = device();
  let i = 0;
  let now = 1_000;
  let replies = 0;
  const km = new KeyedMac(mac1Key);
  const msg = garbage[0]!;
  const key = randomBytes(32);
  const nonce = randomBytes(24);
  const cookie = randomBytes(16);
  const aad = randomBytes(16);
  const subkeyWords = new Int32Array(8);
  const subkey = new Uint8Array(subkeyWords.buffer);
  const inner = new Uint8Array(12);
  const r = race({
    garbage: () => { dg.receive(garbage[i++ & 255]!, from, now); },
    cookie: () => {
      if ((i & 1023) === 0) now += 1;
      replies += dv.receive(valid[i++ & 255]!, from, now).datagrams.length;
    },
    mac1: () => { sink ^= km.verify(msg, 0, 116, msg, 116) ? 1 : 0; },
    nobleMac1: () => { sink ^= blake2s(msg.subarray(0, 116), { key: mac1Key, dkLen: 16 })[0]!; },
    xseal: () => { sink ^= xseal(key, nonce, cookie, aad)[0]!; },
    nobleXseal: () => { sink ^= xchacha20poly1305(key, nonce, aad).encrypt(cookie)[0]!; },
    nodeXseal: () => {
      hchacha20(key, nonce, 0, subkeyWords);
      inner.set(nonce.subarray(16), 4);
      const c = createCipheriv('chacha20-poly1305', subkey, inner, { authTagLength: 16 });
      c.setAAD(aad, { plaintextLength: 16 });
      sink ^= c.update(cookie)[0]! ^ c.final().length ^ c.getAuthTag()[0]!;
    },
  });
  if (dg.dropCount('bad-mac1') === 0) throw new Error('flood bench: garbage was not dropped as bad-mac1');
  if (replies === 0) throw new Error('flood bench: no cookie replies');

  const mac1Ref = { name: 'mac1 check alone (KeyedMac, 116 B)', opsPerSec: r.mac1! };
  const us = (rate: number) => `${(1e6 / rate).toFixed(2)} µs per datagram`;
  return [
    { group: 'flood', name: 'receive garbage initiation (bad mac1, dropped)', opsPerSec: r.garbage!, unit: 'pkts/s', reference: mac1Ref, detail: us(r.garbage!) },
    { group: 'flood', name: 'receive valid-mac1 initiation under load (cookie reply)', opsPerSec: r.cookie!, unit: 'pkts/s', reference: mac1Ref, detail: us(r.cookie!) },
    { group: 'flood', name: 'mac1 check (KeyedMac.verify, 116 B)', opsPerSec: r.mac1!, reference: { name: '@noble/hashes keyed blake2s, 116 B', opsPerSec: r.nobleMac1! } },
    { group: 'flood', name: 'cookie seal xseal (16 B, 16 B aad)', opsPerSec: r.xseal!, reference: { name: '@noble/ciphers xchacha20poly1305', opsPerSec: r.nobleXseal! } },
    { group: 'flood', name: 'cookie seal xseal (16 B, 16 B aad)', opsPerSec: r.xseal!, reference: { name: 'HChaCha20 + node:crypto chacha20-poly1305', opsPerSec: r.nodeXseal! } },
  ];
}
