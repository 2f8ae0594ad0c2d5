/**
 * `wgts show`'s text for a forward with several targets: one line per
 * target with its state, when it changed and why, and its connections;
 * a single healthy target adds no line. --json carries them as they are.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { renderView, viewJson } from '../../src/cli/show.js';

const view = { privateKey: null, listenPort: 0, fwmark: 0, peers: [] };
const unit = (targets: unknown[]) => JSON.stringify({
  kind: 'forward', protocol: 'tcp', rule: 'forward tcp:0.0.0.0:443=10.0.0.2:443+10.0.0.3:443', state: 'active',
  active: 2, total: 9, bytesToTarget: 0, bytesFromTarget: 0, refused: {}, targets,
});

test('each target of a multi-target forward gets a line: state, last change, reason, connections', () => {
  const now = Date.UTC(2026, 0, 1, 12, 0, 0);
  const stats: Array<[string, string]> = [['nat.0', unit([
    { target: '10.0.0.2:443', weight: 2, state: 'up', reason: 'checks pass', lastChange: now - 3_600_000, active: 2, total: 7 },
    { target: '10.0.0.3:443', weight: 1, state: 'down', reason: '3 failed checks (last: ECONNREFUSED)', lastChange: now - 65_000, active: 0, total: 2 },
  ])]];
  const text = renderView('wg0', view, now, stats);
  assert.match(text, /\n    target 10\.0\.0\.2:443 \(weight 2\): up, changed 1 hour ago \(checks pass\), 2 active, 7 total\n/);
  assert.match(text, /\n    target 10\.0\.0\.3:443: down, changed 1 minute, 5 seconds ago \(3 failed checks \(last: ECONNREFUSED\)\), 0 active, 2 total\n/);
  const json = viewJson('wg0', view, stats) as { forwards: Array<{ targets: Array<{ state: string }> }> };
  assert.deepEqual(json.forwards[0]!.targets.map((x) => x.state), ['up', 'down']);
});

test('a single target that is up adds no line; one that is down does', () => {
  const now = 1_000_000;
  const up = renderView('wg0', view, now, [['nat.0', unit([{ target: '10.0.0.2:443', weight: 1, state: 'up', reason: 'no health check', lastChange: now, active: 0, total: 0 }])]]);
  assert.ok(!up.includes('    target '), up);
  const down = renderView('wg0', view, now, [['nat.0', unit([{ target: '10.0.0.2:443', weight: 1, state: 'down', reason: 'no fresh handshake with its peer', lastChange: now, active: 0, total: 0 }])]]);
  assert.match(down, /    target 10\.0\.0\.2:443: down, changed just now \(no fresh handshake with its peer\), 0 active, 0 total/);
});
