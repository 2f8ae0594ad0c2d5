/**
 * The short CI version of the soak (`npm run soak` runs it for minutes):
 * forwarded connections and handshakes churn for 8 s; nothing fails and RSS
 * stays bounded.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { runSoak } from './soak.js';

it('soak (short): forwarded connections and handshakes churn without errors or unbounded memory', { timeout: 60_000 }, async () => {
  const r = await runSoak(8);
  assert.equal(r.connectionErrors, 0, JSON.stringify(r));
  assert.ok(r.connections > 100, `only ${r.connections} connections: ${JSON.stringify(r)}`);
  assert.ok(r.handshakes >= 5, `only ${r.handshakes} handshakes`);
  for (const side of ['vps', 'home'] as const) {
    assert.ok(r.rssEndMb[side] - r.rssStartMb[side] < 64, `${side} RSS grew ${r.rssStartMb[side].toFixed(1)} -> ${r.rssEndMb[side].toFixed(1)} MB`);
  }
});
