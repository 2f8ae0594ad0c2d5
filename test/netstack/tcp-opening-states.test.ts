/**
 * The two opening states against hand-built segments (helpers.rawTcp).
 *
 * SYN-SENT, an active open (RFC 9293 3.10.7.3).
 * The ACK of an answer is acceptable only when ISS < SEG.ACK =< SND.NXT; an
 * unacceptable ACK is answered with <SEQ=SEG.ACK><CTL=RST> (unless the segment
 * is itself a RST) and dropped. A RST counts only with an acceptable ACK
 * (then the connect fails with ECONNREFUSED); without an ACK it is dropped. A
 * segment with neither SYN nor RST is dropped. None of the dropped segments
 * changes the connection: the real SYN-ACK still establishes it.
 *
 * SYN-RECEIVED, a passive open (RFC 9293 3.10.7.4): the handshake's ACK must
 * satisfy SND.UNA < SEG.ACK =< SND.NXT, else it gets <SEQ=SEG.ACK><CTL=RST>
 * and the connection waits on; a segment without ACK is dropped (here and
 * once established); an exact RST sends a passive open back to LISTEN
 * without a word to the application.
 *
 *   connect | listen ──> SYN / SYN-ACK on the wire ──> rawTcp answers ──> stack.input
 *                    ──> drops by reason, RSTs sent, state, error, accepts
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { Stack } from '../../src/netstack/stack.js';
import type { TcpConn } from '../../src/netstack/tcp-conn.js';
import type { TcpError } from '../../src/netstack/tcp-config.js';
import type { TcpSocket } from '../../src/netstack/tcp-socket.js';
import { decodeTcp, rawTcp, seededRandom, F_ACK, F_RST, F_SYN, type TcpInfo } from './helpers.js';

const US = '10.0.0.2';
const PEER = '10.0.0.9';
const PORT = 80;

interface Fixture {
  s: Stack;
  conn: TcpConn;
  /** Our ISS, read from the SYN on the wire. */
  iss: number;
  sport: number;
  errors: TcpError[];
  answer(seq: number, ack: number, flags: number): TcpInfo[];
  drops(reason: string): number;
}

function fixture(): Fixture {
  const s = new Stack({ addresses: [{ ip: US, cidr: 24 }], random: seededRandom(5) });
  const sock = s.tcp.connect({ host: PEER, port: PORT });
  const errors: TcpError[] = [];
  sock.on('error', (e: TcpError) => errors.push(e));
  let now = 0;
  const [syn] = s.poll(now).map((p) => decodeTcp(p)!);
  assert.equal(syn!.flags, F_SYN);
  const conn = [...s.tcp.connections()][0]!;
  assert.equal(conn.state, 'SYN-SENT');
  const answer = (seq: number, ack: number, flags: number) => {
    now += 1;
    s.input(rawTcp({ src: PEER, dst: US, sport: PORT, dport: syn!.sport, seq, ack, flags, options: [2, 4, 0x05, 0xb4] }), now);
    return s.poll(now).map((p) => decodeTcp(p)!);
  };
  return { s, conn, iss: syn!.seq, sport: syn!.sport, errors, answer, drops: (r) => s.drops.get(r) ?? 0 };
}

const u32 = (n: number) => n >>> 0;

test('a SYN-ACK acknowledging ISS or anything past SND.NXT gets <SEQ=SEG.ACK><CTL=RST> and is dropped; the real one still establishes', () => {
  const f = fixture();
  for (const [i, bad] of [u32(f.iss), u32(f.iss - 1), u32(f.iss + 2), u32(f.iss + 0x10000)].entries()) {
    // Besides the RST, our SYN may go again (2 ms after the first such RST, as Linux: the
    // ACK most likely came from an old incarnation of the tuple that the RST just ended).
    const replies = f.answer(5000, bad, F_SYN | F_ACK).filter((r) => !(r.flags === F_SYN && r.seq === f.iss));
    assert.equal(replies.length, 1, `one RST for ACK ${bad}`);
    assert.deepEqual([replies[0]!.flags, replies[0]!.seq, replies[0]!.sport, replies[0]!.dport], [F_RST, bad, f.sport, PORT], 'a bare RST at SEG.ACK, on our tuple');
    assert.equal(f.drops('tcp-syn-sent-bad-ack'), i + 1);
    assert.equal(f.conn.state, 'SYN-SENT');
  }
  const final = f.answer(5000, u32(f.iss + 1), F_SYN | F_ACK);
  assert.equal(f.conn.state, 'ESTABLISHED');
  assert.equal(f.conn.rcvNxt, 5001, 'RCV.NXT = the SYN-ACK\'s SEQ + 1');
  assert.deepEqual(final.map((r) => [r.flags, r.seq, r.ack]), [[F_ACK, u32(f.iss + 1), 5001]]);
  assert.equal(f.errors.length, 0);
});

test('a RST with an unacceptable ACK is dropped without an answer', () => {
  const f = fixture();
  assert.deepEqual(f.answer(5000, u32(f.iss), F_RST | F_ACK), []);
  assert.deepEqual(f.answer(5000, u32(f.iss + 2), F_RST | F_ACK), []);
  assert.equal(f.drops('tcp-syn-sent-bad-ack'), 2);
  assert.equal(f.conn.state, 'SYN-SENT');
  assert.equal(f.errors.length, 0, 'the connect has not failed');
});

