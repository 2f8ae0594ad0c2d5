/**
 * The library under measurement in the embedding benches (started by
 * embed-arms.ts in the client namespace): a Tunnel from the config file in
 * argv[2] (its [Socks5], [TCPClientTunnel] and [Forward] sections run in
 * this same process), then one command per stdin line, one answer per
 * command on stdout as `@@ID {json}`:
 *
 *   ID connect HOST PORT PATH  tunnel.connect + an HTTP/1.0 GET, bytes counted to EOF -> { bytes, ms }
 *   ID fetch URL               tunnel.fetch: ms until the response headers (ttfb) and to the body's end
 *   ID mem                     gc() (run with --expose-gc) then process.memoryUsage()
 *   ID stats                   tunnel.stats().proxies
 *
 * stdin's end closes the tunnel; the process then exits by itself.
 */
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { Tunnel } from '../src/lib/index.js';

const tunnel = await Tunnel.start(process.argv[2]!, { logLevel: 'warn' });

function answer(id: string, v: unknown): void {
  process.stdout.write(`@@${id} ${JSON.stringify(v)}\n`);
}

async function download(host: string, port: number, path: string): Promise<{ bytes: number; ms: number }> {
  const t0 = performance.now();
  const s = tunnel.connect(port, host);
  await once(s, 'connect');
  s.write(`GET ${path} HTTP/1.0\r\nHost: ${host}\r\n\r\n`);
  let bytes = 0;
  s.on('data', (d: Buffer) => void (bytes += d.length));
  await once(s, 'close');
  return { bytes, ms: performance.now() - t0 };
}

async function ttfb(url: string): Promise<{ ttfbMs: number; ms: number; status: number }> {
  const t0 = performance.now();
  const res = await tunnel.fetch(url);
  const t1 = performance.now();
  await res.arrayBuffer();
  return { ttfbMs: t1 - t0, ms: performance.now() - t0, status: res.status };
}

function memory(): NodeJS.MemoryUsage {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  gc?.();
  return process.memoryUsage();
}

async function handle(line: string): Promise<void> {
  const [id, cmd, ...args] = line.trim().split(/\s+/);
  if (!id || !cmd) return;
  try {
    if (cmd === 'connect') answer(id, await download(args[0]!, Number(args[1]), args[2] ?? '/'));
    else if (cmd === 'fetch') answer(id, await ttfb(args[0]!));
    else if (cmd === 'mem') answer(id, memory());
    else if (cmd === 'stats') answer(id, tunnel.stats().proxies);
    else answer(id, { error: `unknown command ${cmd}` });
  } catch (e) {
    answer(id, { error: String(e) });
  }
}

process.stdout.write('EMBED CHILD READY\n');
const rl = createInterface({ input: process.stdin });
rl.on('line', (l) => void handle(l));
await once(rl, 'close');
await tunnel.close();
