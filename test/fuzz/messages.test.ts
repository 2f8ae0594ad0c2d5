/**
 * Fuzzes the noise message layer: messageType, the parse/peek helpers and the
 * MAC checks of cookie.ts, on random and mutated messages.
 *
 *   real messages (MACs stamped by a CookieGenerator) -> mutate -> every
 *   parser and MAC check; each result is compared with an oracle written from
 *   the whitepaper's sizes (5.4.2-5.4.7) or with the set of messages we
 *   authenticated ourselves (a MAC must verify exactly on those).
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import {
  messageType, parseCookieReply, parseInitiation, parseResponse, peekReceiverIndex, peekSenderIndex,
  serializeCookieReply, serializeInitiation, serializeResponse,
} from '../../src/noise/messages.js';
import { CookieChecker, CookieGenerator } from '../../src/noise/cookie.js';
import { clampPrivateKey, publicKey } from '../../src/crypto/x25519.js';
import { describeReport, Rng, runFuzz } from './harness.js';

/** Whitepaper 5.4: type byte, three zero bytes, exact sizes 148/92/64, transport >= 16 + 16. */
function specType(b: Uint8Array): number | null {
  if (b.length < 4 || b[1] !== 0 || b[2] !== 0 || b[3] !== 0) return null;
  const sizes: Record<number, number> = { 1: 148, 2: 92, 3: 64 };
  const t = b[0]!;
  if (t >= 1 && t <= 3) return b.length === sizes[t] ? t : null;
  if (t === 4) return b.length >= 32 ? 4 : null;
  return null;
}

function u32le(b: Uint8Array, off: number): number {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(off, true);
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function sameView(field: Uint8Array, of: Uint8Array): boolean {
  return field.buffer === of.buffer; // parse* returns views, never copies
}

function build(r: Rng) {
  const pub = publicKey(clampPrivateKey(r.bytes(32)));
  const random = (n: number): Uint8Array => r.bytes(n);
  const gen = new CookieGenerator(pub);
  const checker = new CookieChecker(pub, random);
  const src = new TextEncoder().encode('192.0.2.1|51820');
  const t = 1000;
  const init1 = serializeInitiation(r.u32(), r.bytes(32), r.bytes(48), r.bytes(28));
  gen.addMacs(init1, t);
  const reply1 = checker.createReply(init1, src, t);
  assert.ok(gen.consumeReply(reply1, t), 'a fresh cookie reply is accepted');
  const init2 = serializeInitiation(r.u32(), r.bytes(32), r.bytes(48), r.bytes(28));
  gen.addMacs(init2, t); // now with mac2
  const resp = serializeResponse(r.u32(), r.u32(), r.bytes(32), r.bytes(16));
  gen.addMacs(resp, t);
  const reply2 = checker.createReply(resp, src, t); // answers the last mac1 the generator sent
  const transport = new Uint8Array(48);
  transport.set([4, 0, 0, 0]);
  transport.set(r.bytes(44), 4);
  const authMac1 = new Set([init1, init2, resp].map((m) => hex(m.subarray(0, m.length - 16))));
  const authMac2 = new Set([init2, resp].map(hex));
  return { gen, checker, src, t, seeds: [init1, init2, resp, reply1, reply2, transport], authMac1, authMac2, reply1, reply2 };
}

test('fuzz: noise message parsers and MAC checks', (t) => {
  const setup = build(new Rng(0x5eed));
  const { gen, checker, src, authMac1, authMac2 } = setup;
  // Random bytes of every interesting length, besides the real messages.
  const r0 = new Rng(1);
  const lengths = [0, 1, 3, 4, 5, 31, 32, 33, 63, 64, 65, 91, 92, 93, 147, 148, 149, 1500];
  const seeds = [...setup.seeds, ...lengths.map((n) => r0.bytes(n))];

  const rep = runFuzz({
    name: 'noise-messages',
    seeds,
    iterations: 30_000,
    check: (m) => {
      const want = specType(m);
      assert.equal(messageType(m), want);
      // Parsers: non-null exactly for their type; fields are views that rebuild the input.
      const pi = parseInitiation(m);
      const pr = parseResponse(m);
      const pc = parseCookieReply(m);
      assert.equal(pi !== null, want === 1);
      assert.equal(pr !== null, want === 2);
      assert.equal(pc !== null, want === 3);
      if (pi) {
        assert.ok(sameView(pi.mac1, m) && sameView(pi.encryptedStatic, m));
        const b = serializeInitiation(pi.senderIndex, pi.unencryptedEphemeral, pi.encryptedStatic, pi.encryptedTimestamp);
        b.set(pi.mac1, 116);
        b.set(pi.mac2, 132);
        assert.deepEqual(b, m);
      }
      if (pr) {
        assert.ok(sameView(pr.mac2, m) && sameView(pr.unencryptedEphemeral, m));
        const b = serializeResponse(pr.senderIndex, pr.receiverIndex, pr.unencryptedEphemeral, pr.encryptedNothing);
        b.set(pr.mac1, 60);
        b.set(pr.mac2, 76);
        assert.deepEqual(b, m);
      }
      if (pc) assert.deepEqual(serializeCookieReply(pc.receiverIndex, pc.nonce, pc.encryptedCookie), m);
      // Index peeks: the spec offsets, -1 for anything without that field.
      const recvOff = want === 2 ? 8 : want === 3 || want === 4 ? 4 : -1;
      assert.equal(peekReceiverIndex(m), recvOff < 0 ? -1 : u32le(m, recvOff));
      assert.equal(peekSenderIndex(m), want === 1 || want === 2 ? u32le(m, 4) : -1);
      // MACs verify exactly on what we stamped (mac1 ignores the mac2 field).
      const isHs = want === 1 || want === 2;
      const mac1 = checker.checkMac1(m);
      assert.equal(mac1, isHs && authMac1.has(hex(m.subarray(0, m.length - 16))));
      assert.equal(checker.checkMac2(m, src, setup.t), isHs && authMac2.has(hex(m)));
      // Cookie replies: only a reply to the generator's last mac1 is taken. The
      // receiver index is not authenticated (the device looks the peer up by it).
      const took = gen.consumeReply(m, setup.t);
      assert.equal(took, want === 3 && hex(m.subarray(8)) === hex(setup.reply2.subarray(8)));
      return want === null ? 'rejected' : `type${want}${mac1 ? '+mac1' : ''}${took ? '+cookie' : ''}`;
    },
  });
  assert.ok(!gen.consumeReply(setup.reply1, setup.t), 'a reply to an older mac1 is refused');
  for (const k of ['rejected', 'type1', 'type2', 'type3', 'type4', 'type1+mac1']) {
    assert.ok(rep.outcomes.has(k), `outcome ${k} reached (${[...rep.outcomes.keys()].join(', ')})`);
  }
  console.log(describeReport('noise-messages', rep));
});