test('a RST without ACK is dropped; with the acceptable ACK it refuses the connect', async () => {
  const f = fixture();
  assert.deepEqual(f.answer(5000, 0, F_RST), []);
  assert.equal(f.drops('tcp-syn-sent-rst-without-ack'), 1);
  assert.equal(f.conn.state, 'SYN-SENT');
  assert.equal(f.errors.length, 0);
  assert.deepEqual(f.answer(0, u32(f.iss + 1), F_RST | F_ACK), []);
  assert.equal(f.conn.state, 'CLOSED');
  await new Promise<void>((r) => setImmediate(r)); // socket events are deferred
  assert.deepEqual(f.errors.map((e) => e.code), ['ECONNREFUSED']);
});

test('an answer with neither SYN nor RST is dropped, even with an acceptable ACK', () => {
  const f = fixture();
  assert.deepEqual(f.answer(5000, u32(f.iss + 1), F_ACK), []);
  assert.equal(f.drops('tcp-syn-sent-no-syn'), 1);
  assert.equal(f.conn.state, 'SYN-SENT');
  assert.equal(f.conn.snd.una, f.iss, 'SND.UNA still at ISS: the ACK was not taken');
  f.answer(7000, u32(f.iss + 1), F_SYN | F_ACK);
  assert.equal(f.conn.state, 'ESTABLISHED');
  assert.equal(f.conn.rcvNxt, 7001);
});

/** A listener that got PEER's SYN (ISN 1000) and answered; `iss` read from its SYN-ACK. */
function passive() {
  const s = new Stack({ addresses: [{ ip: US, cidr: 24 }], random: seededRandom(6) });
  const accepted: TcpSocket[] = [];
  s.tcp.listen(PORT, (x) => accepted.push(x));
  let now = 0;
  const seg = (seq: number, ack: number, flags: number, data?: Uint8Array) => {
    now += 1;
    s.input(rawTcp({ src: PEER, dst: US, sport: 40000, dport: PORT, seq, ack, flags, data }), now);
    return s.poll(now).map((p) => decodeTcp(p)!);
  };
  const [synack] = seg(1000, 0, F_SYN);
  assert.equal(synack!.flags, F_SYN | F_ACK);
  return { s, accepted, seg, iss: synack!.seq, conns: () => [...s.tcp.connections()], drops: (r: string) => s.drops.get(r) ?? 0 };
}

test('SYN-RECEIVED: an ACK of ISS or past SND.NXT gets <SEQ=SEG.ACK><CTL=RST> and is dropped; the right one establishes', async () => {
  const p = passive();
  for (const [i, bad] of [u32(p.iss), u32(p.iss + 2)].entries()) {
    const replies = p.seg(1001, bad, F_ACK);
    assert.deepEqual(replies.map((r) => [r.flags, r.seq]), [[F_RST, bad]]);
    assert.equal(p.drops('tcp-syn-received-bad-ack'), i + 1);
    assert.equal(p.conns()[0]!.state, 'SYN-RECEIVED');
  }
  await new Promise<void>((r) => setImmediate(r));
  assert.equal(p.accepted.length, 0, 'nothing accepted yet');
  p.seg(1001, u32(p.iss + 1), F_ACK);
  assert.equal(p.conns()[0]!.state, 'ESTABLISHED');
  await new Promise<void>((r) => setImmediate(r));
  assert.equal(p.accepted.length, 1);
});

test('a segment without ACK is dropped, in SYN-RECEIVED and once established: its data is not taken', async () => {
  const p = passive();
  p.seg(1001, 0, 0, new Uint8Array(10));
  assert.equal(p.drops('tcp-no-ack'), 1);
  assert.equal(p.conns()[0]!.state, 'SYN-RECEIVED');
  assert.equal(p.conns()[0]!.rcvNxt, 1001);
  p.seg(1001, u32(p.iss + 1), F_ACK);
  await new Promise<void>((r) => setImmediate(r));
  const got: Buffer[] = [];
  p.accepted[0]!.on('data', (b: Buffer) => got.push(b));
  p.seg(1001, 0, 0, new Uint8Array(10));
  assert.equal(p.drops('tcp-no-ack'), 2);
  assert.equal(p.conns()[0]!.rcvNxt, 1001, 'RCV.NXT unchanged');
  await new Promise<void>((r) => setImmediate(r));
  assert.equal(got.length, 0, 'nothing delivered');
  p.seg(1001, u32(p.iss + 1), F_ACK, new Uint8Array(10));
  assert.equal(p.conns()[0]!.rcvNxt, 1011, 'the same bytes with an ACK are taken');
});

test('SYN-RECEIVED: a RST at RCV.NXT drops the embryonic connection without telling the application', async () => {
  const p = passive();
  const resetsBefore = p.s.tcp.stats.resetsReceived;
  assert.deepEqual(p.seg(1001, 0, F_RST), []);
  assert.equal(p.conns().length, 0, 'the connection is gone');
  assert.equal(p.s.tcp.stats.resetsReceived, resetsBefore + 1);
  await new Promise<void>((r) => setImmediate(r));
  assert.equal(p.accepted.length, 0);
  // The listener still listens: a new SYN gets a SYN-ACK.
  const [again] = p.seg(3000, 0, F_SYN);
  assert.equal(again!.flags, F_SYN | F_ACK);
  assert.equal(again!.ack, 3001);
});
