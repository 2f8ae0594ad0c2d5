/**
 * The TCP layer's timer heap (src/netstack/deadline-heap.ts, tcp.ts): the
 * heap itself against a sorted list, and the layer with 2,000 established
 * idle connections: a poll or a nextDeadline with nothing due looks at a
 * handful of connections, not all of them, while timers of the idle ones
 * (keepalive) and of a busy one (retransmission) still fire on time.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { DeadlineHeap } from '../../src/netstack/deadline-heap.js';
import { TcpConn } from '../../src/netstack/tcp-conn.js';
import type { TcpSocket } from '../../src/netstack/tcp-socket.js';
import { Sim } from './link.js';
import { prng } from './helpers.js';

test('DeadlineHeap pops in deadline order, equal to sorting (random pushes interleaved with pops)', () => {
  const rand = prng(7);
  const h = new DeadlineHeap<number>();
  const shadow: Array<[number, number]> = [];
  let id = 0;
  for (let round = 0; round < 5000; round++) {
    if (rand() < 0.6 || h.size === 0) {
      const at = Math.floor(rand() * 1000);
      h.push(at, id);
      shadow.push([at, id++]);
    } else {
      shadow.sort((x, y) => x[0] - y[0]);
      const want = shadow[0]![0];
      assert.equal(h.peekAt(), want);
      const item = h.peekItem()!;
      const idx = shadow.findIndex(([at, i]) => at === want && i === item);
      assert.ok(idx >= 0, 'the item popped has the earliest deadline');
      shadow.splice(idx, 1);
      h.pop();
    }
    assert.equal(h.size, shadow.length);
  }
  h.clear();
  assert.equal(h.peekAt(), Infinity);
  assert.equal(h.peekItem(), undefined);
});

test('2,000 idle connections: poll and nextDeadline touch few of them; keepalive and retransmission timers still fire', async () => {
  const sim = new Sim({}, {}, { delay: 1 });
  const accepted: TcpSocket[] = [];
  sim.b.tcp.listen(80, (s) => accepted.push(s));
  const N = 2000;
  const socks: TcpSocket[] = [];
  // In batches below the listener's SYN backlog (128).
  for (let i = 0; i < N; i += 100) {
    for (let k = 0; k < 100; k++) socks.push(sim.a.tcp.connect({ host: '10.0.0.2', port: 80 }));
    await sim.run(() => accepted.length === socks.length && socks.every((s) => !s.connecting));
  }
  // One connection with keepalive (1 s idle), to see an idle timer fire through the heap.
  socks[0]!.setKeepAlive(true, 1000);
  await sim.run(() => true);
  sim.step();

  const proto = TcpConn.prototype as unknown as { deadline(): number };
  const original = proto.deadline;
  let calls = 0;
  proto.deadline = function (this: TcpConn): number {
    calls++;
    return original.call(this);
  };
  try {
    // Let every connection's handshake-time timers (delayed ACK, RTO) lapse and re-file once.
    sim.now += 5;
    sim.step();
    calls = 0;
    sim.now += 1;
    sim.a.poll(sim.now);
    sim.a.nextDeadline();
    assert.ok(calls < 20, `poll + nextDeadline with nothing due looked at ${calls} connections of ${N}`);

    // Keepalive: 1 s idle -> a probe goes out at the right time, found through the heap.
    const probesBefore = sim.counters.ab.sent;
    const due = sim.a.nextDeadline();
    assert.ok(due <= sim.now + 1000 && due > sim.now, `the keepalive deadline (${due - sim.now} ms away) is the next one`);
    sim.now = due;
    sim.step();
    assert.equal(sim.counters.ab.sent, probesBefore + 1, 'one keepalive probe, from the one connection that asked');
  } finally {
    proto.deadline = original;
  }

  // A retransmission among the idle crowd: drop a's next data segment once; it is resent after the RTO.
  let dropped = 0;
  sim.filter = (from, pkt) => {
    if (from === 'a' && pkt.length > 40 && dropped === 0) { dropped++; return false; }
    return true;
  };
  let got = '';
  accepted[N - 1]!.on('data', (d: Buffer) => { got += d.toString(); });
  // a's socket for the last accepted one, by port.
  const peer = socks.find((s) => s.localPort === accepted[N - 1]!.remotePort)!;
  peer.write('hello after loss');
  await sim.run(() => got === 'hello after loss');
  assert.equal(dropped, 1);
  for (const s of socks) s.destroy();
});
