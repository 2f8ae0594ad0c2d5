/**
 * Crypto primitives per operation, each against a reference in the same run:
 *   AEAD seal/open at 64 and 1420 bytes: wgts (node:crypto) vs @noble/ciphers,
 *     and vs a bare createCipheriv/createDecipheriv loop (the node:crypto ceiling);
 *     the transport's WebAssembly AEAD against that same ceiling
 *   X25519: PrivateKey.dh and x25519() vs diffieHellman on pre-imported KeyObjects
 *   BLAKE2s: keyed mac() (ours, TypeScript) vs @noble/hashes keyed blake2s; hash() vs OpenSSL's blake2s256
 * Candidates are run in interleaved rounds and each keeps its best round, so
 * load from other processes hits all of them alike.
 */
import { createCipheriv, createDecipheriv, createPrivateKey, createPublicKey, diffieHellman } from 'node:crypto';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { measure, type Row } from './harness.js';
import { seal, sealInto, open, counterNonce, TAG_LEN } from '../src/crypto/aead.js';
import { PrivateKey, x25519, clampPrivateKey } from '../src/crypto/x25519.js';
import { hash, mac } from '../src/crypto/blake2s.js';
import { blake2s as nobleBlake2s } from '@noble/hashes/blake2.js';
import { createHash } from 'node:crypto';
import { wasmOpen, wasmSealInto } from '../src/crypto/chachapoly-wasm.js';

const ROUNDS = 7;
const ROUND_MS = 150;

let sink = 0;

/** Best ops/s of each function over interleaved rounds. */
function race(fns: Record<string, () => void>, batch = 64): Record<string, number> {
  const best: Record<string, number> = {};
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, fn] of Object.entries(fns)) best[name] = Math.max(best[name] ?? 0, measure(fn, ROUND_MS, batch));
  }
  return best;
}

function bytes(n: number, start: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (start + i * 7) & 0xff;
  return b;
}

function aeadRows(size: number): Row[] {
  const key = bytes(32, 1);
  const pt = bytes(size, 9);
  const nonce = new Uint8Array(12);
  const packet = new Uint8Array(16 + size + TAG_LEN);
  const sealed = seal(key, 7, pt);
  let ctr = 0;
  const r = race({
    seal: () => { sink ^= seal(key, ctr++, pt)[0]!; },
    sealInto: () => { sink ^= sealInto(key, ctr++, pt, packet, 16); },
    nobleSeal: () => { sink ^= chacha20poly1305(key, counterNonce(ctr++, nonce)).encrypt(pt)[0]!; },
    bareSeal: () => {
      const c = createCipheriv('chacha20-poly1305', key, counterNonce(ctr++, nonce), { authTagLength: TAG_LEN });
      c.update(pt);
      c.final();
      sink ^= c.getAuthTag()[0]!;
    },
    open: () => { sink ^= open(key, 7, sealed)!.length; },
    wasmSeal: () => { sink ^= wasmSealInto(key, ctr++, pt, packet, 16) ? 1 : 0; },
    wasmOpen: () => { sink ^= wasmOpen(key, 7, sealed, packet)!.length; },
    nobleOpen: () => { sink ^= chacha20poly1305(key, counterNonce(7, nonce)).decrypt(sealed).length; },
    bareOpen: () => {
      const d = createDecipheriv('chacha20-poly1305', key, counterNonce(7, nonce), { authTagLength: TAG_LEN });
      d.setAuthTag(sealed.subarray(size));
      sink ^= d.update(sealed.subarray(0, size)).length;
      d.final();
    },
  });
  const ceiling = (op: string, v: number) => ({ name: `bare node:crypto ${op} loop (ceiling)`, opsPerSec: v });
  const noble = (op: string, v: number) => ({ name: `@noble/ciphers ${op}`, opsPerSec: v });
  const g = `aead ${size}B`;
  const unit = 'pkt/s';
  return [
    { group: g, name: 'seal()', opsPerSec: r.seal!, reference: noble('encrypt', r.nobleSeal!), unit },
    { group: g, name: 'seal()', opsPerSec: r.seal!, reference: ceiling('createCipheriv', r.bareSeal!), unit },
    { group: g, name: 'sealInto() packet buffer', opsPerSec: r.sealInto!, reference: ceiling('createCipheriv', r.bareSeal!), unit },
    { group: g, name: 'open()', opsPerSec: r.open!, reference: noble('decrypt', r.nobleOpen!), unit },
    { group: g, name: 'open()', opsPerSec: r.open!, reference: ceiling('createDecipheriv', r.bareOpen!), unit },
    { group: g, name: 'transport seal, WebAssembly (wasmSealInto)', opsPerSec: r.wasmSeal!, reference: ceiling('createCipheriv', r.bareSeal!), unit },
    { group: g, name: 'transport open, WebAssembly (wasmOpen)', opsPerSec: r.wasmOpen!, reference: ceiling('createDecipheriv', r.bareOpen!), unit },
  ];
}

