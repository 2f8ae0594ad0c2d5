/**
 * Segments that reach a connection past the listener (RFC 9293 3.10.7.4),
 * one stack against hand-built segments (helpers.rawTcp) with SACK and
 * timestamps negotiated: SYN-RECEIVED answering a retransmitted SYN and
 * finishing a simultaneous open from the peer's SYN-ACK, the RST and SYN
 * checks (RFC 5961) with the drop each is counted under, PAWS's exemption
 * for a reordered pure ACK (RFC 7323 5.3, as Linux), D-SACK for old data
 * only (RFC 2883), and an end() before the handshake finished.
 *
 *   rawTcp ──> stack.input ──> poll: what we sent;  drops, state, socket events
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { Stack } from '../../src/netstack/stack.js';
import type { TcpConn } from '../../src/netstack/tcp-conn.js';
import type { TcpSocket } from '../../src/netstack/tcp-socket.js';
import type { TcpError } from '../../src/netstack/tcp-config.js';
import { decodeTcp, rawTcp, seededRandom, F_ACK, F_FIN, F_PSH, F_RST, F_SYN, type TcpInfo } from './helpers.js';

const US = '10.0.0.2';
const PEER = '10.0.0.9';
const PORT = 80;
const SPORT = 40000;
/** Peer's ISN. */
const IRS = 7000;

const tick = () => new Promise<void>((r) => setImmediate(r));

/** Options: MSS 1460, SACK-permitted, and timestamps (TSval, TSecr) when given. */
function opts(ts?: [number, number], sack?: Array<[number, number]>): number[] {
  const u32 = (x: number) => [(x >>> 24) & 255, (x >>> 16) & 255, (x >>> 8) & 255, x & 255];
  const o: number[] = [];
  if (ts) o.push(1, 1, 8, 10, ...u32(ts[0]), ...u32(ts[1]));
  if (sack) {
    o.push(1, 1, 5, 2 + 8 * sack.length);
    for (const [a, b] of sack) o.push(...u32(a), ...u32(b));
  }
  return o;
}

interface Peer {
  s: Stack;
  now: number;
  /** A segment from the peer; returns what we sent at that instant. */
  send(seg: { seq: number; ack?: number; flags: number; data?: Uint8Array; options?: number[]; sport?: number; dport?: number }): TcpInfo[];
  drops(reason: string): number;
  conn(): TcpConn;
}

function peer(seed = 31): Peer {
  const s = new Stack({ addresses: [{ ip: US, cidr: 24 }], random: seededRandom(seed) });
  const p: Peer = {
    s,
    now: 0,
    send(seg) {
      p.now += 1;
      s.input(rawTcp({ src: PEER, dst: US, sport: seg.sport ?? SPORT, dport: seg.dport ?? PORT, seq: seg.seq, ack: seg.ack, flags: seg.flags, data: seg.data, options: seg.options }), p.now);
      return s.poll(p.now).map((x) => decodeTcp(x)!);
    },
    drops: (reason) => s.drops.get(reason) ?? 0,
    conn: () => [...s.tcp.connections()][0]!,
  };
  return p;
}

const SYN_OPTS = (ts = 100) => [2, 4, 0x05, 0xb4, 4, 2, ...opts([ts, 0])];

test('SYN-RECEIVED: a retransmitted SYN (same ISN) draws the same SYN-ACK again; a SYN with another ISN a challenge ACK; SYN+RST nothing', () => {
  const p = peer();
  p.s.tcp.listen(PORT, () => {});
  const [synack] = p.send({ seq: IRS, flags: F_SYN, options: SYN_OPTS() });
  assert.equal(synack!.flags, F_SYN | F_ACK);
  const again = p.send({ seq: IRS, flags: F_SYN, options: SYN_OPTS(101) });
  assert.deepEqual(again.map((x) => [x.flags, x.seq, x.ack]), [[F_SYN | F_ACK, synack!.seq, IRS + 1]], 'the SYN-ACK again');
  assert.equal(p.conn().state, 'SYN-RECEIVED');
  // A SYN at another sequence number inside the window: RFC 5961 section 4, a challenge ACK.
  const other = p.send({ seq: IRS + 10, flags: F_SYN, options: SYN_OPTS(102) });
  assert.deepEqual(other.map((x) => [x.flags, x.ack]), [[F_ACK, IRS + 1]], 'a pure ACK, not a SYN-ACK');
  assert.equal(p.drops('tcp-syn-challenged'), 1);
  // SYN+RST at the ISN is no retransmitted SYN: a RST below RCV.NXT, out of window, dropped silently.
  assert.deepEqual(p.send({ seq: IRS, flags: F_SYN | F_RST }), []);
  assert.equal(p.drops('tcp-rst-out-of-window'), 1);
  assert.equal(p.conn().state, 'SYN-RECEIVED');
});

