/**
 * Loss recovery with RACK-TLP (RFC 8985) and PRR (RFC 6937), checked on the
 * wire with the fake clock: a lost tail segment is repaired by the tail
 * loss probe about one PTO (2 SRTT) after the last ACK, where without SACK
 * it waits for the RTO; and during recovery the sender sends what PRR's
 * formula allows for the data each ACK delivered.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { Sim, establish, warmedUp } from './link.js';
import { decodeTcp, type TcpInfo } from './helpers.js';
import type { TcpConfig } from '../../src/netstack/tcp-config.js';

interface Ev {
  t: number;
  from: 'a' | 'b';
  i: TcpInfo;
}

/** One flight of n full segments from a, with segment `lost` dropped on its first transmission. */
async function tail(n: number, lost: number, tcp: Partial<TcpConfig>) {
  const { sim, client } = await warmedUp(tcp);
  const snd = client.tcb.snd;
  const base = snd.nxt;
  const mss = snd.mss;
  let dropped = false;
  let probeSrtt = 0;
  sim.trace = true;
  sim.filter = (from, pkt) => {
    const i = decodeTcp(pkt)!;
    if (from !== 'a' || i.len === 0) return true;
    if (i.seq === base + lost * mss) {
      if (!dropped) return !(dropped = true);
      probeSrtt = snd.rto.srtt;
    }
    return true;
  };
  const t0 = sim.now;
  client.write(Buffer.alloc(n * mss, 2));
  await sim.run(() => snd.una === snd.max && snd.buf.length === 0);
  const ev: Ev[] = sim.log.filter((e) => e.t >= t0).map((e) => ({ t: e.t, from: e.from, i: decodeTcp(e.pkt)! }));
  const sends = ev.filter((e) => e.from === 'a' && e.i.len > 0 && e.i.seq === base + lost * mss).map((e) => e.t);
  return { sim, snd, ev, sends, t0, probeSrtt, stats: sim.a.tcp.stats };
}

test('TLP: a lost last segment is retransmitted one PTO (2 SRTT) after the last ACK, not after an RTO', async () => {
  const r = await tail(10, 9, {});
  assert.equal(r.sends.length, 2);
  const probe = r.sends[1]!;
  // The last ACK a received before the probe (b's ACKs reach a 5 ms after they leave).
  const lastAck = Math.max(...r.ev.filter((e) => e.from === 'b' && e.t + 5 <= probe).map((e) => e.t + 5));
  assert.ok(Math.abs(probe - (lastAck + 2 * r.probeSrtt)) < 1e-9, `probe at +${probe - lastAck} ms after the last ACK, 2 SRTT = ${2 * r.probeSrtt}`);
  assert.ok(probe - lastAck < r.snd.rto.rto, 'before the RTO would have fired');
  assert.equal(r.stats.tailLossProbes, 1);
  assert.equal(r.stats.timeouts, 0);
  assert.equal(r.stats.retransmits, 1, 'only the lost segment was sent again');

  // The same loss without SACK: no probe, the RTO (200 ms at least) repairs it.
  const slow = await tail(10, 9, { sack: false });
  assert.equal(slow.stats.tailLossProbes, 0);
  assert.equal(slow.stats.timeouts, 1);
  assert.ok(slow.sends[1]! - slow.sends[0]! >= 200);
  assert.ok(slow.sends[1]! - slow.sends[0]! > 3 * (probe - r.sends[0]!), 'the probe repaired the tail several times sooner');
});

test('RACK: a loss in mid-flight is detected from SACKed later segments and retransmitted once, without dupack counting or the timer', async () => {
  const r = await tail(10, 3, {});
  assert.equal(r.sends.length, 2);
  assert.ok(r.sends[1]! - r.sends[0]! < 20, `retransmitted ${r.sends[1]! - r.sends[0]!} ms after the original`);
  assert.equal(r.stats.retransmits, 1);
  assert.equal(r.stats.timeouts, 0);
  assert.equal(r.stats.tailLossProbes, 0);
});

