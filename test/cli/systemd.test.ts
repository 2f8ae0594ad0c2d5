/**
 * The service files (issue 19, "what users expect"): systemd/wgts@.service
 * (userspace mode, no capabilities) and systemd/wgts-tun@.service (TUN mode,
 * only CAP_NET_ADMIN) pass `systemd-analyze verify` with no warning for an
 * instance, reload by SIGHUP and restart on failure. The units' ExecStart
 * path is pointed at this checkout's CLI for the check (verify wants an
 * executable there). Skips loudly without systemd-analyze.
 */
import { describe, it, afterAll } from 'vitest';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { skipUnlessPresent, which } from '../harness/interop.js';

const CLI = resolve('dist/src/cli/main.js');
const UNITS = ['wgts@.service', 'wgts-tun@.service'];
const text = (u: string) => readFileSync(join('systemd', u), 'utf8');
const keys = (u: string, key: string) => text(u).split('\n').filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));

describe('systemd units', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wgts-units-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('pass systemd-analyze verify with no warnings', { skip: skipUnlessPresent(which('systemd-analyze') ? null : 'systemd-analyze (Debian package systemd)') }, () => {
    for (const u of UNITS) writeFileSync(join(dir, u), text(u).replaceAll('/usr/local/bin/wgts', CLI));
    const r = spawnSync('systemd-analyze', ['verify', '--man=no', './wgts@wg0.service', './wgts-tun@wg0.service'], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal((r.stdout + r.stderr).trim(), '', 'verify printed warnings');
  });

  it('userspace: no capabilities at all; TUN: only CAP_NET_ADMIN', () => {
    assert.deepEqual(keys('wgts@.service', 'CapabilityBoundingSet'), ['']);
    assert.deepEqual(keys('wgts@.service', 'AmbientCapabilities'), ['']);
    assert.match(keys('wgts@.service', 'ExecStart')[0]!, / --userspace /);
    assert.deepEqual(keys('wgts-tun@.service', 'CapabilityBoundingSet'), ['CAP_NET_ADMIN']);
    assert.deepEqual(keys('wgts-tun@.service', 'AmbientCapabilities'), ['CAP_NET_ADMIN']);
    assert.match(keys('wgts-tun@.service', 'ExecStart')[0]!, / --tun /);
  });

  it('both reload by SIGHUP and restart on failure', () => {
    for (const u of UNITS) {
      assert.deepEqual(keys(u, 'ExecReload'), ['/bin/kill -HUP $MAINPID'], u);
      assert.deepEqual(keys(u, 'Restart'), ['on-failure'], u);
      assert.deepEqual(keys(u, 'NoNewPrivileges'), ['yes'], u);
    }
  });
});