/** An active open that got the peer's bare SYN: simultaneous open, SYN-RECEIVED. */
async function simultaneous(): Promise<{ p: Peer; sock: TcpSocket; iss: number; events: string[]; errors: TcpError[] }> {
  const p = peer(32);
  const sock = p.s.tcp.connect({ host: PEER, port: SPORT, localPort: PORT });
  const events: string[] = [];
  const errors: TcpError[] = [];
  sock.on('connect', () => events.push('connect'));
  sock.on('error', (e: TcpError) => errors.push(e));
  await tick();
  const [syn] = p.s.poll(0).map((x) => decodeTcp(x)!);
  assert.equal(syn!.flags, F_SYN);
  const [synack] = p.send({ seq: IRS, flags: F_SYN, options: SYN_OPTS() });
  assert.deepEqual([synack!.flags, synack!.seq, synack!.ack], [F_SYN | F_ACK, syn!.seq, IRS + 1], 'our SYN again, now with the ACK of theirs');
  assert.equal(p.conn().state, 'SYN-RECEIVED');
  return { p, sock, iss: syn!.seq, events, errors };
}

test('simultaneous open: the peer\'s SYN-ACK acknowledging our SYN establishes at once and is ACKed; one acknowledging nothing new or too much draws our SYN-ACK again', async () => {
  const { p, iss, events } = await simultaneous();
  for (const ack of [iss, iss + 2]) {
    const r = p.send({ seq: IRS, ack, flags: F_SYN | F_ACK, options: opts([110, 1]) });
    assert.deepEqual(r.map((x) => [x.flags, x.seq, x.ack]), [[F_SYN | F_ACK, iss, IRS + 1]], `SEG.ACK ${ack - iss} from ISS: resend`);
    assert.equal(p.conn().state, 'SYN-RECEIVED');
  }
  const r = p.send({ seq: IRS, ack: iss + 1, flags: F_SYN | F_ACK, options: opts([111, 1]) });
  assert.equal(p.conn().state, 'ESTABLISHED');
  assert.deepEqual(r.map((x) => [x.flags, x.seq, x.ack]), [[F_ACK, iss + 1, IRS + 1]], 'an ACK of the SYN-ACK at once');
  await tick();
  assert.deepEqual(events, ['connect']);
});

test('simultaneous open: a RST at RCV.NXT in SYN-RECEIVED refuses the connect (ECONNREFUSED), unlike a passive open\'s', async () => {
  const { p, errors, events } = await simultaneous();
  assert.deepEqual(p.send({ seq: IRS + 1, flags: F_RST }), []);
  await tick();
  assert.equal([...p.s.tcp.connections()].length, 0);
  assert.deepEqual(events, []);
  assert.equal(errors.length, 1);
  assert.equal(errors[0]!.code, 'ECONNREFUSED');
  assert.equal(errors[0]!.syscall, 'read');
  assert.equal(p.s.tcp.stats.resetsReceived, 1);
});

test('end() before the handshake finished: the FIN follows the SYN-ACK\'s ACK, FIN-WAIT-1', async () => {
  const p = peer(33);
  const sock = p.s.tcp.connect({ host: PEER, port: SPORT, localPort: PORT });
  let ended = false;
  sock.end(() => (ended = true));
  await tick();
  const [syn] = p.s.poll(0).map((x) => decodeTcp(x)!);
  assert.equal(syn!.flags, F_SYN, 'no FIN on the SYN');
  const r = p.send({ seq: IRS, ack: syn!.seq + 1, flags: F_SYN | F_ACK, options: SYN_OPTS() });
  assert.equal(p.conn().state, 'FIN-WAIT-1');
  const fin = r.find((x) => x.flags & F_FIN);
  assert.ok(fin, `a FIN went out: ${JSON.stringify(r.map((x) => x.flags))}`);
  assert.equal(fin.seq, syn!.seq + 1);
  p.send({ seq: IRS + 1, ack: syn!.seq + 2, flags: F_ACK, options: opts([101, 1]) });
  assert.equal(p.conn().state, 'FIN-WAIT-2');
  await tick();
  assert.equal(ended, true, 'end()\'s callback once the FIN is ACKed');
});

