/**
 * Opening and refusing connections, one stack against hand-built segments
 * (helpers.rawTcp, written independently of src/netstack): SYN options,
 * window scaling negotiation (RFC 7323), RST for closed ports (RFC 9293
 * 3.10.7.1), the RFC 5961 checks, backlog bounds, ISNs and ephemeral ports.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { Stack } from '../../src/netstack/stack.js';
import { Sim, establish } from './link.js';
import { decodeTcp, rawTcp, seededRandom, F_ACK, F_RST, F_SYN, F_FIN, type TcpInfo } from './helpers.js';
import type { TcpSocket } from '../../src/netstack/tcp-socket.js';
import type { TcpError } from '../../src/netstack/tcp-config.js';

const US = '10.0.0.2';
const PEER = '10.0.0.9';
// MSS 1460, NOP, WS 7, NOP, NOP, SACK-permitted.
const SYN_OPTS = [2, 4, 0x05, 0xb4, 1, 3, 3, 7, 1, 1, 4, 2];

function stack(seed = 1): Stack {
  return new Stack({ addresses: [{ ip: US, cidr: 24 }, { ip: 'fd00::2', cidr: 64 }], random: seededRandom(seed) });
}

function out(s: Stack, now = 0): TcpInfo[] {
  return s.poll(now).map((p) => decodeTcp(p)!);
}

test('SYN-ACK to a SYN with MSS, window scale and SACK-permitted echoes all three', () => {
  const s = stack();
  s.tcp.listen(80, () => {});
  s.input(rawTcp({ src: PEER, dst: US, sport: 40000, dport: 80, seq: 1000, flags: F_SYN, options: SYN_OPTS }), 0);
  const [r] = out(s);
  assert.ok(r);
  assert.equal(r.flags, F_SYN | F_ACK);
  assert.equal(r.ack, 1001);
  assert.equal(r.mss, 1420 - 40);
  assert.equal(r.wscale, 7, 'a receive buffer that may grow to 6 MiB (rcvBufMax) needs a shift of 7');
  assert.equal(r.sackOk, true);
  assert.equal(r.win, 65535, 'the window in a SYN is never scaled');
});

test('the SYN-ACK offers MSS = MTU - IP header - 20 (1380 on IPv4, 1360 on IPv6) and the smallest shift with 65535 << shift >= rcvBufMax', () => {
  const synack = (src: string, dst: string, tcp?: { rcvBuf: number; rcvBufMax: number }) => {
    const s = new Stack({ addresses: [{ ip: US, cidr: 24 }, { ip: 'fd00::2', cidr: 64 }], random: seededRandom(3), ...(tcp ? { tcp } : {}) });
    s.tcp.listen(80, () => {});
    s.input(rawTcp({ src, dst, sport: 40000, dport: 80, seq: 1000, flags: F_SYN, options: SYN_OPTS }), 0);
    const [r] = out(s);
    assert.equal(r!.flags, F_SYN | F_ACK);
    return r!;
  };
  assert.equal(synack(PEER, US).mss, 1420 - 20 - 20);
  assert.equal(synack('fd00::9', 'fd00::2').mss, 1420 - 40 - 20);
  // RFC 7323 2.3: the shift lets the 16-bit field reach the largest buffer; exact powers sit on the edge.
  const shift = (rcvBufMax: number) => synack(PEER, US, { rcvBuf: 4096, rcvBufMax }).wscale;
  assert.equal(shift(65535), 0);
  assert.equal(shift(65536), 1);
  assert.equal(shift(65535 * 2), 1);
  assert.equal(shift(65535 * 2 + 1), 2);
  assert.equal(shift(65535 * 2 ** 14), 14);
  assert.equal(shift(2 ** 31), 14, 'never more than 14, however large the buffer');
});

test('no window scale offered: none in the SYN-ACK and windows stay unscaled (RFC 7323 1.3)', () => {
  const s = stack();
  let sock: TcpSocket | null = null;
  s.tcp.listen(80, (x) => (sock = x));
  s.input(rawTcp({ src: PEER, dst: US, sport: 40001, dport: 80, seq: 5000, flags: F_SYN, options: [2, 4, 0x05, 0xb4] }), 0);
  const [synack] = out(s);
  assert.equal(synack!.wscale, null);
  assert.equal(synack!.sackOk, false);
  s.input(rawTcp({ src: PEER, dst: US, sport: 40001, dport: 80, seq: 5001, ack: synack!.seq + 1, flags: F_ACK, win: 1000 }), 1);
  s.poll(1);
  assert.ok(sock);
  // A window of 1000 bytes unscaled: a 3000-byte write goes out as 1000 bytes only.
  (sock as TcpSocket).write(Buffer.alloc(3000, 1));
  const segs = out(s, 2).filter((x) => x.len > 0);
  assert.equal(segs.reduce((n, x) => n + x.len, 0), 1000);
  assert.ok(segs.every((x) => x.win <= 65535));
});

test('a SYN to a closed port gets <SEQ=0><ACK=SEG.SEQ+1><CTL=RST,ACK>; an ACK gets <SEQ=SEG.ACK><CTL=RST>; a RST gets nothing', () => {
  const s = stack();
  s.input(rawTcp({ src: PEER, dst: US, sport: 40002, dport: 81, seq: 77, flags: F_SYN }), 0);
  s.input(rawTcp({ src: PEER, dst: US, sport: 40002, dport: 81, seq: 78, ack: 999, flags: F_ACK, data: new Uint8Array(10) }), 0);
  s.input(rawTcp({ src: PEER, dst: US, sport: 40002, dport: 81, seq: 79, flags: F_RST }), 0);
  const r = out(s);
  assert.equal(r.length, 2);
  assert.deepEqual([r[0]!.flags, r[0]!.seq, r[0]!.ack], [F_RST | F_ACK, 0, 78]);
  assert.deepEqual([r[1]!.flags, r[1]!.seq], [F_RST, 999]);
  assert.equal(s.drops.get('tcp-port-closed'), 3);
});

test('connect to a closed port fails with ECONNREFUSED; to a silent host with ETIMEDOUT after the SYN retries', async () => {
  const sim = new Sim({}, {}, { delay: 5 });
  const refused = sim.a.tcp.connect({ host: '10.0.0.2', port: 9 });
  let e1: TcpError | null = null;
  refused.on('error', (e: TcpError) => (e1 = e));
  await sim.run(() => e1 !== null);
  assert.equal(e1!.code, 'ECONNREFUSED');

  sim.filter = (from) => from !== 'a';
  sim.trace = true;
  const t0 = sim.now;
  const silent = sim.a.tcp.connect({ host: '10.0.0.2', port: 80 });
  let e2: TcpError | null = null;
  silent.on('error', (e: TcpError) => (e2 = e));
  await sim.run(() => e2 !== null);
  assert.equal(e2!.code, 'ETIMEDOUT');
  const syns = sim.log.filter((e) => e.t >= t0 && e.from === 'a').map((e) => e.t - t0);
  // RFC 6298 2.1 / 5.5: 1 s initial RTO, doubled each time; 6 retries as Linux. The last
  // wait is capped at the 60 s maximum RTO (RFC 6298 2.5), so it gives up at 63 + 60 s.
  assert.deepEqual(syns, [0, 1000, 3000, 7000, 15000, 31000, 63000]);
  assert.equal(sim.now - t0, 123000);
});

test('IPv6 connect and a write made before the handshake completes', async () => {
  const sim = new Sim({}, {}, { delay: 3 });
  let got = '';
  sim.b.tcp.listen(443, (s) => s.on('data', (b: Buffer) => (got += b.toString())));
  const c = sim.a.tcp.connect({ host: 'fd00::2', port: 443 });
  c.write('hello before connect');
  assert.equal(c.connecting, true);
  await sim.run(() => got.length === 20);
  assert.equal(got, 'hello before connect');
  assert.equal(c.remoteFamily, 'IPv6');
  assert.equal(c.localAddress, 'fd00::1');
});

test('connect() then end(data) at once: the data and the FIN follow the handshake', async () => {
  const sim = new Sim({}, {}, { delay: 3 });
  let got = '';
  let ended = false;
  sim.b.tcp.listen(80, (s) => {
    s.on('data', (b: Buffer) => (got += b.toString()));
    s.on('end', () => {
      ended = true;
      s.end();
    });
  });
  const c = sim.a.tcp.connect({ host: '10.0.0.2', port: 80 });
  c.end('early');
  c.resume();
  let closed = false;
  c.on('close', () => (closed = true));
  await sim.run(() => ended && closed);
  assert.equal(got, 'early');
});

test('MSS: segments never exceed what the peer announced', () => {
  const s = stack();
  let sock: TcpSocket | null = null;
  s.tcp.listen(80, (x) => (sock = x));
  s.input(rawTcp({ src: PEER, dst: US, sport: 40003, dport: 80, seq: 1, flags: F_SYN, options: [2, 4, 0x02, 0x18, 1, 3, 3, 0] }), 0); // MSS 536
  const [synack] = out(s);
  s.input(rawTcp({ src: PEER, dst: US, sport: 40003, dport: 80, seq: 2, ack: synack!.seq + 1, flags: F_ACK, win: 65535 }), 1);
  s.poll(1);
  (sock as unknown as TcpSocket).write(Buffer.alloc(5000, 2));
  const segs = out(s, 2).filter((x) => x.len > 0);
  assert.ok(segs.length >= 9);
  assert.ok(segs.every((x) => x.len <= 536));
});

test('RFC 5961: a RST inside the window but not at RCV.NXT draws a challenge ACK; one at RCV.NXT resets', async () => {
  const s = stack();
  let sock: TcpSocket | null = null;
  s.tcp.listen(80, (x) => (sock = x));
  s.input(rawTcp({ src: PEER, dst: US, sport: 40004, dport: 80, seq: 100, flags: F_SYN, options: SYN_OPTS }), 0);
  const [synack] = out(s);
  const iss = synack!.seq;
  s.input(rawTcp({ src: PEER, dst: US, sport: 40004, dport: 80, seq: 101, ack: iss + 1, flags: F_ACK }), 1);
  s.poll(1);
  let err: TcpError | null = null;
  (sock as unknown as TcpSocket).on('error', (e: TcpError) => (err = e));
  s.input(rawTcp({ src: PEER, dst: US, sport: 40004, dport: 80, seq: 101 + 500, flags: F_RST }), 2);
  const challenge = out(s, 2);
  assert.equal(challenge.length, 1);
  assert.equal(challenge[0]!.flags, F_ACK);
  assert.equal(challenge[0]!.ack, 101);
  assert.equal(s.tcp.stats.challengeAcks, 1);
  // A SYN on the established connection: challenge ACK too (RFC 5961 section 4).
  s.input(rawTcp({ src: PEER, dst: US, sport: 40004, dport: 80, seq: 9999, flags: F_SYN }), 3);
  assert.equal(out(s, 3)[0]!.flags, F_ACK);
  assert.equal([...s.tcp.connections()].length, 1);
  // Out-of-window RST: silently dropped.
  s.input(rawTcp({ src: PEER, dst: US, sport: 40004, dport: 80, seq: 101 + 5_000_000, flags: F_RST }), 4);
  assert.equal(out(s, 4).length, 0);
  // The exact one resets.
  s.input(rawTcp({ src: PEER, dst: US, sport: 40004, dport: 80, seq: 101, flags: F_RST }), 5);
  s.poll(5);
  await new Promise((r) => setImmediate(r));
  assert.equal(err!.code, 'ECONNRESET');
  assert.equal([...s.tcp.connections()].length, 0);
});

test('RFC 5961 5.2: an ACK for data never sent is answered with an ACK and ignored', () => {
  const s = stack();
  s.tcp.listen(80, () => {});
  s.input(rawTcp({ src: PEER, dst: US, sport: 40005, dport: 80, seq: 100, flags: F_SYN }), 0);
  const [synack] = out(s);
  s.input(rawTcp({ src: PEER, dst: US, sport: 40005, dport: 80, seq: 101, ack: synack!.seq + 1, flags: F_ACK }), 1);
  s.poll(1);
  s.input(rawTcp({ src: PEER, dst: US, sport: 40005, dport: 80, seq: 101, ack: synack!.seq + 100_000, flags: F_ACK, data: Buffer.from('x') }), 2);
  const r = out(s, 2);
  assert.equal(r.length, 1);
  assert.equal(r[0]!.ack, 101, 'the data riding on the bogus ACK was not accepted');
  assert.equal(s.drops.get('tcp-ack-of-unsent'), 1);
  const c = [...s.tcp.connections()][0]!;
  assert.deepEqual(c.invariantViolations(), []);
});

test('the SYN backlog is bounded; half-open connections expire after the SYN-ACK retries', () => {
  const s = new Stack({ addresses: [{ ip: US, cidr: 24 }], random: seededRandom(4), tcp: { backlog: 16 } });
  s.tcp.listen(80, () => {});
  for (let i = 0; i < 100; i++) s.input(rawTcp({ src: PEER, dst: US, sport: 1000 + i, dport: 80, seq: i * 7919, flags: F_SYN }), 0);
  assert.equal(out(s).length, 16);
  assert.equal(s.drops.get('tcp-backlog-full'), 84);
  assert.equal([...s.tcp.connections()].length, 16);
  let t = 0;
  while (s.nextDeadline() !== Infinity && t < 1e6) {
    t = s.nextDeadline();
    s.poll(t);
  }
  assert.equal([...s.tcp.connections()].length, 0);
  assert.equal(t, 123000, 'SYN-ACK retransmitted 6 times (1+2+...+32 s), dropped one capped 60 s RTO later');
});

test('ISNs differ per tuple and per secret, and advance with the clock (RFC 6528)', () => {
  const synOf = (seed: number, sport: number, now: number) => {
    const s = stack(seed);
    s.tcp.listen(80, () => {});
    s.input(rawTcp({ src: PEER, dst: US, sport, dport: 80, seq: 1, flags: F_SYN }), now);
    return out(s, now)[0]!.seq;
  };
  const a = synOf(1, 5000, 0);
  assert.equal(synOf(1, 5000, 0), a, 'same secret, tuple and time: same ISN');
  assert.notEqual(synOf(2, 5000, 0), a, 'another secret');
  assert.notEqual(synOf(1, 5001, 0), a, 'another port');
  assert.equal((synOf(1, 5000, 1000) - a) >>> 0, 250_000, 'M ticks every 4 microseconds');
});

test('successive connections to one peer carry one increasing TSval clock, so a TIME-WAIT the peer holds on the tuple accepts the new SYN', () => {
  // Linux's TIME-WAIT reopens on a SYN only if its TSval is newer than the
  // last one seen (tcp_timewait_state_process's PAWS check); otherwise it
  // answers with the old connection's ACK and the SYN waits out the RTO.
  const s = stack(3);
  const syns: TcpInfo[] = [];
  for (let i = 0; i < 8; i++) {
    const now = 1000 + 37 * i;
    const c = s.tcp.connect({ host: PEER, port: 80 });
    const syn = out(s, now).find((x) => x.sport === c.localPort && x.flags === F_SYN);
    assert.ok(syn?.ts, 'the SYN offers timestamps');
    syns.push(syn);
  }
  for (let i = 1; i < syns.length; i++) {
    assert.equal((syns[i]!.ts![0] - syns[i - 1]!.ts![0]) >>> 0, 37, `SYN ${i}: the TSval moved with the clock, not by a new random offset`);
  }
  const other = s.tcp.connect({ host: '10.0.0.10', port: 80 });
  const otherSyn = out(s, 1000).find((x) => x.sport === other.localPort)!;
  assert.notEqual(otherSyn.ts![0], syns[0]!.ts![0], 'another host pair: another offset');
});

test('SYN-SENT answered by an old incarnation\'s ACK: RST <SEQ=SEG.ACK>, then the SYN again within 2 ms, once, not after the 1 s RTO', () => {
  const s = stack(4);
  const c = s.tcp.connect({ host: PEER, port: 80 });
  const [syn] = out(s, 0);
  assert.equal(syn!.flags, F_SYN);
  // The peer's TIME-WAIT answers with its ACK for the previous connection.
  const oldAck = (syn!.seq - 123456) >>> 0;
  s.input(rawTcp({ src: PEER, dst: US, sport: 80, dport: c.localPort, seq: 777, ack: oldAck, flags: F_ACK }), 5);
  const [rst] = out(s, 5);
  assert.equal(rst!.flags, F_RST);
  assert.equal(rst!.seq, oldAck);
  assert.equal(s.nextDeadline(), 7, 'the SYN is resent 2 ms after the RST');
  const [again] = out(s, 7);
  assert.equal(again!.flags, F_SYN);
  assert.equal(again!.seq, syn!.seq);
  // A second such ACK (a peer whose TIME-WAIT ignores RSTs, RFC 1337) is reset, and the SYN backs off as usual.
  s.input(rawTcp({ src: PEER, dst: US, sport: 80, dport: c.localPort, seq: 777, ack: oldAck, flags: F_ACK }), 8);
  assert.equal(out(s, 8)[0]!.flags, F_RST);
  assert.ok(s.nextDeadline() >= 7 + 2000, `next SYN after the backed-off RTO, not at ${s.nextDeadline()}`);
  s.input(rawTcp({ src: PEER, dst: US, sport: 80, dport: c.localPort, seq: 5000, ack: syn!.seq + 1, flags: F_SYN | F_ACK, options: SYN_OPTS }), 9);
  s.poll(9);
  assert.equal(c.connecting, false, 'the retransmitted SYN opened the connection');
});

test('ephemeral ports are spread over 49152-65535 and never reused while in use', async () => {
  const sim = new Sim({}, {}, { delay: 1 });
  sim.b.tcp.listen(80, () => {});
  const ports = new Set<number>();
  const socks: TcpSocket[] = [];
  for (let i = 0; i < 200; i++) {
    const c = sim.a.tcp.connect({ host: '10.0.0.2', port: 80 });
    socks.push(c);
    assert.ok(c.localPort >= 49152 && c.localPort <= 65535);
    ports.add(c.localPort);
  }
  assert.equal(ports.size, 200);
  // Another stack (another secret) starts elsewhere in the range for the same destination.
  const sim2 = new Sim({}, {}, { delay: 1 }, { delay: 1 }, 99);
  assert.notEqual(sim2.a.tcp.connect({ host: '10.0.0.2', port: 80 }).localPort, socks[0]!.localPort);
  await sim.run(() => socks.every((s) => !s.connecting));
  for (const s of socks) s.destroy();
});

test('a FIN on a SYN (SYN+FIN) to a listener is dropped', () => {
  const s = stack();
  s.tcp.listen(80, () => {});
  s.input(rawTcp({ src: PEER, dst: US, sport: 40010, dport: 80, seq: 1, flags: F_SYN | F_FIN }), 0);
  assert.equal(out(s).length, 0);
  assert.equal(s.drops.get('tcp-syn-fin'), 1);
});

test('simultaneous open reaches ESTABLISHED on both sides', async () => {
  const sim = new Sim({}, {}, { delay: 5 });
  const a = sim.a.tcp.connect({ host: '10.0.0.2', port: 6000, localPort: 7000 });
  const b = sim.b.tcp.connect({ host: '10.0.0.1', port: 7000, localPort: 6000 });
  let n = 0;
  a.on('connect', () => n++);
  b.on('connect', () => n++);
  await sim.run(() => n === 2);
  let got = '';
  b.on('data', (d: Buffer) => (got += d));
  a.write('simultaneous');
  await sim.run(() => got === 'simultaneous');
  assert.equal(a.tcpState, 'ESTABLISHED');
  assert.equal(b.tcpState, 'ESTABLISHED');
});

test('establish() helper sanity: both ends see each other', async () => {
  const sim = new Sim({}, {}, { delay: 2 });
  const { client, server } = await establish(sim, 8080);
  assert.equal(server.remoteAddress, '10.0.0.1');
  assert.equal(server.remotePort, client.localPort);
  assert.equal(client.remotePort, 8080);
});
