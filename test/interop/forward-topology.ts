/**
 * The forwarder's netns topology: client <-veth-> vps <-veth-> home.
 *
 *   client 198.18.10.1, fd77:..:10::1 ----- vps 198.18.10.2, fd77:..:10::2 (public side)
 *                                           vps 198.18.11.1 ----- home 198.18.11.2 (WireGuard's outer path)
 *   inside the tunnel: vps 198.19.10.1 / fd77:..:1a::1, home 198.19.10.2 / fd77:..:1a::2
 *
 * Builds the namespaces and veths, renders wgts configs with [Forward] /
 * [Expose] sections, and starts wgts as an unprivileged user (setpriv, uid
 * 65534) with its config and UAPI socket in a 0755 dir it can read.
 */
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, writeFileSync, createReadStream } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { genKeyPair, Netns, trackPath, which, vethPair, waitFor, WireguardGo, type Proc, type VethPair, type WgKeyPair } from '../harness/netns.js';
import { CLI, renderConf, uniqueWgtsName } from './wgts-proc.js';

export const A = {
  client4: '198.18.10.1',
  vpsPub4: '198.18.10.2',
  client6: 'fd77:7767:7473:10::1',
  vpsPub6: 'fd77:7767:7473:10::2',
  vpsBack4: '198.18.11.1',
  homeBack4: '198.18.11.2',
  vpsTun4: '198.19.10.1',
  homeTun4: '198.19.10.2',
  vpsTun6: 'fd77:7767:7473:1a::1',
  homeTun6: 'fd77:7767:7473:1a::2',
} as const;
export const WG_PORT_VPS = 51820;
export const WG_PORT_HOME = 51821;
export const NOBODY = 65534;

export interface Topology {
  client: Netns;
  vps: Netns;
  home: Netns;
  pub: VethPair;
  back: VethPair;
  kVps: WgKeyPair;
  kHome: WgKeyPair;
}

export async function createTopology(): Promise<Topology> {
  const [client, vps, home] = await Promise.all([Netns.create('client'), Netns.create('vps'), Netns.create('home')]);
  const pub = await vethPair(client, vps, {
    aAddr4: `${A.client4}/24`, bAddr4: `${A.vpsPub4}/24`, aAddr6: `${A.client6}/64`, bAddr6: `${A.vpsPub6}/64`,
  });
  const back = await vethPair(vps, home, { aAddr4: `${A.vpsBack4}/24`, bAddr4: `${A.homeBack4}/24` });
  const [kVps, kHome] = await Promise.all([genKeyPair(), genKeyPair()]);
  return { client, vps, home, pub, back, kVps, kHome };
}

/**
 * Home as a LAN host behind the vps: wireguard-go with the vps as its only
 * peer (AllowedIPs 0.0.0.0/0), the default route via the vps tunnel address
 * and the SSDP group through the tunnel, so natpmpc finds the gateway and
 * upnpc discovers the IGD without being told where.
 */
export async function startHomeBehindVps(t: Topology): Promise<WireguardGo> {
  const wg = await WireguardGo.start(t.home);
  await wg.setconf({
    privateKey: t.kHome.privateKey,
    listenPort: WG_PORT_HOME,
    peers: [{ publicKey: t.kVps.publicKey, endpoint: `${A.vpsBack4}:${WG_PORT_VPS}`, allowedIps: ['0.0.0.0/0'], persistentKeepalive: 5 }],
  });
  await wg.addAddress(`${A.homeTun4}/24`);
  await wg.up();
  await t.home.ip(['route', 'add', 'default', 'via', A.vpsTun4, 'dev', wg.iface]);
  await t.home.ip(['route', 'add', '239.255.255.250/32', 'dev', wg.iface]);
  return wg;
}

export interface NatSpec {
  protocol?: 'tcp' | 'udp' | 'tcp,udp';
  listen: string;
  target: string;
  source?: 'tunnel' | 'client';
  proxy?: 'off' | 'v1' | 'v2';
}

export function natSections(kind: 'Forward' | 'Expose', specs: readonly NatSpec[]): string {
  return specs
    .map((s) => {
      const l = [`[${kind}]`];
      if (s.protocol) l.push(`Protocol = ${s.protocol}`);
      l.push(`Listen = ${s.listen}`, `Target = ${s.target}`);
      if (s.source) l.push(`Source = ${s.source}`);
      if (s.proxy) l.push(`ProxyProtocol = ${s.proxy}`);
      return l.join('\n');
    })
    .join('\n\n');
}

