import { test } from 'vitest';
import assert from 'node:assert/strict';
import { tai64n } from '../../src/crypto/tai64n.js';
import { isZero } from '../../src/crypto/util.js';
import { CookieChecker, CookieGenerator } from '../../src/noise/cookie.js';
import { consumeInitiation, createInitiation, createResponse } from '../../src/noise/handshake.js';
import { messageType, parseCookieReply } from '../../src/noise/messages.js';
import { pair, rand } from './helpers.js';

const TS = tai64n(1_700_000_000_000);
const SRC = Uint8Array.of(192, 0, 2, 1, 0xca, 0x6c);
const OTHER_SRC = Uint8Array.of(192, 0, 2, 2, 0xca, 0x6c);
const T0 = 5_000_000;

/** A fresh initiation from a to b, plus b's checker and a's generator for b. */
function setup() {
  const { a, b, aSeesB, bSeesA } = pair();
  const draws: number[] = [];
  const checker = new CookieChecker(b.publicKey, (n) => { draws.push(n); return rand(n); });
  const generator = new CookieGenerator(b.publicKey);
  const next = (index = 7) => createInitiation(a, aSeesB, rand(32), TS, index)!.message;
  return { a, b, aSeesB, bSeesA, checker, generator, next, draws };
}

test('mac1 is always written and verified by the checker; a checker for another key refuses it', () => {
  const { checker, generator, next, a } = setup();
  const m = next();
  assert.ok(isZero(m.subarray(116, 148)), 'createInitiation leaves both MACs zero');
  assert.equal(checker.checkMac1(m), false);
  generator.addMacs(m, T0);
  assert.ok(!isZero(m.subarray(116, 132)));
  assert.ok(checker.checkMac1(m));
  assert.equal(new CookieChecker(a.publicKey, rand).checkMac1(m), false);
});

test('mac1 covers every byte before it', () => {
  const { checker, generator, next } = setup();
  const m = next();
  generator.addMacs(m, T0);
  for (let pos = 0; pos < 132; pos++) {
    const t = Uint8Array.from(m);
    t[pos]! ^= 0x04;
    assert.equal(checker.checkMac1(t), false, `flip at byte ${pos} kept mac1 valid`);
  }
});

test('checkMac1 works on responses too, keyed by the initiator public key', () => {
  const { a, b, bSeesA, checker, generator, next } = setup();
  const init = next();
  generator.addMacs(init, T0);
  const consumed = consumeInitiation(b, init, () => ({ peer: 0, crypto: bSeesA }))!;
  const resp = createResponse(b, bSeesA, consumed.state, rand(32), 9)!.message;
  new CookieGenerator(a.publicKey).addMacs(resp, T0);
  assert.ok(new CookieChecker(a.publicKey, rand).checkMac1(resp));
  assert.equal(checker.checkMac1(resp), false);
});

test('checkMac1 refuses malformed buffers without throwing', () => {
  const { checker } = setup();
  for (const m of [new Uint8Array(0), new Uint8Array(148), new Uint8Array(32), Uint8Array.of(1, 0, 0, 0)]) {
    assert.equal(checker.checkMac1(m), false);
    assert.equal(checker.checkMac2(m, SRC, T0), false);
  }
});

test('without a cookie mac2 stays zero and checkMac2 fails', () => {
  const { checker, generator, next } = setup();
  const m = next();
  generator.addMacs(m, T0);
  assert.ok(isZero(m.subarray(132, 148)));
  assert.equal(checker.checkMac2(m, SRC, T0), false);
});

test('cookie round trip: reply -> cookie -> mac2 accepted from the same source only', () => {
  const { checker, generator, next, draws } = setup();
  const m1 = next(0xa1b2c3d4);
  generator.addMacs(m1, T0);
  const reply = checker.createReply(m1, SRC, T0);
  assert.deepEqual(draws, [32, 24], 'a new secret, then the nonce');
  assert.equal(reply.length, 64);
  assert.equal(messageType(reply), 3);
  assert.equal(parseCookieReply(reply)!.receiverIndex, 0xa1b2c3d4);
  assert.ok(generator.consumeReply(reply, T0 + 10));

  const m2 = next();
  generator.addMacs(m2, T0 + 20);
  assert.ok(!isZero(m2.subarray(132, 148)));
  assert.ok(checker.checkMac1(m2));
  assert.ok(checker.checkMac2(m2, SRC, T0 + 20));
  assert.equal(checker.checkMac2(m2, OTHER_SRC, T0 + 20), false);
  for (let pos = 0; pos < 148; pos++) {
    const t = Uint8Array.from(m2);
    t[pos]! ^= 0x20;
    assert.equal(checker.checkMac2(t, SRC, T0 + 20), false, `flip at byte ${pos} kept mac2 valid`);
  }
  // A second reply within the refresh time reuses the secret: only the nonce is drawn.
  checker.createReply(m2, SRC, T0 + 30);
  assert.deepEqual(draws, [32, 24, 24]);
});

