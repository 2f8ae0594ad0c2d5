/**
 * The two arms of the forwarding benches, on the forwarder's netns topology
 * (client -> vps -> home, test/interop/forward-topology.ts): home runs
 * wireguard-go in both; the vps runs either the kernel path wgts replaces
 * (wireguard-go + an nftables DNAT rule, home routing replies back through
 * the tunnel), or `wgts up --userspace` with one [Forward] per port, or, as
 * the limit of any Node forwarder, a bare Node relay over wireguard-go.
 *
 *   startHome(t) -> kernelArm(t, home, ports) ... stop() -> wgtsArm(...) ... stop()
 *
 * Ports are forwarded one to one (vps public port P -> home tunnel address
 * port P). The wgts daemon gets WGTS_BENCH_NODE_ARGS (e.g. --cpu-prof) and
 * is stopped with SIGTERM so a profile is written.
 */
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { formatEndpoint, waitFor, WireguardGo, type Proc } from '../test/harness/netns.js';
import { A, tempDir, vpsConf, WG_PORT_HOME, WG_PORT_VPS, type Topology } from '../test/interop/forward-topology.js';
import { benchNodeArgs, CLI, NOFILE } from './netns-bench.js';

export interface Arm {
  name: string;
  /** The vps process doing the forwarding in user space (wgts), or null for the kernel arm. */
  proc: Proc | null;
  stop(): Promise<void>;
}

export const KERNEL_ARM = 'wireguard-go + nftables DNAT';

/** wireguard-go at home: every address routed back through the tunnel (DNAT needs it). */
export async function startHome(t: Topology): Promise<WireguardGo> {
  const home = await WireguardGo.start(t.home);
  await configureHome(t, home);
  await home.addAddress(`${A.homeTun4}/24`);
  await home.up();
  await t.home.run(['ip', 'route', 'add', `${A.client4}/32`, 'dev', home.iface]);
  return home;
}

async function configureHome(t: Topology, home: WireguardGo): Promise<void> {
  await home.setconf({
    privateKey: t.kHome.privateKey, listenPort: WG_PORT_HOME,
    peers: [{ publicKey: t.kVps.publicKey, endpoint: formatEndpoint(A.vpsBack4, WG_PORT_VPS), allowedIps: ['0.0.0.0/0'], persistentKeepalive: 25 }],
  });
}

/** wireguard-go on the vps (kernel TUN), peered with home. */
async function vpsWireguardGo(t: Topology, home: WireguardGo): Promise<WireguardGo> {
  await configureHome(t, home); // a fresh session for the new vps key holder
  const vg = await WireguardGo.start(t.vps);
  await vg.setconf({ privateKey: t.kVps.privateKey, listenPort: WG_PORT_VPS, peers: [{ publicKey: t.kHome.publicKey, allowedIps: [`${A.homeTun4}/32`] }] });
  await vg.addAddress(`${A.vpsTun4}/24`);
  await vg.up();
  return vg;
}

/** The reference: wireguard-go on the vps and `dnat to` home for the given TCP ports. */
export async function kernelArm(t: Topology, home: WireguardGo, ports: readonly number[]): Promise<Arm> {
  const vg = await vpsWireguardGo(t, home);
  await t.vps.run(['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
  const nft = `table ip wgtsbench {\n chain pre {\n  type nat hook prerouting priority -100;\n  ip daddr ${A.vpsPub4} tcp dport { ${ports.join(', ')} } dnat to ${A.homeTun4}\n }\n}\n`;
  const loaded = await t.vps.exec(['nft', '-f', '-'], { input: nft });
  if (loaded.code !== 0) throw new Error(`nft: ${loaded.stderr}`);
  await home.waitForHandshake(t.kVps.publicKey, 10_000);
  return {
    name: KERNEL_ARM,
    proc: null,
    stop: async () => {
      await t.vps.exec(['nft', 'delete', 'table', 'ip', 'wgtsbench']);
      await vg.stop();
    },
  };
}

/**
 * What Node itself can do: a bare accept-and-relay between two kernel
 * sockets (net.Server -> net.connect to home over wireguard-go's TUN, piped
 * both ways), the floor under any Node forwarder's per-connection cost.
 */
const NODE_RELAY = `
const net = require('node:net');
const [pub, target, ...ports] = process.argv.slice(1);
let up = 0;
for (const port of ports.map(Number)) {
  net.createServer({ noDelay: true }, (a) => {
    const b = net.connect({ host: target, port, noDelay: true });
    a.on('error', () => b.destroy()); b.on('error', () => a.destroy());
    a.pipe(b); b.pipe(a);
  }).listen({ host: pub, port, backlog: 4096 }, () => { if (++up === ports.length) console.log('RELAY READY'); });
}
`;

export const NODE_RELAY_ARM = 'bare Node relay over wireguard-go';

export async function nodeRelayArm(t: Topology, home: WireguardGo, ports: readonly number[]): Promise<Arm> {
  const vg = await vpsWireguardGo(t, home);
  const relay = t.vps.spawn(['prlimit', `--nofile=${NOFILE}:${NOFILE}`, '--', process.execPath, '-e', NODE_RELAY, A.vpsPub4, A.homeTun4, ...ports.map(String)], { label: 'node relay' });
  await waitFor(() => {
    relay.assertRunning();
    return relay.output().includes('RELAY READY');
  }, 10_000, 'node relay to listen');
  await home.waitForHandshake(t.kVps.publicKey, 10_000);
  return {
    name: NODE_RELAY_ARM,
    proc: relay,
    stop: async () => {
      await relay.stop();
      await vg.stop();
    },
  };
}

/** `wgts up --userspace` on the vps with a [Forward] per port (under prlimit, NOFILE). */
export async function wgtsArm(t: Topology, home: WireguardGo, ports: readonly number[]): Promise<Arm> {
  await configureHome(t, home);
  const dir = tempDir(0o755, 'bench');
  const file = join(dir, 'vps.conf');
  writeFileSync(file, vpsConf(t, ports.map((p) => ({ listen: `${A.vpsPub4}:${p}`, target: `${A.homeTun4}:${p}` }))), { mode: 0o600 });
  const w = t.vps.spawn([
    'prlimit', `--nofile=${NOFILE}:${NOFILE}`, '--',
    process.execPath, ...benchNodeArgs(), CLI, 'up', file, '--userspace', '--interface', `wgtsf${process.pid % 10000}`,
  ], { label: 'wgts vps' });
  await waitFor(() => {
    w.assertRunning();
    return w.output().includes('handshake complete');
  }, 15_000, 'wgts vps handshake');
  // A profiled daemon writes its profile only when it exits by itself, after
  // its teardown; the SIGKILL at the end of the grace loses it, so a
  // profiled run gets a long grace (a loaded machine stretches both).
  const graceMs = benchNodeArgs().length > 0 ? 60_000 : 5000;
  return { name: 'wgts [Forward]', proc: w, stop: () => w.stop(graceMs).then(() => undefined) };
}