/** The vps side: wgts with the home peer behind the back veth, and these rules. */
export function vpsConf(t: Topology, forwards: readonly NatSpec[], home: { allowedIps?: string[] } = {}): string {
  return renderConf({
    privateKey: t.kVps.privateKey,
    listenPort: WG_PORT_VPS,
    addresses: [`${A.vpsTun4}/24`, `${A.vpsTun6}/64`],
    peers: [{
      publicKey: t.kHome.publicKey,
      endpoint: `${A.homeBack4}:${WG_PORT_HOME}`,
      allowedIps: home.allowedIps ?? [`${A.homeTun4}/32`, `${A.homeTun6}/128`],
      persistentKeepalive: 25,
    }],
    extra: natSections('Forward', forwards),
  });
}

/** SHA-256 (hex) of a file, streamed. */
export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (b) => h.update(b))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

/** A fresh tracked temp dir with mode `mode` (removed at cleanup). */
export function tempDir(mode = 0o755, label = 'fwd'): string {
  const dir = mkdtempSync(join(tmpdir(), `wgts-${label}-`));
  chmodSync(dir, mode);
  trackPath(dir);
  return dir;
}

/** `wgts up --userspace` as uid/gid 65534 (setpriv) in `ns`; output captured, killed at cleanup. */
export class UnprivWgts {
  private constructor(readonly proc: Proc, readonly name: string, readonly dir: string, readonly runDir: string, readonly socketPath: string) {}

  static async start(ns: Netns, conf: string): Promise<UnprivWgts> {
    const dir = tempDir(0o755, 'unpriv');
    const name = uniqueWgtsName();
    const file = join(dir, `${name}.conf`);
    writeFileSync(file, conf, { mode: 0o600 });
    chownSync(file, NOBODY, NOBODY);
    const runDir = join(dir, 'run');
    mkdirSync(runDir, { mode: 0o700 });
    chownSync(runDir, NOBODY, NOBODY);
    const proc = ns.spawn(
      [...asNobody(), process.execPath, CLI, 'up', file, '--userspace', '--interface', name, '--log-level', 'debug'],
      { label: `wgts(uid ${NOBODY}) ${name}`, env: nobodyEnv(dir, runDir) },
    );
    const socketPath = join(runDir, 'wgts', `${name}.sock`);
    await waitFor(() => {
      proc.assertRunning();
      return proc.output().includes('UAPI socket');
    }, 8000, `unprivileged wgts ${name} to serve its UAPI socket`);
    return new UnprivWgts(proc, name, dir, runDir, socketPath);
  }

  output(): string {
    return this.proc.output();
  }

  /** `wgts show NAME --json` as the same user (its socket is in that user's runtime dir). */
  async showJson(ns: Netns): Promise<{ forwards: Array<Record<string, unknown>> }> {
    const r = await ns.exec([...asNobody(), process.execPath, CLI, 'show', this.name, '--json'], { env: nobodyEnv(this.dir, this.runDir) });
    if (r.code !== 0) throw new Error(`wgts show ${this.name} failed (${r.code}): ${r.stderr}`);
    return JSON.parse(r.stdout) as { forwards: Array<Record<string, unknown>> };
  }
}

/**
 * A python3 that uid 65534 can run (a python3 found on PATH may live in
 * root's home, e.g. a pyenv shim), or null.
 */
export function pythonForNobody(): string | null {
  const onPath = which('python3');
  const candidates = [onPath ? realpathSync(onPath) : null, '/usr/bin/python3', '/usr/local/bin/python3'];
  for (const py of candidates) {
    if (!py) continue;
    const r = spawnSync(asNobody()[0]!, [...asNobody().slice(1), py, '-c', 'import http.server'], { timeout: 10_000 });
    if (r.status === 0) return py;
  }
  return null;
}

export function asNobody(): string[] {
  return ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups'];
}

export function nobodyEnv(home: string, runDir: string): Record<string, string> {
  return { XDG_RUNTIME_DIR: runDir, HOME: home };
}

/** Real and effective uid of a running process, from /proc/PID/status. */
export function uidsOf(pid: number): number[] {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^Uid:\s+(\d+)\s+(\d+)/m.exec(status);
  if (!m) throw new Error(`no Uid line in /proc/${pid}/status`);
  return [Number(m[1]), Number(m[2])];
}
