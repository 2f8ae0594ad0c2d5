/**
 * Property loop over hostile input: random packets, mutated real packets
 * (with checksums fixed half of the time so they reach the protocol logic),
 * and forged segments for live connections, fed to input() while a lossy
 * transfer runs. Properties: input() never throws, no 'internal-error'
 * drop, every connection's invariants hold after every packet, and the
 * transfer still ends with intact data unless a forged RST legitimately
 * reset it. Bounded iterations with a fixed seed, so failures reproduce.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { Stack } from '../../src/netstack/stack.js';
import type { TcpSocket } from '../../src/netstack/tcp-socket.js';
import type { TcpConn } from '../../src/netstack/tcp-conn.js';
import { Sim, establish, writeAll, digestOf } from './link.js';
import { prng, seededRandom, inetChecksum, rawTcp } from './helpers.js';

/** Recomputes the IPv4 header checksum and the TCP/UDP/ICMP checksum of a packet, when its headers allow. */
function fixChecksums(p: Uint8Array): void {
  const b = Buffer.from(p.buffer, p.byteOffset, p.byteLength);
  const v = b[0]! >> 4;
  let hl: number;
  let proto: number;
  let src: Buffer;
  let dst: Buffer;
  let end: number;
  if (v === 4) {
    hl = (b[0]! & 15) * 4;
    if (hl < 20 || hl > b.length) return;
    b.writeUInt16BE(0, 10);
    b.writeUInt16BE(inetChecksum(b.subarray(0, hl)), 10);
    proto = b[9]!;
    src = b.subarray(12, 16);
    dst = b.subarray(16, 20);
    end = Math.min(b.length, b.readUInt16BE(2));
  } else if (v === 6) {
    if (b.length < 40) return;
    hl = 40;
    proto = b[6]!;
    src = b.subarray(8, 24);
    dst = b.subarray(24, 40);
    end = Math.min(b.length, 40 + b.readUInt16BE(4));
  } else return;
  const t = b.subarray(hl, Math.max(hl, end));
  const at = proto === 6 ? 16 : proto === 17 ? 6 : proto === 1 || proto === 58 ? 2 : -1;
  if (at < 0 || t.length < at + 2) return;
  t.writeUInt16BE(0, at);
  const pseudo = Buffer.alloc(src.length === 4 ? 12 : 40);
  src.copy(pseudo, 0);
  dst.copy(pseudo, src.length);
  if (src.length === 4) {
    pseudo[9] = proto;
    pseudo.writeUInt16BE(t.length & 0xffff, 10);
  } else {
    pseudo.writeUInt32BE(t.length, 32);
    pseudo[39] = proto;
  }
  t.writeUInt16BE(proto === 1 ? inetChecksum(t) : inetChecksum(pseudo, t), at);
}

function randomBytes(r: () => number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(r() * 256);
  return b;
}

function checkAll(stacks: Stack[], where: string): void {
  for (const s of stacks) {
    assert.equal(s.drops.get('internal-error'), undefined, `internal error ${where}`);
    for (const c of s.tcp.connections()) {
      const bad = c.invariantViolations();
      assert.deepEqual(bad, [], `${c.state} ${where}: ${bad.join('; ')}`);
    }
  }
}

interface Session {
  client: TcpSocket;
  server: TcpSocket;
  port: number;
  settled: () => boolean;
}

/** A connection with a 1 MB transfer running each way. */
async function session(sim: Sim, port: number): Promise<Session> {
  const { client, server } = await establish(sim, port);
  const up = digestOf(server);
  const down = digestOf(client);
  let n = 0;
  void up.done.then(() => n++, () => n++);
  void down.done.then(() => n++, () => n++);
  client.on('error', () => {});
  server.on('error', () => {});
  void writeAll(client, 1_000_000, port).catch(() => {});
  void writeAll(server, 1_000_000, port + 1).catch(() => {});
  return { client, server, port, settled: () => n === 2 };
}

