// A [Forward] on a port below 1024, started by a user without privileges
// (uid 65534, no capabilities, in a test namespace whose
// net.ipv4.ip_unprivileged_port_start is the default 1024): `wgts up` says
// once why (EACCES) and what fixes it (CAP_NET_BIND_SERVICE, the sysctl, a
// port above 1023), and exits 1 with what had started removed.
import { beforeAll, it } from 'vitest';
import assert from 'node:assert/strict';
import { chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { interopSuite, genKeyPair, Netns } from '../harness/netns.js';
import { CLI, renderConf, uniqueWgtsName } from './wgts-proc.js';
import { asNobody, NOBODY, nobodyEnv, tempDir } from './forward-topology.js';

interopSuite('a privileged [Forward] port as an unprivileged user', { timeout: 60_000, needs: ['setpriv'] }, () => {
  let ns: Netns;

  beforeAll(async () => {
    ns = await Netns.create('privport');
  });

  it('EACCES on port 80 names CAP_NET_BIND_SERVICE and ip_unprivileged_port_start, once', async () => {
    const sysctl = (await ns.exec(['sysctl', '-n', 'net.ipv4.ip_unprivileged_port_start'])).stdout.trim();
    assert.equal(sysctl, '1024', 'a fresh namespace has the default: ports below 1024 are privileged');
    const [k, peer] = await Promise.all([genKeyPair(), genKeyPair()]);
    const dir = tempDir(0o755, 'privport');
    const name = uniqueWgtsName();
    const file = join(dir, `${name}.conf`);
    writeFileSync(file, renderConf({
      privateKey: k.privateKey, addresses: ['10.98.0.1/24'],
      peers: [{ publicKey: peer.publicKey, allowedIps: ['10.98.0.2/32'] }],
      extra: '[Forward]\nListen = 127.0.0.1:80\nTarget = 10.98.0.2:80\n',
    }), { mode: 0o600 });
    chownSync(file, NOBODY, NOBODY);
    const runDir = join(dir, 'run');
    mkdirSync(runDir, { mode: 0o700 });
    chownSync(runDir, NOBODY, NOBODY);
    const r = await ns.exec([...asNobody(), process.execPath, CLI, 'up', file, '--userspace', '--interface', name],
      { env: nobodyEnv(dir, runDir), timeoutMs: 20_000 });
    const out = r.stdout + r.stderr;
    assert.equal(r.code, 1, out);
    const lines = out.split('\n').filter((l) => l.includes('EACCES'));
    assert.equal(lines.length, 1, `the reason once, not a warning and then an error:\n${out}`);
    assert.match(lines[0]!, /error: .*127\.0\.0\.1:80\/tcp/, out);
    assert.match(lines[0]!, /CAP_NET_BIND_SERVICE/, out);
    assert.match(lines[0]!, /sysctl net\.ipv4\.ip_unprivileged_port_start=80/, out);
    assert.match(lines[0]!, /a port above 1023/, out);
    assert.match(out, /wgts up: not started; what had started is stopped and removed/, out);
    assert.doesNotMatch(out, /started forward/, out);
  });

  it('cleans up', async () => {
    await ns.destroy();
  });
});
