/**
 * An internet path between a VPS and a home, in namespaces: the outer
 * WireGuard UDP of either side passes through the impairing relay (one-way
 * delay and seeded loss per direction) in a "wan" namespace between them.
 *
 *   client 198.18.20.1 --- 198.18.20.2 vps 198.18.21.1 --- 198.18.21.2 wan 198.18.22.1 --- 198.18.22.2 home
 *                          (public port)      WireGuard UDP -> relay :51900 <- WireGuard UDP
 *   inside the tunnel: vps 198.19.20.1, home 198.19.20.2
 *
 * Each side runs one of two things, switched in place (same keys, ports and
 * endpoints, so the other side needs no change):
 *   vps:  the kernel path (wireguard-go + nftables DNAT of the public ports to
 *         home, kernel TCP end to end) or wgts --userspace with [Forward]s;
 *   home: wireguard-go (kernel TCP, services on the tunnel address) or wgts
 *         --userspace with [Expose]s to services on 127.0.0.1.
 * Used by the paths bench rows and the kernel-TCP interop test.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { genKeyPair, Netns, trackPath, vethPair, waitFor, WireguardGo, type Proc, type WgKeyPair } from '../harness/netns.js';
import { spawnRelay, type RelayChild, type RelayStats } from '../harness/udp-relay.js';
import { CLI, renderConf, uniqueWgtsName } from './wgts-proc.js';

export const P = {
  client4: '198.18.20.1',
  vpsPub4: '198.18.20.2',
  vpsWan4: '198.18.21.1',
  wanVps4: '198.18.21.2',
  wanHome4: '198.18.22.1',
  homeWan4: '198.18.22.2',
  vpsTun4: '198.19.20.1',
  homeTun4: '198.19.20.2',
} as const;
export const PORT_VPS = 51820;
export const PORT_HOME = 51821;
export const PORT_RELAY = 51900;

/** A path: round-trip delay added by the relay and the loss rate in each direction. */
export interface PathSpec {
  rttMs: number;
  /** Fraction of datagrams dropped, each direction independently. */
  loss: number;
}

export interface PathsTopology {
  client: Netns;
  vps: Netns;
  wan: Netns;
  home: Netns;
  kVps: WgKeyPair;
  kHome: WgKeyPair;
  dir: string;
}

export async function createPathsTopology(): Promise<PathsTopology> {
  const [client, vps, wan, home] = await Promise.all([Netns.create('pclient'), Netns.create('pvps'), Netns.create('pwan'), Netns.create('phome')]);
  await vethPair(client, vps, { aAddr4: `${P.client4}/24`, bAddr4: `${P.vpsPub4}/24` });
  await vethPair(vps, wan, { aAddr4: `${P.vpsWan4}/24`, bAddr4: `${P.wanVps4}/24` });
  await vethPair(wan, home, { aAddr4: `${P.wanHome4}/24`, bAddr4: `${P.homeWan4}/24` });
  const [kVps, kHome] = await Promise.all([genKeyPair(), genKeyPair()]);
  const dir = mkdtempSync(join(tmpdir(), 'wgts-paths-'));
  trackPath(dir);
  return { client, vps, wan, home, kVps, kHome, dir };
}

/** The relay child in the wan namespace: A side faces the vps, B side faces home. */
export function startPathRelay(t: PathsTopology, path: PathSpec, seed: number): Promise<RelayChild> {
  const impair = { delayMs: path.rttMs / 2, drop: path.loss };
  return spawnRelay(t.wan, {
    listenA: { address: P.wanVps4, port: PORT_RELAY },
    listenB: { address: P.wanHome4, port: PORT_RELAY },
    targetA: { address: P.vpsWan4, port: PORT_VPS },
    targetB: { address: P.homeWan4, port: PORT_HOME },
    seed,
    impair,
  });
}

/** One line about what the relay did: datagrams and the loss it applied each way. */
export function describeRelay(s: RelayStats): string {
  const pct = (d: number, r: number) => (r === 0 ? '-' : ((100 * d) / r).toFixed(2) + '%');
  return `relay vps->home ${s.aToB.received} dgrams, ${pct(s.aToB.dropped, s.aToB.received)} dropped; ` +
    `home->vps ${s.bToA.received}, ${pct(s.bToA.dropped, s.bToA.received)} dropped`;
}

