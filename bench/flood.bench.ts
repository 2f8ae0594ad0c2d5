/**
 * What a handshake flood costs the core, per datagram, on one core:
 * Device.receive of (a) garbage initiations (bad mac1: one keyed BLAKE2s and
 * a drop) and (b) valid-mac1 initiations under load (mac1, mac2 check, cookie
 * reply: BLAKE2s MACs, 24 random bytes, XChaCha20-Poly1305). The reference,
 * measured in the same run, is the one unavoidable step: the mac1 check, a
 * keyed BLAKE2s over 116 bytes. A UDP server cannot read faster than this
 * rate, so a flood above it fills the socket queue and the kernel drops the
 * excess, legitimate datagrams included (test/hostile/flood.test.ts).
 */
import { randomBytes } from 'node:crypto';
import { Device } from '../src/transport/device.js';
import { clampPrivateKey, publicKey } from '../src/crypto/x25519.js';
import { hash, mac } from '../src/crypto/blake2s.js';
import { LABEL_MAC1 } from '../src/transport/constants.js';
import { measure, type Row } from './harness.js';

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
  const device = (): Device => new Device({ privateKey: priv, random: (n) => new Uint8Array(randomBytes(n)), wallClock: () => Date.now() });

  // Garbage is dropped before it counts as load; valid mac1 puts the device under load at once.
  const dg = device();
  let i = 0;
  let now = 1_000;
  const garbageRate = measure(() => { dg.receive(garbage[i++ & 255]!, from, now); });
  if (dg.dropCount('bad-mac1') === 0) throw new Error('flood bench: garbage was not dropped as bad-mac1');

  const dv = device();
  let replies = 0;
  const cookieRate = measure(() => {
    if ((i & 1023) === 0) now += 1;
    replies += dv.receive(valid[i++ & 255]!, from, now).datagrams.length;
  });
  if (replies === 0) throw new Error('flood bench: no cookie replies');

  const msg = garbage[0]!.subarray(0, 116);
  const macRate = measure(() => { mac(mac1Key, msg); });
  return [
    { group: 'flood', name: 'receive garbage initiation (bad mac1, dropped)', opsPerSec: garbageRate, unit: 'pkts/s', reference: { name: 'mac1 check alone (keyed BLAKE2s, 116 B)', opsPerSec: macRate } },
    { group: 'flood', name: 'receive valid-mac1 initiation under load (cookie reply)', opsPerSec: cookieRate, unit: 'pkts/s', reference: { name: 'mac1 check alone (keyed BLAKE2s, 116 B)', opsPerSec: macRate } },
  ];
}
