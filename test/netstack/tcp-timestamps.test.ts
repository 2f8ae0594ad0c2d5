/**
 * TCP timestamps (RFC 7323) on the wire with the fake clock: negotiation on
 * the SYNs and the option on every later segment, SACK blocks trimmed to
 * three beside it, an RTT sample from every ACK of new data (RTTM, section
 * 4.1) and PAWS (section 5.3) dropping an old duplicate with an ACK.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { Sim, establish } from './link.js';
import { decodeTcp, rawTcp, F_ACK, F_PSH, F_SYN, type TcpInfo } from './helpers.js';

function infos(sim: Sim, from: 'a' | 'b', since = 0): Array<{ t: number; i: TcpInfo }> {
  return sim.log.filter((e) => e.from === from && e.t >= since).map((e) => ({ t: e.t, i: decodeTcp(e.pkt)! }));
}

test('timestamps are negotiated on the SYNs and then carried by every segment, echoing the peer', async () => {
  const sim = new Sim({}, {}, { delay: 5 });
  sim.trace = true;
  const { client, server } = await establish(sim);
  server.resume();
  client.write(Buffer.alloc(20_000, 1));
  await sim.run(() => client.tcb.snd.una === client.tcb.snd.max && client.tcb.snd.buf.length === 0);
  const a = infos(sim, 'a');
  const b = infos(sim, 'b');
  assert.ok(a[0]!.i.flags & F_SYN && a[0]!.i.ts !== null && a[0]!.i.ts[1] === 0, 'the SYN offers timestamps with TSecr 0');
  assert.ok(b[0]!.i.flags & F_SYN && b[0]!.i.ts![1] === a[0]!.i.ts![0], "the SYN-ACK echoes the SYN's TSval");
  for (const e of [...a, ...b]) assert.ok(e.i.ts !== null, 'every segment carries the option');
  // TSval follows the sender's clock in ms.
  const ta = a.map((e) => e.i.ts![0] - Math.floor(e.t));
  assert.ok(ta.every((x) => x === ta[0]), 'a: TSval - now is constant');
  // Every ACK from b echoes a TSval a sent no later than the data it acknowledges.
  const sentVals = new Set(a.map((e) => e.i.ts![0]));
  for (const e of b) assert.ok(sentVals.has(e.i.ts![1]), `b echoes ${e.i.ts![1]}, a value a sent`);
  assert.equal(client.tcb.ts.ok, true);
  assert.equal(client.tcb.snd.mss, 1420 - 40 - 12, 'the send MSS leaves room for the option');
});

test('a peer that does not offer timestamps gets none, and the full MSS', async () => {
  const sim = new Sim({}, { tcp: { timestamps: false } }, { delay: 5 });
  sim.trace = true;
  const { client, server } = await establish(sim);
  server.resume();
  client.write(Buffer.alloc(5000, 1));
  await sim.run(() => client.tcb.snd.una === client.tcb.snd.max && client.tcb.snd.buf.length === 0);
  const a = infos(sim, 'a');
  assert.ok(a[0]!.i.ts !== null, 'a offered');
  assert.ok(infos(sim, 'b').every((e) => e.i.ts === null), 'b never sends the option');
  assert.ok(a.slice(1).every((e) => e.i.ts === null), 'a stops once b did not answer with it');
  assert.equal(client.tcb.snd.mss, 1420 - 40);
});

test('SACK blocks beside timestamps: at most three per segment (RFC 7323 / RFC 2018 option space)', async () => {
  const sim = new Sim({}, {}, { delay: 5 });
  const { client, server } = await establish(sim);
  server.resume();
  const snd = client.tcb.snd;
  const base = snd.nxt;
  const seen = new Set<number>();
  sim.trace = true;
  // Lose segments 1, 3, 5, 7 once: four holes, four out-of-order blocks at b.
  sim.filter = (from, pkt) => {
    const i = decodeTcp(pkt)!;
    if (from !== 'a' || i.len === 0) return true;
    const k = (i.seq - base) / snd.mss;
    if ([1, 3, 5, 7].includes(k) && !seen.has(k)) return !seen.add(k);
    return true;
  };
  client.write(Buffer.alloc(10 * snd.mss, 3));
  await sim.run(() => snd.una === snd.max && snd.buf.length === 0);
  const sacks = infos(sim, 'b').map((e) => e.i.sack.length);
  assert.equal(Math.max(...sacks), 3);
  assert.ok(infos(sim, 'b').every((e) => e.i.ts !== null));
});

test('RTTM: every ACK of new data gives an RTT sample equal to now minus the echoed TSval', async () => {
  const sim = new Sim({}, {}, { delay: 7 });
  const { client, server } = await establish(sim);
  server.resume();
  const snd = client.tcb.snd;
  const samples: Array<{ t: number; r: number }> = [];
  const orig = snd.rto.sample.bind(snd.rto);
  snd.rto.sample = (r: number, expected?: number) => {
    samples.push({ t: sim.now, r });
    orig(r, expected);
  };
  sim.trace = true;
  const t0 = sim.now;
  client.write(Buffer.alloc(200_000, 5));
  await sim.run(() => snd.una === snd.max && snd.buf.length === 0);
  const a = infos(sim, 'a', t0);
  const offset = a[0]!.i.ts![0] - Math.floor(a[0]!.t);
  // ACKs that moved SND.UNA forward, as a received them (7 ms after b sent them).
  let una = a[0]!.i.seq;
  const advancing: Array<{ at: number; ecr: number }> = [];
  for (const e of infos(sim, 'b', t0)) {
    if (((e.i.ack - una) | 0) > 0) {
      advancing.push({ at: e.t + 7, ecr: e.i.ts![1] });
      una = e.i.ack;
    }
  }
  assert.ok(advancing.length > 50, `${advancing.length} ACKs`);
  assert.equal(samples.length, advancing.length, 'one sample per ACK of new data');
  for (let k = 0; k < samples.length; k++) {
    assert.equal(samples[k]!.r, Math.floor(advancing[k]!.at) - (advancing[k]!.ecr - offset));
  }
  assert.ok(samples.every((s) => s.r >= 14), 'never below the path RTT');
});

test('PAWS: an in-window segment with an old TSval is dropped, counted and answered with an ACK', async () => {
  const sim = new Sim({}, {}, { delay: 5 });
  const { client, server } = await establish(sim);
  let got = 0;
  server.on('data', (d: Buffer) => (got += d.length));
  client.write(Buffer.alloc(1000, 1));
  await sim.run(() => got === 1000);
  const tcb = server.tcb;
  const recent = tcb.ts.recent;
  sim.trace = true;
  const old = (recent - 1000) >>> 0;
  const tsOpt = [1, 1, 8, 10, old >>> 24, (old >>> 16) & 255, (old >>> 8) & 255, old & 255, 0, 0, 0, 0];
  const mark = sim.log.length;
  sim.b.input(
    rawTcp({ src: '10.0.0.1', dst: '10.0.0.2', sport: client.localPort, dport: 80, seq: tcb.rcvNxt, ack: tcb.snd.nxt, flags: F_ACK | F_PSH, options: tsOpt, data: Buffer.alloc(100, 9) }),
    sim.now,
  );
  await sim.runUntil(sim.now + 1);
  assert.equal(sim.b.drops.get('tcp-paws'), 1);
  assert.equal(tcb.ts.pawsDrops, 1);
  assert.equal(got, 1000, 'the old segment delivered nothing');
  const reply = sim.log.slice(mark).filter((e) => e.from === 'b').map((e) => decodeTcp(e.pkt)!);
  assert.ok(reply.some((i) => i.len === 0 && i.ack === tcb.rcvNxt), 'an ACK went back');
  // The same segment with a current TSval is taken.
  const cur = (tcb.ts.recent + 1) >>> 0;
  tsOpt.splice(4, 4, cur >>> 24, (cur >>> 16) & 255, (cur >>> 8) & 255, cur & 255);
  sim.b.input(
    rawTcp({ src: '10.0.0.1', dst: '10.0.0.2', sport: client.localPort, dport: 80, seq: tcb.rcvNxt, ack: tcb.snd.nxt, flags: F_ACK | F_PSH, options: tsOpt, data: Buffer.alloc(100, 9) }),
    sim.now,
  );
  await sim.run(() => got === 1100);
});
