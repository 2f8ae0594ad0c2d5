/**
 * Fragment reassembly (RFC 791 3.2, RFC 8200 4.5) against fragments made by
 * the Linux kernel (ping -s 3000 captured on a veth, see
 * vectors/capture-ping.sh): our echo reply, reassembled by the test, carries
 * the same ICMP message as the kernel's own reply. Then order, duplicates,
 * overlaps (RFC 5722), the timeout and the memory bounds.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { Stack } from '../../src/netstack/stack.js';
import { hex, loadVectors, seededRandom, rawIp, type PingCapture } from './helpers.js';

const cap = loadVectors<PingCapture>('ping-capture.json');

function stack(opts: Partial<ConstructorParameters<typeof Stack>[0]> = {}): Stack {
  return new Stack({ addresses: [{ ip: '10.77.0.2', cidr: 24 }, { ip: 'fd77::2', cidr: 64 }], random: seededRandom(8), ...opts });
}

interface Frag {
  off: number;
  mf: boolean;
  data: Uint8Array;
  src: string;
}

/** Fragment fields read straight from the bytes (IPv4 header, or IPv6 fixed header + Fragment header). */
function frag(p: Uint8Array): Frag {
  if (p[0]! >> 4 === 4) {
    const hl = (p[0]! & 15) * 4;
    const fo = (p[6]! << 8) | p[7]!;
    return { off: (fo & 0x1fff) * 8, mf: (fo & 0x2000) !== 0, data: p.subarray(hl, (p[2]! << 8) | p[3]!), src: [...p.subarray(12, 16)].join('.') };
  }
  assert.equal(p[6], 44, 'Fragment header right after the fixed header');
  const fo = (p[42]! << 8) | p[43]!;
  return { off: fo & 0xfff8, mf: (fo & 1) === 1, data: p.subarray(48), src: Buffer.from(p.subarray(8, 24)).toString('hex') };
}

/** Reassembles by offset, checking there are no holes. */
function reassemble(frags: Frag[]): Buffer {
  const sorted = [...frags].sort((a, b) => a.off - b.off);
  let at = 0;
  for (const f of sorted) {
    assert.equal(f.off, at, 'contiguous');
    at += f.data.length;
  }
  assert.equal(sorted[sorted.length - 1]!.mf, false);
  return Buffer.concat(sorted.map((f) => f.data));
}

function split(list: string[]): { req: Uint8Array[]; rep: Uint8Array[] } {
  const pk = list.map(hex);
  const first = frag(pk[0]!).src;
  return { req: pk.filter((p) => frag(p).src === first), rep: pk.filter((p) => frag(p).src !== first) };
}

for (const [name, list] of [
  ['IPv4', cap.ipv4Fragmented],
  ['IPv6', cap.ipv6Fragmented],
] as const) {
  test(`${name}: a kernel ping of 3008 bytes in fragments is answered with the kernel's echo reply`, () => {
    const { req, rep } = split(list);
    assert.equal(req.length, 3);
    assert.equal(rep.length, 3);
    const s = stack();
    for (const p of req) s.input(p, 0);
    const ours = s.poll(0);
    assert.ok(ours.length >= 3, 'the reply is fragmented to our 1420-byte MTU');
    assert.ok(ours.every((p) => p.length <= 1420));
    const a = reassemble(ours.map(frag));
    const b = reassemble(rep.map(frag));
    // Type and checksum bytes included: the ICMP messages are identical.
    assert.equal(a.toString('hex'), b.toString('hex'));
    assert.equal(s.drops.size, 0);
  });

  test(`${name}: fragments in reverse order and duplicated still reassemble once`, () => {
    const { req } = split(list);
    const s = stack();
    for (const p of [...req].reverse()) s.input(p, 0);
    s.input(req[1]!, 0); // a duplicate after completion starts a new, never-finished datagram
    for (const p of req) s.input(p, 1);
    s.input(req[0]!, 1); // duplicate inside an unfinished datagram: ignored
    const replies = s.poll(1).map(frag).filter((f) => f.off === 0);
    assert.equal(replies.length, 2, 'two complete requests, two replies');
    assert.ok((s.drops.get('fragment-duplicate') ?? 0) >= 1);
  });

  test(`${name}: an overlapping fragment discards the datagram (RFC 5722)`, () => {
    const { req } = split(list);
    const s = stack();
    s.input(req[0]!, 0);
    // The middle fragment shifted back by 8 bytes: it overlaps the first.
    const f = frag(req[1]!);
    const shifted = req[1]!.slice();
    if (name === 'IPv4') {
      const fo = ((f.off - 8) / 8) | 0x2000;
      shifted[6] = fo >> 8;
      shifted[7] = fo & 0xff;
      shifted[10] = shifted[11] = 0;
      let sum = 0;
      for (let i = 0; i < 20; i += 2) sum += (shifted[i]! << 8) | shifted[i + 1]!;
      while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
      shifted[10] = (~sum >> 8) & 0xff;
      shifted[11] = ~sum & 0xff;
    } else {
      const fo = (f.off - 8) | 1;
      shifted[42] = fo >> 8;
      shifted[43] = fo & 0xff;
    }
    s.input(shifted, 0);
    for (const p of req.slice(1)) s.input(p, 0);
    assert.equal(s.poll(0).length, 0);
    assert.equal(s.drops.get('fragment-overlap'), 1);
  });

  test(`${name}: an incomplete datagram is forgotten at the reassembly timeout`, () => {
    const { req } = split(list);
    const s = stack();
    s.input(req[0]!, 1000);
    s.input(req[1]!, 1000);
    const timeout = name === 'IPv4' ? 30_000 : 60_000;
    assert.equal(s.nextDeadline(), 1000 + timeout);
    s.poll(1000 + timeout);
    assert.equal(s.nextDeadline(), Infinity);
    s.input(req[2]!, 1000 + timeout);
    assert.equal(s.poll(1000 + timeout).length, 0, 'the late last fragment completes nothing');
  });
}

test('reassembly memory and table bounds', () => {
  const s = stack({ reassembly: { maxDatagrams: 4, maxBytes: 4 * 1480 + 100 } });
  const part = (id: number) => rawIp({ src: '10.77.0.1', dst: '10.77.0.2', proto: 17, payload: new Uint8Array(1480), id, mf: true, offset: 0 });
  for (let id = 1; id <= 6; id++) s.input(part(id), 0);
  assert.equal(s.drops.get('reassembly-table-full'), 2);
  const more = rawIp({ src: '10.77.0.1', dst: '10.77.0.2', proto: 17, payload: new Uint8Array(1480), id: 1, mf: true, offset: 1480 });
  s.input(more, 0);
  assert.equal(s.drops.get('reassembly-memory-full'), 1);
});

test('fragment sanity: non-final fragments must be multiples of 8; datagrams over 65535 bytes are refused', () => {
  const s = stack();
  s.input(rawIp({ src: '10.77.0.1', dst: '10.77.0.2', proto: 17, payload: new Uint8Array(100), id: 9, mf: true, offset: 0 }), 0);
  assert.equal(s.drops.get('fragment-length-not-multiple-of-8'), 1);
  s.input(rawIp({ src: '10.77.0.1', dst: '10.77.0.2', proto: 17, payload: new Uint8Array(800), id: 9, mf: false, offset: 65000 }), 0);
  assert.equal(s.drops.get('fragment-too-big'), 1);
});