test('fuzz: hostile packets during lossy transfers never throw or break a connection invariant', async () => {
  const sim = new Sim({}, {}, { delay: 3, jitter: 2, loss: 0.02 }, { delay: 3, jitter: 2, loss: 0.02 }, 77);
  let cur = await session(sim, 1000);
  const sessions: Session[] = [cur];
  sim.trace = true;
  const r = prng(4242);
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)]!;
  const ITER = 20_000;
  for (let i = 0; i < ITER; i++) {
    // Let the transfer move along between hostile packets; start another when one ends.
    if (i % 8 === 0) {
      await new Promise((res) => setImmediate(res));
      if (!sim.step()) sim.advance();
      if (cur.client.destroyed || cur.server.destroyed || cur.settled()) {
        cur = await session(sim, cur.port + 2);
        sessions.push(cur);
      }
      if (sim.log.length > 4000) sim.log.splice(0, 2000);
    }
    const to = r() < 0.5 ? sim.a : sim.b;
    let pkt: Uint8Array;
    const kind = r();
    if (kind < 0.15) {
      pkt = randomBytes(r, Math.floor(r() * 120));
      if (pkt.length > 0) pkt[0] = (pkt[0]! & 0x0f) | (r() < 0.5 ? 0x40 : 0x60);
    } else if (kind < 0.55 && sim.log.length > 0) {
      pkt = pick(sim.log.slice(-400)).pkt.slice();
      const n = 1 + Math.floor(r() * 6);
      for (let k = 0; k < n; k++) {
        const at = Math.floor(r() * pkt.length);
        pkt[at] = r() < 0.5 ? pkt[at]! ^ (1 << Math.floor(r() * 8)) : Math.floor(r() * 256);
      }
      if (r() < 0.2) pkt = pkt.subarray(0, Math.floor(r() * pkt.length));
      if (r() < 0.6) fixChecksums(pkt);
    } else {
      // A forged segment on the live tuple, at or near the real sequence numbers.
      const fromA = to === sim.b;
      const me = fromA ? cur.client.tcb : cur.server.tcb;
      const near = (x: number) => (r() < 0.1 ? x : (x + Math.floor((r() - 0.5) * (r() < 0.5 ? 4000 : 4_000_000))) >>> 0);
      const flags = pick([0x10, 0x18, 0x11, 0x04, 0x14, 0x02, 0x12, 0x01, 0x00, 0x3f, Math.floor(r() * 256)]);
      let opts = r() < 0.3 ? [...randomBytes(r, Math.floor(r() * 40))] : r() < 0.5 ? [1, 1, 5, 10, ...randomBytes(r, 8)] : [];
      // An on-path forger copies a current timestamp (RFC 7323), so PAWS does not shield the tuple from it.
      const peer = fromA ? cur.server.tcb : cur.client.tcb;
      if (peer.ts.ok && r() < 0.7) {
        const tsv = (peer.ts.recent + Math.floor(r() * 8)) >>> 0;
        opts = [1, 1, 8, 10, tsv >>> 24, (tsv >>> 16) & 255, (tsv >>> 8) & 255, tsv & 255, 0, 0, 0, 0, ...opts];
      }
      pkt = rawTcp({
        src: fromA ? '10.0.0.1' : '10.0.0.2',
        dst: fromA ? '10.0.0.2' : '10.0.0.1',
        sport: fromA ? cur.client.localPort : cur.port,
        dport: fromA ? cur.port : cur.client.localPort,
        seq: near(me.snd.una),
        ack: near(me.rcvNxt),
        flags,
        win: Math.floor(r() * 65536),
        options: opts.slice(0, 40),
        data: randomBytes(r, r() < 0.5 ? 0 : Math.floor(r() * 1400)),
      });
    }
    assert.doesNotThrow(() => to.input(pkt, sim.now));
    checkAll([sim.a, sim.b], `after packet ${i}`);
  }
  // Liveness: with the noise gone, every session completes, or ends with an error (a forged
  // in-window RST, or forged ACKs that made a sender drop data the peer never got, which
  // ends in ETIMEDOUT). A side whose peer timed out silently may stay open, but only idle:
  // with nothing of its own outstanding (as any TCP without keep-alive). Nothing may hang
  // without a timer.
  const idle = (t: TcpConn) => t.state === 'CLOSED' || !t.snd.busy();
  const ended = (x: Session) =>
    x.settled() || (x.client.destroyed && x.server.destroyed) || ((x.client.destroyed || x.server.destroyed) && idle(x.client.tcb) && idle(x.server.tcb));
  await sim.run(() => sessions.every(ended), 100_000_000);
  for (const s of [sim.a, sim.b]) for (const c of s.tcp.connections()) if (c.snd.busy()) assert.ok(c.deadline() < Infinity, 'a busy connection has a timer');
  checkAll([sim.a, sim.b], 'at the end');
  const forged = sim.a.tcp.stats.challengeAcks + sim.b.tcp.stats.challengeAcks;
  assert.ok(forged > 100, `forged segments reached the RFC 5961 checks (${forged} challenge ACKs)`);
  assert.ok(sessions.length >= 2, `${sessions.length} sessions`);
});

test('fuzz: random packets at a bare stack (listener, UDP socket, reassembly) never throw', () => {
  const s = new Stack({ addresses: [{ ip: '10.0.0.2', cidr: 24 }, { ip: 'fd00::2', cidr: 64 }], random: seededRandom(3) });
  s.tcp.listen(80, () => {});
  s.udp.bind(53).on('message', () => {});
  const r = prng(99);
  const dsts = [
    [10, 0, 0, 2],
    [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
  ];
  for (let i = 0; i < 30_000; i++) {
    const v6 = r() < 0.5;
    const len = (v6 ? 40 : 20) + Math.floor(r() * 200);
    const p = randomBytes(r, len);
    if (v6) {
      p[0] = 0x60;
      p[4] = (len - 40) >> 8;
      p[5] = (len - 40) & 0xff;
      p[6] = [0, 43, 44, 60, 6, 17, 58, 59, Math.floor(r() * 256)][Math.floor(r() * 9)]!;
      p.set(dsts[1]!, 24);
    } else {
      p[0] = 0x45;
      p[2] = len >> 8;
      p[3] = len & 0xff;
      p[6] &= r() < 0.7 ? 0x3f : 0xff;
      p[9] = [1, 6, 17, Math.floor(r() * 256)][Math.floor(r() * 4)]!;
      p.set(dsts[0]!, 16);
    }
    if (r() < 0.7) fixChecksums(p);
    assert.doesNotThrow(() => s.input(p, i));
    if (i % 100 === 0) s.poll(i);
  }
  s.poll(1e9);
  assert.equal(s.drops.get('internal-error'), undefined);
  for (const c of s.tcp.connections()) assert.deepEqual(c.invariantViolations(), []);
  assert.ok(s.drops.size > 10, 'many distinct drop reasons were exercised');
});
