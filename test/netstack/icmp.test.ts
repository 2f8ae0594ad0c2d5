import { test } from 'vitest';
import assert from 'node:assert/strict';
import { Stack } from '../../src/netstack/stack.js';
import { parseIpv4 } from '../../src/netstack/ipv4.js';
import { parseIpv6 } from '../../src/netstack/ipv6.js';
import { checksum, pseudoHeaderSum } from '../../src/netstack/checksum.js';
import { hex, toHex, loadVectors, seededRandom, type PingCapture } from './helpers.js';

const cap = loadVectors<PingCapture>('ping-capture.json');

function stack(): Stack {
  return new Stack({ addresses: [{ ip: '10.77.0.2', cidr: 24 }, { ip: 'fd77::2', cidr: 64 }], random: seededRandom(1) });
}

test('ICMPv4 echo: reply to a kernel ping matches the kernel reply (except IP identification)', () => {
  const s = stack();
  s.input(hex(cap.ipv4[0]!), 0);
  const out = s.poll(0);
  assert.equal(out.length, 1);
  const ours = out[0]!;
  const kernel = hex(cap.ipv4[1]!);
  const p = parseIpv4(ours);
  assert.ok(typeof p !== 'string', String(p));
  assert.equal(checksum(ours, 0, 20), 0);
  assert.equal(toHex(ours.subarray(20)), toHex(kernel.subarray(20)), 'ICMP part byte-equal to the kernel reply');
  // Version/IHL/TOS/length, TTL/protocol and addresses as the kernel's.
  assert.equal(toHex(ours.subarray(0, 4)), toHex(kernel.subarray(0, 4)));
  assert.equal(toHex(ours.subarray(8, 10)), toHex(kernel.subarray(8, 10)));
  assert.equal(toHex(ours.subarray(12, 20)), toHex(kernel.subarray(12, 20)));
  assert.equal(s.drops.size, 0);
});

test('ICMPv6 echo: reply matches the kernel reply except the flow label', () => {
  const s = stack();
  s.input(hex(cap.ipv6[0]!), 0);
  const out = s.poll(0);
  assert.equal(out.length, 1);
  const ours = out[0]!;
  const kernel = hex(cap.ipv6[1]!);
  const p = parseIpv6(ours);
  assert.ok(typeof p !== 'string', String(p));
  assert.equal(checksum(ours, 40, ours.length, pseudoHeaderSum(p.src, p.dst, 58, ours.length - 40)), 0);
  const mask = (b: Uint8Array) => {
    const c = b.slice();
    c[1]! &= 0xf0;
    c[2] = c[3] = 0;
    return toHex(c);
  };
  assert.equal(mask(ours), mask(kernel));
});

test('poll() forgets what it returned', () => {
  const s = stack();
  s.input(hex(cap.ipv4[0]!), 0);
  assert.equal(s.poll(0).length, 1);
  assert.equal(s.poll(1).length, 0);
  assert.equal(s.nextDeadline(), Infinity);
});

test('packets for other addresses are dropped and counted', () => {
  const s = new Stack({ addresses: [{ ip: '10.9.9.9', cidr: 32 }], random: seededRandom(2) });
  s.input(hex(cap.ipv4[0]!), 0);
  s.input(hex(cap.ipv6[0]!), 0);
  assert.equal(s.poll(0).length, 0);
  assert.equal(s.drops.get('not-for-us'), 2);
});

test('bad checksums and truncation are counted drops, never replies', () => {
  const s = stack();
  const bad = hex(cap.ipv4[0]!);
  bad[30]! ^= 1; // ICMP data
  s.input(bad, 0);
  const badHdr = hex(cap.ipv4[0]!);
  badHdr[8]! ^= 1; // TTL, header checksum now wrong
  s.input(badHdr, 0);
  const bad6 = hex(cap.ipv6[0]!);
  bad6[8]! ^= 0x80; // source address: pseudo-header no longer matches
  s.input(bad6, 0);
  s.input(hex(cap.ipv4[0]!).subarray(0, 30), 0);
  s.input(new Uint8Array(0), 0);
  s.input(hex('70'), 0);
  assert.equal(s.poll(0).length, 0);
  assert.equal(s.drops.get('icmp-checksum'), 1);
  assert.equal(s.drops.get('ipv4-checksum'), 1);
  assert.equal(s.drops.get('icmp6-checksum'), 1);
  assert.equal(s.drops.get('ipv4-length'), 1);
  assert.equal(s.drops.get('empty'), 1);
  assert.equal(s.drops.get('ip-version'), 1);
});

test('echo replies are not answered (no ping-pong)', () => {
  const s = new Stack({ addresses: [{ ip: '10.77.0.1', cidr: 24 }], random: seededRandom(3) });
  s.input(hex(cap.ipv4[1]!), 0); // kernel reply addressed to .1
  assert.equal(s.poll(0).length, 0);
  assert.equal(s.drops.get('icmp-type-ignored'), 1);
});
