/**
 * The receiver's ACK policy on the wire (RFC 5681 4.2, RFC 9293 3.8.6.3),
 * one stack against hand-built data segments: in order, every second full
 * segment is ACKed at once and a lone one waits for the delayed-ACK timer
 * (40 ms); out-of-order data draws an immediate duplicate ACK with SACK
 * blocks, so does every segment while a hole remains, and the segment that
 * fills the hole draws an immediate ACK of everything; then delayed ACKs
 * resume. Inside a received batch (Stack.batching, set by the driver) one
 * ACK at the batch's poll answers all its segments, with SACK.
 *
 *   rawTcp(data at t) -> stack.input -> poll(t): the ACKs sent at that instant
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { Stack } from '../../src/netstack/stack.js';
import type { TcpSocket } from '../../src/netstack/tcp-socket.js';
import { decodeTcp, rawTcp, seededRandom, F_ACK, F_FIN, F_SYN, type TcpInfo } from './helpers.js';
import { DEFAULT_TCP } from '../../src/netstack/tcp-config.js';

const US = '10.0.0.2';
const PEER = '10.0.0.9';
const SPORT = 40001;
/** Peer ISN 1000: its data starts at 1001. */
const D = 1001;
const SEG = 1000;

interface Receiver {
  /** A data segment [seq, seq + SEG) from the peer at `t`; returns what we sent at that instant. */
  data(seq: number, t: number): TcpInfo[];
  /** The same segment (or `len` bytes, or a FIN with `flags`), input without polling. */
  input(seq: number, t: number, len?: number, flags?: number): void;
  /** Runs timers up to `t`; returns what we sent. */
  at(t: number): TcpInfo[];
  received(): number;
  stack: Stack;
  sock: TcpSocket;
  /** Our sequence number after the SYN (SND.UNA at the start). */
  ours: number;
}

/** A stack that accepted a connection (MSS 1460, SACK permitted and window scale 7 unless `sack` is false, no timestamps) and reads all it gets. */
async function receiver(sack = true): Promise<Receiver> {
  const s = new Stack({ addresses: [{ ip: US, cidr: 24 }], random: seededRandom(21) });
  let sock: TcpSocket | null = null;
  s.tcp.listen(80, (x) => (sock = x));
  const poll = (t: number) => s.poll(t).map((p) => decodeTcp(p)!);
  s.input(rawTcp({ src: PEER, dst: US, sport: SPORT, dport: 80, seq: 1000, flags: F_SYN, options: sack ? [2, 4, 0x05, 0xb4, 4, 2, 1, 1, 1, 3, 3, 7] : [2, 4, 0x05, 0xb4] }), 0);
  const [synack] = poll(0);
  const ours = synack!.seq + 1;
  s.input(rawTcp({ src: PEER, dst: US, sport: SPORT, dport: 80, seq: D, ack: ours, flags: F_ACK }), 1);
  poll(1);
  await new Promise<void>((r) => setImmediate(r));
  assert.ok(sock, 'accepted');
  let got = 0;
  (sock as TcpSocket).on('data', (b: Buffer) => (got += b.length));
  const input = (seq: number, t: number, len = SEG, flags = F_ACK) =>
    s.input(rawTcp({ src: PEER, dst: US, sport: SPORT, dport: 80, seq, ack: ours, flags, data: Buffer.alloc(len, seq & 0xff) }), t);
  return {
    data(seq, t) {
      input(seq, t);
      return poll(t);
    },
    input,
    at: poll,
    received: () => got,
    stack: s,
    sock: sock as TcpSocket,
    ours,
  };
}

const acks = (out: TcpInfo[]) => out.filter((x) => x.flags & F_ACK).map((x) => ({ ack: x.ack, sack: x.sack }));

test('in order: every second full segment is ACKed at once; a lone one waits out the delayed-ACK timer', async () => {
  const r = await receiver();
  assert.deepEqual(acks(r.data(D, 10)), [], 'the first segment waits');
  assert.deepEqual(acks(r.data(D + SEG, 11)), [{ ack: D + 2 * SEG, sack: [] }], 'the second is ACKed with the first');
  assert.deepEqual(acks(r.data(D + 2 * SEG, 12)), [], 'a third waits again');
  assert.deepEqual(acks(r.at(12 + DEFAULT_TCP.delayedAck - 1)), [], 'not before the delayed-ACK timer');
  assert.deepEqual(acks(r.at(12 + DEFAULT_TCP.delayedAck)), [{ ack: D + 3 * SEG, sack: [] }], `ACKed ${DEFAULT_TCP.delayedAck} ms later`);
});

