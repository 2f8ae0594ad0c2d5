// Restarts a long-running VPS meets. Topology from forward-topology.ts:
// client -> vps (wgts --userspace, one [Forward] rule) -> WireGuard -> home
// (wireguard-go with PersistentKeepalive = 1, python http.server).
//   1. the vps wgts gets SIGTERM and starts again while home keeps sending
//      its keepalives: the forward serves the page again within 5 s
//   2. home's wireguard-go is stopped and started again: the same
// Each measures from the restart (the new process up) to the first
// successful request through the forward, polling with 1-s curl attempts.
// The vps knows home's endpoint here (vpsConf). A vps that only learns it
// from home's handshake has to wait, after its restart, for home's next one
// (up to REKEY_AFTER_TIME, 2 min, as with Linux and wireguard-go).
import { beforeAll, it } from 'vitest';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { interopSuite, WireguardGo, type Netns } from '../harness/netns.js';
import { WgtsProc } from './wgts-proc.js';
import { A, createTopology, tempDir, vpsConf, WG_PORT_HOME, WG_PORT_VPS, type Topology } from './forward-topology.js';
import { startHttpServer } from './forward-scripts.js';

const HTTP_PORT = 8000;
const FWD_PORT = 8080;
/** The bound of the fault test: forwards serve again within this of a restart. */
const RECOVERY_BOUND_MS = 5000;

interopSuite('restarts: the vps wgts and the home peer come back and forwards serve again', { timeout: 90_000, needs: ['curl', 'python3'] }, () => {
  let t: Topology;
  let wg: WireguardGo;
  let vps: WgtsProc;
  let conf: string;
  const page = `restart test page ${randomBytes(8).toString('hex')}\n`;

  async function startHome(): Promise<WireguardGo> {
    const w = await WireguardGo.start(t.home);
    await w.setconf({
      privateKey: t.kHome.privateKey,
      listenPort: WG_PORT_HOME,
      peers: [{ publicKey: t.kVps.publicKey, endpoint: `${A.vpsBack4}:${WG_PORT_VPS}`, allowedIps: [`${A.vpsTun4}/32`], persistentKeepalive: 1 }],
    });
    await w.addAddress(`${A.homeTun4}/24`);
    await w.up();
    return w;
  }

  async function fetchOnce(ns: Netns): Promise<boolean> {
    const r = await ns.exec(['curl', '-sS', '--noproxy', '*', '--max-time', '1', `http://${A.vpsPub4}:${FWD_PORT}/index.html`], { timeoutMs: 3000 });
    return r.code === 0 && r.stdout === page;
  }

  /** ms from now until a request through the forward returns the page (or the bound passes). */
  async function timeToServe(boundMs: number): Promise<number | null> {
    const t0 = performance.now();
    while (performance.now() - t0 < boundMs + 5000) {
      if (await fetchOnce(t.client)) return performance.now() - t0;
      await new Promise((r) => setTimeout(r, 100));
    }
    return null;
  }

  beforeAll(async () => {
    t = await createTopology();
    const served = tempDir(0o755, 'restart');
    writeFileSync(join(served, 'index.html'), page);
    wg = await startHome();
    // 0.0.0.0: the server outlives home's tunnel interface across its restart.
    await startHttpServer(t.home, '0.0.0.0', HTTP_PORT, served);
    conf = vpsConf(t, [{ listen: `0.0.0.0:${FWD_PORT}`, target: `${A.homeTun4}:${HTTP_PORT}` }]);
    vps = await WgtsProc.start(t.vps, conf, { mode: '--userspace' });
    const first = await timeToServe(10_000);
    assert.ok(first !== null, `the forward serves before any restart\n${vps.output().slice(-2000)}`);
  }, 40_000);

  it(`the vps wgts restarted (SIGTERM, start again) while home keeps its keepalives: serves again within ${RECOVERY_BOUND_MS / 1000} s`, { timeout: 30_000 }, async (tc) => {
    assert.equal(await vps.stop(), 0, 'wgts exits cleanly on SIGTERM');
    await new Promise((r) => setTimeout(r, 2000)); // home's keepalives go unanswered meanwhile
    vps = await WgtsProc.start(t.vps, conf, { mode: '--userspace' });
    const ms = await timeToServe(RECOVERY_BOUND_MS);
    console.log(`vps restart: the forward served again ${ms === null ? 'never' : `${ms.toFixed(0)} ms`} after the new wgts was up`);
    assert.ok(ms !== null && ms <= RECOVERY_BOUND_MS, `served again after ${ms} ms\n${vps.output().slice(-2000)}`);
  });

  it(`home restarted: serves again within ${RECOVERY_BOUND_MS / 1000} s`, { timeout: 30_000 }, async (tc) => {
    await wg.stop();
    await new Promise((r) => setTimeout(r, 2000)); // the vps still holds the old session
    wg = await startHome();
    const ms = await timeToServe(RECOVERY_BOUND_MS);
    console.log(`home restart: the forward served again ${ms === null ? 'never' : `${ms.toFixed(0)} ms`} after home's wireguard-go was up`);
    assert.ok(ms !== null && ms <= RECOVERY_BOUND_MS, `served again after ${ms} ms\n${vps.output().slice(-2000)}`);
  });

  it('cleans up', { timeout: 20_000 }, async () => {
    assert.equal(await vps.stop(), 0);
    await wg.stop();
    for (const n of [t.client, t.vps, t.home]) await n.destroy();
  });
});
