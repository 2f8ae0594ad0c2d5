/**
 * Retransmission and loss recovery, checked against the packets on the
 * wire with a fake clock: RTO from RFC 6298 and its doubling, Karn's rule,
 * fast retransmit on the third duplicate ACK (RFC 5681 / NewReno RFC 6582),
 * and SACK-based recovery (RFC 2018 / RFC 6675) repairing two holes in one
 * round trip where NewReno needs two.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { Sim, establish } from './link.js';
import { decodeTcp, F_SYN, type TcpInfo } from './helpers.js';
import type { TcpConfig, TcpError } from '../../src/netstack/tcp-config.js';
import { DEFAULT_RTO } from '../../src/netstack/tcp-rto.js';

interface Ev {
  t: number;
  from: 'a' | 'b';
  i: TcpInfo;
}

function trace(sim: Sim, since = 0): Ev[] {
  return sim.log.filter((e) => e.t >= since).map((e) => ({ t: e.t, from: e.from, i: decodeTcp(e.pkt)! }));
}

/** RFC 6298 2.2/2.3 by hand for a list of samples. */
function expectedRto(samples: number[], min = DEFAULT_RTO.min): { srtt: number; rttvar: number; rto: number } {
  let srtt = samples[0]!;
  let rttvar = samples[0]! / 2;
  for (const r of samples.slice(1)) {
    rttvar = 0.75 * rttvar + 0.25 * Math.abs(srtt - r);
    srtt = 0.875 * srtt + 0.125 * r;
  }
  return { srtt, rttvar, rto: Math.max(min, srtt + Math.max(1, 4 * rttvar)) };
}

test('RTO: SRTT + 4 RTTVAR from the SYN sample, doubling on each expiry up to 60 s, ETIMEDOUT after 15 retransmissions', async () => {
  // Without SACK there is no tail loss probe (tcp-rack.test.ts), so the RTO alone is on the wire.
  const tcp = { sack: false };
  const sim = new Sim({ tcp }, { tcp }, { delay: 400 });
  const { client } = await establish(sim);
  const snd = client.tcb.snd;
  // The SYN was answered after exactly 800 ms: SRTT 800, RTTVAR 400, RTO 800 + 1600.
  assert.deepEqual({ srtt: snd.rto.srtt, rttvar: snd.rto.rttvar, rto: snd.rto.rto }, expectedRto([800]));
  sim.trace = true;
  sim.filter = (from) => from !== 'a'; // a's packets vanish from now on
  let err: TcpError | null = null;
  client.on('error', (e: TcpError) => (err = e));
  const t0 = sim.now;
  client.write(Buffer.alloc(100, 7));
  await sim.run(() => err !== null);
  const sends = trace(sim, t0)
    .filter((e) => e.from === 'a' && e.i.len === 100)
    .map((e) => e.t);
  assert.equal(sends.length, 16, 'the original and 15 retransmissions');
  const gaps = sends.slice(1).map((t, k) => t - sends[k]!);
  const want: number[] = [];
  for (let rto = 2400, k = 0; k < 15; k++, rto = Math.min(60_000, rto * 2)) want.push(rto);
  assert.deepEqual(gaps, want);
  assert.equal(err!.code, 'ETIMEDOUT');
  // The connection gives up one (maximal) RTO after the last retransmission.
  assert.equal(sim.now - sends[15]!, 60_000);
  assert.equal(client.tcb.owner.stats.timeouts, 16);
});