function x25519Rows(): Row[] {
  const a = clampPrivateKey(hash(Uint8Array.of(1)));
  const b = clampPrivateKey(hash(Uint8Array.of(2)));
  const pa = new PrivateKey(a);
  const pb = new PrivateKey(b);
  const b64u = (k: Uint8Array) => Buffer.from(k).toString('base64url');
  const aObj = createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: b64u(a), x: b64u(pa.publicKey) }, format: 'jwk' });
  const bObj = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: b64u(pb.publicKey) }, format: 'jwk' });
  const r = race(
    {
      dh: () => { sink ^= pa.dh(pb.publicKey)![0]!; },
      x25519: () => { sink ^= x25519(a, pb.publicKey)![0]!; },
      construct: () => { sink ^= new PrivateKey(b).publicKey[0]!; },
      bare: () => { sink ^= diffieHellman({ privateKey: aObj, publicKey: bObj })[0]!; },
    },
    8,
  );
  const ceiling = { name: 'diffieHellman, both KeyObjects pre-imported (ceiling)', opsPerSec: r.bare! };
  return [
    { group: 'x25519', name: 'PrivateKey.dh (cached key, JWK peer import)', opsPerSec: r.dh!, reference: ceiling, unit: 'DH/s' },
    { group: 'x25519', name: 'x25519() (imports both keys)', opsPerSec: r.x25519!, reference: ceiling, unit: 'DH/s' },
    { group: 'x25519', name: 'new PrivateKey (import + public key)', opsPerSec: r.construct!, reference: ceiling, unit: 'keys/s' },
  ];
}

function blake2sRows(): Row[] {
  const key = bytes(32, 3);
  const msg = bytes(116, 5); // mac1 covers the first 116 bytes of an initiation
  const r = race({
    mac: () => { sink ^= mac(key, msg)[0]!; },
    hash: () => { sink ^= hash(msg)[0]!; },
    nobleMac: () => { sink ^= nobleBlake2s(msg, { key, dkLen: 16 })[0]!; },
    opensslHash: () => { sink ^= createHash('blake2s256').update(msg).digest()[0]!; },
  });
  return [
    { group: 'blake2s 116B', name: 'mac() keyed, 16 B (ours)', opsPerSec: r.mac!, reference: { name: '@noble/hashes keyed blake2s, 16 B', opsPerSec: r.nobleMac! } },
    { group: 'blake2s 116B', name: 'hash() unkeyed, 32 B (ours)', opsPerSec: r.hash!, reference: { name: 'node:crypto createHash blake2s256', opsPerSec: r.opensslHash! } },
  ];
}

export async function run(): Promise<Row[]> {
  const rows = [...aeadRows(64), ...aeadRows(1420), ...x25519Rows(), ...blake2sRows()];
  if (sink === 0.5) console.log(sink); // keep results observable
  return rows;
}
