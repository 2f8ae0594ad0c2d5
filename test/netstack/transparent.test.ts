/**
 * Transparent sockets (a foreign local address, as Linux IP_TRANSPARENT,
 * used by the forwarder's Source = client) and per-address bindings:
 * stack A opens TCP connections and binds UDP sockets on addresses it does
 * not own, stack B sees those as the peer's address; segments to a foreign
 * address reach only the exact socket and never draw a RST or ICMP error;
 * listeners and UDP sockets are keyed by (address, port), most specific
 * first.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { Sim, digestOf, payloadDigest, writeAll } from './link.js';
import { decodeTcp, inetChecksum, rawIp, rawTcp, rawUdp, F_ACK, F_RST, F_SYN } from './helpers.js';
import type { TcpSocket } from '../../src/netstack/tcp-socket.js';
import type { RemoteInfo } from '../../src/netstack/udp.js';

const CLIENT4 = '203.0.113.7';
const CLIENT6 = '2001:db8::7';

const tick = () => new Promise((r) => setImmediate(r));

/** A transparent connect from `from`:40000 on A to B's listener at `to`:80; both ends established. */
async function transparentPair(sim: Sim, from: string, to: string): Promise<{ client: TcpSocket; server: TcpSocket }> {
  let server: TcpSocket | null = null;
  const l = sim.b.tcp.listen(80, (s) => (server = s));
  const client = sim.a.tcp.connect({ host: to, port: 80, localAddress: from, localPort: 40000 });
  let connected = false;
  client.once('connect', () => (connected = true));
  await sim.run(() => server !== null && connected);
  l.close();
  return { client, server: server! };
}

for (const [from, to, hexFrom] of [
  [CLIENT4, '10.0.0.2', CLIENT4],
  [CLIENT6, 'fd00::2', '20010db8000000000000000000000007'],
] as const) {
  test(`transparent connect from ${from}:40000: the peer sees that address, 1 MB each way, clean close`, async () => {
    const sim = new Sim({}, {}, { delay: 3, jitter: 2, loss: 0.01 });
    sim.trace = true;
    const { client, server } = await transparentPair(sim, from, to);
    assert.equal(server.remoteAddress, from);
    assert.equal(server.remotePort, 40000);
    assert.equal(client.localAddress, from);
    assert.equal(client.localPort, 40000);

    const up = digestOf(server);
    const down = digestOf(client);
    void writeAll(client, 1_000_000, 11);
    void writeAll(server, 1_000_000, 12);
    let closed = 0;
    client.on('close', () => closed++);
    server.on('close', () => closed++);
    let done = 0;
    void up.done.then(() => done++);
    void down.done.then(() => done++);
    await sim.run(() => done === 2 && closed === 2);
    assert.equal(up.hex(), payloadDigest(1_000_000, 11));
    assert.equal(down.hex(), payloadDigest(1_000_000, 12));

    // Every segment A sent for it, FINs and ACKs included, came from the foreign address.
    const fromA = sim.log.filter((e) => e.from === 'a').map((e) => decodeTcp(e.pkt)!);
    assert.ok(fromA.length > 100);
    assert.ok(fromA.every((t) => t.src === hexFrom && t.sport === 40000));
    assert.equal(sim.a.drops.get('not-for-us') ?? 0, 0);

    // TIME-WAIT (A closed first or simultaneously) keeps the address; once the tuple is gone it is released.
    await sim.runUntil(sim.now + 61_000);
    assert.equal(sim.a.tcp.timeWaitCount + [...sim.a.tcp.connections()].length, 0);
    const before = sim.a.drops.get('not-for-us') ?? 0;
    sim.a.input(rawTcp({ src: to, dst: from, sport: 80, dport: 40000, seq: 1, flags: F_SYN }), sim.now);
    assert.equal(sim.a.drops.get('not-for-us'), before + 1);
    assert.deepEqual(sim.a.poll(sim.now), []);
  });
}