test("Karn's rule: no RTT sample from a retransmitted segment, and the backed-off RTO stays until a clean sample", async () => {
  // Without timestamps (RFC 7323 4.1 makes retransmissions measurable, so Karn's rule applies only
  // here) and without SACK (no tail loss probe before the RTO).
  const tcp = { timestamps: false, sack: false };
  const sim = new Sim({ tcp }, { tcp }, { delay: 400 });
  const { client, server } = await establish(sim);
  server.resume();
  const rto = client.tcb.snd.rto;
  const before = { srtt: rto.srtt, rttvar: rto.rttvar };
  assert.equal(rto.rto, 2400);
  sim.trace = true;
  let dropped = false;
  sim.filter = (from, pkt) => {
    if (from === 'a' && !dropped && decodeTcp(pkt)!.len > 0) return !(dropped = true);
    return true;
  };
  const t0 = sim.now;
  client.write(Buffer.alloc(100, 1));
  await sim.run(() => client.tcb.snd.una === client.tcb.snd.max && sim.now > t0);
  const ev = trace(sim, t0);
  const data = ev.filter((e) => e.from === 'a' && e.i.len === 100);
  assert.equal(data.length, 2);
  assert.equal(data[1]!.t - data[0]!.t, 2400, 'retransmitted after one RTO');
  // Karn: neither 3200+ (from the first send) nor ~800 (from the retransmission) was sampled.
  assert.equal(rto.srtt, before.srtt);
  assert.equal(rto.rttvar, before.rttvar);
  assert.equal(rto.rto, 4800, 'the doubled RTO is kept');

  // A segment sent once gives a sample, and the RTO is computed afresh from it.
  const t1 = sim.now;
  client.write(Buffer.alloc(100, 2));
  await sim.run(() => client.tcb.snd.una === client.tcb.snd.max && sim.now > t1);
  const ev2 = trace(sim, t1);
  const sent = ev2.find((e) => e.from === 'a' && e.i.len === 100)!;
  const acked = ev2.find((e) => e.from === 'b' && e.i.ack === client.tcb.snd.una)!;
  const r = acked.t + 400 - sent.t; // the ACK reaches a one delay after b sent it
  assert.deepEqual({ srtt: rto.srtt, rttvar: rto.rttvar, rto: rto.rto }, expectedRto([800, r]));
  assert.ok(rto.rto < 4800);
});

/**
 * Sends `n` full segments in one flight with `drop` (segment indexes) lost
 * on their first transmission. Returns the trace from the write on.
 */
async function flight(n: number, drop: number[], sack: boolean, congestion: TcpConfig['congestion'] = 'cubic'): Promise<{ sim: Sim; ev: Ev[]; t0: number; mss: number; base: number }> {
  const tcp = { sack, congestion };
  const sim = new Sim({ tcp }, { tcp }, { delay: 5 });
  const { client, server } = await establish(sim);
  server.resume();
  const snd = client.tcb.snd;
  const mss = snd.mss;
  const base = snd.nxt;
  const seen = new Set<number>();
  sim.trace = true;
  sim.filter = (from, pkt) => {
    const i = decodeTcp(pkt)!;
    if (from !== 'a' || i.len === 0) return true;
    const k = (i.seq - base) / mss;
    if (drop.includes(k) && !seen.has(k)) {
      seen.add(k);
      return false;
    }
    return true;
  };
  const t0 = sim.now;
  client.write(Buffer.alloc(n * mss, 3));
  await sim.run(() => snd.una === snd.max && snd.buf.length === 0 && sim.now > t0);
  return { sim, ev: trace(sim, t0), t0, mss, base };
}

function sendsOf(r: { ev: Ev[]; mss: number; base: number }, k: number): number[] {
  return r.ev.filter((e) => e.from === 'a' && e.i.len > 0 && e.i.seq === r.base + k * r.mss).map((e) => e.t);
}

