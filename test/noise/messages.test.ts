import { test } from 'vitest';
import assert from 'node:assert/strict';
import {
  messageType,
  parseCookieReply,
  parseInitiation,
  parseResponse,
  peekReceiverIndex,
  peekSenderIndex,
  serializeCookieReply,
  serializeInitiation,
  serializeResponse,
} from '../../src/noise/messages.js';

function filled(n: number, v: number): Uint8Array {
  return new Uint8Array(n).fill(v);
}

test('messageType accepts exact sizes for types 1-3 and >= 32 bytes for type 4', () => {
  const withType = (t: number, n: number) => { const b = new Uint8Array(n); b[0] = t; return b; };
  assert.equal(messageType(withType(1, 148)), 1);
  assert.equal(messageType(withType(2, 92)), 2);
  assert.equal(messageType(withType(3, 64)), 3);
  assert.equal(messageType(withType(4, 32)), 4);
  assert.equal(messageType(withType(4, 1500)), 4);
  for (const [t, n] of [[1, 147], [1, 149], [2, 91], [2, 148], [3, 63], [3, 65], [4, 31], [0, 148], [5, 64], [255, 92]]) {
    assert.equal(messageType(withType(t!, n!)), null, `type ${t} length ${n}`);
  }
  assert.equal(messageType(new Uint8Array(0)), null);
  assert.equal(messageType(Uint8Array.of(4, 0, 0)), null);
  for (const r of [1, 2, 3]) {
    const b = withType(2, 92);
    b[r] = 1;
    assert.equal(messageType(b), null, `reserved byte ${r} nonzero`);
  }
});

test('initiation layout: type, LE sender, fields at 8/40/88, MACs at 116/132', () => {
  const m = serializeInitiation(0x04030201, filled(32, 0xe1), filled(48, 0x5e), filled(28, 0x7a));
  assert.equal(m.length, 148);
  assert.deepEqual(m.subarray(0, 8), Uint8Array.of(1, 0, 0, 0, 1, 2, 3, 4));
  assert.deepEqual(m.subarray(8, 40), filled(32, 0xe1));
  assert.deepEqual(m.subarray(40, 88), filled(48, 0x5e));
  assert.deepEqual(m.subarray(88, 116), filled(28, 0x7a));
  assert.deepEqual(m.subarray(116), new Uint8Array(32));
  const p = parseInitiation(m)!;
  assert.equal(p.senderIndex, 0x04030201);
  assert.deepEqual(p.unencryptedEphemeral, filled(32, 0xe1));
  assert.deepEqual(p.encryptedStatic, filled(48, 0x5e));
  assert.deepEqual(p.encryptedTimestamp, filled(28, 0x7a));
  assert.equal(p.mac1.byteOffset - m.byteOffset, 116);
  assert.equal(p.mac2.byteOffset - m.byteOffset, 132);
  assert.equal(peekSenderIndex(m), 0x04030201);
  assert.equal(peekReceiverIndex(m), -1, 'an initiation has no receiver');
  assert.equal(parseResponse(m), null);
});

test('response layout: sender at 4, receiver at 8, ephemeral at 12, empty tag at 44, MACs at 60/76', () => {
  const m = serializeResponse(0xaabbccdd, 0xffffffff, filled(32, 0x33), filled(16, 0x44));
  assert.equal(m.length, 92);
  assert.deepEqual(m.subarray(0, 12), Uint8Array.of(2, 0, 0, 0, 0xdd, 0xcc, 0xbb, 0xaa, 0xff, 0xff, 0xff, 0xff));
  assert.deepEqual(m.subarray(12, 44), filled(32, 0x33));
  assert.deepEqual(m.subarray(44, 60), filled(16, 0x44));
  const p = parseResponse(m)!;
  assert.equal(p.senderIndex, 0xaabbccdd);
  assert.equal(p.receiverIndex, 0xffffffff);
  assert.equal(p.mac1.byteOffset - m.byteOffset, 60);
  assert.equal(peekReceiverIndex(m), 0xffffffff);
  assert.equal(peekSenderIndex(m), 0xaabbccdd);
});

test('cookie reply layout: receiver at 4, nonce at 8, encrypted cookie at 32', () => {
  const m = serializeCookieReply(0x01000000, filled(24, 0x99), filled(32, 0x88));
  assert.equal(m.length, 64);
  assert.deepEqual(m.subarray(0, 8), Uint8Array.of(3, 0, 0, 0, 0, 0, 0, 1));
  const p = parseCookieReply(m)!;
  assert.equal(p.receiverIndex, 0x01000000);
  assert.deepEqual(p.nonce, filled(24, 0x99));
  assert.deepEqual(p.encryptedCookie, filled(32, 0x88));
  assert.equal(peekReceiverIndex(m), 0x01000000);
  assert.equal(peekSenderIndex(m), -1);
});

test('transport receiver index is read at offset 4', () => {
  const m = new Uint8Array(48);
  m.set([4, 0, 0, 0, 0x78, 0x56, 0x34, 0x12]);
  assert.equal(peekReceiverIndex(m), 0x12345678);
  assert.equal(peekReceiverIndex(m.subarray(0, 31)), -1);
});

test('serializers reject wrong field sizes and non-u32 indices', () => {
  assert.throws(() => serializeInitiation(0, filled(31, 0), filled(48, 0), filled(28, 0)), RangeError);
  assert.throws(() => serializeResponse(0, 0, filled(32, 0), filled(15, 0)), RangeError);
  assert.throws(() => serializeCookieReply(2 ** 32, filled(24, 0), filled(32, 0)), RangeError);
  assert.throws(() => serializeResponse(1.5, 0, filled(32, 0), filled(16, 0)), RangeError);
});