test('a RST and ACKs from a transparent connection carry the foreign source', async () => {
  const sim = new Sim({}, {}, { delay: 2 });
  const { client, server } = await transparentPair(sim, CLIENT4, '10.0.0.2');
  sim.trace = true;
  // An out-of-window segment to the foreign address draws an ACK from it (RFC 9293 3.10.7.4).
  const t = client.tcb;
  sim.a.input(rawTcp({ src: '10.0.0.2', dst: CLIENT4, sport: 80, dport: 40000, seq: (t.rcvNxt + 1_000_000_000) >>> 0, ack: t.snd.nxt, flags: F_ACK, data: Buffer.from('x') }), sim.now);
  const [ack] = sim.a.poll(sim.now).map((p) => decodeTcp(p)!);
  assert.ok(ack);
  assert.deepEqual([ack.src, ack.sport, ack.flags & F_ACK], [CLIENT4, 40000, F_ACK]);

  let err: NodeJS.ErrnoException | null = null;
  server.on('error', (e) => (err = e));
  client.resetAndDestroy();
  await sim.run(() => err !== null);
  assert.equal(err!.code, 'ECONNRESET');
  const rst = sim.log.map((e) => decodeTcp(e.pkt)!).find((x) => x.flags & F_RST)!;
  assert.deepEqual([rst.src, rst.sport, rst.dst, rst.dport], [CLIENT4, 40000, '10.0.0.2', 80]);
  // No TIME-WAIT after a reset: the address is released at once.
  sim.a.input(rawTcp({ src: '10.0.0.2', dst: CLIENT4, sport: 80, dport: 40000, seq: 1, flags: F_ACK }), sim.now);
  assert.equal(sim.a.drops.get('not-for-us'), 1);
});

test('to a held foreign address, only the exact socket answers: no RST, no ICMP error, no echo reply', async () => {
  const sim = new Sim({}, {}, { delay: 2 });
  await transparentPair(sim, CLIENT4, '10.0.0.2');
  const a = sim.a;
  // SYN to another port of the foreign address: dropped and counted, no RST.
  a.input(rawTcp({ src: '10.0.0.2', dst: CLIENT4, sport: 80, dport: 40001, seq: 7, flags: F_SYN }), sim.now);
  assert.deepEqual(a.poll(sim.now), []);
  assert.equal(a.drops.get('tcp-foreign-no-connection'), 1);
  // Even with a wildcard listener on that port: listeners serve only our own addresses.
  a.tcp.listen(40001, () => assert.fail('accepted on a foreign address'));
  a.input(rawTcp({ src: '10.0.0.2', dst: CLIENT4, sport: 81, dport: 40001, seq: 7, flags: F_SYN }), sim.now);
  assert.deepEqual(a.poll(sim.now), []);
  assert.equal(a.drops.get('tcp-foreign-no-connection'), 2);
  // UDP to the foreign address with no socket: no port unreachable.
  a.input(rawUdp({ src: '10.0.0.2', dst: CLIENT4, sport: 5, dport: 53, data: Buffer.from('q') }), sim.now);
  assert.deepEqual(a.poll(sim.now), []);
  assert.equal(a.drops.get('udp-foreign-no-socket'), 1);
  // Ping to the foreign address: not ours to answer.
  const echo = Buffer.from([8, 0, 0, 0, 0, 1, 0, 1, 0x61, 0x62]);
  echo.writeUInt16BE(inetChecksum(echo), 2);
  a.input(rawIp({ src: '10.0.0.2', dst: CLIENT4, proto: 1, payload: echo }), sim.now);
  assert.deepEqual(a.poll(sim.now), []);
  assert.equal(a.drops.get('icmp-echo-not-ours'), 1);
  // An address nobody holds is not for us at all.
  a.input(rawTcp({ src: '10.0.0.2', dst: '203.0.113.8', sport: 80, dport: 40000, seq: 7, flags: F_SYN }), sim.now);
  assert.equal(a.drops.get('not-for-us'), 1);
  // Our own addresses still answer a closed port with RST.
  a.input(rawTcp({ src: '10.0.0.2', dst: '10.0.0.1', sport: 80, dport: 40002, seq: 7, flags: F_SYN }), sim.now);
  const [rst] = a.poll(sim.now).map((p) => decodeTcp(p)!);
  assert.equal(rst!.flags & F_RST, F_RST);
  assert.equal(rst!.src, '10.0.0.1');
});

