import { test } from 'vitest';
import assert from 'node:assert/strict';
import { equalConstantTime, isZero, decodeKey, encodeKey, toHex } from '../../src/crypto/util.js';
import { seq } from './vectors.js';

test('equalConstantTime and isZero', () => {
  assert.equal(equalConstantTime(seq(32), seq(32)), true);
  const b = seq(32);
  b[31]! ^= 1;
  assert.equal(equalConstantTime(seq(32), b), false);
  assert.equal(equalConstantTime(seq(31), seq(32)), false);
  assert.equal(equalConstantTime(new Uint8Array(0), new Uint8Array(0)), true);
  assert.equal(isZero(new Uint8Array(32)), true);
  const z = new Uint8Array(32);
  z[17] = 0x80;
  assert.equal(isZero(z), false);
});

test('encodeKey/decodeKey round trip with standard base64 (44 chars)', () => {
  const k = seq(32, 0xf0); // contains bytes that encode to '+' and '/'
  const s = encodeKey(k);
  assert.equal(s, Buffer.from(k).toString('base64'));
  assert.equal(s.length, 44);
  assert.deepEqual(decodeKey(s), k);
  assert.equal(toHex(k.subarray(0, 2)), 'f0f1');
  // subarray views encode only their own bytes
  const big = seq(40);
  assert.equal(encodeKey(big.subarray(4, 36)), Buffer.from(big.subarray(4, 36)).toString('base64'));
});

test('decodeKey rejects what wg rejects', () => {
  const good = encodeKey(seq(32, 3));
  assert.ok(decodeKey(good));
  const bad = [
    '', good.slice(0, 43), good + 'A', good.slice(0, 43) + 'A', // length / padding
    good.slice(0, 42) + 'B=', // non-zero trailing bits (non-canonical)
    good.replace(/^./, '-'), good.replace(/^./, '_'), // base64url alphabet
    ' ' + good.slice(1), good.slice(0, 10) + '*' + good.slice(11),
    good + '\n', // callers trim; the decoder itself is exact
  ];
  for (const s of bad) assert.equal(decodeKey(s), null, JSON.stringify(s));
});
