/**
 * UDP sockets (RFC 768) through the stack: both directions over IPv4 and
 * IPv6, checksum rules (RFC 768, RFC 8200 8.1), ICMP port unreachable for
 * closed ports (RFC 792, RFC 4443 3.1) with its rate limit, and datagrams
 * larger than the MTU, fragmented by the sender and reassembled.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { Stack } from '../../src/netstack/stack.js';
import type { RemoteInfo } from '../../src/netstack/udp.js';
import { Sim } from './link.js';
import { rawUdp, rawIp, seededRandom, inetChecksum } from './helpers.js';

function stack(): Stack {
  return new Stack({ addresses: [{ ip: '10.0.0.2', cidr: 24 }, { ip: 'fd00::2', cidr: 64 }], random: seededRandom(5) });
}

/** Lets deferred 'message' events and microtasks run. */
const tick = () => new Promise((r) => setImmediate(r));

test('echo over IPv4 and IPv6 between two stacks, with rinfo', async () => {
  const sim = new Sim({}, {}, { delay: 2 });
  const server = sim.b.udp.bind(53);
  server.on('message', (msg: Buffer, r: RemoteInfo) => server.send(Buffer.concat([Buffer.from('re:'), msg]), r.port, r.address));
  const client = sim.a.udp.bind();
  assert.ok(client.port >= 49152);
  const got: Array<[string, RemoteInfo]> = [];
  client.on('message', (m: Buffer, r: RemoteInfo) => got.push([m.toString(), r]));
  client.send('ping4', 53, '10.0.0.2');
  client.send(Buffer.from('ping6'), 53, 'fd00::2');
  await sim.run(() => got.length === 2);
  const byText = Object.fromEntries(got);
  assert.deepEqual(byText['re:ping4'], { address: '10.0.0.2', family: 'IPv4', port: 53, size: 8 });
  assert.deepEqual(byText['re:ping6'], { address: 'fd00::2', family: 'IPv6', port: 53, size: 8 });
});

test('a 20000-byte datagram is fragmented to the MTU and reassembled (IPv4 and IPv6)', async () => {
  const sim = new Sim({}, {}, { delay: 2, jitter: 2 });
  sim.trace = true;
  const server = sim.b.udp.bind(9);
  const got: Buffer[] = [];
  server.on('message', (m: Buffer) => got.push(m));
  const client = sim.a.udp.bind();
  const big = Buffer.alloc(20000);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
  client.send(big, 9, '10.0.0.2');
  client.send(big, 9, 'fd00::2');
  await sim.run(() => got.length === 2);
  assert.ok(got.every((m) => m.equals(big)));
  assert.ok(sim.log.length >= 30);
  assert.ok(sim.log.every((e) => e.pkt.length <= 1420), 'every packet within the 1420 MTU');
});

test('closed port: ICMP port unreachable quoting the datagram (IPv4 type 3 code 3)', () => {
  const s = stack();
  const pkt = rawUdp({ src: '10.0.0.9', dst: '10.0.0.2', sport: 1234, dport: 4444, data: Buffer.from('anyone?') });
  s.input(pkt, 0);
  const [r] = s.poll(0);
  assert.ok(r);
  assert.equal(r[9], 1, 'ICMP');
  assert.deepEqual([...r.subarray(12, 16)], [10, 0, 0, 2]);
  assert.deepEqual([...r.subarray(16, 20)], [10, 0, 0, 9]);
  assert.equal(inetChecksum(r.subarray(0, 20)), 0);
  const icmp = r.subarray(20);
  assert.deepEqual([icmp[0], icmp[1]], [3, 3]);
  assert.equal(inetChecksum(icmp), 0);
  assert.deepEqual([...icmp.subarray(8)], [...pkt], 'the whole short datagram is quoted');
  assert.equal(s.drops.get('udp-port-closed'), 1);
});

test('closed port: ICMPv6 destination unreachable code 4, checksum over the pseudo-header', () => {
  const s = stack();
  const pkt = rawUdp({ src: 'fd00::9', dst: 'fd00::2', sport: 1234, dport: 4444, data: Buffer.from('anyone?') });
  s.input(pkt, 0);
  const [r] = s.poll(0);
  assert.ok(r);
  assert.equal(r[6], 58);
  const icmp = r.subarray(40);
  assert.deepEqual([icmp[0], icmp[1]], [1, 4]);
  const pseudo = Buffer.alloc(40);
  Buffer.from(r.subarray(8, 40)).copy(pseudo, 0);
  pseudo.writeUInt32BE(icmp.length, 32);
  pseudo[39] = 58;
  assert.equal(inetChecksum(pseudo, icmp), 0);
  assert.deepEqual([...icmp.subarray(8)], [...pkt]);
});

