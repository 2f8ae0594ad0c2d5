/**
 * Receive-buffer autotuning (tcp-rcvbuf.ts) on the wire: one bulk transfer
 * over a simulated long fat path (path.ts links), the receiver's window read
 * from every segment it sent. The window starts at the initial buffer and
 * grows to cover the path's bandwidth-delay product when the reader keeps
 * up (with timestamps, and from one window's arrival time without them); it
 * never passes rcvBufMax; and a reader that consumes slowly keeps it small,
 * so a peer cannot make us hold more than the reader takes per round trip.
 *
 *   Sim(path) -> establish -> writeAll(client) -> server reads (all / slowly)
 *   -> sim.log: server's segments -> window field << its shift -> assertions
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { Sim, establish, writeAll, digestOf, payloadDigest } from './link.js';
import { pathLink, type Path } from './path.js';
import { decodeTcp } from './helpers.js';
import { DEFAULT_TCP, type TcpConfig } from '../../src/netstack/tcp-config.js';
import type { TcpSocket } from '../../src/netstack/tcp-socket.js';

const MB = 1_000_000;

interface Run {
  /** Windows the receiver advertised after the handshake, bytes, in order. */
  windows: number[];
  server: TcpSocket;
  /** Goodput, Mbit/s of fake time (0 when the run was cut short). */
  mbit: number;
}

/**
 * `size` bytes client -> server over `p`; `slowRead`: the server reads only
 * this many bytes per 10 ms instead of everything at once, and the run ends
 * after `stopAt` ms of fake time.
 */
async function transfer(p: Path, tcp: Partial<TcpConfig>, slowRead?: { bytesPer10ms: number; stopAt: number }): Promise<Run> {
  const sim = new Sim({ tcp }, { tcp }, pathLink(p, 11), pathLink(p, 12), 5);
  const { client, server } = await establish(sim);
  sim.trace = true;
  const t0 = sim.now;
  let doneAt = 0;
  if (slowRead === undefined) {
    const rx = digestOf(server);
    void rx.done.then(() => (doneAt = sim.now));
    void writeAll(client, p.size, 1);
    await sim.run(() => doneAt > 0);
    assert.equal(rx.hex(), payloadDigest(p.size, 1));
  } else {
    server.pause();
    void writeAll(client, p.size, 1);
    let next = t0;
    await sim.run(() => {
      while (sim.now >= next) {
        next += 10;
        const n = Math.min(server.readableLength, slowRead.bytesPer10ms);
        if (n > 0) server.read(n);
      }
      return sim.now - t0 >= slowRead.stopAt;
    });
  }
  const shift = server.tcb.rcvScale;
  const windows = sim.log
    .filter((e) => e.from === 'b' && e.t > t0)
    .map((e) => decodeTcp(e.pkt)!)
    .filter((s) => s.dport === client.tcb.localPort)
    .map((s) => s.win * 2 ** shift);
  return { windows, server, mbit: doneAt > 0 ? (p.size * 8) / (doneAt - t0) / 1000 : 0 };
}

// 100 ms RTT at 200 Mbit/s: a bandwidth-delay product of 2.5 MB, 20 times the initial buffer.
const LONG_FAT: Path = { rtt: 100, loss: 0, mbit: 200, size: 40 * MB };
const BDP = (200e6 / 8) * 0.1;

for (const timestamps of [true, false]) {
  test(`autotuning (${timestamps ? 'timestamps' : 'no timestamps: one window per RTT sample'}): the advertised window grows from the initial buffer past the path's BDP, within rcvBufMax`, async (t) => {
    const r = await transfer(LONG_FAT, { timestamps });
    const first = r.windows[0]!;
    const most = Math.max(...r.windows);
    console.log(`first window ${first}, largest ${most}, buffer ${r.server.tcb.rcv.buf}, goodput ${r.mbit.toFixed(1)} Mbit/s`);
    assert.ok(first <= DEFAULT_TCP.rcvBuf, `the first window ${first} is within the initial buffer`);
    assert.ok(most >= BDP, `the window reached ${most}, the BDP is ${BDP}`);
    assert.ok(most <= DEFAULT_TCP.rcvBufMax && r.server.tcb.rcv.buf <= DEFAULT_TCP.rcvBufMax, 'within rcvBufMax');
    // A window stuck at the initial 128 KiB would allow 128 KiB per 100 ms, about 10 Mbit/s.
    assert.ok(r.mbit > 50, `goodput ${r.mbit} Mbit/s`);
  });
}

test('autotuning stops at rcvBufMax: a 1 MiB bound on a 2.5 MB BDP path', async () => {
  const max = 1 << 20;
  const r = await transfer({ ...LONG_FAT, size: 16 * MB }, { rcvBufMax: max });
  const most = Math.max(...r.windows);
  assert.equal(r.server.tcb.rcv.buf, max, 'the buffer grew to its bound');
  assert.ok(most <= max, `largest window ${most} within ${max}`);
  assert.ok(most >= max - 2 * 1460, `the bound was used: ${most}`);
});

test('a slow reader keeps the buffer near what it consumes per round trip, however fast the peer could send', async () => {
  // 20 KB per 10 ms = 2 MB/s read: about 200 KB per 100 ms round trip; the peer could send 2.5 MB per round trip.
  const r = await transfer({ ...LONG_FAT, size: 20 * MB }, {}, { bytesPer10ms: 20_000, stopAt: 4000 });
  const buf = r.server.tcb.rcv.buf;
  const most = Math.max(...r.windows);
  assert.ok(buf > DEFAULT_TCP.rcvBuf, `it grew with the reading (${buf})`);
  // At most 4 x 200 KB + headroom, with room for a receiver RTT estimate above the path's.
  assert.ok(buf <= 1.25 * MB, `buffer ${buf} stays near what is read per round trip`);
  assert.ok(most <= buf, `windows ${most} within the buffer`);
  // Not reading at all: no growth (the peer only fills the initial buffer).
  const idle = await transfer({ ...LONG_FAT, size: 4 * MB }, {}, { bytesPer10ms: 0, stopAt: 2000 });
  assert.equal(idle.server.tcb.rcv.buf, DEFAULT_TCP.rcvBuf);
  assert.ok(idle.server.readableLength <= DEFAULT_TCP.rcvBuf, `held ${idle.server.readableLength}`);
});