/** An established passive connection with SACK and timestamps, 100 bytes of ours in flight, TS.Recent = 1000. */
async function established(): Promise<{ p: Peer; iss: number; received: Buffer[] }> {
  const p = peer(34);
  const received: Buffer[] = [];
  p.s.tcp.listen(PORT, (sock) => {
    sock.on('data', (b: Buffer) => received.push(b));
    sock.write(Buffer.alloc(100, 9));
  });
  const [synack] = p.send({ seq: IRS, flags: F_SYN, options: SYN_OPTS(900) });
  const iss = synack!.seq;
  const out = p.send({ seq: IRS + 1, ack: iss + 1, flags: F_ACK, options: opts([1000, synack!.ts![0]]) });
  await tick();
  out.push(...p.s.poll(p.now).map((x) => decodeTcp(x)!));
  assert.equal(out.filter((x) => x.len === 100).length, 1, 'our 100 bytes in flight');
  assert.equal(p.conn().ts.recent, 1000);
  return { p, iss, received };
}

test('PAWS spares only a pure ACK that changes nothing (SEQ = RCV.NXT, ACK = SND.UNA, no SACK) and lags under an RTO; anything else with an old TSval is dropped', async () => {
  const { p, iss } = await established();
  const una = iss + 1;
  const ecr = 1;
  const paws = () => p.drops('tcp-paws');
  // Behind TS.Recent by 10 (under the RTO): a pure ACK that repeats SND.UNA passes.
  p.send({ seq: IRS + 1, ack: una, flags: F_ACK, options: opts([990, ecr]) });
  assert.equal(paws(), 0, 'the reordered pure ACK passed');
  const cases: Array<[string, Parameters<Peer['send']>[0]]> = [
    ['carrying data', { seq: IRS + 1, ack: una, flags: F_ACK, data: Buffer.from('x'), options: opts([990, ecr]) }],
    ['with PSH', { seq: IRS + 1, ack: una, flags: F_ACK | F_PSH, options: opts([990, ecr]) }],
    ['past RCV.NXT', { seq: IRS + 2, ack: una, flags: F_ACK, options: opts([990, ecr]) }],
    ['acknowledging new data', { seq: IRS + 1, ack: una + 50, flags: F_ACK, options: opts([990, ecr]) }],
    ['with a SACK block', { seq: IRS + 1, ack: una, flags: F_ACK, options: opts([990, ecr], [[una + 50, una + 100]]) }],
  ];
  let n = 0;
  for (const [what, seg] of cases) {
    const r = p.send(seg);
    n++;
    assert.equal(paws(), n, `dropped by PAWS: ${what}`);
    assert.deepEqual(r.map((x) => [x.flags, x.ack]), [[F_ACK, IRS + 1]], `answered with an ACK: ${what}`);
    assert.equal(p.conn().snd.una, una, `its ACK not processed: ${what}`);
    assert.equal(p.conn().rcvNxt, IRS + 1, `its data not taken: ${what}`);
  }
});

test('out of window: only data wholly below RCV.NXT is reported as a D-SACK; an empty old segment or data past the window is not', async () => {
  const { p, iss, received } = await established();
  const una = iss + 1;
  p.send({ seq: IRS + 1, ack: una, flags: F_ACK, data: Buffer.from('0123456789'), options: opts([1001, 1]) });
  await tick();
  assert.equal(Buffer.concat(received).toString(), '0123456789');
  // Old data, all of it below RCV.NXT: the ACK names it in a D-SACK block.
  const dup = p.send({ seq: IRS + 3, ack: una, flags: F_ACK, data: Buffer.from('23'), options: opts([1002, 1]) });
  assert.deepEqual(dup.map((x) => [x.ack, x.sack]), [[IRS + 11, [[IRS + 3, IRS + 5]]]]);
  // An empty segment below RCV.NXT and data past the right edge: an ACK without blocks.
  const empty = p.send({ seq: IRS + 5, ack: una, flags: F_ACK, options: opts([1003, 1]) });
  assert.deepEqual(empty.map((x) => [x.ack, x.sack]), [[IRS + 11, []]]);
  const conn = p.conn();
  const past = p.send({ seq: conn.advRight, ack: una, flags: F_ACK, data: Buffer.from('zz'), options: opts([1004, 1]) });
  assert.deepEqual(past.map((x) => [x.ack, x.sack]), [[IRS + 11, []]]);
  assert.equal(p.drops('tcp-out-of-window'), 3);
});