test('ICMP errors are rate limited: a burst of 50, then 100 per second', () => {
  const s = stack();
  for (let i = 0; i < 200; i++) s.input(rawUdp({ src: '10.0.0.9', dst: '10.0.0.2', sport: 1000 + i, dport: 4444, data: new Uint8Array(4) }), 0);
  assert.equal(s.poll(0).length, 50);
  assert.equal(s.drops.get('icmp-error-rate-limited'), 150);
  for (let i = 0; i < 200; i++) s.input(rawUdp({ src: '10.0.0.9', dst: '10.0.0.2', sport: 1000 + i, dport: 4444, data: new Uint8Array(4) }), 500);
  assert.equal(s.poll(500).length, 50, 'half a second refills 50 tokens');
});

test('checksums: zero means none over IPv4, is refused over IPv6; a wrong one is dropped', async () => {
  const s = stack();
  const sock = s.udp.bind(7);
  const got: string[] = [];
  sock.on('message', (m: Buffer) => got.push(m.toString()));
  s.input(rawUdp({ src: '10.0.0.9', dst: '10.0.0.2', sport: 1, dport: 7, data: Buffer.from('nocsum'), checksum: 0 }), 0);
  s.input(rawUdp({ src: 'fd00::9', dst: 'fd00::2', sport: 1, dport: 7, data: Buffer.from('nocsum6'), checksum: 0 }), 0);
  s.input(rawUdp({ src: '10.0.0.9', dst: '10.0.0.2', sport: 1, dport: 7, data: Buffer.from('bad'), checksum: 0x1234 }), 0);
  await tick();
  assert.deepEqual(got, ['nocsum']);
  assert.equal(s.drops.get('udp-zero-checksum-ipv6'), 1);
  assert.equal(s.drops.get('udp-checksum'), 1);
  assert.equal(s.poll(0).length, 0, 'no ICMP for bad checksums');
});

test('bind errors and close', async () => {
  const s = stack();
  const a = s.udp.bind(5000);
  assert.throws(() => s.udp.bind(5000), /EADDRINUSE/);
  assert.throws(() => s.udp.bind(5001, 'nonsense'), /EADDRNOTAVAIL/);
  let closed = false;
  a.close(() => (closed = true));
  await tick();
  assert.ok(closed);
  const b = s.udp.bind(5000);
  let err: Error | null = null;
  b.send('x', 53, 'not an address', (e) => (err = e));
  await tick();
  assert.match(String(err), /EINVAL/);
});

test('a socket bound to a multicast group gets datagrams to the group and answers from our own address (SSDP)', async () => {
  const s = stack();
  const group = s.udp.bind(1900, '239.255.255.250');
  const got: Array<[string, RemoteInfo]> = [];
  group.on('message', (m: Buffer, r: RemoteInfo) => {
    got.push([m.toString(), r]);
    group.send('reply', r.port, r.address);
  });
  s.input(rawUdp({ src: '10.0.0.9', dst: '239.255.255.250', sport: 40000, dport: 1900, data: Buffer.from('M-SEARCH') }), 0);
  s.input(rawUdp({ src: '10.0.0.9', dst: '239.255.255.251', sport: 40000, dport: 1900, data: Buffer.from('other group') }), 0);
  await tick();
  assert.deepEqual(got.map(([m]) => m), ['M-SEARCH'], 'only the bound group is delivered');
  assert.equal(got[0]![1].address, '10.0.0.9');
  const out = s.poll(0);
  assert.equal(out.length, 1);
  const pkt = out[0]!;
  assert.deepEqual([...pkt.subarray(12, 16)], [10, 0, 0, 2], 'the reply leaves from our address, not the group');
  assert.deepEqual([...pkt.subarray(16, 20)], [10, 0, 0, 9]);
  group.close();
  await tick();
  s.input(rawUdp({ src: '10.0.0.9', dst: '239.255.255.250', sport: 40000, dport: 1900, data: Buffer.from('late') }), 0);
  assert.equal(s.drops.get('not-for-us'), 2, 'another group, and the group after close, are not ours');
});

test('an unknown protocol over IPv4 gets ICMP protocol unreachable (type 3 code 2)', () => {
  const s = stack();
  s.input(rawIp({ src: '10.0.0.9', dst: '10.0.0.2', proto: 47, payload: new Uint8Array(16) }), 0);
  const [r] = s.poll(0);
  assert.ok(r);
  assert.deepEqual([r[20], r[21]], [3, 2]);
  assert.equal(s.drops.get('unknown-protocol'), 1);
});
