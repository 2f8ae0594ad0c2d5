/**
 * Goodput through real tunnels in network namespaces (root only; skipped
 * loudly otherwise). Every wgts figure sits beside the kernel-to-kernel figure
 * through wireguard-go <-> wireguard-go measured in the same run (iperf3).
 *
 *   stack -> kernel: wgts userspace stack (stack-peer source) -> wireguard-go -> kernel TCP client
 *   kernel -> stack: kernel TCP client -> wireguard-go -> wgts stack sink
 *   CPU per GB:      iperf3 TCP a -> b through wgts --tun in a, against
 *                    wireguard-go in a (wireguard-go in b both times): the
 *                    whole machine's busy seconds (/proc/stat) per GB
 *                    received, and those of the sending daemon alone
 *                    (/proc/PID/stat, less sensitive to other load)
 */
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Row } from './harness.js';
import { cpuSeconds, machineBusySeconds } from './netns-bench.js';
import {
  canRunInterop, cleanupAll, formatEndpoint, genKeyPair, Netns, vethPair, waitFor, WireguardGo, which,
} from '../test/harness/netns.js';
import { renderConf } from '../test/interop/wgts-proc.js';
import { chunks } from '../test/interop/stack-peer.js';

const BYTES = 128 << 20;
const PEER = resolve('dist/test/interop/stack-peer.js');

const PY_RECV = `
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=120)
t = time.monotonic(); n = 0
while True:
    d = s.recv(1 << 18)
    if not d: break
    n += len(d)
print(n, time.monotonic() - t)
`;
const PY_SEND = `
import socket, sys, time
data = open(sys.argv[3], 'rb').read()
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=120)
t = time.monotonic()
s.sendall(data); s.shutdown(socket.SHUT_WR)
s.makefile().read()
print(len(data), time.monotonic() - t)
`;

async function wgPair(tag: string, withGoOnA: boolean) {
  const a = await Netns.create(`${tag}a`);
  const b = await Netns.create(`${tag}b`);
  const link = await vethPair(a, b, { aAddr4: '198.18.9.1/24', bAddr4: '198.18.9.2/24' });
  const [ka, kb] = await Promise.all([genKeyPair(), genKeyPair()]);
  const gb = await WireguardGo.start(b);
  await gb.setconf({ privateKey: kb.privateKey, listenPort: 51900, peers: [{ publicKey: ka.publicKey, endpoint: formatEndpoint(link.aAddr4, 51901), allowedIps: ['198.19.9.1/32'] }] });
  await gb.addAddress('198.19.9.2/24');
  await gb.up();
  let ga: WireguardGo | null = null;
  if (withGoOnA) {
    ga = await WireguardGo.start(a);
    await ga.setconf({ privateKey: ka.privateKey, listenPort: 51901, peers: [{ publicKey: kb.publicKey, endpoint: formatEndpoint(link.bAddr4, 51900), allowedIps: ['198.19.9.2/32'] }] });
    await ga.addAddress('198.19.9.1/24');
    await ga.up();
  }
  return { a, b, link, ka, kb, ga, gb };
}

async function iperf(client: Netns, server: Netns, addr: string, reverse: boolean, udpRate?: string): Promise<number> {
  const srv = server.spawn(['iperf3', '-s', '-1', '-p', '5201'], { label: 'iperf3 -s' });
  await new Promise((r) => setTimeout(r, 300));
  const udp = udpRate ? ['-u', '-b', udpRate, '-l', '1392'] : [];
  const r = await client.exec(['iperf3', '-c', addr, '-p', '5201', '-t', '4', '-J', ...udp, ...(reverse ? ['-R'] : [])], { timeoutMs: 30_000 });
  await srv.stop();
  const j = JSON.parse(r.stdout) as { end: { sum_received?: { bits_per_second: number }; sum?: { bits_per_second: number; lost_percent: number } } };
  if (udpRate) {
    // Goodput: what arrived, i.e. the sent rate less the loss the receiver saw.
    const s = j.end.sum!;
    return (s.bits_per_second * (1 - s.lost_percent / 100)) / 8;
  }
  return j.end.sum_received!.bits_per_second / 8;
}

interface CpuPerGB { machine: number; daemon: number; gb: number }

/** iperf3 TCP client -> server for 4 s: busy CPU seconds per GB received, of the machine and of `pid` (the sending daemon). */
async function cpuPerGB(client: Netns, server: Netns, addr: string, pid: number): Promise<CpuPerGB> {
  const srv = server.spawn(['iperf3', '-s', '-1', '-p', '5201'], { label: 'iperf3 -s' });
  await new Promise((r) => setTimeout(r, 300));
  const m0 = machineBusySeconds();
  const p0 = cpuSeconds(pid);
  const r = await client.exec(['iperf3', '-c', addr, '-p', '5201', '-t', '4', '-J'], { timeoutMs: 30_000 });
  const m1 = machineBusySeconds();
  const p1 = cpuSeconds(pid);
  await srv.stop();
  const j = JSON.parse(r.stdout) as { error?: string; end: { sum_received: { bytes: number } } };
  if (j.error) throw new Error(`iperf3: ${j.error}`);
  const gb = j.end.sum_received.bytes / 1e9;
  return { machine: (m1 - m0) / gb, daemon: (p1 - p0) / gb, gb };
}

