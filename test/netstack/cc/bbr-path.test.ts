/**
 * BBR end to end over the fake-clock path (../path.ts), with its rate
 * samples and pacing: on the lossy paths (20 ms / 1 %, 40 ms /
 * 0.1 %, 100 Mbit/s bottleneck) it keeps most of the bottleneck where the
 * loss-based CUBIC is held to a few Mbit/s by random loss; and sharing one
 * bottleneck with a CUBIC flow, the split the docs describe (docs/config.md,
 * Congestion control): about even with a one-BDP buffer, BBR ahead under
 * random loss, CUBIC ahead with a deep buffer. Every figure is fake time,
 * so it repeats exactly for its seeds.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { pathTransfer, pathLink } from '../path.js';
import { Sim, writeAll } from '../link.js';
import type { CongestionName } from '../../../src/netstack/cc/types.js';

const MB = 1_000_000;

test('BBR at 20 ms RTT / 1 % loss keeps over half of a 100 Mbit/s bottleneck both ways, several times CUBIC', async (t) => {
  const p = { rtt: 20, loss: 0.01, mbit: 100, size: 8 * MB };
  const bbr = await pathTransfer({ ...p, tcp: { congestion: 'bbr' } });
  const cubic = await pathTransfer({ ...p, tcp: { congestion: 'cubic' } });
  console.log(`bbr up ${bbr.up.toFixed(1)} / down ${bbr.down.toFixed(1)} Mbit/s; cubic up ${cubic.up.toFixed(1)} / down ${cubic.down.toFixed(1)} Mbit/s`);
  assert.ok(bbr.sim.counters.ab.lost > 50 && bbr.sim.counters.ba.lost > 50, 'the path lost packets both ways');
  for (const [dir, v] of [['up', bbr.up], ['down', bbr.down]] as const) assert.ok(v > 0.5 * p.mbit, `bbr ${dir} ${v} Mbit/s`);
  assert.ok(Math.min(bbr.up, bbr.down) > 3 * Math.max(cubic.up, cubic.down), 'random loss does not hold BBR back the way it holds CUBIC');
});

test('BBR at 40 ms RTT / 0.1 % loss keeps over half of a 100 Mbit/s bottleneck both ways', async (t) => {
  const r = await pathTransfer({ rtt: 40, loss: 0.001, mbit: 100, size: 8 * MB, tcp: { congestion: 'bbr' } });
  console.log(`bbr up ${r.up.toFixed(1)} / down ${r.down.toFixed(1)} Mbit/s`);
  assert.ok(r.up > 50 && r.down > 50, `${r.up} / ${r.down} Mbit/s`);
});

/**
 * A BBR and a CUBIC flow a -> b started together through one bottleneck
 * (20 Mbit/s, 20 ms RTT, a drop-tail queue of `bdps` bandwidth-delay
 * products, random loss on the data direction); each flow's goodput over
 * the second half of 2 x `half` ms, Mbit/s.
 */
async function share(bdps: number, loss: number, half = 4000): Promise<Record<CongestionName, number>> {
  const p = { rtt: 20, loss, mbit: 20, size: 0 };
  const data = pathLink(p, 11);
  data.queue = Math.round(bdps * data.rate! * p.rtt);
  const sim = new Sim({}, {}, data, pathLink({ ...p, loss: 0 }, 12), 5);
  const got = new Map<number, number>();
  sim.b.tcp.listen(80, (s) => {
    got.set(s.remotePort!, 0);
    s.on('data', (b: Buffer) => got.set(s.remotePort!, got.get(s.remotePort!)! + b.length));
  });
  const flows = (['bbr', 'cubic'] as const).map((congestion) => {
    const c = sim.a.tcp.connect({ host: '10.0.0.2', port: 80, congestion });
    void writeAll(c, 1e10, 1);
    return { congestion, c };
  });
  await sim.runUntil(half);
  const mid = new Map(got);
  await sim.runUntil(2 * half);
  const out = {} as Record<CongestionName, number>;
  for (const f of flows) out[f.congestion] = (((got.get(f.c.localPort!) ?? 0) - (mid.get(f.c.localPort!) ?? 0)) * 8) / half / 1000;
  return out;
}

test('BBR and CUBIC sharing a 20 Mbit/s bottleneck: the split by buffer depth and random loss (docs/config.md)', async (t) => {
  const shallow = await share(1, 0);
  const lossy = await share(1, 0.01);
  const deep = await share(4, 0);
  const fmt = (s: Record<CongestionName, number>) => `bbr ${s.bbr.toFixed(1)}, cubic ${s.cubic.toFixed(1)} Mbit/s`;
  console.log(`1 BDP queue: ${fmt(shallow)}; 1 BDP + 1 % loss: ${fmt(lossy)}; 4 BDP queue: ${fmt(deep)}`);
  for (const s of [shallow, lossy, deep]) assert.ok(s.bbr + s.cubic > 0.85 * 20, `together they fill the link: ${fmt(s)}`);
  assert.ok(shallow.bbr > 0.35 * 20 && shallow.cubic > 0.35 * 20, `a one-BDP buffer splits it roughly evenly: ${fmt(shallow)}`);
  assert.ok(lossy.bbr > 2 * lossy.cubic, `random loss holds back CUBIC only: ${fmt(lossy)}`);
  assert.ok(deep.cubic > 2 * deep.bbr, `a deep buffer favours the queue-filling CUBIC: ${fmt(deep)}`);
});
