// Connection flood against a [Forward] port (issue 9, resource bounds).
// Topology from forward-topology.ts: client -> vps (wgts --userspace, one
// [Forward] rule with MaxConnections = 50) -> WireGuard -> home (wireguard-go,
// python http.server). While a rate-limited download through the rule runs,
// the client holds 120 idle connections and opens/abandons connections for
// 5 s against the same port. Checks: the download completes with the right
// SHA-256, wgts never has more than 50 connections active and refuses the
// rest as max-connections, its RSS stays bounded, and a new connection works
// afterwards.
import { beforeAll, it } from 'vitest';
import assert from 'node:assert/strict';
import { closeSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { interopSuite, WireguardGo, type Netns } from '../harness/netns.js';
import { CLI, WgtsProc } from './wgts-proc.js';
import { A, createTopology, sha256File, tempDir, vpsConf, WG_PORT_HOME, WG_PORT_VPS, type Topology } from './forward-topology.js';
import { startHttpServer } from './forward-scripts.js';
import { floodConnections } from '../hostile/conn-flooder.js';
import { RssSampler } from '../hostile/helpers.js';

const MB = 1024 * 1024;
const HTTP_PORT = 8000;
const FWD_PORT = 8080;
const MAX_CONNECTIONS = 50;
const FILE_MB = 24;
const RATE = '3M'; // curl --limit-rate: the download lasts about 8 s, spanning the flood
const HOLD = 120;
const FLOOD_SECONDS = 5;
/** RSS growth allowed over the flood (MB): 50 relays with their buffers, far below one buffer per attempted connection. */
const RSS_GROWTH_MB = 150;

interface UnitJson { rule: string; active: number; total: number; refused: Record<string, number> }

interopSuite('hostile: connection flood against a [Forward] port', { timeout: 120_000, needs: ['curl', 'python3'] }, () => {
  let t: Topology;
  let wg: WireguardGo;
  let vps: WgtsProc;
  let served: string;
  let downloads: string;
  const page = `flood test page ${randomBytes(8).toString('hex')}\n`;
  const url = (path: string) => `http://${A.vpsPub4}:${FWD_PORT}${path}`;

  async function unit(): Promise<UnitJson> {
    const r = await t.vps.exec([process.execPath, CLI, 'show', vps.name, '--json'], { timeoutMs: 5000 });
    assert.equal(r.code, 0, r.stderr);
    const u = (JSON.parse(r.stdout) as { forwards: UnitJson[] }).forwards.find((x) => x.rule.startsWith(`forward tcp:0.0.0.0:${FWD_PORT}=`));
    assert.ok(u, r.stdout);
    return u;
  }

  function curl(ns: Netns, args: string[], timeoutMs: number) {
    return ns.exec(['curl', '-sS', '--noproxy', '*', ...args], { timeoutMs });
  }

  // Fixture: client, vps (MaxConnections = 50) and home.
  beforeAll(async () => {
    t = await createTopology();
    served = tempDir(0o755, 'flood-served');
    downloads = tempDir(0o755, 'flood-dl');
    writeFileSync(join(served, 'index.html'), page);
    const fd = openSync(join(served, 'big.bin'), 'w');
    for (let i = 0; i < FILE_MB; i++) writeSync(fd, randomBytes(MB));
    closeSync(fd);
    wg = await WireguardGo.start(t.home);
    await wg.setconf({
      privateKey: t.kHome.privateKey,
      listenPort: WG_PORT_HOME,
      peers: [{ publicKey: t.kVps.publicKey, endpoint: `${A.vpsBack4}:${WG_PORT_VPS}`, allowedIps: [`${A.vpsTun4}/32`] }],
    });
    await wg.addAddress(`${A.homeTun4}/24`);
    await wg.up();
    await startHttpServer(t.home, A.homeTun4, HTTP_PORT, served);
    // The [Forward] section is the last one, so the appended key belongs to it.
    const conf = vpsConf(t, [{ listen: `0.0.0.0:${FWD_PORT}`, target: `${A.homeTun4}:${HTTP_PORT}` }]) + `MaxConnections = ${MAX_CONNECTIONS}\n`;
    vps = await WgtsProc.start(t.vps, conf, { mode: '--userspace' });
    const r = await curl(t.client, ['--max-time', '10', url('/index.html')], 15_000);
    assert.equal(r.code, 0, r.stderr + vps.output());
    assert.equal(r.stdout, page);
  }, 30_000);

  it('an established download survives the flood; MaxConnections caps it; RSS stays bounded', { timeout: 90_000 }, async () => {
    const out = join(downloads, 'big.bin');
    const rss = new RssSampler(vps.proc.pid, 100);
    const t0 = Date.now();
    const download = curl(t.client, ['-o', out, '-w', '%{http_code} %{size_download}', '--limit-rate', RATE, '--max-time', '60', url('/big.bin')], 65_000);
    await new Promise((r) => setTimeout(r, 1000)); // the transfer is established before the flood starts
    const before = await unit();
    assert.equal(before.active, 1, 'only the download is active before the flood');

    let peakActive = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peakActive = Math.max(peakActive, (await unit()).active);
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    const flood = await floodConnections(t.client, A.vpsPub4, FWD_PORT, HOLD, FLOOD_SECONDS);
    sampling = false;
    await sampler;
    const after = await unit();

    const d = await download;
    const ms = Date.now() - t0;
    const mem = rss.stop();
    console.log(`# flood: ${JSON.stringify(flood)}; peak active ${peakActive}; refused ${JSON.stringify(after.refused)}; ` +
      `download ${ms} ms; wgts RSS ${mem.startMb.toFixed(1)} -> peak ${mem.peakMb.toFixed(1)} MB, CPU ${mem.cpuSeconds.toFixed(2)} s`);

    assert.equal(d.code, 0, d.stderr + vps.output().slice(-2000));
    assert.equal(d.stdout, `200 ${FILE_MB * MB}`);
    assert.equal(await sha256File(out), await sha256File(join(served, 'big.bin')));
    assert.ok(ms > FLOOD_SECONDS * 1000, `the download (${ms} ms) spanned the ${FLOOD_SECONDS} s flood`);

    assert.ok(flood.churnOpened > 100, `the flooder opened ${flood.churnOpened} connections`);
    assert.ok(flood.held >= MAX_CONNECTIONS, `the flooder held ${flood.held} connections`);
    // At most 49 idle ones got a slot next to the download; the rest were reset by wgts.
    assert.ok(flood.alive <= MAX_CONNECTIONS - 1, `held connections still alive: ${flood.alive}`);
    assert.ok(peakActive <= MAX_CONNECTIONS, `peak active ${peakActive} <= ${MAX_CONNECTIONS}`);
    assert.ok((after.refused['max-connections'] ?? 0) >= HOLD - MAX_CONNECTIONS, `refused: ${JSON.stringify(after.refused)}`);
    assert.ok(mem.peakMb > 0 && mem.peakMb - mem.startMb < RSS_GROWTH_MB, `RSS ${mem.startMb.toFixed(1)} -> ${mem.peakMb.toFixed(1)} MB`);
  });

  it('afterwards the slots are free again and a new connection works', { timeout: 30_000 }, async () => {
    const deadline = Date.now() + 15_000;
    while ((await unit()).active > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    assert.equal((await unit()).active, 0, 'every flood connection was released');
    const r = await curl(t.client, ['--max-time', '10', url('/index.html?after')], 15_000);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, page);
    assert.ok(vps.proc.running);
  });

  it('stops cleanly', { timeout: 20_000 }, async () => {
    assert.equal(await vps.stop(), 0);
    await wg.stop();
  });
});
