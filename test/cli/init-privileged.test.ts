/**
 * `wgts init --forward` on a port below 1024 warns at init time that the VPS
 * needs root, CAP_NET_BIND_SERVICE or the ip_unprivileged_port_start sysctl
 * to listen there; ports above 1023 get no warning.
 */
import { describe, it, afterAll } from 'vitest';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runInit } from '../../src/cli/init.js';

describe('wgts init with a privileged forwarded port', () => {
  const dirs: string[] = [];
  afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

  async function init(...forwards: string[]): Promise<{ code: number; out: string; err: string }> {
    const dir = mkdtempSync(join(tmpdir(), 'wgts-init-priv-'));
    dirs.push(dir);
    let out = '';
    let err = '';
    const code = await runInit(['--endpoint', 'vps.example.net', ...forwards.flatMap((f) => ['--forward', f]), '--dir', dir],
      (s) => { out += s; }, (s) => { err += s; }, 'wgts');
    return { code, out, err };
  }

  it('tcp/80 warns, naming the port, CAP_NET_BIND_SERVICE and the sysctl', async () => {
    const r = await init('tcp/80', 'udp/27015');
    assert.equal(r.code, 0, r.err);
    const lines = r.err.split('\n').filter(Boolean);
    assert.equal(lines.length, 1, r.err);
    assert.match(lines[0]!, /^warning: tcp\/80 is a port below 1024: on the VPS, `wgts up vps\.conf` may listen there only as root or with the CAP_NET_BIND_SERVICE capability/);
    assert.match(lines[0]!, /sysctl net\.ipv4\.ip_unprivileged_port_start=80;/);
    assert.doesNotMatch(lines[0]!, /27015/);
    assert.match(r.out, /^Wrote /);
  });

  it('a range that starts below 1024 names the range and its first port', async () => {
    const r = await init('tcp,udp/1000-1030', 'tcp/443');
    assert.match(r.err, /^warning: tcp,udp\/1000-1030, tcp\/443 are ports below 1024: .*ip_unprivileged_port_start=443;/);
  });

  it('ports above 1023 get no warning', async () => {
    const r = await init('tcp/8080', 'udp/1024');
    assert.equal(r.code, 0, r.err);
    assert.equal(r.err, '');
  });
});
