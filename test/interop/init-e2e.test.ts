// Issue 10, "wgts init -> wgts up on both sides, a curl through the VPS port
// works with no hand editing": client -> vps -> home namespaces, configs
// straight from `wgts init`, each side started with the command init printed
// (plus --userspace), a web server on 127.0.0.1:8080 in home.
//
//   wgts init --endpoint VPS --forward tcp/8080 --dir D
//   -> D/VPS.conf copied byte for byte into the vps side's dir, D/HOME.conf into home's
//   -> `wgts up VPS.conf --userspace` in vps, `wgts up HOME.conf --userspace` in home
//   -> home's PersistentKeepalive brings up the handshake
//   -> curl http://VPS-public:8080/ in client gets home's page
import { it } from 'vitest';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import {
  exec, interopSuite, listNamespacesSync, Netns, pidAlive, trackPath, vethPair, waitFor, type Proc,
} from '../harness/netns.js';
import { CLI, uniqueWgtsName } from './wgts-proc.js';
import { A, tempDir } from './forward-topology.js';
import { startHttpServer } from './forward-scripts.js';

const WEB_PORT = 8080;

interface Side { ns: Netns; name: string; dir: string; proc: Proc }

/** A command line wgts init printed (`… up FILE`): the whole line, run as printed, and its FILE. */
interface Printed { line: string; file: string }

/** Runs the printed `… up FILE` line (plus --userspace) in `dir` inside `ns`, through a shell as a user would. */
async function up(ns: Netns, dir: string, printed: Printed): Promise<Side> {
  const file = printed.file;
  const name = file.replace(/\.conf$/, '');
  trackPath(`/var/run/wireguard/${name}.sock`);
  const proc = ns.spawn(
    ['sh', '-c', `cd "$1" && exec ${printed.line} --userspace`, 'sh', dir],
    { label: `wgts up ${file}` },
  );
  await waitFor(() => {
    proc.assertRunning();
    return proc.output().includes('UAPI socket');
  }, 8000, `wgts up ${file} to serve its UAPI socket`);
  return { ns, name, dir, proc };
}