test('RST and SYN checks once established (RFC 5961): each answered or dropped under its own reason', async () => {
  const { p } = await established();
  const rcvNxt = IRS + 1;
  // A RST inside the window but not at RCV.NXT: challenge ACK.
  const ch = p.send({ seq: rcvNxt + 5, flags: F_RST });
  assert.deepEqual(ch.map((x) => [x.flags, x.ack]), [[F_ACK, rcvNxt]]);
  assert.equal(p.drops('tcp-rst-challenged'), 1);
  // A RST outside it: nothing.
  assert.deepEqual(p.send({ seq: rcvNxt - 1, flags: F_RST }), []);
  assert.equal(p.drops('tcp-rst-out-of-window'), 1);
  // A SYN in the window: challenge ACK.
  const syn = p.send({ seq: rcvNxt, flags: F_SYN, options: SYN_OPTS(1005) });
  assert.deepEqual(syn.map((x) => [x.flags, x.ack]), [[F_ACK, rcvNxt]]);
  assert.equal(p.drops('tcp-syn-challenged'), 1);
  assert.equal(p.s.tcp.stats.challengeAcks, 2);
  assert.equal(p.conn().state, 'ESTABLISHED');
});

/** A passive connection whose socket was destroyed with nothing unread: an orphan closing with FIN. Returns our ISS and our FIN segment. */
async function orphan(p: Peer): Promise<{ iss: number; out: TcpInfo[] }> {
  let server: TcpSocket | null = null;
  p.s.tcp.listen(PORT, (sock) => (server = sock));
  const [synack] = p.send({ seq: IRS, flags: F_SYN, options: SYN_OPTS(900) });
  const iss = synack!.seq;
  p.send({ seq: IRS + 1, ack: iss + 1, flags: F_ACK, options: opts([1000, 1]) });
  await tick();
  server!.destroy();
  await tick();
  return { iss, out: p.s.poll(p.now).map((x) => decodeTcp(x)!) };
}

test('an orphan (destroyed with nothing unread) that gets new data answers at once with <SEQ=SND.MAX><ACK=RCV.NXT><CTL=RST,ACK>; its FIN\'s empty ACK does not', async () => {
  const p = peer(35);
  const { iss, out: [fin] } = await orphan(p);
  assert.equal(fin!.flags & F_FIN, F_FIN, 'a graceful close: FIN');
  const acked = p.send({ seq: IRS + 1, ack: iss + 2, flags: F_ACK, options: opts([1001, 1]) });
  assert.deepEqual(acked, [], 'the ACK of our FIN draws nothing');
  assert.equal(p.conn().state, 'FIN-WAIT-2');
  assert.equal(p.s.tcp.stats.resetsSent, 0);
  // (A FIN without data would be taken: see the next test.)
  const r = p.send({ seq: IRS + 1, ack: iss + 2, flags: F_ACK, data: Buffer.from('late'), options: opts([1002, 1]) });
  assert.deepEqual(r.map((x) => [x.flags, x.seq, x.ack]), [[F_RST | F_ACK, iss + 2, IRS + 1]], 'a RST at once');
  assert.equal(p.drops('tcp-data-after-close'), 1);
  assert.equal(p.s.tcp.stats.resetsSent, 1);
  assert.equal([...p.s.tcp.connections()].length, 0);
});

test('an orphan in FIN-WAIT-2 takes the peer\'s bare FIN: ACK, TIME-WAIT, no RST', async () => {
  const p = peer(36);
  const { iss } = await orphan(p);
  p.send({ seq: IRS + 1, ack: iss + 2, flags: F_ACK, options: opts([1001, 1]) });
  assert.equal(p.conn().state, 'FIN-WAIT-2');
  const r = p.send({ seq: IRS + 1, ack: iss + 2, flags: F_FIN | F_ACK, options: opts([1002, 1]) });
  assert.deepEqual(r.map((x) => [x.flags, x.ack]), [[F_ACK, IRS + 2]]);
  assert.equal(p.s.tcp.stats.resetsSent, 0);
  assert.equal(p.s.tcp.timeWaitCount, 1);
});

test('a RST fails a held write and a pending end() with ECONNRESET, and the socket once', async () => {
  const { p } = await established();
  let server: TcpSocket | null = null;
  for (const c of p.s.tcp.connections()) server = c.socket as TcpSocket;
  const errors: TcpError[] = [];
  server!.on('error', (e: TcpError) => errors.push(e));
  const cbs: string[] = [];
  // Far more than the send buffer takes: the write's callback waits for room.
  server!.write(Buffer.alloc(8 << 20), (e) => cbs.push(`write ${(e as TcpError | undefined)?.code}`));
  server!.end((e?: Error | null) => cbs.push(`end ${(e as TcpError | undefined)?.code}`));
  await tick();
  p.s.poll(p.now);
  p.send({ seq: IRS + 1, flags: F_RST });
  await tick();
  await tick();
  assert.deepEqual(cbs, ['write ECONNRESET', 'end ECONNRESET'], 'the held write and the end() learn of the reset');
  assert.equal(errors.length, 1);
  assert.equal(errors[0]!.code, 'ECONNRESET');
  assert.equal(errors[0]!.syscall, 'read');
});
