/**
 * The test bed of the embedding benches (embed-*.bench.ts, issue 15): two
 * namespaces joined by a veth. The server side runs wireguard-go (tunnel
 * address SRV) and a Node server on it: HTTP /big (BIG_MB MiB), /small (6
 * bytes), each answered with `Connection: close`, and a TCP echo on 7000.
 * The client side runs the library (embed-child.ts) with every entry point
 * the rows compare in one process and one tunnel:
 *
 *   [Socks5] 127.0.0.1:1080  [TCPClientTunnel] 127.0.0.1:2080 -> SRV:80
 *   [Forward] 127.0.0.1:3080 -> SRV:80   tunnel.connect / tunnel.fetch (stdin commands)
 *
 *   startBed(tag, net) -> bed.ask('connect ...') / bed.curl([...]) ... -> bed.stop()
 *   alternate(rounds, arms) runs the arms in turn, the order flipped every round.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanupAll, trackPath, waitFor, type Proc } from '../test/harness/netns.js';
import { benchNodeArgs, netnsPair, NOFILE, wgtsSideConf, wireguardGoSide, type Pair } from './netns-bench.js';

export const SRV = '10.89.0.1';
const CLI_TUN = '10.89.0.2';
export const PORT = { socks: 1080, tcpClient: 2080, forward: 3080, echo: 7000 } as const;
/** Size of /big in MiB (WGTS_BENCH_EMBED_MB, default 32). */
export const BIG_MB = Number(process.env['WGTS_BENCH_EMBED_MB'] ?? 32) || 32;

/** Rounds of each alternated comparison (WGTS_BENCH_EMBED_ROUNDS, default 5: the first round, a fresh process warming up, reads low). */
export const ROUNDS = Number(process.env['WGTS_BENCH_EMBED_ROUNDS'] ?? 5) || 5;

const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'embed-child.js');

const SERVER = `
const http = require('node:http'), net = require('node:net');
const [addr, mb] = process.argv.slice(1);
const chunk = Buffer.alloc(1 << 20, 120);
http.createServer((req, res) => {
  if (req.url !== '/big') return res.writeHead(200, { 'content-length': 6, connection: 'close' }).end('small\\n');
  res.writeHead(200, { 'content-length': Number(mb) << 20, connection: 'close' });
  let left = Number(mb);
  const pump = () => { while (left > 0) { left--; if (!res.write(chunk)) return res.once('drain', pump); } res.end(); };
  pump();
}).listen({ host: addr, port: 80, backlog: 4096 });
net.createServer((c) => { c.on('error', () => c.destroy()); c.pipe(c); }).listen({ host: addr, port: ${PORT.echo}, backlog: 4096 }, () => console.log('SERVER READY'));
`;

function clientConf(p: Pair): string {
  return wgtsSideConf(p, 'a', CLI_TUN, SRV, `[Socks5]
BindAddress = 127.0.0.1:${PORT.socks}

[TCPClientTunnel]
BindAddress = 127.0.0.1:${PORT.tcpClient}
Target = ${SRV}:80

[Forward]
Protocol = tcp
Listen = 127.0.0.1:${PORT.forward}
Target = ${SRV}:80
MaxConnections = 4096
`, 25);
}

export interface Bed {
  pair: Pair;
  /** The library process (node itself: prlimit execs in place). */
  child: Proc;
  /** Send a command to the child; resolves with its JSON answer (throws on `{ error }`). */
  ask<T = Record<string, unknown>>(cmd: string): Promise<T>;
  /** curl in the client namespace; stdout of `-w FORMAT`. */
  curl(args: readonly string[]): Promise<string>;
  stop(): Promise<void>;
}

export async function startBed(tag: string, net: number): Promise<Bed> {
  const p = await netnsPair(tag, net);
  await wireguardGoSide(p, 'b', SRV, CLI_TUN);
  const server = p.b.spawn([process.execPath, '-e', SERVER, SRV, String(BIG_MB)], { label: 'embed bench server' });
  await waitFor(() => {
    server.assertRunning();
    return server.output().includes('SERVER READY');
  }, 10_000, 'the bench server');
  const dir = mkdtempSync(join(tmpdir(), 'wgts-bench-'));
  trackPath(dir);
  const file = join(dir, 'embed.conf');
  writeFileSync(file, clientConf(p), { mode: 0o600 });
  const child = p.a.spawn(['prlimit', `--nofile=${NOFILE}:${NOFILE}`, '--', process.execPath, '--expose-gc', ...benchNodeArgs(), CHILD, file], { label: 'library', stdin: true });
  await waitFor(() => {
    child.assertRunning();
    return child.output().includes('EMBED CHILD READY');
  }, 30_000, 'the library child');
  let seq = 0;
  const ask = async <T>(cmd: string): Promise<T> => {
    const id = String(++seq);
    child.child.stdin!.write(`${id} ${cmd}\n`);
    const tag = `@@${id} `;
    const line = await waitFor(() => {
      child.assertRunning();
      return child.output().split('\n').find((l) => l.startsWith(tag));
    }, 300_000, `the library's answer to "${cmd}"`, { intervalMs: 20 });
    const v = JSON.parse(line.slice(tag.length)) as T & { error?: string };
    if (v.error) throw new Error(`${cmd}: ${v.error}`);
    return v;
  };
  const curl = async (args: readonly string[]): Promise<string> => {
    const r = await p.a.exec(['curl', '-sS', '--max-time', '300', ...args], { timeoutMs: 310_000 });
    if (r.code !== 0) throw new Error(`curl ${args.join(' ')}: ${r.stderr.trim()}`);
    return r.stdout;
  };
  // The first request waits for the handshake.
  await ask(`connect ${SRV} 80 /small`);
  return {
    pair: p, child, ask, curl,
    stop: async () => {
      child.stopping = true;
      child.child.stdin!.end();
      await Promise.race([child.exited, new Promise((r) => setTimeout(r, 5000))]);
      await cleanupAll();
    },
  };
}

/** Each arm `rounds` times, taking turns (order flipped every round); the figures per arm. */
export async function alternate(rounds: number, arms: ReadonlyArray<() => Promise<number>>): Promise<number[][]> {
  const out = arms.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) {
    const order = arms.map((_, i) => i);
    if (r % 2 === 1) order.reverse();
    for (const i of order) out[i]!.push(await arms[i]!());
  }
  return out;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** "median (min-max, n=N)" in the given scale. */
export function spread(xs: readonly number[], fmt: (n: number) => string): string {
  return `${fmt(median(xs))} (${fmt(Math.min(...xs))}-${fmt(Math.max(...xs))}, n=${xs.length})`;
}

export function load(): string {
  return `load ${loadavg().map((l) => l.toFixed(1)).join(' ')}`;
}

export const mbps = (bytesPerSec: number): string => `${(bytesPerSec / 1e6).toFixed(1)} MB/s`;

/** Body bytes per second of one curl download (`-w '%{size_download} %{time_total}'`). */
export async function curlRate(bed: Bed, args: readonly string[]): Promise<number> {
  const out = await bed.curl(['-o', '/dev/null', '-w', '%{size_download} %{time_total}', ...args]);
  const [bytes, secs] = out.trim().split(' ').map(Number) as [number, number];
  if (bytes !== BIG_MB << 20) throw new Error(`curl ${args.join(' ')} got ${bytes} bytes, not ${BIG_MB << 20}`);
  return bytes / secs;
}