test('out of order: an immediate duplicate ACK with SACK for each segment while a hole lasts, an immediate ACK when it fills, then delayed ACKs again', async () => {
  const r = await receiver();
  // Segment 0 and 2 are missing; 1 and 3 arrive first.
  assert.deepEqual(acks(r.data(D + SEG, 10)), [{ ack: D, sack: [[D + SEG, D + 2 * SEG]] }], 'out of order: duplicate ACK at once');
  assert.deepEqual(acks(r.data(D + 3 * SEG, 11)), [{ ack: D, sack: [[D + 3 * SEG, D + 4 * SEG], [D + SEG, D + 2 * SEG]] }], 'newest block first (RFC 2018 4)');
  // Segment 0 arrives in order but a hole (segment 2) remains: ACKed at once, not delayed.
  assert.deepEqual(acks(r.data(D, 12)), [{ ack: D + 2 * SEG, sack: [[D + 3 * SEG, D + 4 * SEG]] }], 'in order with a hole left: ACK at once');
  // Segment 2 fills the last hole: everything is ACKed at once.
  assert.deepEqual(acks(r.data(D + 2 * SEG, 13)), [{ ack: D + 4 * SEG, sack: [] }], 'the hole filled: ACK at once');
  // No holes: back to one ACK per two segments.
  assert.deepEqual(acks(r.data(D + 4 * SEG, 14)), [], 'delayed again');
  assert.deepEqual(acks(r.data(D + 5 * SEG, 15)), [{ ack: D + 6 * SEG, sack: [] }]);
  await new Promise<void>((res) => setImmediate(res));
  assert.equal(r.received(), 6 * SEG, 'all data delivered in order');
});

/** Segments [seq, ...) input as one received batch: batching on, every segment input, then the batch's poll. */
function batch(r: Receiver, seqs: number[], t: number): ReturnType<typeof acks> {
  r.stack.batching = true;
  for (const seq of seqs) r.input(seq, t);
  r.stack.batching = false;
  return acks(r.at(t));
}

test('a received batch: one ACK at its poll answers all its segments, holes reported with SACK; without SACK every duplicate ACK still goes out', async () => {
  const r = await receiver();
  const seg = (k: number) => D + k * SEG;
  // Ten in-order segments in one batch: one ACK of all ten (one per two segments: five).
  assert.deepEqual(batch(r, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map(seg), 10), [{ ack: seg(10), sack: [] }]);
  // A batch of 120 (120 000 bytes, inside the 128 KiB window): an ACK once 64 KiB is unacknowledged (66 segments), one at the poll.
  const big = batch(r, Array.from({ length: 120 }, (_, k) => seg(10 + k)), 15);
  assert.deepEqual(big, [{ ack: seg(76), sack: [] }, { ack: seg(130), sack: [] }]);
  await new Promise<void>((res) => setImmediate(res)); // the reader takes the batch; the window reopens
  r.at(16);
  // Segment 130 lost; 131..134 arrive in one batch: one duplicate ACK whose SACK block covers them all.
  assert.deepEqual(batch(r, [131, 132, 133, 134].map(seg), 20), [{ ack: seg(130), sack: [[seg(131), seg(135)]] }]);
  // The retransmission and two new segments: one ACK of everything.
  assert.deepEqual(batch(r, [130, 135, 136].map(seg), 30), [{ ack: seg(137), sack: [] }]);
  await new Promise<void>((res) => setImmediate(res));
  assert.equal(r.received(), 137 * SEG, 'all data delivered in order');

  // Without SACK the sender counts duplicate ACKs: one per out-of-order segment, batch or not.
  const n = await receiver(false);
  assert.deepEqual(batch(n, [0, 1].map(seg), 10), [{ ack: seg(2), sack: [] }]);
  assert.deepEqual(batch(n, [3, 4, 5].map(seg), 20), [{ ack: seg(2), sack: [] }, { ack: seg(2), sack: [] }, { ack: seg(2), sack: [] }]);
});

test('inside a batch the ACK waits for the poll only until 64 KiB is unacknowledged: at exactly 65536 bytes it goes out', async () => {
  const r = await receiver();
  // Two segments first: their ACK opens the window past the SYN's unscaled 65535.
  assert.deepEqual(batch(r, [D, D + SEG], 5), [{ ack: D + 2 * SEG, sack: [] }]);
  await new Promise<void>((res) => setImmediate(res));
  r.at(6);
  // 65 segments of 1024 bytes in one batch: the 64th brings the unacknowledged data to 65536 bytes exactly,
  // and is ACKed at once; the 65th, a lone segment after that ACK, waits for the delayed-ACK timer.
  const base = D + 2 * SEG;
  r.stack.batching = true;
  for (let k = 0; k < 65; k++) r.input(base + k * 1024, 10, 1024);
  r.stack.batching = false;
  assert.deepEqual(acks(r.at(10)), [{ ack: base + 65536, sack: [] }]);
  assert.deepEqual(acks(r.at(10 + DEFAULT_TCP.delayedAck)), [{ ack: base + 65 * 1024, sack: [] }]);
});

test('inside a batch the ACK of a FIN that ends the connection (FIN-WAIT-2 to TIME-WAIT) still goes out', async () => {
  const r = await receiver();
  r.sock.end();
  const [fin] = r.at(5).filter((x) => x.flags & F_FIN);
  assert.ok(fin, 'our FIN');
  // The peer ACKs our FIN (FIN-WAIT-2), then sends its own FIN inside a received batch.
  r.stack.input(rawTcp({ src: PEER, dst: US, sport: SPORT, dport: 80, seq: D, ack: fin.seq + 1, flags: F_ACK }), 6);
  assert.deepEqual(r.at(6), []);
  const conn = [...r.stack.tcp.connections()][0]!;
  assert.equal(conn.state, 'FIN-WAIT-2');
  r.stack.batching = true;
  r.input(D, 7, 0, F_FIN | F_ACK);
  r.stack.batching = false;
  assert.deepEqual(acks(r.at(7)), [{ ack: D + 1, sack: [] }], 'the FIN is ACKed although the connection left the table');
  assert.equal([...r.stack.tcp.connections()].length, 0, 'in TIME-WAIT');
});