async function showJson(s: Side): Promise<{ peers: Array<{ latestHandshake: number }>; forwards: Array<{ rule: string; total: number }> }> {
  const r = await s.ns.exec([process.execPath, CLI, 'show', s.name, '--json']);
  if (r.code !== 0) throw new Error(`wgts show ${s.name} failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout);
}

interopSuite('wgts init -> wgts up on both sides -> curl through the vps port, no hand editing', { timeout: 60_000, needs: ['curl', 'python3'] }, () => {
  let client: Netns;
  let vpsNs: Netns;
  let homeNs: Netns;
  let vps: Side;
  let home: Side;
  let web: Proc;
  const vpsFile = `${uniqueWgtsName()}.conf`;
  const homeFile = `${uniqueWgtsName()}.conf`;
  const initDir = tempDir(0o700, 'init');
  const page = `<html><body>init e2e ${randomBytes(8).toString('hex')}</body></html>\n`;
  let printed: Printed[] = [];

  it('wgts init writes the pair (0600) and prints one wgts up command per side', { timeout: 15_000 }, async () => {
    const r = await exec([
      process.execPath, CLI, 'init', '--endpoint', A.vpsBack4, '--forward', `tcp/${WEB_PORT}`,
      '--dir', initDir, '--vps-conf', vpsFile, '--home-conf', homeFile,
    ], { timeoutMs: 10_000 });
    assert.equal(r.code, 0, r.stderr);
    for (const f of [vpsFile, homeFile]) assert.equal(statSync(join(initDir, f)).mode & 0o777, 0o600, `${f} is 0600`);
    // The lines are whatever runs here (`node …/main.js up FILE` from a checkout not on PATH).
    printed = [...r.stdout.matchAll(/^\s+(\S.* up (\S+))$/gm)].map((m) => ({ line: m[1]!, file: m[2]! }));
    assert.deepEqual(printed.map((p) => p.file), [vpsFile, homeFile], r.stdout);
    const homeText = readFileSync(join(initDir, homeFile), 'utf8');
    assert.match(homeText, new RegExp(`^Endpoint = ${A.vpsBack4.replace(/\./g, '\\.')}:51820$`, 'm'));
  });

  it('starts both sides from copies of the generated files, and a server on 127.0.0.1 in home', { timeout: 30_000 }, async () => {
    [client, vpsNs, homeNs] = await Promise.all([Netns.create('client'), Netns.create('vps'), Netns.create('home')]);
    await vethPair(client, vpsNs, { aAddr4: `${A.client4}/24`, bAddr4: `${A.vpsPub4}/24` });
    await vethPair(vpsNs, homeNs, { aAddr4: `${A.vpsBack4}/24`, bAddr4: `${A.homeBack4}/24` });

    const vpsDir = tempDir(0o700, 'initvps');
    const homeDir = tempDir(0o700, 'inithome');
    copyFileSync(join(initDir, vpsFile), join(vpsDir, vpsFile));
    copyFileSync(join(initDir, homeFile), join(homeDir, homeFile));
    for (const [d, f] of [[vpsDir, vpsFile], [homeDir, homeFile]] as const) {
      assert.deepEqual(readFileSync(join(d, f)), readFileSync(join(initDir, f)), `${f} copied unchanged`);
    }

    const served = tempDir(0o755, 'initweb');
    writeFileSync(join(served, 'index.html'), page, { mode: 0o644 });
    web = await startHttpServer(homeNs, '127.0.0.1', WEB_PORT, served);

    vps = await up(vpsNs, vpsDir, printed[0]!);
    home = await up(homeNs, homeDir, printed[1]!);
    assert.match(vps.proc.output(), new RegExp(`forward tcp:0\\.0\\.0\\.0:${WEB_PORT}=10\\.100\\.0\\.2:${WEB_PORT}`), vps.proc.output());
    assert.match(home.proc.output(), new RegExp(`expose tcp:10\\.100\\.0\\.2:${WEB_PORT}=127\\.0\\.0\\.1:${WEB_PORT}`), home.proc.output());
  });

  it('home\'s keepalive brings up the handshake without any traffic', { timeout: 15_000 }, async () => {
    await waitFor(async () => {
      vps.proc.assertRunning();
      home.proc.assertRunning();
      const s = await showJson(vps);
      return s.peers.length === 1 && s.peers[0]!.latestHandshake > 0;
    }, 10_000, 'a handshake between the vps and home');
  });

  it('curl from the client to the vps public port gets the page served on 127.0.0.1 at home', { timeout: 20_000 }, async () => {
    const r = await client.exec(['curl', '-sS', '--noproxy', '*', '--max-time', '10', `http://${A.vpsPub4}:${WEB_PORT}/`], { timeoutMs: 15_000 });
    assert.equal(r.code, 0, r.stderr + '\n' + vps.proc.output() + '\n' + home.proc.output());
    assert.equal(r.stdout, page);
    const hits = web.output().split('\n').filter((l) => l.includes('"GET / '));
    assert.equal(hits.length, 1, web.output());
    assert.ok(hits[0]!.startsWith('127.0.0.1 '), `the home server sees a loopback client: ${hits[0]}`);
    const fw = (await showJson(vps)).forwards.find((u) => u.rule.startsWith(`forward tcp:0.0.0.0:${WEB_PORT}=`));
    assert.equal(fw?.total, 1, 'wgts show counts the one forwarded connection');
  });

  it('cleans up: both wgts exit 0 on SIGTERM, sockets and namespaces gone', { timeout: 20_000 }, async () => {
    const pids = [vps.proc.pid, home.proc.pid, web.pid];
    for (const s of [vps, home]) assert.equal((await s.proc.stop(5000)).code, 0, `${s.name} exits 0 on SIGTERM`);
    for (const s of [vps, home]) assert.ok(!existsSync(`/var/run/wireguard/${s.name}.sock`), `${s.name}.sock removed`);
    const names = [client.name, vpsNs.name, homeNs.name];
    await Promise.all([client.destroy(), vpsNs.destroy(), homeNs.destroy()]);
    const listed = listNamespacesSync();
    for (const n of names) assert.ok(!listed.includes(n), `${n} deleted`);
    for (const pid of pids) assert.ok(!pidAlive(pid), `pid ${pid} gone`);
  });
});
