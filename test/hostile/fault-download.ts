/**
 * A forwarded download through faults a VPS meets (issue 17): two real
 * `wgts up --userspace` on loopback, "vps" with a [Forward] and "home" with an
 * [Expose] to a data server here, their outer UDP through the impairing relay
 * (test/harness/udp-relay.ts) with loss and reordering both ways. A client
 * downloads `bytes` through the vps's forwarded port while
 *   - the home side re-keys again and again (WGTS_TEST_REKEY_AFTER_MESSAGES:
 *     home, the initiator and the data sender, re-keys every `rekeyEvery`
 *     messages instead of after REKEY_AFTER_TIME), and
 *   - the home side's NAT rebinds (the relay's vps-facing socket moves to a
 *     new port) at each fraction in `rebindAt`; the vps must follow the roam.
 * It reports the SHA-256 of both ends, the longest gap between bytes at the
 * client, the handshakes each side completed during the transfer and the
 * relay's counters.
 *
 *   client --tcp--> vps [Forward] ==udp==> relay (3 % loss, reorder, rebinds)
 *          <--------        <== wg ==>   home [Expose] --tcp--> data server
 *
 * `npm run soak:download` runs 200 MB (FAULT_MB) and exits 1 on a wrong
 * digest or a stall over 2 s; fault-download.test.ts runs a short version.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { createCipheriv, createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeKey } from '../../src/crypto/util.js';
import { type Proc, waitFor, trackPath } from '../harness/netns.js';
import { UdpRelay, type RelayStats } from '../harness/udp-relay.js';
import { newKeys, startWgtsConf } from './helpers.js';

export interface FaultOptions {
  bytes: number;
  /** Outer loss each way (0.03 = 3 %). */
  loss?: number;
  /** Outer reordering each way: this share of datagrams is held back behind the next one. */
  reorder?: number;
  /** Home re-keys after this many messages of a session. */
  rekeyEvery?: number;
  /** Fractions of the download at which the home side's NAT rebinds. */
  rebindAt?: number[];
  seed?: number;
  /** Give up after this long (ms). */
  timeoutMs?: number;
}

export interface FaultReport {
  bytes: number;
  received: number;
  sentSha: string;
  gotSha: string;
  seconds: number;
  mbitPerS: number;
  /** Longest time between two reads at the client (ms), from the first byte on. */
  maxGapMs: number;
  /** Handshakes completed during the download, per side. */
  handshakes: { home: number; vps: number };
  /** The relay's vps-facing ports: the first and one per rebinding. */
  natPorts: number[];
  relay: RelayStats;
  /** Set when the download did not finish. */
  error?: string;
}

/** The server's stream: an AES-128-CTR keystream from the seed, 64 KiB at a time, hashed as it is made. */
function dataServer(bytes: number, seed: number): { server: Server; sha: Promise<string> } {
  let resolveSha: (s: string) => void;
  const sha = new Promise<string>((r) => (resolveSha = r));
  const zeros = Buffer.alloc(65536);
  const server = createServer((s: Socket) => {
    const key = createHash('sha256').update(`fault-download ${seed}`).digest().subarray(0, 16);
    const stream = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
    const hash = createHash('sha256');
    let left = bytes;
    s.on('error', () => {});
    const write = (): void => {
      while (left > 0) {
        const n = Math.min(left, 65536);
        const chunk = stream.update(zeros.subarray(0, n));
        hash.update(chunk);
        left -= n;
        if (!s.write(chunk)) return void s.once('drain', write);
      }
      resolveSha(hash.digest('hex'));
      s.end();
    };
    write();
  });
  return { server, sha };
}

function startWgts(dir: string, name: string, conf: string, env: Record<string, string>): Promise<{ proc: Proc; port: number }> {
  return startWgtsConf(dir, name, conf, { env });
}

const listenOn = (s: Server): Promise<number> => new Promise((r) => s.listen(0, '127.0.0.1', () => r((s.address() as { port: number }).port)));
const handshakes = (p: Proc): number => (p.output().match(/handshake complete/g) ?? []).length;

