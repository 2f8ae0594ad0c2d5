/**
 * What a connection reports outside its state machine, one stack against
 * hand-built segments (helpers.rawTcp): the layer's counters
 * (stack.tcp.stats: segments in and out, resets sent and received), the
 * peer's address and port on the errors a socket gets, and the random
 * stream: only a BBR connection draws its seed from it, so the ISNs and
 * ports of everything else replay the same under a seeded `random`.
 *
 *   rawTcp ──> stack.input ──> stats, socket 'error' (code, address, port), random draws
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { Stack } from '../../src/netstack/stack.js';
import type { TcpError } from '../../src/netstack/tcp-config.js';
import { decodeTcp, rawTcp, seededRandom, F_ACK, F_RST, F_SYN, type TcpInfo } from './helpers.js';

const US = '10.0.0.2';
const PEER = '10.0.0.9';

const tick = () => new Promise<void>((r) => setImmediate(r));

test('stats count every segment in and out, and the resets each way', async () => {
  const s = new Stack({ addresses: [{ ip: US, cidr: 24 }], random: seededRandom(5) });
  const out = (now: number): TcpInfo[] => s.poll(now).map((p) => decodeTcp(p)!);
  let err: TcpError | null = null;
  s.tcp.listen(80, (sock) => sock.on('error', (e: TcpError) => (err = e)));
  s.input(rawTcp({ src: PEER, dst: US, sport: 40000, dport: 80, seq: 1000, flags: F_SYN }), 0);
  const [synack] = out(0);
  assert.deepEqual([s.tcp.stats.segmentsIn, s.tcp.stats.segmentsOut], [1, 1], 'the SYN in, the SYN-ACK out');
  s.input(rawTcp({ src: PEER, dst: US, sport: 40000, dport: 80, seq: 1001, ack: synack!.seq + 1, flags: F_ACK }), 1);
  assert.deepEqual(out(1), []);
  s.input(rawTcp({ src: PEER, dst: US, sport: 40000, dport: 80, seq: 1001, ack: synack!.seq + 1, flags: F_ACK, data: Buffer.from('ab') }), 2);
  s.input(rawTcp({ src: PEER, dst: US, sport: 40000, dport: 80, seq: 1003, ack: synack!.seq + 1, flags: F_ACK, data: Buffer.from('cd') }), 3);
  assert.equal(out(3).length, 1, 'one ACK for two segments');
  assert.deepEqual([s.tcp.stats.segmentsIn, s.tcp.stats.segmentsOut], [4, 2]);
  assert.deepEqual([s.tcp.stats.resetsSent, s.tcp.stats.resetsReceived], [0, 0]);
  // A RST to a port nobody listens on: answered with a RST (sent), not received by a connection.
  s.input(rawTcp({ src: PEER, dst: US, sport: 40001, dport: 81, seq: 5, flags: F_SYN }), 4);
  assert.equal(out(4)[0]!.flags & F_RST, F_RST);
  assert.equal(s.tcp.stats.resetsSent, 1);
  // The exact RST ends the connection: received.
  s.input(rawTcp({ src: PEER, dst: US, sport: 40000, dport: 80, seq: 1005, flags: F_RST }), 5);
  assert.deepEqual(out(5), []);
  await tick();
  assert.equal(s.tcp.stats.resetsReceived, 1);
  assert.equal(s.tcp.stats.segmentsIn, 5, 'the SYN to a closed port reached no connection; the RST did');
  assert.equal(err!.code, 'ECONNRESET');
  assert.equal(err!.syscall, 'read');
  assert.equal(err!.address, PEER, 'the error names the peer');
  assert.equal(err!.port, 40000);
  assert.match(err!.message, /ECONNRESET 10\.0\.0\.9:40000$/);
});

test('a refused connect names the peer\'s address and port in its error', async () => {
  const s = new Stack({ addresses: [{ ip: US, cidr: 24 }], random: seededRandom(6) });
  const sock = s.tcp.connect({ host: PEER, port: 8080 });
  let err: TcpError | null = null;
  sock.on('error', (e: TcpError) => (err = e));
  await tick();
  const [syn] = s.poll(0).map((p) => decodeTcp(p)!);
  assert.equal(syn!.flags, F_SYN);
  s.input(rawTcp({ src: PEER, dst: US, sport: 8080, dport: syn!.sport, seq: 0, ack: syn!.seq + 1, flags: F_RST | F_ACK }), 1);
  s.poll(1);
  await tick();
  assert.equal(err!.code, 'ECONNREFUSED');
  assert.equal(err!.syscall, 'connect');
  assert.equal(err!.address, PEER);
  assert.equal(err!.port, 8080);
  assert.equal(s.tcp.stats.resetsReceived, 1);
});

test('only a BBR connection draws its seed (4 bytes) from random; the others leave the stream to ISNs and ports', async () => {
  // The same seeded stream, one connect each: the draws must differ by exactly BBR's 4 bytes.
  const draws = async (congestion: 'bbr' | 'cubic' | 'newreno') => {
    const r = seededRandom(7);
    const calls: Uint8Array[] = [];
    const s = new Stack({ addresses: [{ ip: US, cidr: 24 }], random: (n) => {
      const b = r(n);
      calls.push(b);
      return b;
    } });
    const before = calls.length;
    s.tcp.connect({ host: PEER, port: 80, congestion });
    await tick();
    s.poll(0);
    const conn = [...s.tcp.connections()][0]!;
    return { calls: calls.slice(before), seed: conn.ccSeed };
  };
  const cubic = await draws('cubic');
  const reno = await draws('newreno');
  const bbr = await draws('bbr');
  assert.deepEqual(reno.calls.map((c) => c.length), cubic.calls.map((c) => c.length));
  assert.equal(cubic.seed, 0);
  assert.equal(reno.seed, 0);
  const extra = bbr.calls.filter((c, i) => cubic.calls[i] === undefined || c.length !== cubic.calls[i]!.length || !Buffer.from(c).equals(Buffer.from(cubic.calls[i]!)));
  assert.equal(bbr.calls.length, cubic.calls.length + 1, 'one draw more');
  assert.equal(extra[0]!.length, 4);
  assert.equal(bbr.seed, Buffer.from(extra[0]!).readUInt32BE(0), 'the seed is those 4 bytes, big-endian');
});
