/**
 * Spurious retransmissions undone (RFC 2883 D-SACK with RFC 3708, RFC 3522
 * Eifel), on the wire with the fake clock: a segment delayed past RACK's
 * reordering window is retransmitted; the late original arrives first, so
 * the receiver reports the retransmission as a duplicate in the first SACK
 * block, and the sender restores the window it had cut.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { warmedUp } from './link.js';
import { decodeTcp } from './helpers.js';

async function reordered(timestamps: boolean) {
  const tcp = { timestamps, congestion: 'newreno' as const };
  const { sim, client } = await warmedUp(tcp);
  const snd = client.tcb.snd;
  const base = snd.nxt;
  const mss = snd.mss;
  const before = { cwnd: snd.cc.cwnd, ssthresh: snd.cc.ssthresh };
  let held: Uint8Array | null = null;
  let cut: { cwnd: number; ssthresh: number } | null = null;
  sim.trace = true;
  sim.filter = (from, pkt) => {
    const i = decodeTcp(pkt)!;
    if (from !== 'a' || i.len === 0 || i.seq !== base + 3 * mss) return true;
    if (held === null) {
      held = pkt; // the original is delayed ...
      return false;
    }
    // ... until its retransmission leaves: then it reaches b first, the retransmission after it.
    cut = { cwnd: snd.cc.cwnd, ssthresh: snd.cc.ssthresh };
    sim.b.input(held, sim.now);
    return true;
  };
  client.write(Buffer.alloc(10 * mss, 2));
  await sim.run(() => snd.una === snd.max && snd.buf.length === 0 && sim.now > 0);
  await sim.runUntil(sim.now + 50);
  const fromB = sim.log.filter((e) => e.from === 'b').map((e) => decodeTcp(e.pkt)!);
  return { sim, snd, base, mss, before, cut: cut!, fromB };
}

test('D-SACK: the receiver reports the duplicate first; the sender undoes the spurious reduction (RFC 2883, RFC 3708)', async () => {
  const r = await reordered(false);
  const stats = r.sim.a.tcp.stats;
  assert.equal(stats.retransmits, 1);
  assert.ok(r.cut.ssthresh < r.before.ssthresh, 'recovery cut ssthresh');
  const dsack = r.fromB.filter((i) => i.sack.length > 0 && ((i.sack[0]![1] - i.ack) | 0) <= 0);
  assert.equal(dsack.length, 1, 'one ACK carried a D-SACK');
  assert.deepEqual(dsack[0]!.sack[0], [(r.base + 3 * r.mss) >>> 0, (r.base + 4 * r.mss) >>> 0], 'it names the duplicate segment');
  assert.equal(stats.dsacksReceived, 1);
  assert.equal(stats.spuriousUndos, 1);
  assert.equal(r.snd.cc.ssthresh, r.before.ssthresh, 'ssthresh restored');
  assert.ok(r.snd.cc.cwnd >= r.cut.cwnd && r.snd.cc.cwnd >= r.before.cwnd, `cwnd ${r.snd.cc.cwnd} restored (was ${r.before.cwnd}, cut to ${r.cut.cwnd})`);
  assert.equal(r.snd.recovery, 'none');
});

test('Eifel: with timestamps the ACK of the late original echoes an older TSval, and the reduction is undone before the D-SACK (RFC 3522)', async () => {
  const r = await reordered(true);
  const stats = r.sim.a.tcp.stats;
  assert.equal(stats.retransmits, 1);
  assert.equal(stats.spuriousUndos, 1, 'undone once (the later D-SACK finds nothing left to undo)');
  assert.equal(r.snd.cc.ssthresh, r.before.ssthresh);
});
