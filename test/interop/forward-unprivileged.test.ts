// Issue 5, "Both sides unprivileged": client -> vps (wgts [Forward]) ->
// WireGuard -> home (wgts [Expose]) -> a server on 127.0.0.1 in home. Both
// wgts run as uid/gid 65534 with no capabilities (setpriv), in userspace
// mode; no TUN exists anywhere. IPv4 and IPv6 inside the tunnel.
import { beforeAll, it } from 'vitest';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { interopSuite, listNamespacesSync, pidAlive, type Netns, type Proc } from '../harness/netns.js';
import { renderConf } from './wgts-proc.js';
import {
  A, asNobody, createTopology, natSections, NOBODY, pythonForNobody, tempDir, uidsOf, UnprivWgts, vpsConf, WG_PORT_HOME, WG_PORT_VPS, type Topology,
} from './forward-topology.js';
import { startHttpServer } from './forward-scripts.js';

const LOCAL_PORT = 8000;
const TUNNEL_PORT = 8000;

async function curl(ns: Netns, url: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return ns.exec(['curl', '-sS', '-g', '--noproxy', '*', '--max-time', '10', url], { timeoutMs: 15_000 });
}

function capEff(pid: number): string {
  const m = /^CapEff:\s+([0-9a-f]+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? m[1]! : 'unknown';
}

interopSuite('forwarder, both sides unprivileged: vps [Forward] -> home [Expose] -> 127.0.0.1, no TUN', { timeout: 60_000, needs: ['curl', 'python3', 'setpriv'] }, () => {
  let t: Topology;
  let vps: UnprivWgts;
  let home: UnprivWgts;
  let web: Proc;
  const page = `<html><body>unprivileged ${randomBytes(8).toString('hex')}</body></html>\n`;

  // Fixture: starts both wgts as uid 65534 without capabilities, and a server on 127.0.0.1 in home.
  beforeAll(async () => {
    const python = pythonForNobody(); // the server in home runs as 65534 too
    assert.ok(python, `no python3 that uid ${NOBODY} can run (tried the one on PATH, /usr/bin/python3, /usr/local/bin/python3)`);
    t = await createTopology();
    const served = tempDir(0o755, 'served');
    writeFileSync(join(served, 'index.html'), page, { mode: 0o644 });
    web = await startHttpServer(t.home, '127.0.0.1', LOCAL_PORT, served, { prefix: asNobody(), python });

    const homeConf = renderConf({
      privateKey: t.kHome.privateKey,
      listenPort: WG_PORT_HOME,
      addresses: [`${A.homeTun4}/24`, `${A.homeTun6}/64`],
      peers: [{ publicKey: t.kVps.publicKey, endpoint: `${A.vpsBack4}:${WG_PORT_VPS}`, allowedIps: [`${A.vpsTun4}/32`, `${A.vpsTun6}/128`] }],
      extra: natSections('Expose', [
        { listen: `${A.homeTun4}:${TUNNEL_PORT}`, target: `127.0.0.1:${LOCAL_PORT}` },
        { listen: `[${A.homeTun6}]:${TUNNEL_PORT}`, target: `127.0.0.1:${LOCAL_PORT}` },
      ]),
    });
    home = await UnprivWgts.start(t.home, homeConf);
    vps = await UnprivWgts.start(t.vps, vpsConf(t, [
      { listen: '0.0.0.0:8080', target: `${A.homeTun4}:${TUNNEL_PORT}` },
      { listen: '[::]:8090', target: `[${A.homeTun6}]:${TUNNEL_PORT}` },
    ]));
    for (const p of [vps.proc, home.proc, web]) {
      assert.deepEqual(uidsOf(p.pid), [NOBODY, NOBODY], `${p.label} runs as ${NOBODY}`);
      assert.equal(capEff(p.pid), '0000000000000000', `${p.label} has no effective capabilities`);
    }
    assert.match(home.output(), /expose tcp:198\.19\.10\.2:8000=127\.0\.0\.1:8000: listening/);
    assert.match(vps.output(), /forward tcp:0\.0\.0\.0:8080=198\.19\.10\.2:8000: listening/);
    for (const ns of [t.client, t.vps, t.home]) {
      const links = await ns.exec(['ip', '-o', 'link']);
      const kinds = links.stdout.split('\n').filter(Boolean).map((l) => l.split(':')[1]!.trim().split('@')[0]!);
      assert.ok(kinds.every((n) => n === 'lo' || n.startsWith('veth')), `${ns.name} has only lo and veths: ${kinds.join(', ')}`);
    }
  }, 30_000);

  it('curl from the client through the vps port reaches the server bound to 127.0.0.1 in home', { timeout: 20_000 }, async () => {
    const r = await curl(t.client, `http://${A.vpsPub4}:8080/index.html?unpriv4`);
    assert.equal(r.code, 0, r.stderr + '\n' + vps.output() + '\n' + home.output());
    assert.equal(r.stdout, page);
    const log = web.output().split('\n').filter((l) => l.includes('GET /index.html?unpriv4 '));
    assert.equal(log.length, 1, web.output());
    assert.ok(log[0]!.startsWith('127.0.0.1 '), `the local server sees a loopback client: ${log[0]}`);
  });

  it('the same over IPv6: public [::] listener, IPv6 tunnel target exposed to 127.0.0.1', { timeout: 20_000 }, async () => {
    const r = await curl(t.client, `http://[${A.vpsPub6}]:8090/index.html?unpriv6`);
    assert.equal(r.code, 0, r.stderr + '\n' + vps.output() + '\n' + home.output());
    assert.equal(r.stdout, page);
  });

  it('wgts show (as the same user) lists the forward and the expose with their traffic', { timeout: 10_000 }, async () => {
    const f = (await vps.showJson(t.vps)).forwards as Array<{ rule: string; total: number; bytesFromTarget: number }>;
    const e = (await home.showJson(t.home)).forwards as Array<{ rule: string; total: number; bytesFromTarget: number }>;
    const fw = f.find((u) => u.rule.startsWith(`forward tcp:0.0.0.0:8080=${A.homeTun4}:${TUNNEL_PORT},`));
    const ex = e.find((u) => u.rule.startsWith(`expose tcp:${A.homeTun4}:${TUNNEL_PORT}=127.0.0.1:${LOCAL_PORT},`));
    assert.ok(fw && ex, JSON.stringify({ f, e }));
    assert.equal(fw.total, 1);
    assert.equal(ex.total, 1);
    assert.ok(fw.bytesFromTarget >= page.length && ex.bytesFromTarget >= page.length);
  });

  it('cleans up: both wgts exit cleanly, namespaces gone', { timeout: 20_000 }, async () => {
    const pids = [vps.proc.pid, home.proc.pid, web.pid];
    for (const w of [vps, home]) assert.equal((await w.proc.stop(5000)).code, 0, `${w.name} exits 0 on SIGTERM`);
    const names = [t.client.name, t.vps.name, t.home.name];
    await Promise.all([t.client.destroy(), t.vps.destroy(), t.home.destroy()]);
    const listed = listNamespacesSync();
    for (const n of names) assert.ok(!listed.includes(n), `${n} deleted`);
    for (const pid of pids) assert.ok(!pidAlive(pid), `pid ${pid} gone`);
  });
});