export interface Side {
  readonly kind: 'kernel' | 'wgts';
  /** The wgts log, for the bench's diagnostics (empty for the kernel path). */
  output(): string;
  stop(): Promise<void>;
}

/** Extra lines for wgts's [Interface], and for each [Forward] / [Expose] (e.g. `Congestion = bbr`). */
export interface WgtsSideOptions {
  interfaceLines?: readonly string[];
  ruleLines?: readonly string[];
  logLevel?: string;
}

function withInterfaceLines(conf: string, lines: readonly string[] | undefined): string {
  if (!lines || lines.length === 0) return conf;
  return conf.replace(/^(Address = .*)$/m, `$1\n${lines.join('\n')}`);
}

/** The vps's wgts config: home behind the relay, a [Forward] per port from the public address to home. */
export function vpsWgtsConf(t: PathsTopology, ports: readonly number[], opts: WgtsSideOptions = {}): string {
  const forwards = ports.map((p) => [`[Forward]`, `Listen = ${P.vpsPub4}:${p}`, `Target = ${P.homeTun4}:${p}`, ...(opts.ruleLines ?? [])].join('\n')).join('\n\n');
  return withInterfaceLines(renderConf({
    privateKey: t.kVps.privateKey,
    listenPort: PORT_VPS,
    addresses: [`${P.vpsTun4}/24`],
    peers: [{ publicKey: t.kHome.publicKey, endpoint: `${P.wanVps4}:${PORT_RELAY}`, allowedIps: [`${P.homeTun4}/32`], persistentKeepalive: 25 }],
    extra: forwards,
  }), opts.interfaceLines);
}

/** Home's wgts config: the vps behind the relay, an [Expose] per port from the tunnel address to 127.0.0.1. */
export function homeWgtsConf(t: PathsTopology, ports: readonly number[], opts: WgtsSideOptions = {}): string {
  const exposes = ports.map((p) => [`[Expose]`, `Listen = ${P.homeTun4}:${p}`, `Target = 127.0.0.1:${p}`, ...(opts.ruleLines ?? [])].join('\n')).join('\n\n');
  return withInterfaceLines(renderConf({
    privateKey: t.kHome.privateKey,
    listenPort: PORT_HOME,
    addresses: [`${P.homeTun4}/24`],
    peers: [{ publicKey: t.kVps.publicKey, endpoint: `${P.wanHome4}:${PORT_RELAY}`, allowedIps: [`${P.vpsTun4}/32`], persistentKeepalive: 25 }],
    extra: exposes,
  }), opts.interfaceLines);
}

async function startWgts(ns: Netns, dir: string, conf: string, logLevel: string): Promise<Side> {
  const name = uniqueWgtsName();
  const file = join(dir, `${name}.conf`);
  writeFileSync(file, conf, { mode: 0o600 });
  trackPath(`/var/run/wireguard/${name}.sock`);
  const proc: Proc = ns.spawn([process.execPath, CLI, 'up', file, '--userspace', '--interface', name, '--log-level', logLevel], { label: `wgts ${name}` });
  await waitFor(() => {
    proc.assertRunning();
    return proc.output().includes('UAPI socket');
  }, 20_000, `wgts ${name} to serve its UAPI socket`);
  return { kind: 'wgts', output: () => proc.output(), stop: async () => void (await proc.stop(5000)) };
}

/** vps: wgts --userspace with a [Forward] per port (PersistentKeepalive starts the handshake at once). */
export function startVpsWgts(t: PathsTopology, ports: readonly number[], opts: WgtsSideOptions = {}): Promise<Side> {
  return startWgts(t.vps, t.dir, vpsWgtsConf(t, ports, opts), opts.logLevel ?? 'info');
}

/** home: wgts --userspace with an [Expose] per port to 127.0.0.1. */
export function startHomeWgts(t: PathsTopology, ports: readonly number[], opts: WgtsSideOptions = {}): Promise<Side> {
  return startWgts(t.home, t.dir, homeWgtsConf(t, ports, opts), opts.logLevel ?? 'info');
}

