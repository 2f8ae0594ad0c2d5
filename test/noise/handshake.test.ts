import { test } from 'vitest';
import assert from 'node:assert/strict';
import { hash, kdf1, kdf2, kdf3 } from '../../src/crypto/blake2s.js';
import { open, seal } from '../../src/crypto/aead.js';
import { tai64n } from '../../src/crypto/tai64n.js';
import { CONSTRUCTION, IDENTIFIER } from '../../src/noise/constants.js';
import {
  consumeInitiation,
  consumeResponse,
  createInitiation,
  createResponse,
  makePeerCrypto,
  type LocalIdentity,
  type PeerCrypto,
  type ResponderState,
} from '../../src/noise/handshake.js';
import { serializeInitiation, serializeResponse } from '../../src/noise/messages.js';
import { identity, LOW_ORDER_POINTS, pair, rand } from './helpers.js';

const TS = tai64n(1_700_000_000_000);

function lookupOnly<P>(key: Uint8Array, peer: P, crypto: PeerCrypto) {
  return (s: Uint8Array) => (Buffer.from(s).equals(Buffer.from(key)) ? { peer, crypto } : undefined);
}

function fullHandshake(psk?: Uint8Array) {
  const { a, b, aSeesB, bSeesA } = pair(psk);
  const init = createInitiation(a, aSeesB, rand(32), TS, 0x01020304);
  assert.ok(init);
  assert.equal(init.message.length, 148);
  const consumed = consumeInitiation(b, init.message, lookupOnly(a.publicKey, 'peer-a', bSeesA));
  assert.ok(consumed);
  assert.equal(consumed.peer, 'peer-a');
  assert.equal(consumed.state.remoteIndex, 0x01020304);
  assert.deepEqual(consumed.state.timestamp, TS);
  const resp = createResponse(b, bSeesA, consumed.state, rand(32), 0xfffffffe);
  assert.ok(resp);
  assert.equal(resp.message.length, 92);
  const done = consumeResponse(a, aSeesB, init.state, resp.message);
  assert.ok(done);
  assert.equal(done.remoteIndex, 0xfffffffe);
  return { initiatorKeys: done.keys, responderKeys: resp.keys };
}

for (const [name, psk] of [['without PSK', undefined], ['with PSK', rand(32)]] as const) {
  test(`full handshake ${name}: both sides derive matching keys and can exchange a transport message`, () => {
    const { initiatorKeys: i, responderKeys: r } = fullHandshake(psk);
    assert.deepEqual(i.sendKey, r.recvKey);
    assert.deepEqual(i.recvKey, r.sendKey);
    assert.notDeepEqual(i.sendKey, i.recvKey);
    const payload = new TextEncoder().encode('hello through the tunnel');
    assert.deepEqual(open(r.recvKey, 0, seal(i.sendKey, 0, payload)), payload);
    assert.deepEqual(open(i.recvKey, 7, seal(r.sendKey, 7, payload)), payload);
    assert.equal(open(r.sendKey, 0, seal(i.sendKey, 0, payload)), null);
  });
}

test('fresh ephemerals give fresh session keys', () => {
  const one = fullHandshake();
  const two = fullHandshake();
  assert.notDeepEqual(one.initiatorKeys.sendKey, two.initiatorKeys.sendKey);
});

test('mismatched PSK: the responder still answers but consumeResponse fails', () => {
  const a = identity();
  const b = identity();
  const aSeesB = makePeerCrypto(a, b.publicKey, rand(32));
  const bSeesA = makePeerCrypto(b, a.publicKey, rand(32));
  const init = createInitiation(a, aSeesB, rand(32), TS, 1)!;
  const consumed = consumeInitiation(b, init.message, lookupOnly(a.publicKey, 0, bSeesA))!;
  assert.ok(consumed, 'the PSK is not used until the response');
  const resp = createResponse(b, bSeesA, consumed.state, rand(32), 2)!;
  assert.equal(consumeResponse(a, aSeesB, init.state, resp.message), null);
  // PSK on one side only is also a mismatch.
  const bNoPsk = makePeerCrypto(b, a.publicKey);
  const init2 = createInitiation(a, aSeesB, rand(32), TS, 3)!;
  const consumed2 = consumeInitiation(b, init2.message, lookupOnly(a.publicKey, 0, bNoPsk))!;
  const resp2 = createResponse(b, bNoPsk, consumed2.state, rand(32), 4)!;
  assert.equal(consumeResponse(a, aSeesB, init2.state, resp2.message), null);
});

