/**
 * The target health state machine (src/nat/health.ts) on a fake clock:
 * Failures/Successes thresholds, probe scheduling, and the peer's
 * handshake overriding probes.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { TargetHealth } from '../../src/nat/health.js';
import { HEALTH_DEFAULTS, type HealthSpec } from '../../src/nat/rule.js';

const spec: HealthSpec = { ...HEALTH_DEFAULTS, check: 'tcp', interval: 5, timeout: 2, failures: 3, successes: 2 };

test('an up target goes down after Failures consecutive failed probes, and back after Successes good ones', () => {
  let now = 1000;
  const h = new TargetHealth(spec, now);
  assert.equal(h.state, 'up');
  assert.equal(h.probeDue(now), true, 'the first probe is due at once');
  const run = (ok: boolean, why = 'ECONNREFUSED') => {
    assert.ok(h.probeDue(now), `a probe is due at ${now}`);
    h.probeStarted();
    assert.equal(h.probeDue(now), false, 'no second probe while one runs');
    const c = h.probeResult(now, ok, why);
    assert.equal(h.probeDue(now + 4999), false);
    now += 5000;
    return c;
  };
  assert.equal(h.reason, 'not checked yet');
  assert.equal(run(true), null);
  assert.equal(h.reason, 'checks pass', 'the reason follows the checks while the state stays');
  assert.equal(run(false), null);
  assert.equal(run(true), null, 'a success between failures starts the count again');
  assert.equal(run(false), null);
  assert.equal(run(false), null);
  assert.deepEqual(run(false), { state: 'down', reason: '3 failed checks (last: ECONNREFUSED)' });
  assert.equal(h.state, 'down');
  assert.equal(h.changedAt, now - 5000);
  assert.equal(run(false), null, 'a further failure changes nothing');
  assert.equal(run(true), null);
  assert.deepEqual(run(true), { state: 'up', reason: '2 good checks' });
  assert.equal(h.state, 'up');
});

test('a stale handshake makes the target down at once, with no probes; fresh again, a probe is due now', () => {
  let now = 0;
  const h = new TargetHealth(spec, now);
  assert.equal(h.peer(now, true), null, 'fresh peer, still up');
  h.probeStarted();
  h.probeResult(now, true);
  now = 2000;
  assert.deepEqual(h.peer(now, false), { state: 'down', reason: 'no fresh handshake with its peer' });
  now = 60_000;
  assert.equal(h.probeDue(now), false, 'no probing while the peer is stale');
  assert.deepEqual(h.peer(now, true), { state: 'up', reason: 'checks pass' });
  assert.equal(h.probeDue(now), true);
});

test('without a health check a target follows its peer only, and is never probed', () => {
  const h = new TargetHealth(undefined, 0);
  assert.equal(h.probeDue(0), false);
  assert.equal(h.state, 'up');
  assert.deepEqual(h.peer(10, false), { state: 'down', reason: 'no fresh handshake with its peer' });
  assert.deepEqual(h.peer(20, true), { state: 'up', reason: 'no health check' });
  assert.equal(h.peer(30, null), null, 'a target without a peer (an Expose target) counts as up');
  assert.equal(h.probeResult(40, false, 'x'), null, 'probe results without a check are ignored');
});

test('a target that fails while its peer is stale is still down when the peer comes back', () => {
  let now = 0;
  const h = new TargetHealth({ ...spec, failures: 1 }, now);
  h.peer(now, true);
  h.probeStarted();
  assert.deepEqual(h.probeResult(now, false, 'ETIMEDOUT'), { state: 'down', reason: '1 failed check (last: ETIMEDOUT)' });
  now = 1000;
  assert.equal(h.peer(now, false), null, 'already down');
  assert.equal(h.reason, 'no fresh handshake with its peer');
  assert.equal(h.peer(now + 1, true), null, 'still down by its checks');
  assert.equal(h.reason, '1 failed check (last: ETIMEDOUT)');
});
