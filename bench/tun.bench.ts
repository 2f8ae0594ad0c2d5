/**
 * TUN read/write path: packets per second a Node process pushes through a
 * TUN and gets back, against a Node UDP socket doing the same through a veth,
 * both measured in the same run inside namespaces this bench creates.
 *
 *   tun:       write IPv4/UDP into bt0 -> the namespace's kernel forwards it
 *              (ip_forward, route back out bt0) -> read from bt0 -> write again
 *   reference: dgram send over a veth -> echo process in the peer namespace
 *              -> dgram receive -> send again
 *
 * Each side keeps WINDOW packets in flight, so both measure one write + one
 * read syscall per packet on the measuring process. Needs root, /dev/net/tun
 * and the built addon; otherwise prints why and returns no rows. The
 * measuring runs happen in a child process started inside the namespace
 * (`ip netns exec`), which is this same file run with `--child`.
 */
import { createSocket, type Socket } from 'node:dgram';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Row } from './harness.js';

const WINDOW = 64;
const WARMUP_MS = 300;
const MEASURE_MS = 2000;
const SIZES = [64, 1280];
const ECHO_PORT = 5556;
const SELF = fileURLToPath(import.meta.url);

interface ChildResult { size: number; tun: number; udp: number }

async function measureLoop(start: () => void, stop: () => void, counter: () => number): Promise<number> {
  start();
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  const c0 = counter();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, MEASURE_MS));
  const n = counter() - c0;
  const dt = performance.now() - t0;
  stop();
  await new Promise((r) => setTimeout(r, 100));
  return (n * 1000) / dt;
}

/** In namespace a: the TUN loop and the UDP-over-veth loop, one size at a time. */
async function child(peer: string): Promise<void> {
  const { openTun } = await import('../src/tun/index.js');
  const { udpv4 } = await import('../test/tun/packets.js');
  const sh = (cmd: string) => execFileSync('sh', ['-c', cmd]);
  const tun = await openTun('bt0');
  execFileSync('ip', ['addr', 'add', '198.18.50.1/24', 'dev', 'bt0']);
  execFileSync('ip', ['link', 'set', 'bt0', 'mtu', '1500', 'up']);
  execFileSync('ip', ['route', 'add', '198.18.52.0/24', 'dev', 'bt0']);
  sh('echo 1 > /proc/sys/net/ipv4/ip_forward; for f in /proc/sys/net/ipv4/conf/*/send_redirects; do echo 0 > $f; done');

  const udp: Socket = await new Promise((resolve) => {
    const s = createSocket('udp4');
    s.bind(0, () => resolve(s));
  });

  const results: ChildResult[] = [];
  for (const size of SIZES) {
    const payload = new Uint8Array(size).fill(0x61);
    const pkt = udpv4('198.18.50.2', '198.18.52.2', 1000, 2000, payload);
    let tunCount = 0;
    let tunOn = false;
    tun.onPacket((p) => {
      // Only our UDP, forwarded by the kernel (TTL 64 -> 63); not the kernel's own IPv6 chatter.
      if (p[0] !== 0x45 || p[9] !== 17 || p[8] !== 63) return;
      tunCount++;
      if (tunOn) tun.write(pkt);
    });
    const tunRate = await measureLoop(
      () => {
        tunOn = true;
        for (let i = 0; i < WINDOW; i++) tun.write(pkt);
      },
      () => { tunOn = false; },
      () => tunCount,
    );

    let udpCount = 0;
    let udpOn = false;
    udp.removeAllListeners('message');
    udp.on('message', () => {
      udpCount++;
      if (udpOn) udp.send(payload, ECHO_PORT, peer);
    });
    const udpRate = await measureLoop(
      () => {
        udpOn = true;
        for (let i = 0; i < WINDOW; i++) udp.send(payload, ECHO_PORT, peer);
      },
      () => { udpOn = false; },
      () => udpCount,
    );
    results.push({ size, tun: tunRate, udp: udpRate });
  }
  process.stdout.write(`@@ ${JSON.stringify(results)}\n`);
  udp.close();
  await tun.close();
}

function echo(): void {
  const s = createSocket('udp4');
  s.on('message', (m, r) => s.send(m, r.port, r.address));
  s.bind(ECHO_PORT, () => process.stdout.write('@@ ready\n'));
}

export async function run(): Promise<Row[]> {
  const { tunAvailable } = await import('../src/tun/index.js');
  const t = tunAvailable();
  if (!t.ok || process.getuid?.() !== 0) {
    process.stderr.write(`tun bench skipped: ${t.ok ? 'needs root (network namespaces)' : t.why}\n`);
    return [];
  }
  const { Netns, vethPair, cleanupAll, waitFor } = await import('../test/harness/netns.js');
  try {
    const a = await Netns.create('bencha');
    const b = await Netns.create('benchb');
    await vethPair(a, b, { aAddr4: '198.18.41.1/24', bAddr4: '198.18.41.2/24' });
    const e = b.spawn([process.execPath, SELF, '--child', 'echo'], { label: 'bench echo' });
    await waitFor(() => e.output().includes('@@ ready'), 5000, 'echo server');
    const c = a.spawn([process.execPath, SELF, '--child', 'client', '198.18.41.2'], { label: 'bench client' });
    c.stopping = true;
    await waitFor(() => {
      if (c.output().includes('@@ [')) return true;
      c.assertRunning();
      return false;
    }, 60_000, 'bench client');
    const line = c.output().split('\n').find((l) => l.startsWith('@@ ['))!;
    const results = JSON.parse(line.slice(3)) as ChildResult[];
    return results.map((r) => ({
      group: 'tun',
      name: `TUN write+read, ${r.size} B UDP payload`,
      opsPerSec: r.tun,
      unit: 'pkt/s',
      reference: { name: `dgram send+recv over veth (echo peer), ${r.size} B`, opsPerSec: r.udp },
    }));
  } finally {
    await cleanupAll();
  }
}

if (process.argv[1] === SELF && process.argv[2] === '--child') {
  if (process.argv[3] === 'echo') echo();
  else void child(process.argv[4]!).catch((err: Error) => {
    writeFileSync(2, `bench child: ${err.stack ?? err.message}\n`);
    process.exit(1);
  });
}
