/**
 * TCP goodput of the userspace stack, stack to stack in memory: two Stacks
 * whose output is handed straight to the other's input (no loss, no delay,
 * real clock), moving SIZE bytes through the Duplex streams, one way and
 * both ways at once. Reference, measured in the same run: Node's kernel TCP
 * over loopback (node:net server and client) moving the same bytes in the
 * same 64 KiB writes. Rates are bytes per second of application data.
 * Then the one-way transfer again with 5,000 idle established connections
 * open beside it, against the same transfer alone: the stack's per-packet
 * cost should not grow with connections that have nothing to do.
 */
import { createServer, connect, type AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { Row } from './harness.js';
import { Stack } from '../src/netstack/stack.js';
import type { TcpSocket } from '../src/netstack/tcp-socket.js';

const SIZE = 64 << 20;
const CHUNK = 64 * 1024;

function source(): Buffer[] {
  const chunks: Buffer[] = [];
  for (let at = 0; at < SIZE; at += CHUNK) chunks.push(randomBytes(CHUNK));
  return chunks;
}

function pump(w: Duplex, chunks: Buffer[]): void {
  let i = 0;
  const go = (): void => {
    while (i < chunks.length) if (!w.write(chunks[i++]!)) return void w.once('drain', go);
    w.end();
  };
  go();
}

function drain(r: Duplex): Promise<number> {
  return new Promise((resolve, reject) => {
    let n = 0;
    r.on('data', (b: Buffer) => (n += b.length));
    r.on('end', () => resolve(n));
    r.on('error', reject);
  });
}

const IDLE = 5000;

/** Two stacks wired back to back, driven as fast as they go; `idle` established connections sit beside the measured one. */
async function stackPair(bidirectional: boolean, chunks: Buffer[], idle = 0): Promise<number> {
  let seed = 1;
  const random = (n: number) => {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
    return b;
  };
  const a = new Stack({ addresses: [{ ip: '10.0.0.1', cidr: 24 }], random });
  const b = new Stack({ addresses: [{ ip: '10.0.0.2', cidr: 24 }], random });
  let server: TcpSocket | null = null;
  b.tcp.listen(80, (s) => (server = s));
  const client = a.tcp.connect({ host: '10.0.0.2', port: 80 });
  let done = false;
  const step = () => {
    const now = performance.now();
    let moved = 0;
    for (const p of a.poll(now)) (moved++, b.input(p, now));
    for (const p of b.poll(now)) (moved++, a.input(p, now));
    return moved;
  };
  const loop = (async () => {
    while (!done) {
      await new Promise((r) => setImmediate(r));
      for (let k = 0; k < 16 && step() > 0; k++);
    }
  })();
  while (server === null) await new Promise((r) => setImmediate(r));
  const srv = server as TcpSocket;
  // Idle connections to another port, in batches below the listener's SYN backlog.
  const idlers: TcpSocket[] = [];
  let idleAccepted = 0;
  if (idle > 0) b.tcp.listen(81, () => idleAccepted++);
  while (idlers.length < idle) {
    for (let k = 0; k < 100 && idlers.length < idle; k++) idlers.push(a.tcp.connect({ host: '10.0.0.2', port: 81 }));
    while (idleAccepted < idlers.length || idlers.some((s) => s.connecting)) await new Promise((r) => setImmediate(r));
  }
  const t0 = performance.now();
  const got: Array<Promise<number>> = [drain(srv)];
  pump(client, chunks);
  if (bidirectional) {
    got.push(drain(client));
    pump(srv, chunks);
  } else {
    srv.end();
    client.resume();
  }
  const bytes = (await Promise.all(got)).reduce((x, y) => x + y, 0);
  const secs = (performance.now() - t0) / 1000;
  done = true;
  await loop;
  for (const s of idlers) s.destroy();
  return bytes / secs;
}

async function kernelPair(bidirectional: boolean, chunks: Buffer[]): Promise<number> {
  const [srvSock, client] = await new Promise<[Duplex, Duplex]>((resolve) => {
    const srv = createServer((s) => {
      srv.close();
      resolve([s, c]);
    });
    let c: Duplex;
    srv.listen(0, '127.0.0.1', () => {
      c = connect((srv.address() as AddressInfo).port, '127.0.0.1');
    });
  });
  const t0 = performance.now();
  const got: Array<Promise<number>> = [drain(srvSock)];
  pump(client, chunks);
  if (bidirectional) {
    got.push(drain(client));
    pump(srvSock, chunks);
  } else {
    srvSock.end();
    client.resume();
  }
  const bytes = (await Promise.all(got)).reduce((x, y) => x + y, 0);
  const secs = (performance.now() - t0) / 1000;
  client.destroy();
  srvSock.destroy();
  return bytes / secs;
}

export async function run(): Promise<Row[]> {
  const chunks = source();
  const rows: Row[] = [];
  for (const bidi of [false, true]) {
    await stackPair(bidi, chunks.slice(0, 64)); // warm-up
    const ours = await stackPair(bidi, chunks);
    const ref = await kernelPair(bidi, chunks);
    rows.push({
      group: 'netstack',
      name: `tcp goodput stack-to-stack in memory, ${bidi ? 'both ways' : 'one way'} (64 MiB)`,
      opsPerSec: ours,
      unit: 'B/s',
      reference: { name: 'kernel TCP loopback (node:net)', opsPerSec: ref },
    });
  }
  const alone = await stackPair(false, chunks);
  const crowded = await stackPair(false, chunks, IDLE);
  rows.push({
    group: 'netstack',
    name: `tcp goodput stack-to-stack, one way, ${IDLE.toLocaleString('en')} idle connections open`,
    opsPerSec: crowded,
    unit: 'B/s',
    reference: { name: 'the same transfer with no other connection (same run)', opsPerSec: alone },
  });
  return rows;
}
