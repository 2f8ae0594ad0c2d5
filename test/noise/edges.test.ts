/**
 * Edges of src/noise that mutation testing (`npm run mutate -- noise`) found
 * unchecked: index bounds at 0 and 2^32-1, the exact errors callers see, a
 * zero mac2 once a cookie secret exists, stale mac2 bytes in a reused
 * buffer, a cookie reply before any mac1 was sent, a short random(32), the
 * zeroing done by the wipe helpers, and the type checks of messageType and
 * parseCookieReply. Mutants that no test can kill are listed with their
 * reason in test/MUTATION.md.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { tai64n } from '../../src/crypto/tai64n.js';
import { isZero } from '../../src/crypto/util.js';
import { CookieChecker, CookieGenerator } from '../../src/noise/cookie.js';
import {
  consumeInitiation, createInitiation, makePeerCrypto, wipeInitiatorState, wipePeerCrypto, wipeResponderState,
} from '../../src/noise/handshake.js';
import { messageType, parseCookieReply, serializeCookieReply, serializeInitiation, serializeResponse, writeU32LE } from '../../src/noise/messages.js';
import { pair, rand } from './helpers.js';

const TS = tai64n(1_700_000_000_000);
const SRC = Uint8Array.of(192, 0, 2, 1, 0xca, 0x6c);
const T0 = 5_000_000;
const filled = (n: number, v: number) => new Uint8Array(n).fill(v);

test('u32 indices: 0 and 2^32-1 are accepted, -1, 2^32 and 1.5 refused with the caller-facing message', () => {
  const { a, aSeesB } = pair();
  for (const ok of [0, 0xffff_ffff]) {
    const init = createInitiation(a, aSeesB, rand(32), TS, ok);
    assert.ok(init, `index ${ok}`);
    assert.equal(init.state.localIndex, ok);
    const b = new Uint8Array(4);
    writeU32LE(b, 0, ok);
    assert.deepEqual(b, ok === 0 ? new Uint8Array(4) : filled(4, 0xff));
  }
  for (const bad of [-1, 2 ** 32, 1.5]) {
    assert.throws(() => createInitiation(a, aSeesB, rand(32), TS, bad), /^RangeError: local index must be a u32$/, `createInitiation ${bad}`);
    assert.throws(() => writeU32LE(new Uint8Array(4), 0, bad), /^RangeError: index must be a u32$/, `writeU32LE ${bad}`);
  }
  assert.throws(() => serializeResponse(0, -1, filled(32, 0), filled(16, 0)), /index must be a u32/);
  assert.throws(() => serializeInitiation(0, filled(31, 0), filled(48, 0), filled(28, 0)), /^RangeError: message field must be 32 bytes$/);
});

test('createInitiation refuses a timestamp that is not 12 bytes, and a peer without a static-static secret', () => {
  const { a, b, aSeesB } = pair();
  assert.equal(createInitiation(a, aSeesB, rand(32), TS.subarray(0, 11), 1), null);
  assert.equal(createInitiation(a, aSeesB, rand(32), new Uint8Array(13), 1), null);
  const noLocal = makePeerCrypto(null, b.publicKey);
  assert.equal(noLocal.staticStatic, null);
  assert.equal(createInitiation(a, noLocal, rand(32), TS, 1), null);
});

test('messageType gives 3 only to a 64-byte cookie reply; parseCookieReply refuses every other message', () => {
  const reply = serializeCookieReply(7, filled(24, 1), filled(32, 2));
  assert.equal(messageType(reply), 3);
  assert.equal(parseCookieReply(reply)?.receiverIndex, 7);
  for (const [t, n] of [[1, 148], [2, 92], [4, 64], [4, 32]] as const) {
    const m = new Uint8Array(n);
    m[0] = t;
    assert.equal(parseCookieReply(m), null, `type ${t}, ${n} bytes`);
  }
});

test('once a cookie secret exists, a message with an all-zero mac2 still fails checkMac2', () => {
  const { a, b, aSeesB } = pair();
  const checker = new CookieChecker(b.publicKey, rand);
  const gen = new CookieGenerator(b.publicKey);
  const m = createInitiation(a, aSeesB, rand(32), TS, 1)!.message;
  gen.addMacs(m, T0);
  checker.createReply(m, SRC, T0); // the secret is set now
  assert.ok(isZero(m.subarray(132, 148)));
  assert.equal(checker.checkMac2(m, SRC, T0), false);
});

test('addMacs zeroes stale mac2 bytes when no cookie is held', () => {
  const { a, b, aSeesB } = pair();
  const m = createInitiation(a, aSeesB, rand(32), TS, 1)!.message;
  m.fill(0xff, 132);
  new CookieGenerator(b.publicKey).addMacs(m, T0);
  assert.ok(isZero(m.subarray(132, 148)), 'mac2 := 0^16 without a cookie');
});

test('a generator that has sent nothing refuses even a reply bound to an all-zero mac1', () => {
  const { a, b, aSeesB } = pair();
  const checker = new CookieChecker(b.publicKey, rand);
  const m = createInitiation(a, aSeesB, rand(32), TS, 1)!.message; // mac1 left zero
  const reply = checker.createReply(m, SRC, T0);
  assert.equal(new CookieGenerator(b.publicKey).consumeReply(reply, T0), false);
});

test('createReply and addMacs name the caller bug; a random() that returns a short secret is refused', () => {
  const { a, b, aSeesB } = pair();
  assert.throws(() => new CookieChecker(b.publicKey, rand).createReply(new Uint8Array(100), SRC, T0), /^RangeError: cookie reply needs a type 1 or 2 message$/);
  assert.throws(() => new CookieGenerator(b.publicKey).addMacs(new Uint8Array(64), T0), /^RangeError: addMacs needs a type 1 or 2 message$/);
  const m = createInitiation(a, aSeesB, rand(32), TS, 1)!.message;
  const short = new CookieChecker(b.publicKey, (n) => rand(n === 32 ? 31 : n));
  assert.throws(() => short.createReply(m, SRC, T0), /^RangeError: random\(32\) returned a wrong length$/);
});

test('the wipe helpers zero what they promise; a peer without a static-static secret wipes without throwing', () => {
  const { a, b, aSeesB, bSeesA } = pair(rand(32));
  const init = createInitiation(a, aSeesB, rand(32), TS, 1)!;
  const consumed = consumeInitiation(b, init.message, () => ({ peer: 0, crypto: bSeesA }))!;
  assert.ok(!isZero(init.state.chainKey) && !isZero(init.state.hash) && !isZero(init.state.ephemeral.raw));
  wipeInitiatorState(init.state);
  assert.ok(isZero(init.state.chainKey) && isZero(init.state.hash) && isZero(init.state.ephemeral.raw));
  assert.ok(!isZero(consumed.state.chainKey) && !isZero(consumed.state.hash));
  wipeResponderState(consumed.state);
  assert.ok(isZero(consumed.state.chainKey) && isZero(consumed.state.hash));
  assert.ok(!isZero(aSeesB.presharedKey) && !isZero(aSeesB.staticStatic!));
  wipePeerCrypto(aSeesB);
  assert.ok(isZero(aSeesB.presharedKey) && isZero(aSeesB.staticStatic!));
  const noSecret = makePeerCrypto(null, b.publicKey, rand(32));
  assert.doesNotThrow(() => wipePeerCrypto(noSecret));
  assert.ok(isZero(noSecret.presharedKey));
});
