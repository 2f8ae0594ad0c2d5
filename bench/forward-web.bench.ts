/**
 * A website behind the vps (root only, netns; needs nginx and wrk, e.g.
 * `apt-get install nginx-light wrk`; skipped loudly otherwise): home serves
 * a small page with nginx over wireguard-go, the client loads it through the
 * vps's public port, the vps being wgts --userspace with a [Forward] or the
 * kernel path (wireguard-go + nftables DNAT), measured in the same run.
 *
 *   conn/s:      wrk -t2 -c32 -d4s -H 'Connection: close' (one connection per request),
 *                after an unmeasured 2 s of the same load (a fresh Node forwarder runs
 *                its first thousand connections or so in unoptimized code)
 *                with its median and p99 latency, and the user-space forwarder's
 *                CPU over that run (whole process and main thread, /proc/PID/stat):
 *                a main thread short of 100 % means the rate is not its CPU limit
 *   alone:       one request at a time, connect to last byte, median of 200 (a Node client)
 *   keep-alive:  wrk -t2 -c1000 -d4s, requests/s and errors
 *   CPU per GB:  whole-machine busy time from /proc/stat while iperf3 moves
 *                data through the arm alone, per GB moved
 *
 * Each arm runs alone (the others stopped): the kernel path, then a bare
 * Node accept-and-relay over wireguard-go (what any Node forwarder can
 * reach; its figures are printed under each row), then wgts.
 * WGTS_BENCH_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof")
 * profiles the wgts daemon.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Row } from './harness.js';
import { skip } from './harness.js';
import { cleanupAll, waitFor, which, type Netns, type Proc } from '../test/harness/netns.js';
import { cpuTicks } from '../test/harness/procstat.js';
import { A, createTopology, tempDir } from '../test/interop/forward-topology.js';
import { kernelArm, KERNEL_ARM, nodeRelayArm, startHome, wgtsArm, type Arm } from './forward-arms.js';
import { machineBusySeconds, NOFILE, netnsUnavailable, percentile } from './netns-bench.js';

export const about = 'forwarded web load: conn/s and latency (wrk Connection: close), one request alone, wrk -c1000 keep-alive, CPU s per GB; wgts [Forward] vs wireguard-go + nft DNAT';
export const needsRoot = true;

const HTTP = 8080;
const IPERF = 5201;
const PAGE = 612; // bytes: the size of nginx's default welcome page
const ALONE = 200;
const WRK_SECONDS = 4;
/**
 * Unmeasured wrk -c32 before the measured one, for every arm: a daemon
 * started moments ago forwards its first connections in V8's unoptimized
 * tiers. On a busy machine (load 11) a cold wgts did 230 / 416 conn/s at
 * 1,663 / 1,140 us CPU per connection, the same after 4 s of load 492 / 832
 * conn/s at 639 / 510 us: a long-running forwarder is the warm one.
 */
const WARM_SECONDS = 2;
const CPU_SECONDS = 4;

interface Wrk { rps: number; p50: number; p99: number; errors: number; requests: number }

/** A user-space forwarder's CPU over the wrk -c32 run: % of one core (process, main thread) and µs per connection. */
interface ArmCpu { core: number; main: number; usPerConn: number }

interface Figures { close: Wrk; closeCpu: ArmCpu | null; alone: number[]; keepalive: Wrk; cpuPerGB: number; gb: number }

function nginxConf(dir: string): string {
  return `worker_processes 2;
pid ${dir}/nginx.pid;
error_log stderr warn;
worker_rlimit_nofile ${Math.min(NOFILE, 65536)};
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  keepalive_requests 1000000;
  server { listen ${A.homeTun4}:${HTTP} reuseport backlog=4096; root ${dir}/www; }
}
`;
}

