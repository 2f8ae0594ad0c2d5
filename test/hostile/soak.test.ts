/**
 * The short CI version of the soak (`npm run soak` runs it for minutes):
 * forwarded connections and handshakes churn for 8 s; nothing fails and the
 * RSS of both processes stays under the soak's ceiling (RSS_CEILING_MB, with
 * its reason in soak.ts). 8 s reaches the plateau, too short to check that it
 * stays flat: the long run does that.
 */
import { it } from 'vitest';
import assert from 'node:assert/strict';
import { RSS_CEILING_MB, rssVerdict, runSoak } from './soak.js';

it('soak (short): forwarded connections and handshakes churn without errors or unbounded memory', { timeout: 60_000 }, async (t) => {
  const r = await runSoak(8);
  assert.equal(r.connectionErrors, 0, JSON.stringify(r));
  assert.ok(r.connections > 100, `only ${r.connections} connections: ${JSON.stringify(r)}`);
  assert.ok(r.handshakes >= 5, `only ${r.handshakes} handshakes`);
  const v = rssVerdict(r);
  console.log(`${r.connections} forwarded connections, ${r.handshakes} handshakes in ${r.seconds} s; ${v.text}`);
  for (const side of ['vps', 'home'] as const) {
    assert.ok(v.peakMb[side] <= RSS_CEILING_MB, `${side} RSS peaked at ${v.peakMb[side].toFixed(1)} MB (start ${r.rssStartMb[side].toFixed(1)} MB), over the ${RSS_CEILING_MB} MB ceiling`);
  }
  assert.ok(v.ok, v.text);
});

it('rssVerdict: a flat plateau passes; growth after it, or a peak over the ceiling, fails', () => {
  const run = (seconds: number, f: (t: number) => number) => ({
    seconds, connections: 0, connectionErrors: 0, handshakes: 0,
    rssStartMb: { vps: f(0), home: f(0) }, rssEndMb: { vps: f(seconds), home: f(seconds) },
    rssSamples: Array.from({ length: seconds * 2 + 1 }, (_, i): [number, number, number] => [i / 2, f(i / 2), 60]),
  });
  // Ramp to a plateau in 10 s, then flat with the transient peaks of old-generation collections.
  const plateau = (t: number) => (t < 10 ? 60 + 5 * t : 115 + (t % 120 > 115 ? 15 : 0));
  const ok = rssVerdict(run(300, plateau));
  assert.ok(ok.ok, ok.text);
  assert.ok(ok.lateGrowthMb !== null && ok.lateGrowthMb.vps < 10);
  // A leak of 0.12 MB/s after the ramp: still under the ceiling at 300 s, but not flat.
  const leak = rssVerdict(run(300, (t) => plateau(t) + 0.12 * Math.max(0, t - 10)));
  assert.equal(leak.ok, false, leak.text);
  assert.ok(leak.peakMb.vps <= RSS_CEILING_MB, 'the ceiling alone would not have caught it yet');
  // Over the ceiling in a short run (flattening is not judged under a minute).
  const high = rssVerdict(run(8, (t) => 60 + 20 * t));
  assert.equal(high.lateGrowthMb, null);
  assert.equal(high.ok, false, high.text);
});