export async function runFaultDownload(o: FaultOptions): Promise<FaultReport> {
  const seed = o.seed ?? 17;
  const rebindAt = [...(o.rebindAt ?? [0.4])].sort((a, b) => a - b);
  const dir = mkdtempSync(join(tmpdir(), 'wgts-fault-'));
  trackPath(dir);
  const data = dataServer(o.bytes, seed);
  const dataPort = await listenOn(data.server);
  const vpsK = newKeys();
  const homeK = newKeys();
  // A free TCP port for the [Forward] (released just before wgts binds it).
  const probe = createServer();
  const fwdPort = await listenOn(probe);
  await new Promise<void>((r) => probe.close(() => r()));
  const tag = process.pid.toString(36);
  const env = { WGTS_TEST_REKEY_AFTER_MESSAGES: String(o.rekeyEvery ?? 20_000) };
  const vps = await startWgts(dir, `fltv${tag}`.slice(0, 15), [
    '[Interface]', `PrivateKey = ${encodeKey(vpsK.priv)}`, 'ListenPort = 0', 'Address = 10.79.0.1/24', '',
    '[Peer]', `PublicKey = ${encodeKey(homeK.pub)}`, 'AllowedIPs = 10.79.0.2/32', '',
    '[Forward]', 'Protocol = tcp', `Listen = 127.0.0.1:${fwdPort}`, 'Target = 10.79.0.2:80', '',
  ].join('\n'), env);
  // home -> relay A side; relay B side -> vps (and back to wherever home sent from).
  const relay = await UdpRelay.start({
    listenA: { address: '127.0.0.1' },
    listenB: { address: '127.0.0.1' },
    targetB: { address: '127.0.0.1', port: vps.port },
    seed,
    impair: { drop: o.loss ?? 0.03, reorder: o.reorder ?? 0.03, holdMs: 20 },
  });
  const natPorts = [relay.portB];
  let home: { proc: Proc; port: number } | null = null;
  let client: Socket | null = null;
  try {
    home = await startWgts(dir, `flth${tag}`.slice(0, 15), [
      '[Interface]', `PrivateKey = ${encodeKey(homeK.priv)}`, 'Address = 10.79.0.2/24', '',
      '[Peer]', `PublicKey = ${encodeKey(vpsK.pub)}`, `Endpoint = 127.0.0.1:${relay.portA}`, 'AllowedIPs = 10.79.0.1/32', 'PersistentKeepalive = 25', '',
      '[Expose]', 'Protocol = tcp', 'Listen = 10.79.0.2:80', `Target = 127.0.0.1:${dataPort}`, '',
    ].join('\n'), env);
    const h = home;
    await waitFor(() => h.proc.output().includes('handshake complete'), 20_000, 'home handshake');
    const before = { home: handshakes(h.proc), vps: handshakes(vps.proc) };
    const t0 = performance.now();
    const hash = createHash('sha256');
    let received = 0;
    let last = 0;
    let maxGapMs = 0;
    let nextRebind = 0;
    const rebinds: Array<Promise<void>> = [];
    const error = await new Promise<string | undefined>((resolve) => {
      const c = connect({ host: '127.0.0.1', port: fwdPort });
      client = c;
      const timer = setTimeout(() => resolve(`timed out after ${o.timeoutMs ?? 600_000} ms at ${received} bytes`), o.timeoutMs ?? 600_000);
      c.on('data', (d: Buffer) => {
        const t = performance.now();
        if (last > 0) maxGapMs = Math.max(maxGapMs, t - last);
        last = t;
        received += d.length;
        hash.update(d);
        while (nextRebind < rebindAt.length && received >= rebindAt[nextRebind]! * o.bytes) {
          nextRebind++;
          rebinds.push(relay.rebindB().then((p) => void natPorts.push(p)));
        }
      });
      c.on('end', () => { clearTimeout(timer); resolve(undefined); });
      c.on('error', (e) => { clearTimeout(timer); resolve(`client: ${e.message}`); });
    });
    await Promise.all(rebinds);
    const seconds = (performance.now() - t0) / 1000;
    const sentSha = await Promise.race([data.sha, new Promise<string>((r) => setTimeout(() => r('(server not finished)'), 1000))]);
    return {
      bytes: o.bytes, received, sentSha, gotSha: hash.digest('hex'), seconds,
      mbitPerS: (received * 8) / seconds / 1e6, maxGapMs,
      handshakes: { home: handshakes(h.proc) - before.home, vps: handshakes(vps.proc) - before.vps },
      natPorts, relay: relay.stats,
      ...(error ? { error } : {}),
    };
  } finally {
    (client as Socket | null)?.destroy();
    await home?.proc.stop(5000);
    await vps.proc.stop(5000);
    await relay.close();
    data.server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The bar: the right digest, every byte, no stall over 2 s, the rekeys and rebinds really happened. */
export function faultVerdict(r: FaultReport, wantRebinds: number): string[] {
  const bad: string[] = [];
  if (r.error) bad.push(r.error);
  if (r.received !== r.bytes) bad.push(`received ${r.received} of ${r.bytes} bytes`);
  if (r.gotSha !== r.sentSha) bad.push(`SHA-256 differs: sent ${r.sentSha}, got ${r.gotSha}`);
  if (r.maxGapMs > 2000) bad.push(`stalled ${r.maxGapMs.toFixed(0)} ms (limit 2000 ms)`);
  if (r.handshakes.home < 1) bad.push('no rekey during the download');
  if (r.natPorts.length !== wantRebinds + 1) bad.push(`rebinds: ${r.natPorts.length - 1} of ${wantRebinds}`);
  if (r.relay.aToB.dropped === 0 || r.relay.bToA.dropped === 0 || r.relay.aToB.reordered === 0) bad.push('the relay impaired nothing');
  return bad;
}

export function describeFault(r: FaultReport): string {
  return `${(r.received / 1e6).toFixed(1)} MB in ${r.seconds.toFixed(1)} s (${r.mbitPerS.toFixed(1)} Mbit/s), longest gap ${r.maxGapMs.toFixed(0)} ms, `
    + `handshakes during it: home ${r.handshakes.home}, vps ${r.handshakes.vps}; NAT ports ${r.natPorts.join(' -> ')}; `
    + `relay home->vps ${r.relay.aToB.received} in, ${r.relay.aToB.dropped} dropped, ${r.relay.aToB.reordered} reordered; `
    + `vps->home ${r.relay.bToA.received} in, ${r.relay.bToA.dropped} dropped, ${r.relay.bToA.reordered} reordered`;
}

if (process.argv[1]?.endsWith('fault-download.js')) {
  const mb = Number(process.env['FAULT_MB'] ?? 200);
  const rebindAt = [0.25, 0.5, 0.75];
  void runFaultDownload({ bytes: mb * 1e6, rebindAt, rekeyEvery: Number(process.env['FAULT_REKEY_EVERY'] ?? 30_000) }).then((r) => {
    console.log(`fault download: ${describeFault(r)}`);
    const bad = faultVerdict(r, rebindAt.length);
    console.log(bad.length === 0 ? 'fault download: OK (right SHA-256, no stall over 2 s, rekeys and NAT rebinds survived)' : `fault download: FAILED: ${bad.join('; ')}`);
    process.exit(bad.length === 0 ? 0 : 1);
  });
}
