/**
 * IPv4 and IPv6 header handling: IPv4 options and link padding (RFC 791),
 * IPv6 extension header chains (RFC 8200 section 4): where Hop-by-Hop may
 * appear, option actions for unknown options, routing headers with
 * segments left, atomic fragments (RFC 6946). Delivery is observed through
 * a bound UDP socket.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { Stack } from '../../src/netstack/stack.js';
import { rawUdp, seededRandom, inetChecksum } from './helpers.js';

function setup(): { s: Stack; got: string[] } {
  const s = new Stack({ addresses: [{ ip: '10.0.0.2', cidr: 24 }, { ip: 'fd00::2', cidr: 64 }], random: seededRandom(6) });
  const got: string[] = [];
  s.udp.bind(7).on('message', (m: Buffer) => got.push(m.toString()));
  return { s, got };
}
const tick = () => new Promise((r) => setImmediate(r));

/** Inserts extension headers (each given as [nextHeaderPlaceholder, ...bytes]) after the IPv6 fixed header of a UDP packet. */
function withExt(p: Uint8Array, exts: Array<{ type: number; body: number[] }>): Uint8Array {
  const fixed = Buffer.from(p.subarray(0, 40));
  const rest = Buffer.from(p.subarray(40));
  const parts: Buffer[] = [];
  const types = exts.map((e) => e.type);
  for (let i = 0; i < exts.length; i++) {
    const next = i + 1 < exts.length ? types[i + 1]! : 17;
    const body = exts[i]!.body;
    const h = Buffer.from([next, ...body]);
    parts.push(h);
  }
  fixed[6] = types[0]!;
  const out = Buffer.concat([fixed, ...parts, rest]);
  out.writeUInt16BE(out.length - 40, 4);
  return new Uint8Array(out);
}

test('IPv4 header options are skipped and link padding after Total Length is ignored', async () => {
  const { s, got } = setup();
  const p = Buffer.from(rawUdp({ src: '10.0.0.9', dst: '10.0.0.2', sport: 9, dport: 7, data: Buffer.from('opts') }));
  // Insert a 4-byte NOP option block: IHL 6.
  const withOpt = Buffer.concat([p.subarray(0, 20), Buffer.from([1, 1, 1, 0]), p.subarray(20)]);
  withOpt[0] = 0x46;
  withOpt.writeUInt16BE(withOpt.length, 2);
  withOpt.writeUInt16BE(0, 10);
  let sum = 0;
  for (let i = 0; i < 24; i += 2) sum += withOpt.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  withOpt.writeUInt16BE(~sum & 0xffff, 10);
  s.input(withOpt, 0);
  s.input(Buffer.concat([p, Buffer.alloc(6)]), 0);
  await tick();
  assert.deepEqual(got, ['opts', 'opts']);
});

test('IPv6 Hop-by-Hop (PadN), Destination Options and a Routing header with no segments left are walked', async () => {
  const { s, got } = setup();
  const base = rawUdp({ src: 'fd00::9', dst: 'fd00::2', sport: 9, dport: 7, data: Buffer.from('ext') });
  const pkt = withExt(base, [
    { type: 0, body: [0, 1, 4, 0, 0, 0, 0] }, // HBH: len 0 (8 bytes), PadN of 4
    { type: 43, body: [0, 0, 0, 0, 0, 0, 0] }, // Routing type 0, segments left 0
    { type: 60, body: [0, 0, 1, 0, 0, 0, 0] }, // Dest opts: Pad1, Pad1, PadN 0... ends at 8
  ]);
  s.input(pkt, 0);
  await tick();
  assert.deepEqual(got, ['ext']);
});

test('IPv6 extension header errors are counted drops', async () => {
  const { s, got } = setup();
  const base = rawUdp({ src: 'fd00::9', dst: 'fd00::2', sport: 9, dport: 7, data: Buffer.from('x') });
  s.input(withExt(base, [{ type: 0, body: [0, 0x42, 4, 0, 0, 0, 0] }]), 0); // unknown option, action 01: discard
  s.input(withExt(base, [{ type: 43, body: [0, 0, 1, 0, 0, 0, 0] }]), 0); // segments left 1
  s.input(withExt(base, [{ type: 60, body: [0, 1, 4, 0, 0, 0, 0] }, { type: 0, body: [0, 1, 4, 0, 0, 0, 0] }]), 0); // HBH not first
  s.input(withExt(base, Array.from({ length: 20 }, () => ({ type: 60, body: [0, 1, 4, 0, 0, 0, 0] }))), 0);
  const truncated = withExt(base, [{ type: 60, body: [0, 1, 4, 0, 0, 0, 0] }]).subarray(0, 44);
  const t = Buffer.from(truncated);
  t.writeUInt16BE(4, 4);
  s.input(t, 0);
  await tick();
  assert.deepEqual(got, []);
  assert.equal(s.drops.get('ipv6-unknown-option'), 1);
  assert.equal(s.drops.get('ipv6-routing-segments-left'), 1);
  assert.equal(s.drops.get('ipv6-hop-by-hop-position'), 1);
  assert.equal(s.drops.get('ipv6-ext-chain-too-long'), 1);
  assert.equal(s.drops.get('ipv6-ext-truncated'), 1);
});

test('an IPv6 atomic fragment (offset 0, M clear) is processed on its own (RFC 6946)', async () => {
  const { s, got } = setup();
  const base = rawUdp({ src: 'fd00::9', dst: 'fd00::2', sport: 9, dport: 7, data: Buffer.from('atomic') });
  s.input(withExt(base, [{ type: 44, body: [0, 0, 0, 0, 0, 0, 42] }]), 0);
  await tick();
  assert.deepEqual(got, ['atomic']);
});

test('IPv4 packets with the reserved flag, bad IHL or a length past the buffer are dropped', () => {
  const { s } = setup();
  const p = Buffer.from(rawUdp({ src: '10.0.0.9', dst: '10.0.0.2', sport: 9, dport: 7, data: Buffer.from('x') }));
  const evil = Buffer.from(p);
  evil[6]! |= 0x80;
  evil.writeUInt16BE(0, 10);
  evil.writeUInt16BE(inetChecksum(evil.subarray(0, 20)), 10);
  s.input(evil, 0);
  const ihl = Buffer.from(p);
  ihl[0] = 0x44;
  s.input(ihl, 0);
  s.input(p.subarray(0, p.length - 1), 0);
  assert.equal(s.drops.get('ipv4-reserved-flag'), 1);
  assert.equal(s.drops.get('ipv4-ihl'), 1);
  assert.equal(s.drops.get('ipv4-length'), 1);
});