export async function run(): Promise<Row[]> {
  const ok = canRunInterop(['iperf3', 'python3']);
  if (!ok.ok || !which('iperf3')) {
    process.stderr.write(`SKIP tunnel bench rows: ${ok.ok ? 'iperf3 missing' : ok.why}\n`);
    return [];
  }
  const dir = mkdtempSync(join(tmpdir(), 'wgts-bench-'));
  try {
    // Reference: wireguard-go <-> wireguard-go, kernel TCP both ends.
    const ref = await wgPair('rf', true);
    const refDown = await iperf(ref.a, ref.b, '198.19.9.2', true);
    const refUp = await iperf(ref.a, ref.b, '198.19.9.2', false);
    const refUdp = await iperf(ref.a, ref.b, '198.19.9.2', false, '400M');
    const refCpu = await cpuPerGB(ref.a, ref.b, '198.19.9.2', ref.ga!.proc.pid);
    await ref.ga!.stop(); await ref.gb.stop(); await ref.a.destroy(); await ref.b.destroy();

    // wgts userspace stack in a, wireguard-go + kernel in b.
    const p = await wgPair('ws', false);
    const conf = join(dir, 'peer.conf');
    writeFileSync(conf, renderConf({
      privateKey: p.ka.privateKey, listenPort: 51901, addresses: ['198.19.9.1/24'],
      peers: [{ publicKey: p.kb.publicKey, endpoint: formatEndpoint(p.link.bAddr4, 51900), allowedIps: ['198.19.9.2/32'], persistentKeepalive: 25 }],
    }), { mode: 0o600 });
    const peer = p.a.spawn([process.execPath, PEER, conf], { label: 'stack-peer', env: { SOURCE_BYTES: String(BYTES) } });
    await waitFor(() => peer.output().includes('READY'), 8000, 'stack peer');
    await p.gb.waitForHandshake(p.ka.publicKey, 8000);
    const down = await p.b.exec(['python3', '-c', PY_RECV, '198.19.9.1', '19'], { timeoutMs: 180_000 });
    const [nd, td] = down.stdout.trim().split(' ').map(Number) as [number, number];
    writeFileSync(join(dir, 'up.bin'), Buffer.concat([...chunks(BYTES)]));
    const up = await p.b.exec(['python3', '-c', PY_SEND, '198.19.9.1', '9', join(dir, 'up.bin')], { timeoutMs: 180_000 });
    const [nu, tu] = up.stdout.trim().split(' ').map(Number) as [number, number];
    await peer.stop(); await p.gb.stop(); await p.a.destroy(); await p.b.destroy();

    // wgts --tun in a (kernel TCP on both ends), wireguard-go in b: iperf3 TCP both ways and UDP.
    const t = await wgPair('wt', false);
    const tconf = join(dir, 'tun.conf');
    writeFileSync(tconf, renderConf({
      privateKey: t.ka.privateKey, listenPort: 51901, addresses: ['198.19.9.1/24'],
      peers: [{ publicKey: t.kb.publicKey, endpoint: formatEndpoint(t.link.bAddr4, 51900), allowedIps: ['198.19.9.2/32'], persistentKeepalive: 25 }],
    }), { mode: 0o600 });
    const wt = t.a.spawn([process.execPath, resolve('dist/src/cli/main.js'), 'up', tconf, '--tun', '--interface', `wgtsb${process.pid % 10000}`], { label: 'wgts --tun' });
    await waitFor(() => wt.output().includes('UAPI socket'), 10_000, 'wgts --tun');
    await t.gb.waitForHandshake(t.ka.publicKey, 8000);
    const tunDown = await iperf(t.a, t.b, '198.19.9.2', true);
    const tunUp = await iperf(t.a, t.b, '198.19.9.2', false);
    const tunUdp = await iperf(t.a, t.b, '198.19.9.2', false, '400M');
    const tunCpu = await cpuPerGB(t.a, t.b, '198.19.9.2', wt.pid);
    await wt.stop(); await t.gb.stop(); await t.a.destroy(); await t.b.destroy();
    return [
      { group: 'tcp tunnel', name: 'wgts --tun <- wireguard-go (iperf3 -R)', opsPerSec: tunDown, unit: 'B/s', reference: { name: 'kernel -> kernel, wireguard-go both ends (iperf3 -R)', opsPerSec: refDown } },
      { group: 'tcp tunnel', name: 'wgts --tun -> wireguard-go (iperf3)', opsPerSec: tunUp, unit: 'B/s', reference: { name: 'kernel -> kernel, wireguard-go both ends (iperf3)', opsPerSec: refUp } },
      { group: 'udp tunnel', name: 'wgts --tun -> wireguard-go (iperf3 -u 400M, goodput)', opsPerSec: tunUdp, unit: 'B/s', reference: { name: 'wireguard-go both ends, same offer', opsPerSec: refUdp } },
      {
        group: 'cpu per GB', name: 'wgts --tun -> wireguard-go: whole-machine CPU seconds per GB (iperf3, /proc/stat)', opsPerSec: tunCpu.machine, unit: 's/GB',
        reference: { name: 'wireguard-go -> wireguard-go', opsPerSec: refCpu.machine },
        detail: `the sending daemon alone: wgts --tun ${tunCpu.daemon.toFixed(2)}, wireguard-go ${refCpu.daemon.toFixed(2)} s/GB; GB moved: ${tunCpu.gb.toFixed(2)}, ${refCpu.gb.toFixed(2)}`,
        target: { text: '<= 1.0x', met: tunCpu.machine <= refCpu.machine },
      },
      { group: 'tcp tunnel', name: 'wgts stack -> kernel via wireguard-go', opsPerSec: nd / td, unit: 'B/s', reference: { name: 'kernel -> kernel, wireguard-go both ends (iperf3 -R)', opsPerSec: refDown } },
      { group: 'tcp tunnel', name: 'kernel -> wgts stack via wireguard-go', opsPerSec: nu / tu, unit: 'B/s', reference: { name: 'kernel -> kernel, wireguard-go both ends (iperf3)', opsPerSec: refUp } },
    ];
  } finally {
    await cleanupAll();
    rmSync(dir, { recursive: true, force: true });
  }
}
