/**
 * A bounded soak: two real `wgts up` processes on loopback, "vps" with a
 * [Forward] and "home" with an [Expose] to an echo server here; for `seconds`
 * it churns forwarded TCP connections (parallel open, 1 KiB echo, close) and
 * full handshakes (a fresh in-process initiator against the vps every
 * `handshakeEveryMs`), then reports RSS of both processes at the start and the
 * end. `npm run soak` runs it for SOAK_SECONDS (default 300); CI runs 8 s.
 */
import { createServer, connect, type Server } from 'node:net';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeKey } from '../../src/crypto/util.js';
import { Proc, waitFor, trackPath } from '../harness/netns.js';
import { CLI, LegitPeer, newKeys, rssKb, type Keys } from './helpers.js';

export interface SoakReport {
  seconds: number;
  connections: number;
  connectionErrors: number;
  handshakes: number;
  rssStartMb: { vps: number; home: number };
  rssEndMb: { vps: number; home: number };
}

async function start(dir: string, name: string, conf: string): Promise<{ proc: Proc; port: number }> {
  const file = join(dir, `${name}.conf`);
  writeFileSync(file, conf, { mode: 0o600 });
  const proc = new Proc([process.execPath, CLI, 'up', file, '--userspace', '--interface', name], { label: `wgts ${name}` });
  const out = await waitFor(() => {
    if (!proc.running) throw new Error(`wgts ${name} exited: ${proc.output()}`);
    return proc.output().includes('UAPI socket') ? proc.output() : null;
  }, 10_000, `wgts ${name}`);
  return { proc, port: Number(/listening on UDP port (\d+)/.exec(out)![1]) };
}

function echoOnce(port: number, size: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port });
    const payload = Buffer.alloc(size, 0x5a);
    let got = 0;
    s.setTimeout(5000, () => s.destroy(new Error('timeout')));
    s.on('connect', () => s.end(payload));
    s.on('data', (d: Buffer) => { got += d.length; });
    s.on('close', () => (got === size ? resolve() : reject(new Error(`echo: got ${got} of ${size}`))));
    s.on('error', reject);
  });
}

export async function runSoak(seconds: number, opts: { parallel?: number; handshakeEveryMs?: number } = {}): Promise<SoakReport> {
  const parallel = opts.parallel ?? 8;
  const dir = mkdtempSync(join(tmpdir(), 'wgts-soak-'));
  trackPath(dir);
  const echo: Server = createServer({ allowHalfOpen: true }, (s) => { s.pipe(s); s.on('error', () => {}); });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
  const echoPort = (echo.address() as { port: number }).port;
  const vpsK = newKeys(); const homeK = newKeys(); const churnK: Keys = newKeys();
  const fwdPort = await new Promise<number>((r) => { const t = createServer(); t.listen(0, '127.0.0.1', () => { const p = (t.address() as { port: number }).port; t.close(() => r(p)); }); });
  const tag = process.pid.toString(36);
  const vps = await start(dir, `soakv${tag}`.slice(0, 15), [
    '[Interface]', `PrivateKey = ${encodeKey(vpsK.priv)}`, 'ListenPort = 0', 'Address = 10.78.0.1/24, 10.77.0.1/24', '',
    '[Peer]', `PublicKey = ${encodeKey(homeK.pub)}`, 'AllowedIPs = 10.78.0.2/32', '',
    '[Peer]', `PublicKey = ${encodeKey(churnK.pub)}`, 'AllowedIPs = 10.77.0.2/32', '',
    '[Forward]', 'Protocol = tcp', `Listen = 127.0.0.1:${fwdPort}`, 'Target = 10.78.0.2:7', '',
  ].join('\n'));
  const home = await start(dir, `soakh${tag}`.slice(0, 15), [
    '[Interface]', `PrivateKey = ${encodeKey(homeK.priv)}`, 'Address = 10.78.0.2/24', '',
    '[Peer]', `PublicKey = ${encodeKey(vpsK.pub)}`, `Endpoint = 127.0.0.1:${vps.port}`, 'AllowedIPs = 10.78.0.1/32', 'PersistentKeepalive = 25', '',
    '[Expose]', 'Protocol = tcp', 'Listen = 10.78.0.2:7', `Target = 127.0.0.1:${echoPort}`, '',
  ].join('\n'));
  try {
    await waitFor(() => home.proc.output().includes('handshake complete'), 10_000, 'home handshake');
    // Warm up, then take the starting RSS.
    for (let i = 0; i < 50; i++) await echoOnce(fwdPort, 1024);
    const rssStart = { vps: rssKb(vps.proc.pid) / 1024, home: rssKb(home.proc.pid) / 1024 };
    let connections = 0;
    let errors = 0;
    let handshakes = 0;
    const end = Date.now() + seconds * 1000;
    let wall = Date.now();
    const churn = (async () => {
      while (Date.now() < end) {
        const p = new LegitPeer(churnK, vpsK.pub, vps.port, { wallClock: () => (wall += 1000) });
        await p.start();
        p.sendData();
        await waitFor(() => p.events.some((e) => e.e.type === 'handshake-complete'), 5000, 'churn handshake').then(() => { handshakes++; }, () => {});
        p.close();
        await new Promise((r) => setTimeout(r, opts.handshakeEveryMs ?? 200));
      }
    })();
    const workers = Array.from({ length: parallel }, async () => {
      while (Date.now() < end) {
        try { await echoOnce(fwdPort, 1024); connections++; } catch { errors++; }
      }
    });
    await Promise.all([...workers, churn]);
    await new Promise((r) => setTimeout(r, 500));
    const rssEnd = { vps: rssKb(vps.proc.pid) / 1024, home: rssKb(home.proc.pid) / 1024 };
    return { seconds, connections, connectionErrors: errors, handshakes, rssStartMb: rssStart, rssEndMb: rssEnd };
  } finally {
    await vps.proc.stop(5000);
    await home.proc.stop(5000);
    echo.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1]?.endsWith('soak.js')) {
  const secs = Number(process.env['SOAK_SECONDS'] ?? 300);
  void runSoak(secs).then((r) => {
    console.log(JSON.stringify(r, null, 2));
    const grew = Math.max(r.rssEndMb.vps - r.rssStartMb.vps, r.rssEndMb.home - r.rssStartMb.home);
    console.log(`soak: ${r.connections} forwarded connections (${r.connectionErrors} errors), ${r.handshakes} handshakes in ${secs} s; RSS grew by at most ${grew.toFixed(1)} MB`);
    process.exit(r.connectionErrors === 0 ? 0 : 1);
  });
}