export async function startNginx(home: Netns): Promise<Proc> {
  const dir = tempDir(0o755, 'nginx');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(join(dir, 'www'));
  writeFileSync(join(dir, 'www', 'index.html'), 'x'.repeat(PAGE - 1) + '\n');
  writeFileSync(join(dir, 'nginx.conf'), nginxConf(dir));
  const p = home.spawn(['prlimit', `--nofile=${NOFILE}:${NOFILE}`, '--', 'nginx', '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], { label: 'nginx' });
  await waitFor(async () => {
    p.assertRunning();
    const r = await home.exec(['bash', '-c', `exec 3<>/dev/tcp/${A.homeTun4}/${HTTP}`]);
    return r.code === 0;
  }, 5000, 'nginx to listen');
  return p;
}

/** Milliseconds of a wrk latency figure ("812.00us", "4.21ms", "1.02s"). */
function wrkMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (!m) throw new Error(`wrk latency "${text}"`);
  const scale = { us: 0.001, ms: 1, s: 1000, m: 60_000 }[m[2] as 'us' | 'ms' | 's' | 'm'];
  return Number(m[1]) * scale;
}

export function parseWrk(out: string): Wrk {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const req = /(\d+) requests in/.exec(out);
  const p50 = /^\s+50%\s+(\S+)/m.exec(out);
  const p99 = /^\s+99%\s+(\S+)/m.exec(out);
  if (!rps || !req || !p50 || !p99) throw new Error(`wrk output not understood:\n${out}`);
  let errors = 0;
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  if (sock) errors += Number(sock[1]) + Number(sock[2]) + Number(sock[3]) + Number(sock[4]);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  if (non2xx) errors += Number(non2xx[1]);
  return { rps: Number(rps[1]), p50: wrkMs(p50[1]!), p99: wrkMs(p99[1]!), errors, requests: Number(req[1]) };
}

async function wrk(client: Netns, conns: number, close: boolean, seconds = WRK_SECONDS): Promise<Wrk> {
  const cmd = ['prlimit', `--nofile=${NOFILE}:${NOFILE}`, '--', 'wrk', '-t2', `-c${conns}`, `-d${seconds}s`, '--latency', '--timeout', '5s'];
  if (close) cmd.push('-H', 'Connection: close');
  const r = await client.exec([...cmd, `http://${A.vpsPub4}:${HTTP}/`], { timeoutMs: (seconds + 20) * 1000 });
  if (r.code !== 0) throw new Error(`wrk failed (${r.code}): ${r.stderr}${r.stdout}`);
  return parseWrk(r.stdout);
}

/** One GET at a time on a fresh connection; ms from connect() to the response's last byte. */
const ALONE_CLIENT = `
const net = require('node:net');
const [host, port, n] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
const req = 'GET / HTTP/1.1\\r\\nHost: bench\\r\\nConnection: close\\r\\n\\r\\n';
const out = [];
(async () => {
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await new Promise((resolve, reject) => {
      const s = net.connect({ host, port, noDelay: true }, () => s.write(req));
      let got = 0;
      s.on('data', (b) => (got += b.length));
      s.on('end', () => (got > 0 ? resolve() : reject(new Error('empty response'))));
      s.on('error', reject);
    });
    out.push(performance.now() - t0);
  }
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e.message); process.exit(1); });
`;

export async function alone(client: Netns, n = ALONE): Promise<number[]> {
  const r = await client.exec([process.execPath, '-e', ALONE_CLIENT, A.vpsPub4, String(HTTP), String(n)], { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`single-request client failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as number[];
}

/** CPU seconds per GB: iperf3 client -> the arm -> home for CPU_SECONDS, busy time of the machine over that run. */
async function cpuPerGB(client: Netns): Promise<{ perGB: number; gb: number }> {
  const before = machineBusySeconds();
  const r = await client.exec(['iperf3', '-c', A.vpsPub4, '-p', String(IPERF), '-t', String(CPU_SECONDS), '-J'], { timeoutMs: 30_000 });
  const after = machineBusySeconds();
  const j = JSON.parse(r.stdout) as { error?: string; end: { sum_received: { bytes: number } } };
  if (j.error) throw new Error(`iperf3 through the forward: ${j.error}`);
  const gb = j.end.sum_received.bytes / 1e9;
  return { perGB: (after - before) / gb, gb };
}

async function measure(client: Netns, proc: Proc | null): Promise<Figures> {
  await wrk(client, 32, true, WARM_SECONDS);
  const pid = proc?.pid;
  const ticks = () => (pid === undefined ? [0, 0] : [cpuTicks(pid), cpuTicks(pid, pid)]);
  const [all0, main0] = ticks();
  const t0 = performance.now();
  const close = await wrk(client, 32, true);
  const secs = (performance.now() - t0) / 1000;
  const [all1, main1] = ticks();
  const closeCpu = pid === undefined ? null
    : { core: (all1! - all0!) / secs, main: (main1! - main0!) / secs, usPerConn: ((all1! - all0!) * 10_000) / Math.max(1, close.requests) };
  const single = await alone(client);
  const keepalive = await wrk(client, 1000, false);
  const cpu = await cpuPerGB(client);
  return { close, closeCpu, alone: single, keepalive, cpuPerGB: cpu.perGB, gb: cpu.gb };
}

function rows(ours: Figures, ref: Figures, node: Figures): Row[] {
  const med = (xs: number[]) => percentile(xs, 50);
  const r = (name: string, pick: (f: Figures) => number, unit: string, target: { text: string; met: boolean }, extra = ''): Row => ({
    group: 'forward-web', name, opsPerSec: pick(ours), unit, reference: { name: KERNEL_ARM, opsPerSec: pick(ref) },
    detail: `bare Node relay: ${pick(node).toFixed(unit === 'ms' ? 3 : 1)} ${unit}${extra}`, target,
  });
  return [
    r('connections/s (wrk -c32, Connection: close)', (f) => f.close.rps, 'conn/s', { text: '>= 1.0x', met: ours.close.rps >= ref.close.rps },
      `; errors wgts ${ours.close.errors}, kernel ${ref.close.errors}; CPU wgts ${cpuText(ours.closeCpu)}, bare Node relay ${cpuText(node.closeCpu)}`),
    r('  median latency of those', (f) => f.close.p50, 'ms', { text: '<= 1.2x', met: ours.close.p50 <= 1.2 * ref.close.p50 }),
    r('  p99 latency of those', (f) => f.close.p99, 'ms', { text: '<= 1.5x', met: ours.close.p99 <= 1.5 * ref.close.p99 }),
    r(`one request alone, connect to last byte (median of ${ALONE})`, (f) => med(f.alone), 'ms', { text: '<= 1.2x', met: med(ours.alone) <= 1.2 * med(ref.alone) },
      `; p90 wgts ${percentile(ours.alone, 90).toFixed(3)}, kernel ${percentile(ref.alone, 90).toFixed(3)} ms`),
    r('requests/s, 1,000 keep-alive connections (wrk -c1000)', (f) => f.keepalive.rps, 'req/s',
      { text: '>= 0.8x, 0 errors', met: ours.keepalive.rps >= 0.8 * ref.keepalive.rps && ours.keepalive.errors === 0 },
      `; errors wgts ${ours.keepalive.errors}, kernel ${ref.keepalive.errors}`),
    r('whole-machine CPU seconds per GB forwarded (iperf3, /proc/stat)', (f) => f.cpuPerGB, 's/GB', { text: '<= 1.0x', met: ours.cpuPerGB <= ref.cpuPerGB },
      `; GB moved: wgts ${ours.gb.toFixed(2)}, kernel ${ref.gb.toFixed(2)}`),
  ];
}

function cpuText(c: ArmCpu | null): string {
  return c === null ? 'n/a' : `${c.core.toFixed(0)} % of a core (main thread ${c.main.toFixed(0)} %), ${c.usPerConn.toFixed(0)} us/conn`;
}

export async function run(): Promise<Row[]> {
  const why = netnsUnavailable(['nft', 'iperf3']) ?? (which('nginx') ? (which('wrk') ? null : '`wrk` not found (apt-get install wrk)') : '`nginx` not found (apt-get install nginx-light)');
  if (why !== null) return skip('forward-web', why);
  const procs: Proc[] = [];
  try {
    const t = await createTopology();
    const home = await startHome(t);
    procs.push(await startNginx(t.home));
    procs.push(t.home.spawn(['iperf3', '-s', '-B', A.homeTun4, '-p', String(IPERF)], { label: 'iperf3 -s' }));
    const results: Figures[] = [];
    for (const make of [kernelArm, nodeRelayArm, wgtsArm]) {
      const arm: Arm = await make(t, home, [HTTP, IPERF]);
      try {
        results.push(await measure(t.client, arm.proc));
      } finally {
        await arm.stop();
      }
    }
    return rows(results[2]!, results[0]!, results[1]!);
  } finally {
    for (const p of procs) await p.stop();
    await cleanupAll();
  }
}
