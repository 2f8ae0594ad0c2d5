/**
 * Handshakes per second on one core: initiation + response + consume, the
 * whole Noise_IKpsk2 exchange. The ceiling is one X25519 operation through
 * node:crypto measured in the same run, divided by the 8 scalar
 * multiplications a handshake needs (two ephemeral key generations, es, ee,
 * se on each side; ss is precomputed per peer).
 */
import { randomBytes } from 'node:crypto';
import { PrivateKey, clampPrivateKey } from '../src/crypto/x25519.js';
import { tai64n } from '../src/crypto/tai64n.js';
import {
  createInitiation, consumeInitiation, createResponse, consumeResponse, makePeerCrypto, type LocalIdentity,
} from '../src/noise/handshake.js';
import { measure, type Row } from './harness.js';

function identity(): LocalIdentity {
  const k = new PrivateKey(clampPrivateKey(randomBytes(32)));
  return { privateKey: k, publicKey: k.publicKey };
}

export async function run(): Promise<Row[]> {
  const a = identity();
  const b = identity();
  const aSeesB = makePeerCrypto(a, b.publicKey);
  const bSeesA = makePeerCrypto(b, a.publicKey);
  const eph = randomBytes(32);
  let ts = 1_700_000_000_000;
  let ok = 0;
  const handshake = () => {
    ts += 1000;
    const init = createInitiation(a, aSeesB, eph, tai64n(ts), 1)!;
    const got = consumeInitiation(b, init.message, () => ({ peer: 1, crypto: bSeesA }))!;
    const resp = createResponse(b, bSeesA, got.state, eph, 2)!;
    if (consumeResponse(a, aSeesB, init.state, resp.message)) ok++;
  };
  const hs = measure(handshake, 2000, 8);
  if (ok === 0) throw new Error('handshake bench: no handshake completed');
  const peer = identity().publicKey;
  const dh = measure(() => { a.privateKey.dh(peer); }, 1000, 32);
  return [
    { group: 'handshake', name: 'full handshake (init+resp+consume)', opsPerSec: hs, reference: { name: 'x25519 ops/s ÷ 8', opsPerSec: dh / 8 } },
  ];
}