/** vps: the kernel path, wireguard-go plus an nftables DNAT of the public ports to home. */
export async function startVpsKernel(t: PathsTopology, ports: readonly number[]): Promise<Side> {
  const wg = await WireguardGo.start(t.vps, { logLevel: 'error' });
  await wg.setconf({
    privateKey: t.kVps.privateKey, listenPort: PORT_VPS,
    peers: [{ publicKey: t.kHome.publicKey, endpoint: `${P.wanVps4}:${PORT_RELAY}`, allowedIps: [`${P.homeTun4}/32`], persistentKeepalive: 25 }],
  });
  await wg.addAddress(`${P.vpsTun4}/24`);
  await wg.up();
  await t.vps.run(['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
  const nft = `table ip wgtspaths {\n chain pre {\n  type nat hook prerouting priority -100;\n  ip daddr ${P.vpsPub4} tcp dport { ${ports.join(', ')} } dnat to ${P.homeTun4}\n }\n}\n`;
  const loaded = await t.vps.exec(['nft', '-f', '-'], { input: nft });
  if (loaded.code !== 0) {
    await wg.stop();
    throw new Error(`nft: ${loaded.stderr}`);
  }
  return {
    kind: 'kernel',
    output: () => '',
    stop: async () => {
      await t.vps.exec(['nft', 'delete', 'table', 'ip', 'wgtspaths']);
      await wg.stop();
    },
  };
}

/**
 * home: wireguard-go with the vps as its only peer (AllowedIPs 0.0.0.0/0)
 * and the client's address routed into the tunnel, so replies to DNATed
 * connections go back the way they came.
 */
export async function startHomeKernel(t: PathsTopology): Promise<Side & { wg: WireguardGo }> {
  const wg = await WireguardGo.start(t.home, { logLevel: 'error' });
  await wg.setconf({
    privateKey: t.kHome.privateKey, listenPort: PORT_HOME,
    peers: [{ publicKey: t.kVps.publicKey, endpoint: `${P.wanHome4}:${PORT_RELAY}`, allowedIps: ['0.0.0.0/0'], persistentKeepalive: 25 }],
  });
  await wg.addAddress(`${P.homeTun4}/24`);
  await wg.up();
  await wg.addRoute(`${P.client4}/32`);
  return { kind: 'kernel', wg, output: () => '', stop: () => wg.stop() };
}

/** Port of the probe server home runs: it sends one byte to each connection and closes it. */
export const PORT_PROBE = 7009;

/** The probe server in home, on every address (the tunnel's for wireguard-go, 127.0.0.1 for an [Expose]). */
export async function startProbeServer(t: PathsTopology): Promise<Proc> {
  const py = `import socket\ns = socket.create_server(('0.0.0.0', ${PORT_PROBE}))\nprint('LISTENING', flush=True)\nwhile True:\n  c, _ = s.accept()\n  try: c.sendall(b'x')\n  except OSError: pass\n  c.close()`;
  const proc = t.home.spawn(['python3', '-c', py], { label: 'probe server' });
  await waitFor(() => {
    proc.assertRunning();
    return proc.output().includes('LISTENING');
  }, 5000, 'the probe server to listen');
  return proc;
}

/**
 * Wait until the tunnel carries traffic: a connection from the client to the
 * vps's public probe port gets home's byte back (through a [Forward] or the DNAT).
 */
export async function waitForPath(t: PathsTopology, timeoutMs = 20_000): Promise<void> {
  const probe = `import socket\ntry:\n  c = socket.create_connection(('${P.vpsPub4}', ${PORT_PROBE}), timeout=3); c.settimeout(3)\n  print('ok' if c.recv(1) == b'x' else 'empty')\nexcept Exception as e:\n  print(type(e).__name__)`;
  await waitFor(async () => (await t.client.exec(['python3', '-c', probe], { timeoutMs: 6000 })).stdout.trim() === 'ok', timeoutMs, `the path client -> vps:${PORT_PROBE} -> home to answer`, { intervalMs: 300 });
}
