/**
 * A child process for the TUN netns tests, started with `ip netns exec NS node
 * netns-child.js JOB.json` so that its sockets, TUN and commands all live in
 * that namespace. It logs the `[#]` lines to stderr and reports results as
 * `@@ {json}` lines on stdout. Modes:
 *   up-hold   open the TUN, WgQuick.up with a state file, print ready, and on
 *             SIGTERM tear down and exit (a minimal `wgts up` in TUN mode)
 *   recover   recoverStale() for the name (what the next `wgts up` runs first)
 *   down      downInterface() (what `wgts down NAME` runs)
 *   echo      UDP echo server on a port
 *   mark-route  full-tunnel up with a marked and an unmarked UDP socket: the
 *             marked one must reach the echo peer (and get the reply back with
 *             rp_filter=1); the unmarked one must land in the TUN; then down
 */
import { createSocket, type Socket } from 'node:dgram';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import {
  openTun, WgQuick, StateFile, systemRunner, recoverStale, downInterface, setSocketMark,
  type WgQuickInterface, type TunDevice,
} from '../../src/tun/index.js';

export interface ChildJob {
  mode: 'up-hold' | 'recover' | 'down' | 'echo' | 'mark-route';
  name: string;
  stateDir: string;
  iface: WgQuickInterface;
  allowedIps: { ip: string; cidr: number }[];
  endpoints: string[];
  port?: number;
  peer?: string;
  /** echo: local address to bind (so replies come from it). */
  bind?: string;
}

function report(o: unknown): void {
  process.stdout.write(`@@ ${JSON.stringify(o)}\n`);
}

const log = (l: string): void => void process.stderr.write(l + '\n');

function bindUdp(port = 0, address = '0.0.0.0'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(port, address, () => resolve(s));
  });
}

/** UDP payloads of IPv4 packets read from the TUN. */
function udpPayload(p: Uint8Array): string | null {
  if (p.length < 28 || p[0]! >> 4 !== 4 || p[9] !== 17) return null;
  const ihl = (p[0]! & 15) * 4;
  return Buffer.from(p.subarray(ihl + 8)).toString('utf8');
}

async function main(): Promise<void> {
  const job = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as ChildJob;
  const runner = systemRunner({ hookOutput: 'capture' });
  const state = new StateFile(job.stateDir, job.name);

  if (job.mode === 'echo') {
    const s = await bindUdp(job.port, job.bind);
    s.on('message', (m, r) => {
      report({ echo: m.toString('utf8'), from: r.address });
      s.send(m, r.port, r.address);
    });
    report({ ready: true });
    return;
  }
  if (job.mode === 'recover') {
    const r = await recoverStale({ runner, log, state });
    report({ result: r.kind, errors: 'errors' in r ? r.errors.map((e) => e.message) : [] });
    return;
  }
  if (job.mode === 'down') {
    const r = await downInterface({ runner, log, state });
    report({ result: r.kind });
    return;
  }

  const tun: TunDevice = await openTun(job.name);
  const sockets: Socket[] = [];
  let fwmark: number | null = null;
  const wq = new WgQuick({
    name: job.name,
    iface: job.iface,
    allowedIps: job.allowedIps,
    runner,
    log,
    setFwmark: (m) => {
      fwmark = m;
      for (const s of sockets) setSocketMark(s, m);
    },
    endpoints: () => job.endpoints,
    state,
  });

  if (job.mode === 'up-hold') {
    const up = await wq.up();
    report({ ready: true, mtu: up.mtu, tunMtu: tun.mtu, fwmark: up.fwmark, statePath: state.path });
    process.once('SIGTERM', () => {
      void wq.down(tun).then((errors) => {
        report({ down: true, errors: errors.map((e) => e.message) });
        process.exit(0);
      });
    });
    setInterval(() => {}, 1 << 30);
    return;
  }

  // mark-route
  const marked = await bindUdp();
  sockets.push(marked);
  const unmarked = await bindUdp();
  const seenOnTun: string[] = [];
  tun.onPacket((p) => {
    const s = udpPayload(p);
    if (s !== null) seenOnTun.push(s);
  });
  const up = await wq.up(async () => {
    if (job.iface.fwMark) setSocketMark(marked, job.iface.fwMark);
  });
  const ss = execFileSync('ss', ['-u', '-a', '-n', '-e', '-H', `sport = :${marked.address().port}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const ssUnmarked = execFileSync('ss', ['-u', '-a', '-n', '-e', '-H', `sport = :${unmarked.address().port}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const routeMarked = execFileSync('ip', ['-4', 'route', 'get', job.peer!, 'mark', String(up.fwmark)], { encoding: 'utf8' });
  const routeUnmarked = execFileSync('ip', ['-4', 'route', 'get', job.peer!], { encoding: 'utf8' });
  const replies: string[] = [];
  marked.on('message', (m) => replies.push(m.toString('utf8')));
  unmarked.on('message', (m) => replies.push(m.toString('utf8')));
  for (let i = 0; i < 3 && !replies.includes('marked'); i++) {
    marked.send('marked', job.port!, job.peer!);
    unmarked.send('unmarked', job.port!, job.peer!);
    await new Promise((r) => setTimeout(r, 300));
  }
  report({ fwmark, upFwmark: up.fwmark, mtu: up.mtu, ss, ssUnmarked, routeMarked, routeUnmarked, replies, seenOnTun });
  const errors = await wq.down(tun);
  report({ down: true, errors: errors.map((e) => e.message) });
  marked.close();
  unmarked.close();
}

main().catch((e: Error) => {
  report({ error: e.message });
  process.exit(1);
});
