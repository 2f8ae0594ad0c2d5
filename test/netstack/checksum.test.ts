import { test } from 'vitest';
import assert from 'node:assert/strict';
import { sum, fold, checksum, pseudoHeaderSum } from '../../src/netstack/checksum.js';
import { hex, loadVectors, type PingCapture } from './helpers.js';

const cap = loadVectors<PingCapture>('ping-capture.json');

test('RFC 1071 section 3 numerical example: sum of 00 01 f2 03 f4 f5 f6 f7 is ddf2', () => {
  const b = hex('0001f203f4f5f6f7');
  assert.equal(fold(sum(b)), 0xddf2);
  assert.equal(checksum(b), 0x220d);
  // Byte order independence (RFC 1071 2(B)): the swapped sum is the swapped result.
  const swapped = hex('0100 03f2 f5f4 f7f6'.replace(/ /g, ''));
  assert.equal(fold(sum(swapped)), 0xf2dd);
});

test('odd length pads with a zero byte', () => {
  assert.equal(fold(sum(hex('0102ab'))), 0x0102 + 0xab00);
});

test('summing in pieces equals summing at once (even split points)', () => {
  const p = hex(cap.ipv4[0]!);
  const whole = fold(sum(p, 20));
  assert.equal(fold(sum(p, 40, p.length, sum(p, 20, 40))), whole);
});

test('captured IPv4 ping: header and ICMP checksums verify and recompute to the captured values', () => {
  for (const h of cap.ipv4) {
    const p = hex(h);
    assert.equal(checksum(p, 0, 20), 0, 'header verifies');
    assert.equal(checksum(p, 20), 0, 'icmp verifies');
    const q = p.slice();
    const stored = (q[10]! << 8) | q[11]!;
    q[10] = q[11] = 0;
    assert.equal(checksum(q, 0, 20), stored);
    const icmp = (q[22]! << 8) | q[23]!;
    q[22] = q[23] = 0;
    assert.equal(checksum(q, 20), icmp);
  }
});

test('captured ICMPv6 ping: checksum over the IPv6 pseudo-header verifies and recomputes', () => {
  for (const h of cap.ipv6) {
    const p = hex(h);
    const src = p.subarray(8, 24);
    const dst = p.subarray(24, 40);
    const len = p.length - 40;
    assert.equal(checksum(p, 40, p.length, pseudoHeaderSum(src, dst, 58, len)), 0);
    const q = p.slice();
    const stored = (q[42]! << 8) | q[43]!;
    q[42] = q[43] = 0;
    assert.equal(checksum(q, 40, q.length, pseudoHeaderSum(src, dst, 58, len)), stored);
    // Without the pseudo-header the checksum does not verify.
    assert.notEqual(checksum(p, 40), 0);
  }
});
