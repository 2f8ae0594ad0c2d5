/**
 * TcpConn.invariantViolations() is the oracle of the property tests
 * (fuzz.test.ts checks it after every hostile packet): an oracle that never
 * reports would let those tests pass over a broken connection. Each case
 * breaks one invariant of a sound established connection by hand and
 * expects exactly that violation named, then restores it.
 *
 *   rawTcp handshake ──> sound conn: [] ──> break one field ──> [its message] ──> restore: []
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { Stack } from '../../src/netstack/stack.js';
import type { TcpConn } from '../../src/netstack/tcp-conn.js';
import { decodeTcp, rawTcp, seededRandom, F_ACK, F_SYN } from './helpers.js';

const US = '10.0.0.2';
const PEER = '10.0.0.9';

/** An established passive connection (peer ISN 1000) with 100 bytes of ours in flight. */
function established(): { s: Stack; conn: TcpConn } {
  const s = new Stack({ addresses: [{ ip: US, cidr: 24 }], random: seededRandom(21), tcp: { rcvBuf: 8192 } });
  s.tcp.listen(80, (sock) => sock.write(Buffer.alloc(100, 1)));
  s.input(rawTcp({ src: PEER, dst: US, sport: 40000, dport: 80, seq: 1000, flags: F_SYN, options: [2, 4, 0x05, 0xb4, 4, 2] }), 0);
  const synack = decodeTcp(s.poll(0)[0]!)!;
  s.input(rawTcp({ src: PEER, dst: US, sport: 40000, dport: 80, seq: 1001, ack: synack.seq + 1, flags: F_ACK }), 1);
  s.poll(1);
  const conn = [...s.tcp.connections()][0]!;
  assert.equal(conn.state, 'ESTABLISHED');
  return { s, conn };
}

/** Breaks one thing, expects `expected` to be the whole report, then restores and expects none. */
function violates(conn: TcpConn, expected: Array<string | RegExp>, breakIt: () => () => void): void {
  assert.deepEqual(conn.invariantViolations(), [], 'sound before');
  const restore = breakIt();
  const got = conn.invariantViolations();
  assert.equal(got.length, expected.length, `violations: ${JSON.stringify(got)}`);
  expected.forEach((e, i) => (typeof e === 'string' ? assert.equal(got[i], e) : assert.match(got[i]!, e)));
  restore();
  assert.deepEqual(conn.invariantViolations(), [], 'sound after');
}

test('a sound connection has no violations, in flight, after the ACK, with the FIN queued', async () => {
  const { s, conn } = established();
  // The write ran in the accept callback: flush it.
  await new Promise((r) => setImmediate(r));
  s.poll(2);
  assert.equal(conn.snd.max - conn.snd.una, 100, 'the data is in flight');
  assert.deepEqual(conn.invariantViolations(), []);
  s.input(rawTcp({ src: PEER, dst: US, sport: 40000, dport: 80, seq: 1001, ack: conn.snd.max, flags: F_ACK }), 3);
  s.poll(3);
  assert.equal(conn.snd.una, conn.snd.max);
  assert.deepEqual(conn.invariantViolations(), []);
});

test('the send sequence space: SND.UNA =< SND.NXT =< SND.MAX, and no more outstanding than buffered', async () => {
  const { s, conn } = established();
  await new Promise((r) => setImmediate(r));
  s.poll(2);
  const snd = conn.snd;
  violates(conn, ['SND.UNA > SND.NXT'], () => {
    // SND.NXT one below SND.UNA (moving SND.UNA up instead would make `outstanding` negative too).
    const nxt = snd.nxt;
    snd.nxt = snd.una - 1;
    return () => (snd.nxt = nxt);
  });
  violates(conn, ['SND.NXT > SND.MAX'], () => {
    const nxt = snd.nxt;
    snd.nxt = snd.max + 1;
    // nxt beyond max and max - una = 100 = buffered: only this one.
    return () => (snd.nxt = nxt);
  });
  violates(conn, [/^outstanding 102 beyond buffer 101$/], () => {
    const max = snd.max;
    const nxt = snd.nxt;
    snd.max = snd.una + 102;
    snd.nxt = snd.max;
    return () => {
      snd.max = max;
      snd.nxt = nxt;
    };
  });
  // Exactly at the limit (buffer + 1 for a FIN-less, SYN-less flight) is sound.
  const max = snd.max;
  snd.max = snd.una + 101;
  assert.deepEqual(conn.invariantViolations(), []);
  snd.max = max;
});