test('PRR: during recovery the bytes sent follow CEIL(prr_delivered * ssthresh / RecoverFS) while pipe > ssthresh', async () => {
  // a -> b through a 1 segment/ms bottleneck so every ACK comes back at its own instant.
  // NewReno, so ssthresh (PRR's target) is half the flight, known from the wire.
  const tcp = { congestion: 'newreno' as const };
  const sim = new Sim({ tcp }, { tcp }, { delay: 5, rate: 1500, queue: 1 << 20 }, { delay: 5 });
  const { client, server } = await establish(sim);
  server.resume();
  const snd = client.tcb.snd;
  const mss = snd.mss;
  client.write(Buffer.alloc(100 * mss, 1)); // slow start grows cwnd well past the flight below
  await sim.run(() => snd.una === snd.max && snd.buf.length === 0);
  const base = snd.nxt;
  let dropped = false;
  sim.trace = true;
  sim.filter = (from, pkt) => {
    const i = decodeTcp(pkt)!;
    if (from === 'a' && i.len > 0 && i.seq === base + 5 * mss && !dropped) return !(dropped = true);
    return true;
  };
  client.write(Buffer.alloc(300 * mss, 2));
  await sim.run(() => snd.una === snd.max && snd.buf.length === 0);
  const ev: Ev[] = sim.log.map((e) => ({ t: e.t, from: e.from, i: decodeTcp(e.pkt)! })).filter((e) => e.t >= 0);
  const dataA = ev.filter((e) => e.from === 'a' && e.i.len > 0 && ((e.i.seq - base) | 0) >= 0);
  const rtx = dataA.filter((e) => e.i.seq === base + 5 * mss);
  assert.equal(rtx.length, 2, 'one fast retransmission');
  const entry = rtx[1]!.t;
  // RecoverFS: outstanding when recovery started; NewReno's ssthresh is half of it.
  const maxAt = (t: number) => Math.max(...dataA.filter((e) => e.t < t || (e.t === t && e === rtx[1])).map((e) => ((e.i.seq - base) | 0) + e.i.len));
  const acksAtA = ev.filter((e) => e.from === 'b').map((e) => ({ t: e.t + 5, i: e.i }));
  const una = (t: number) => Math.max(0, ...acksAtA.filter((x) => x.t <= t).map((x) => (x.i.ack - base) | 0));
  const recoverFs = maxAt(entry) - una(entry);
  const ssthresh = Math.max(Math.floor(recoverFs / 2), 2 * mss);
  // Walk the ACKs from the one that started recovery, tracking delivered bytes (cumulative + SACKed) as a saw them.
  const sacked = new Set<number>();
  let prevUna = 0;
  let delivered = 0;
  let checked = 0;
  const recoverPoint = maxAt(entry);
  for (const a of acksAtA.filter((x) => ((x.i.ack - base) | 0) >= 0)) {
    const u = (a.i.ack - base) | 0;
    if (u >= recoverPoint) break;
    let d = Math.max(0, u - prevUna);
    for (const k of [...sacked]) if (k * mss < u) {
      sacked.delete(k);
      d -= mss;
    }
    prevUna = Math.max(prevUna, u);
    for (const [s, e] of a.i.sack) {
      for (let k = Math.ceil(((s - base) | 0) / mss); (k + 1) * mss <= ((e - base) | 0); k++) {
        if (k * mss >= prevUna && !sacked.has(k)) {
          sacked.add(k);
          d += mss;
        }
      }
    }
    if (a.t < entry) continue;
    delivered += d;
    const out = dataA.filter((e) => e.t >= entry && e.t <= a.t).reduce((n, e) => n + e.i.len, 0);
    const pipe = maxAt(a.t) - prevUna - sacked.size * mss;
    if (pipe - mss <= ssthresh) continue; // the slow-start reduction bound governs from here
    const want = Math.ceil((delivered * ssthresh) / recoverFs);
    assert.ok(out <= Math.max(want, mss) && out > want - mss, `at +${a.t - entry} ms: sent ${out}, PRR allows ${want} (delivered ${delivered})`);
    checked++;
  }
  assert.ok(checked > 10, `${checked} ACKs checked`);
  assert.equal(sim.a.tcp.stats.timeouts, 0);
});