test('4-tuples are unique; a foreign local port may repeat an ephemeral port in use', async () => {
  const sim = new Sim({}, {}, { delay: 2 });
  const servers: TcpSocket[] = [];
  sim.b.tcp.listen(80, (s) => servers.push(s));
  const plain = sim.a.tcp.connect({ host: '10.0.0.2', port: 80 });
  const port = plain.localPort;
  const t1 = sim.a.tcp.connect({ host: '10.0.0.2', port: 80, localAddress: CLIENT4, localPort: port });
  const t2 = sim.a.tcp.connect({ host: '10.0.0.2', port: 80, localAddress: '203.0.113.8', localPort: port });
  assert.throws(() => sim.a.tcp.connect({ host: '10.0.0.2', port: 80, localAddress: CLIENT4, localPort: port }), /EADDRINUSE/);
  assert.throws(() => sim.a.tcp.connect({ host: '10.0.0.2', port: 80, localAddress: '10.0.0.1', localPort: port }), /EADDRINUSE/);
  assert.throws(() => sim.a.tcp.connect({ host: '10.0.0.2', port: 80, localAddress: CLIENT6 }), /EADDRNOTAVAIL/, 'family must match');
  assert.throws(() => sim.a.tcp.connect({ host: '10.0.0.2', port: 80, localAddress: '224.0.0.1' }), /EADDRNOTAVAIL/);
  let connected = 0;
  for (const s of [plain, t1, t2]) s.once('connect', () => connected++);
  await sim.run(() => connected === 3 && servers.length === 3);
  assert.deepEqual(servers.map((s) => `${s.remoteAddress}:${s.remotePort}`).sort(), [`10.0.0.1:${port}`, `${CLIENT4}:${port}`, `203.0.113.8:${port}`]);
  // Data on each lands on the right server.
  const got = new Map<string, string>();
  for (const s of servers) s.on('data', (d: Buffer) => got.set(s.remoteAddress, d.toString()));
  plain.write('p');
  t1.write('t1');
  t2.write('t2');
  await sim.run(() => got.size === 3);
  assert.deepEqual(Object.fromEntries(got), { '10.0.0.1': 'p', [CLIENT4]: 't1', '203.0.113.8': 't2' });
});

test('transparent UDP: a socket bound to a foreign address exchanges datagrams as that address', async () => {
  const sim = new Sim({}, {}, { delay: 2 });
  const server = sim.b.udp.bind(53);
  const seen: RemoteInfo[] = [];
  server.on('message', (m: Buffer, r: RemoteInfo) => {
    seen.push(r);
    server.send(Buffer.concat([Buffer.from('re:'), m]), r.port, r.address);
  });
  const t4 = sim.a.udp.bind(40000, CLIENT4);
  const t4b = sim.a.udp.bind(40000, '203.0.113.8');
  const t6 = sim.a.udp.bind(40000, CLIENT6);
  const wild = sim.a.udp.bind(40000);
  assert.deepEqual(t4.address(), { address: CLIENT4, family: 'IPv4', port: 40000 });
  assert.throws(() => sim.a.udp.bind(40000, CLIENT4), /EADDRINUSE/);
  const got: Array<[string, string, RemoteInfo]> = [];
  for (const [name, s] of [['t4', t4], ['t4b', t4b], ['t6', t6], ['wild', wild]] as const) s.on('message', (m: Buffer, r: RemoteInfo) => got.push([name, m.toString(), r]));
  t4.send('a', 53, '10.0.0.2');
  t4b.send('b', 53, '10.0.0.2');
  t6.send('c', 53, 'fd00::2');
  wild.send('d', 53, '10.0.0.2');
  await sim.run(() => got.length === 4);
  assert.deepEqual(seen.map((r) => `${r.address}:${r.port}`).sort(), ['10.0.0.1:40000', `${CLIENT6}:40000`, `${CLIENT4}:40000`, '203.0.113.8:40000']);
  assert.deepEqual(got.map(([n, m, r]) => `${n}:${m}:${r.address}:${r.port}`).sort(), ['t4:re:a:10.0.0.2:53', 't4b:re:b:10.0.0.2:53', 't6:re:c:fd00::2:53', 'wild:re:d:10.0.0.2:53']);
  // A socket bound to one family cannot send to the other.
  let err: Error | null = null;
  t4.send('x', 53, 'fd00::2', (e) => (err = e));
  await tick();
  assert.match(String(err), /EAFNOSUPPORT/);
  // Closing releases the address: datagrams to it are no longer for us.
  t4.close();
  sim.a.input(rawUdp({ src: '10.0.0.2', dst: CLIENT4, sport: 53, dport: 40000, data: Buffer.from('late') }), sim.now);
  assert.equal(sim.a.drops.get('not-for-us'), 1);
  assert.deepEqual(sim.a.poll(sim.now), [], 'no ICMP error from a foreign address');
});