test('cwnd, RTO and the receive side', () => {
  const { conn } = established();
  const snd = conn.snd;
  violates(conn, [`cwnd ${snd.mss - 1} below one MSS`], () => {
    const cwnd = snd.cc.cwnd;
    snd.cc.cwnd = snd.mss - 1;
    return () => (snd.cc.cwnd = cwnd);
  });
  // In recovery a window below one MSS is allowed.
  const cwnd = snd.cc.cwnd;
  snd.cc.cwnd = snd.mss - 1;
  snd.recovery = 'sack';
  assert.deepEqual(conn.invariantViolations(), []);
  snd.recovery = 'none';
  snd.cc.cwnd = cwnd;
  for (const bad of [conn.cfg.rto.min - 1, conn.cfg.rto.max + 1, NaN]) {
    violates(conn, [`rto ${bad} out of bounds`], () => {
      const rto = snd.rto.rto;
      snd.rto.rto = bad;
      return () => (snd.rto.rto = rto);
    });
  }
  violates(conn, [/^rcv window \d+ beyond buffer$/], () => {
    const right = conn.advRight;
    conn.advRight = conn.rcvNxt + conn.rcv.buf + 65536;
    return () => (conn.advRight = right);
  });
  violates(conn, [`receive buffer ${conn.rcv.max + 1} beyond its bound ${conn.rcv.max}`], () => {
    const buf = conn.rcv.buf;
    conn.rcv.buf = conn.rcv.max + 1;
    return () => (conn.rcv.buf = buf);
  });
  violates(conn, ['negative undelivered'], () => {
    conn.undelivered = -1;
    return () => (conn.undelivered = 0);
  });
});

test('out-of-order blocks above RCV.NXT, disjoint and not touching; SACK ranges inside SND.UNA..SND.MAX', async () => {
  const { s, conn } = established();
  await new Promise((r) => setImmediate(r));
  s.poll(2);
  const nxt = conn.rcvNxt;
  const spans = (list: Array<[number, number]>) => () => {
    const own = conn.ooo.spans;
    conn.ooo.spans = () => list.map(([start, end]) => ({ start, end }));
    return () => (conn.ooo.spans = own);
  };
  violates(conn, ['out-of-order block at or below RCV.NXT'], spans([[nxt, nxt + 10]]));
  violates(conn, ['out-of-order blocks overlap or touch'], spans([[nxt + 10, nxt + 20], [nxt + 20, nxt + 30]]));
  // Apart by one byte: sound.
  conn.ooo.insert(nxt + 10, new Uint8Array(10));
  conn.ooo.insert(nxt + 21, new Uint8Array(10));
  assert.equal(conn.ooo.spans().length, 2);
  assert.deepEqual(conn.invariantViolations(), []);
  conn.ooo.clear();

  const snd = conn.snd;
  const ranges = (list: Array<[number, number]>) => () => {
    snd.board.ranges = list.map(([start, end]) => ({ start, end }));
    return () => (snd.board.ranges = []);
  };
  violates(conn, ['SACK range below SND.UNA'], ranges([[snd.una - 1, snd.una + 10]]));
  violates(conn, ['SACK range above SND.MAX'], ranges([[snd.una + 10, snd.max + 1]]));
  // From SND.UNA itself up to SND.MAX: sound.
  snd.board.ranges = [{ start: snd.una, end: snd.max }];
  assert.deepEqual(conn.invariantViolations(), []);
  snd.board.ranges = [];
});
