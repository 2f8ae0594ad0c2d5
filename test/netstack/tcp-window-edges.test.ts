/**
 * The receive window's edges (RFC 9293 3.10.7.4, first check), one stack
 * against hand-built segments (helpers.rawTcp). A segment is acceptable when
 * RCV.NXT =< SEG.SEQ < RCV.NXT+RCV.WND (or its last byte is): so SEQ =
 * RCV.NXT-1 and SEQ = RCV.NXT+RCV.WND are just outside, empty or not, except
 * that an empty segment may sit on the right edge itself (Linux). Such a
 * segment is counted as out-of-window and answered with an ACK; its ACK field
 * is not processed (SND.UNA stays), and nothing of it is queued. Data that
 * starts inside the window is trimmed at its right edge.
 *
 *   rawTcp ──> stack.input ──> conn: drops, snd.una, rcvNxt, ooo, socket data
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { Stack } from '../../src/netstack/stack.js';
import type { TcpConn } from '../../src/netstack/tcp-conn.js';
import type { TcpSocket } from '../../src/netstack/tcp-socket.js';
import { decodeTcp, rawTcp, seededRandom, F_ACK, F_SYN, type TcpInfo } from './helpers.js';

const US = '10.0.0.2';
const PEER = '10.0.0.9';
const SPORT = 40000;
const RCV_BUF = 4096;

interface Fixture {
  s: Stack;
  conn: TcpConn;
  received: Buffer[];
  /** The last window we advertised, read from the wire (no window scaling here). */
  advertised: number;
  /** A raw segment from the peer on this connection. */
  seg(seq: number, ack: number, data?: Uint8Array): void;
  out(): TcpInfo[];
  drops(): number;
}

/** An established connection (peer ISN 1000, MSS only: windows unscaled) with 100 bytes of ours unacknowledged. */
async function fixture(): Promise<Fixture> {
  const s = new Stack({ addresses: [{ ip: US, cidr: 24 }], random: seededRandom(11), tcp: { rcvBuf: RCV_BUF } });
  let sock: TcpSocket | null = null;
  s.tcp.listen(80, (x) => (sock = x));
  let now = 0;
  const out = () => s.poll(now).map((p) => decodeTcp(p)!);
  const seg = (seq: number, ack: number, data?: Uint8Array) => {
    now += 1;
    s.input(rawTcp({ src: PEER, dst: US, sport: SPORT, dport: 80, seq, ack, flags: F_ACK, data }), now);
  };
  s.input(rawTcp({ src: PEER, dst: US, sport: SPORT, dport: 80, seq: 1000, flags: F_SYN, options: [2, 4, 0x05, 0xb4] }), now);
  const [synack] = out();
  assert.equal(synack!.flags, F_SYN | F_ACK);
  seg(1001, synack!.seq + 1);
  out();
  assert.ok(sock, 'accepted');
  const received: Buffer[] = [];
  (sock as TcpSocket).on('data', (b: Buffer) => received.push(b));
  (sock as TcpSocket).write(Buffer.alloc(100, 7));
  const sent = out().filter((x) => x.len > 0);
  assert.equal(sent.length, 1);
  const conn = [...s.tcp.connections()][0]!;
  assert.equal(conn.state, 'ESTABLISHED');
  assert.equal(conn.snd.nxt - conn.snd.una, 100, '100 bytes in flight');
  const advertised = sent[0]!.win;
  return { s, conn, received, advertised, seg, out, drops: () => s.drops.get('tcp-out-of-window') ?? 0 };
}

const tick = () => new Promise<void>((r) => setImmediate(r));

/** Sends one segment that must be refused: counted, answered with an ACK, ACK field ignored, nothing queued. */
async function refused(f: Fixture, seq: number, data?: Uint8Array): Promise<void> {
  const { conn } = f;
  const una = conn.snd.una;
  const rcvNxt = conn.rcvNxt;
  const dropsBefore = f.drops();
  // Its ACK field acknowledges everything we sent: processing it would move SND.UNA.
  f.seg(seq, conn.snd.nxt, data);
  const replies = f.out();
  await tick();
  assert.equal(f.drops(), dropsBefore + 1, 'counted as tcp-out-of-window');
  assert.equal(conn.snd.una, una, 'SND.UNA unchanged: the ACK field of an unacceptable segment is not processed');
  assert.equal(conn.rcvNxt, rcvNxt, 'RCV.NXT unchanged');
  assert.equal(conn.ooo.bytes, 0, 'nothing queued out of order');
  assert.equal(f.received.length, 0, 'nothing delivered');
  assert.equal(replies.length, 1, 'answered with one ACK');
  assert.equal(replies[0]!.flags & F_ACK, F_ACK);
  assert.equal(replies[0]!.ack, rcvNxt);
}

test('the window read from the wire is the connection\'s RCV.WND', async () => {
  const f = await fixture();
  assert.ok(f.advertised > 100 && f.advertised <= RCV_BUF, `window ${f.advertised}`);
  assert.equal(f.conn.rcvWnd, f.advertised);
});

test('an empty segment at RCV.NXT-1 is out of window; its ACK is not processed', async () => {
  const f = await fixture();
  await refused(f, f.conn.rcvNxt - 1);
});