test('unknown static key: consumeInitiation returns null and passes the decrypted key to lookup', () => {
  const { a, b, aSeesB } = pair();
  const init = createInitiation(a, aSeesB, rand(32), TS, 1)!;
  let seen: Uint8Array | undefined;
  const result = consumeInitiation(b, init.message, (s) => {
    seen = Uint8Array.from(s);
    return undefined;
  });
  assert.equal(result, null);
  assert.deepEqual(seen, a.publicKey);
});

test('an initiation for another responder does not decrypt', () => {
  const { a, aSeesB } = pair();
  const c = identity();
  const init = createInitiation(a, aSeesB, rand(32), TS, 1)!;
  let called = false;
  assert.equal(consumeInitiation(c, init.message, () => { called = true; return undefined; }), null);
  assert.equal(called, false);
});

test('a peer whose lookup entry has no static-static secret is refused', () => {
  const { a, b, aSeesB, bSeesA } = pair();
  const init = createInitiation(a, aSeesB, rand(32), TS, 1)!;
  assert.equal(consumeInitiation(b, init.message, () => ({ peer: 0, crypto: { ...bSeesA, staticStatic: null } })), null);
});

test('initiation: every flipped bit is caught by the AEAD, except the sender index and MACs (covered by mac1/mac2)', () => {
  const { a, b, aSeesB, bSeesA } = pair();
  const init = createInitiation(a, aSeesB, rand(32), TS, 0x11223344)!;
  const lookup = lookupOnly(a.publicKey, 0, bSeesA);
  assert.ok(consumeInitiation(b, init.message, lookup));
  for (let pos = 0; pos < 148; pos++) {
    for (const bit of [0x01, 0x80]) {
      const m = Uint8Array.from(init.message);
      m[pos]! ^= bit;
      const r = consumeInitiation(b, m, lookup);
      if ((pos >= 4 && pos < 8) || pos >= 116) {
        assert.ok(r, `byte ${pos} is not covered by the AEAD`);
      } else {
        assert.equal(r, null, `flip at byte ${pos} bit ${bit} was accepted`);
      }
    }
  }
});

test('response: every flipped bit fails consumeResponse except the sender index and MACs; failures leave the state usable', () => {
  const { a, b, aSeesB, bSeesA } = pair(rand(32));
  const init = createInitiation(a, aSeesB, rand(32), TS, 0x11223344)!;
  const consumed = consumeInitiation(b, init.message, lookupOnly(a.publicKey, 0, bSeesA))!;
  const resp = createResponse(b, bSeesA, consumed.state, rand(32), 0x55667788)!;
  for (let pos = 0; pos < 92; pos++) {
    if ((pos >= 4 && pos < 8) || pos >= 60) continue; // sender index and MACs: mac1/mac2 tests cover these
    for (const bit of [0x01, 0x80]) {
      const m = Uint8Array.from(resp.message);
      m[pos]! ^= bit;
      assert.equal(consumeResponse(a, aSeesB, init.state, m), null, `flip at byte ${pos} bit ${bit} was accepted`);
    }
  }
  const done = consumeResponse(a, aSeesB, init.state, resp.message);
  assert.ok(done, 'the genuine response still completes after the forgeries');
  assert.deepEqual(done.keys.sendKey, resp.keys.recvKey);
  assert.equal(consumeResponse(a, aSeesB, init.state, resp.message), null, 'a replayed response cannot complete twice');
});