test('consumeReply refuses replies not bound to the last mac1, tampered replies, and replies before any send', () => {
  const { checker, generator, next, b } = setup();
  const fresh = new CookieGenerator(b.publicKey);
  const m1 = next();
  generator.addMacs(m1, T0);
  const reply1 = checker.createReply(m1, SRC, T0);
  assert.equal(fresh.consumeReply(reply1, T0), false, 'nothing sent yet');
  const m2 = next();
  generator.addMacs(m2, T0 + 1);
  assert.equal(generator.consumeReply(reply1, T0 + 2), false, 'reply answers an older mac1');
  const reply2 = checker.createReply(m2, SRC, T0 + 2);
  for (let pos = 8; pos < 64; pos++) {
    const t = Uint8Array.from(reply2);
    t[pos]! ^= 0x01;
    assert.equal(generator.consumeReply(t, T0 + 3), false, `flip at byte ${pos} accepted`);
  }
  assert.equal(generator.consumeReply(reply2.subarray(0, 63), T0 + 3), false);
  const m3 = next();
  generator.addMacs(m3, T0 + 4);
  assert.ok(isZero(m3.subarray(132, 148)), 'no cookie was stored by the refused replies');
  assert.ok(generator.consumeReply(checker.createReply(m3, SRC, T0 + 4), T0 + 5));
});

test('a cookie is used for 120 s after receipt, then mac2 is zero again', () => {
  const { checker, generator, next } = setup();
  const m1 = next();
  generator.addMacs(m1, T0);
  assert.ok(generator.consumeReply(checker.createReply(m1, SRC, T0), T0));
  const at = (now: number) => {
    const m = next();
    generator.addMacs(m, now);
    return m;
  };
  assert.ok(!isZero(at(T0 + 120_000).subarray(132, 148)));
  assert.ok(isZero(at(T0 + 120_001).subarray(132, 148)));
});

test('the checker secret expires after 120 s and is replaced on the next reply', () => {
  const { checker, generator, next, draws } = setup();
  const m0 = next();
  generator.addMacs(m0, T0);
  checker.createReply(m0, SRC, T0); // secret set at T0
  // A cookie issued at T0 + 60 s still comes from the T0 secret.
  const m1 = next();
  generator.addMacs(m1, T0 + 60_000);
  assert.ok(generator.consumeReply(checker.createReply(m1, SRC, T0 + 60_000), T0 + 60_000));
  assert.deepEqual(draws, [32, 24, 24]);

  const m2 = next();
  generator.addMacs(m2, T0 + 120_000); // the cookie itself is 60 s old: still used
  assert.ok(!isZero(m2.subarray(132, 148)));
  assert.ok(checker.checkMac2(m2, SRC, T0 + 120_000));
  assert.equal(checker.checkMac2(m2, SRC, T0 + 120_001), false, 'secret older than 120 s');

  // The next reply rotates the secret; the old cookie's mac2 stays invalid.
  const m3 = next();
  generator.addMacs(m3, T0 + 120_001);
  const reply = checker.createReply(m3, SRC, T0 + 120_001);
  assert.deepEqual(draws, [32, 24, 24, 32, 24]);
  assert.equal(checker.checkMac2(m3, SRC, T0 + 120_001), false);
  assert.ok(generator.consumeReply(reply, T0 + 120_001));
  const m4 = next();
  generator.addMacs(m4, T0 + 120_002);
  assert.ok(checker.checkMac2(m4, SRC, T0 + 120_002));
});

test('setLocalPublic switches the mac1 key and drops the cookie secret', () => {
  const { checker, generator, next, a } = setup();
  const m = next();
  generator.addMacs(m, T0);
  assert.ok(generator.consumeReply(checker.createReply(m, SRC, T0), T0));
  const m2 = next();
  generator.addMacs(m2, T0 + 1);
  assert.ok(checker.checkMac2(m2, SRC, T0 + 1));
  checker.setLocalPublic(a.publicKey);
  assert.equal(checker.checkMac1(m2), false);
  assert.equal(checker.checkMac2(m2, SRC, T0 + 1), false);
  assert.ok(checker.checkMac1((() => { const x = next(); new CookieGenerator(a.publicKey).addMacs(x, T0); return x; })()));
});

test('addMacs and createReply refuse buffers that are not type 1 or 2 messages', () => {
  const { checker, generator } = setup();
  assert.throws(() => generator.addMacs(new Uint8Array(64), T0), RangeError);
  assert.throws(() => checker.createReply(new Uint8Array(100), SRC, T0), RangeError);
});