test('per-address TCP listeners on one port for IPv4 and IPv6, with a wildcard fallback', async () => {
  const sim = new Sim({}, {}, { delay: 2 });
  const hits: string[] = [];
  const l4 = sim.b.tcp.listen(80, (s) => hits.push(`v4:${s.localAddress}`), { address: '10.0.0.2' });
  sim.b.tcp.listen(80, (s) => hits.push(`v6:${s.localAddress}`), { address: 'fd00::2' });
  assert.throws(() => sim.b.tcp.listen(80, () => {}, { address: '10.0.0.2' }), /EADDRINUSE/);
  assert.throws(() => sim.b.tcp.listen(80, () => {}, { address: '10.0.0.9' }), /EADDRNOTAVAIL/, 'listeners only on our own addresses');
  sim.b.tcp.listen(80, (s) => hits.push(`any:${s.localAddress}`));
  assert.throws(() => sim.b.tcp.listen(80, () => {}, { address: '0.0.0.0' }), /EADDRINUSE/, 'unspecified is the wildcard');
  const dial = async (host: string): Promise<void> => {
    const c = sim.a.tcp.connect({ host, port: 80 });
    const n = hits.length;
    await sim.run(() => hits.length === n + 1);
    c.destroy();
  };
  await dial('10.0.0.2');
  await dial('fd00::2');
  l4.close();
  await dial('10.0.0.2');
  assert.deepEqual(hits, ['v4:10.0.0.2', 'v6:fd00::2', 'any:10.0.0.2']);
});

test('per-address UDP sockets on one port: the bound address wins, the wildcard takes the rest', async () => {
  const sim = new Sim({}, {}, { delay: 2 });
  const got: string[] = [];
  const s4 = sim.b.udp.bind(53, '10.0.0.2');
  const any = sim.b.udp.bind(53);
  s4.on('message', (m: Buffer) => got.push(`v4:${m}`));
  any.on('message', (m: Buffer) => got.push(`any:${m}`));
  assert.throws(() => sim.b.udp.bind(53), /EADDRINUSE/);
  const c = sim.a.udp.bind();
  c.send('one', 53, '10.0.0.2');
  c.send('two', 53, 'fd00::2');
  await sim.run(() => got.length === 2);
  assert.deepEqual(got.sort(), ['any:two', 'v4:one']);
  s4.close();
  c.send('three', 53, '10.0.0.2');
  await sim.run(() => got.length === 3);
  assert.equal(got[2], 'any:three');
});

test('a transparent listener at a foreign address: answers a SYN there, never RSTs, releases the address when all is closed', async () => {
  const sim = new Sim({}, {}, { delay: 2 });
  const PUB = '198.51.100.9';
  assert.throws(() => sim.b.tcp.listen(8080, () => {}, { address: PUB }), /EADDRNOTAVAIL/);
  let server: TcpSocket | null = null;
  const l = sim.b.tcp.listen(8080, (s) => (server = s), { address: PUB, transparent: true });
  const client = sim.a.tcp.connect({ host: PUB, port: 8080 });
  let connected = false;
  client.once('connect', () => (connected = true));
  await sim.run(() => server !== null && connected);
  assert.equal(server!.localAddress, PUB);
  assert.equal(client.remoteAddress, PUB);

  // Anything but a plain SYN to the held address, or a SYN to another port there, draws nothing.
  sim.trace = true;
  const polled = sim.b.poll(sim.now).length;
  for (const [dport, flags] of [[8080, F_ACK], [8081, F_SYN], [8081, F_ACK]] as const) {
    sim.b.input(rawTcp({ src: '10.0.0.1', dst: PUB, sport: 50000, dport, seq: 1, ack: 1, flags }), sim.now);
  }
  assert.equal(sim.b.poll(sim.now).length, polled);

  // The connection outlives the listener: it holds the address itself until its tuple is gone.
  l.close();
  const back = digestOf(client);
  server!.pipe(server!);
  void writeAll(client, 100_000, 21);
  let echoed = false;
  void back.done.then(() => (echoed = true));
  await sim.run(() => echoed);
  assert.equal(back.hex(), payloadDigest(100_000, 21));
  client.end();
  await sim.runUntil(sim.now + 61_000);
  assert.equal(sim.b.tcp.timeWaitCount + [...sim.b.tcp.connections()].length, 0);
  const before = sim.b.drops.get('not-for-us') ?? 0;
  sim.b.input(rawTcp({ src: '10.0.0.1', dst: PUB, sport: 50001, dport: 8080, seq: 1, flags: F_SYN }), sim.now);
  assert.equal(sim.b.drops.get('not-for-us'), before + 1);
});