test('wrong length or type is refused without throwing', () => {
  const { a, b, aSeesB, bSeesA } = pair();
  const init = createInitiation(a, aSeesB, rand(32), TS, 1)!;
  const lookup = lookupOnly(a.publicKey, 0, bSeesA);
  for (const m of [init.message.subarray(0, 147), Uint8Array.of(...init.message, 0), new Uint8Array(0), new Uint8Array(148)]) {
    assert.equal(consumeInitiation(b, m, lookup), null);
  }
  const reserved = Uint8Array.from(init.message);
  reserved[3] = 1;
  assert.equal(consumeInitiation(b, reserved, lookup), null);
  assert.equal(consumeResponse(a, aSeesB, init.state, init.message), null);
  assert.equal(consumeResponse(a, aSeesB, init.state, new Uint8Array(92)), null);
});

test('low-order points really give an all-zero DH (fixture check)', () => {
  const k = identity();
  for (const p of LOW_ORDER_POINTS) assert.equal(k.privateKey.dh(p), null);
});

test('low-order remote static: no static-static secret, no initiation', () => {
  const a = identity();
  for (const p of LOW_ORDER_POINTS) {
    const pc = makePeerCrypto(a, p);
    assert.equal(pc.staticStatic, null);
    assert.equal(createInitiation(a, pc, rand(32), TS, 1), null);
    // Even if a caller forgot the precomputation check, DH(E_priv, S_pub_r) is refused.
    assert.equal(createInitiation(a, { ...pc, staticStatic: rand(32) }, rand(32), TS, 1), null);
  }
});

// The whitepaper derivation of an initiation with the ephemeral DH result `es` supplied by the
// caller. A hostile initiator using a low-order ephemeral knows es is all zeros, so without the
// zero check it could encrypt a static key the responder would accept.
function forgedInitiation(a: LocalIdentity, bPub: Uint8Array, ephemeralPub: Uint8Array, es: Uint8Array): Uint8Array {
  const enc = new TextEncoder();
  const c0 = hash(enc.encode(CONSTRUCTION));
  let h = hash(hash(c0, enc.encode(IDENTIFIER)), bPub);
  let c = kdf1(c0, ephemeralPub);
  h = hash(h, ephemeralPub);
  let key: Uint8Array;
  [c, key] = kdf2(c, es);
  const encryptedStatic = seal(key, 0, a.publicKey, h);
  h = hash(h, encryptedStatic);
  [c, key] = kdf2(c, a.privateKey.dh(bPub)!);
  const encryptedTimestamp = seal(key, 0, TS, h);
  return serializeInitiation(9, ephemeralPub, encryptedStatic, encryptedTimestamp);
}

test('low-order initiator ephemeral is rejected even though the forged message would otherwise decrypt', () => {
  const { a, b, bSeesA } = pair();
  const lookup = lookupOnly(a.publicKey, 0, bSeesA);
  // Control: the forging helper is the real derivation, so with a genuine ephemeral it is accepted.
  const e = identity();
  assert.ok(consumeInitiation(b, forgedInitiation(a, b.publicKey, e.publicKey, e.privateKey.dh(b.publicKey)!), lookup));
  for (const p of LOW_ORDER_POINTS) {
    assert.equal(consumeInitiation(b, forgedInitiation(a, b.publicKey, p, new Uint8Array(32)), lookup), null);
  }
});

// The whitepaper derivation of a response with both DH results supplied by the caller; a hostile
// responder with a low-order ephemeral knows ee and se are all zeros.
function forgedResponse(state: ResponderState, ephemeralPub: Uint8Array, ee: Uint8Array, se: Uint8Array, psk: Uint8Array, initiatorIndex: number): Uint8Array {
  let c = kdf1(state.chainKey, ephemeralPub);
  let h = hash(state.hash, ephemeralPub);
  c = kdf1(c, ee);
  c = kdf1(c, se);
  const [, tau, key] = kdf3(c, psk);
  h = hash(h, tau);
  return serializeResponse(7, initiatorIndex, ephemeralPub, seal(key, 0, new Uint8Array(0), h));
}