test('fast retransmit (NewReno, no SACK): the third duplicate ACK retransmits at once; two do not', async () => {
  // Segment 2 of 6 lost: segments 3, 4, 5 each draw an immediate duplicate ACK.
  const six = await flight(6, [2], false);
  const dup6 = six.ev.filter((e) => e.from === 'b' && e.i.len === 0 && e.i.ack === six.base + 2 * six.mss && (e.i.flags & F_SYN) === 0);
  const [first6, again6] = sendsOf(six, 2);
  assert.ok(first6 !== undefined && again6 !== undefined);
  assert.equal(dup6.filter((e) => e.t + 5 <= again6).length, 4, 'the cumulative ACK and three duplicates reached a before the retransmission');
  assert.equal(again6, dup6[3]!.t + 5, 'retransmitted when the third duplicate arrived');
  assert.ok(again6 - six.t0 < DEFAULT_RTO.min, 'well before the RTO (200 ms at least)');
  const stats6 = six.sim.a.tcp.stats;
  assert.equal(stats6.fastRetransmits, 1);
  assert.equal(stats6.timeouts, 0);
  assert.equal(stats6.retransmits, 1);

  // Segment 2 of 5 lost: only two duplicate ACKs, so the RTO (its 200 ms floor at this RTT) repairs it.
  const five = await flight(5, [2], false);
  const [, again5] = sendsOf(five, 2);
  assert.ok(again5! - five.t0 >= DEFAULT_RTO.min, `retransmitted at +${again5! - five.t0} ms, by the timer`);
  assert.equal(five.sim.a.tcp.stats.fastRetransmits, 0);
  assert.equal(five.sim.a.tcp.stats.timeouts, 1);
});

test('NewReno ssthresh and window after recovery follow RFC 5681 / RFC 6582', async () => {
  const r = await flight(10, [2], false, 'newreno');
  const cc = r.sim.a.tcp.connections().next().value!.snd.cc;
  // Segments 2..9 were outstanding at the third duplicate ACK: ssthresh = max(FlightSize/2, 2 SMSS) = 4 SMSS.
  assert.equal(cc.ssthresh, 4 * r.mss);
  // Full ACK with nothing outstanding: cwnd = min(ssthresh, max(FlightSize, SMSS) + SMSS) = 2 SMSS.
  assert.equal(cc.cwnd, 2 * r.mss);
});

test('SACK recovery repairs two holes in one round trip; NewReno needs one round trip per hole', async () => {
  const withSack = await flight(10, [2, 5], true);
  const s2 = sendsOf(withSack, 2);
  const s5 = sendsOf(withSack, 5);
  assert.equal(s2.length, 2);
  assert.equal(s5.length, 2);
  const rtt = 10;
  assert.equal(s2[1]! - withSack.t0, rtt, 'first hole retransmitted one RTT after sending');
  assert.equal(s5[1]! - withSack.t0, rtt, 'second hole in the same round trip');
  const st = withSack.sim.a.tcp.stats;
  assert.equal(st.retransmits, 2, 'nothing the receiver had SACKed was sent again');
  assert.equal(st.timeouts, 0);
  assert.ok(withSack.ev.some((e) => e.from === 'b' && e.i.sack.length >= 2), 'the receiver reported two SACK blocks');

  const newReno = await flight(10, [2, 5], false);
  const n5 = sendsOf(newReno, 5);
  assert.equal(n5.length, 2);
  assert.equal(n5[1]! - newReno.t0, 2 * rtt, 'NewReno repairs the second hole after the partial ACK, one RTT later');
  assert.equal(newReno.sim.a.tcp.stats.timeouts, 0);
});

test('SACK blocks from the receiver describe exactly the out-of-order data (RFC 2018 section 4)', async () => {
  const r = await flight(10, [2, 5], true);
  const base = r.base;
  const m = r.mss;
  const sacks = r.ev.filter((e) => e.from === 'b' && e.i.sack.length > 0).map((e) => e.i.sack.map(([s, x]) => [(s - base) / m, (x - base) / m]));
  // After segment 3: [3,4); after 4: [3,5); after 6: [6,7) first (newest), then [3,5).
  assert.deepEqual(sacks[0], [[3, 4]]);
  assert.deepEqual(sacks[1], [[3, 5]]);
  assert.deepEqual(sacks[2], [[6, 7], [3, 5]]);
  for (const s of sacks) for (const [lo, hi] of s) assert.ok(lo! >= 3 && hi! <= 10 && lo! < hi!);
});