test('an empty segment at RCV.NXT+RCV.WND is accepted as on Linux (tcp_sequence); one past it is not', async () => {
  // A peer whose window we filled ACKs with SEQ = SND.NXT on our right edge; refusing those deadlocks two full windows.
  const f = await fixture();
  await refused(f, f.conn.rcvNxt + f.advertised + 1);
  const drops = f.drops();
  f.seg(f.conn.rcvNxt + f.advertised, f.conn.snd.nxt);
  f.out();
  assert.equal(f.drops(), drops);
  assert.equal(f.conn.snd.una, f.conn.snd.nxt);
});

test('one byte at RCV.NXT-1 is out of window; nothing queued, its ACK not processed', async () => {
  const f = await fixture();
  await refused(f, f.conn.rcvNxt - 1, Uint8Array.of(1));
});

test('data at RCV.NXT+RCV.WND is out of window; nothing queued, its ACK not processed', async () => {
  const f = await fixture();
  await refused(f, f.conn.rcvNxt + f.advertised, new Uint8Array(100).fill(2));
});

test('control: an empty segment at RCV.NXT+RCV.WND-1 is acceptable and its ACK moves SND.UNA', async () => {
  const f = await fixture();
  f.seg(f.conn.rcvNxt + f.advertised - 1, f.conn.snd.nxt);
  f.out();
  assert.equal(f.drops(), 0);
  assert.equal(f.conn.snd.una, f.conn.snd.nxt);
});

test('data running past RCV.NXT+RCV.WND is accepted only up to the window\'s right edge', async () => {
  const f = await fixture();
  const wnd = f.advertised;
  const start = f.conn.rcvNxt;
  f.seg(start, f.conn.snd.una, new Uint8Array(wnd + 500).fill(3));
  f.out();
  await tick();
  assert.equal(f.conn.rcvNxt - start, wnd, 'RCV.NXT advanced by the window only');
  assert.equal(f.received.reduce((n, b) => n + b.length, 0), wnd, 'the reader got the window only');
});

test('out-of-order data running past the right edge is queued only up to it', async () => {
  const f = await fixture();
  const wnd = f.advertised;
  const start = f.conn.rcvNxt;
  f.seg(start + 10, f.conn.snd.una, new Uint8Array(wnd).fill(4));
  f.out();
  assert.equal(f.conn.rcvNxt, start, 'a hole at RCV.NXT');
  assert.equal(f.conn.ooo.bytes, wnd - 10, 'queued up to RCV.NXT+RCV.WND and no further');
});

test('a zero window: data even at RCV.NXT is out of window and answered with a zero-window ACK; an empty ACK at RCV.NXT is still taken', async () => {
  // RFC 9293 3.10.7.4: with RCV.WND = 0 no segment with data is acceptable; one of length 0 is at SEG.SEQ = RCV.NXT.
  const s = new Stack({ addresses: [{ ip: US, cidr: 24 }], random: seededRandom(11), tcp: { rcvBuf: RCV_BUF, rcvBufMax: RCV_BUF } });
  s.tcp.listen(80, (x) => x.pause()); // a reader that reads nothing: the buffer fills
  let now = 0;
  const seg = (seq: number, ack: number, flags: number, data?: Uint8Array) => {
    now += 1;
    s.input(rawTcp({ src: PEER, dst: US, sport: SPORT, dport: 80, seq, ack, flags, data, options: flags & F_SYN ? [2, 4, 0x05, 0xb4] : undefined }), now);
    return s.poll(now).map((p) => decodeTcp(p)!);
  };
  const [synack] = seg(1000, 0, F_SYN);
  const ack = synack!.seq + 1;
  seg(1001, ack, F_ACK);
  await tick();
  const conn = [...s.tcp.connections()][0]!;
  while (conn.rcvWnd > 0) {
    seg(conn.rcvNxt, ack, F_ACK, new Uint8Array(Math.min(1000, conn.rcvWnd)));
    await tick();
  }
  const full = conn.rcvNxt;
  assert.equal(full, 1001 + RCV_BUF, 'the whole buffer taken');
  const drops = () => s.drops.get('tcp-out-of-window') ?? 0;
  const before = drops();
  const replies = seg(full, ack, F_ACK, new Uint8Array(1));
  assert.equal(drops(), before + 1, 'one byte at RCV.NXT into a zero window is out of window');
  assert.deepEqual(replies.map((r) => [r.flags, r.ack, r.win]), [[F_ACK, full, 0]], 'answered with an ACK of RCV.NXT and a zero window');
  assert.equal(conn.rcvNxt, full, 'nothing taken');
  seg(full, ack, F_ACK);
  assert.equal(drops(), before + 1, 'an empty ACK at RCV.NXT is acceptable in a zero window');
  seg(full + 1, ack, F_ACK);
  assert.equal(drops(), before + 2, 'an empty ACK past RCV.NXT is not');
});

test('a segment that starts below RCV.NXT and ends inside the window is acceptable: its new part is taken, the old part trimmed', async () => {
  // RFC 9293 3.10.7.4: acceptable when its first OR its last byte is in the window (a retransmission overlapping new data).
  const f = await fixture();
  const start = f.conn.rcvNxt;
  f.seg(start, f.conn.snd.una, Buffer.from('0123456789'));
  f.out();
  await tick();
  f.seg(start + 5, f.conn.snd.una, Buffer.from('56789abcde'));
  f.out();
  await tick();
  assert.equal(f.drops(), 0, 'not refused');
  assert.equal(f.conn.rcvNxt, start + 15);
  assert.equal(Buffer.concat(f.received).toString(), '0123456789abcde', 'the overlap delivered once');
});