test('low-order responder ephemeral is rejected by consumeResponse', () => {
  const { a, b, aSeesB, bSeesA } = pair();
  const psk = bSeesA.presharedKey;
  // Control: with a genuine ephemeral the forging helper produces an accepted response.
  {
    const init = createInitiation(a, aSeesB, rand(32), TS, 0x42)!;
    const consumed = consumeInitiation(b, init.message, lookupOnly(a.publicKey, 0, bSeesA))!;
    const e = identity();
    const m = forgedResponse(consumed.state, e.publicKey, e.privateKey.dh(consumed.state.remoteEphemeral)!, e.privateKey.dh(a.publicKey)!, psk, 0x42);
    assert.ok(consumeResponse(a, aSeesB, init.state, m));
  }
  for (const p of LOW_ORDER_POINTS) {
    const init = createInitiation(a, aSeesB, rand(32), TS, 0x42)!;
    const consumed = consumeInitiation(b, init.message, lookupOnly(a.publicKey, 0, bSeesA))!;
    const zero = new Uint8Array(32);
    assert.equal(consumeResponse(a, aSeesB, init.state, forgedResponse(consumed.state, p, zero, zero, psk, 0x42)), null);
  }
});

test('createResponse refuses a low-order initiator ephemeral or static', () => {
  const { b, bSeesA } = pair();
  for (const p of LOW_ORDER_POINTS) {
    const state: ResponderState = { remoteIndex: 1, chainKey: rand(32), hash: rand(32), remoteEphemeral: p, timestamp: TS };
    assert.equal(createResponse(b, bSeesA, state, rand(32), 2), null);
    const state2: ResponderState = { ...state, remoteEphemeral: identity().publicKey };
    assert.equal(createResponse(b, { ...bSeesA, remoteStatic: p }, state2, rand(32), 2), null);
  }
});

test('createResponse addresses the initiator index and createInitiation rejects a non-u32 index', () => {
  const { a, b, aSeesB, bSeesA } = pair();
  const init = createInitiation(a, aSeesB, rand(32), TS, 0xdeadbeef)!;
  const consumed = consumeInitiation(b, init.message, lookupOnly(a.publicKey, 0, bSeesA))!;
  const resp = createResponse(b, bSeesA, consumed.state, rand(32), 5)!;
  assert.deepEqual(resp.message.subarray(8, 12), Uint8Array.of(0xef, 0xbe, 0xad, 0xde));
  assert.throws(() => createInitiation(a, aSeesB, rand(32), TS, -1), RangeError);
  assert.throws(() => createInitiation(a, aSeesB, rand(32), TS, 2 ** 32), RangeError);
});

test('createResponse imports the initiator ephemeral again when the state carries no import, or one of other bytes', () => {
  const { a, b, aSeesB, bSeesA } = pair();
  const init1 = createInitiation(a, aSeesB, rand(32), TS, 1)!;
  const init2 = createInitiation(a, aSeesB, rand(32), TS, 2)!;
  const look = lookupOnly(a.publicKey, 0, bSeesA);
  const s1 = consumeInitiation(b, init1.message, look)!.state;
  const s2 = consumeInitiation(b, init2.message, look)!.state;
  assert.ok(s1.remoteEphemeralKey?.is(s1.remoteEphemeral));
  const variants: Array<[string, ResponderState]> = [
    ['no import', { ...s1, chainKey: Uint8Array.from(s1.chainKey), hash: Uint8Array.from(s1.hash), remoteEphemeralKey: undefined }],
    ['import of another ephemeral', { ...s1, chainKey: Uint8Array.from(s1.chainKey), hash: Uint8Array.from(s1.hash), remoteEphemeralKey: s2.remoteEphemeralKey! }],
  ];
  for (const [name, state] of variants) {
    const initiator = { ...init1.state, chainKey: Uint8Array.from(init1.state.chainKey), hash: Uint8Array.from(init1.state.hash) };
    const resp = createResponse(b, bSeesA, state, rand(32), 9)!;
    assert.ok(resp, name);
    const done = consumeResponse(a, aSeesB, initiator, resp.message);
    assert.ok(done, name);
    assert.deepEqual(done.keys.sendKey, resp.keys.recvKey, name);
  }
});
