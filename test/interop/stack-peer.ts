/**
 * A test peer: `wgts up`'s Driver (userspace netstack) run from a config file,
 * with small services on its stack and commands on stdin, so kernel TCP in a
 * wireguard-go namespace can be tested against our TCP both ways.
 *
 *   tcp 7      echo
 *   tcp 9      sink: reads to EOF, then answers "<sha256> <bytes>\n" and closes (half-close)
 *   tcp 19     source: sends SOURCE_BYTES deterministic bytes, prints "SENT <sha> <bytes>", closes
 *   udp 7      echo
 *   stdin "get HOST PORT PATH"  -> HTTP/1.0 GET through the stack; prints "GOT <status> <sha> <bytes>"
 *   stdin "put HOST PORT BYTES" -> connect, send BYTES deterministic bytes, half-close, read the reply;
 *                                  prints "PUT <sha-sent> <reply>"
 */
import { createHash } from 'node:crypto';
import { createInterface } from 'node:readline';
import type { Duplex } from 'node:stream';
import { loadConfigFile } from '../../src/config/load.js';
import { Driver } from '../../src/node/driver.js';
import { Logger } from '../../src/node/log.js';

/** Deterministic filler: a xorshift stream, so both ends can describe data by (seed, length). */
export function* chunks(total: number, seed = 12345, size = 65536): Generator<Buffer> {
  let x = seed >>> 0 || 1;
  let left = total;
  while (left > 0) {
    const n = Math.min(size, left);
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) {
      x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
      b[i] = x & 0xff;
    }
    left -= n;
    yield b;
  }
}

/** Write all chunks respecting backpressure, then end. Resolves with the sha256. */
export async function sendAll(sock: Duplex, total: number): Promise<string> {
  const h = createHash('sha256');
  for (const c of chunks(total)) {
    h.update(c);
    if (!sock.write(c)) await new Promise<void>((r) => sock.once('drain', () => r()));
  }
  sock.end();
  return h.digest('hex');
}

async function main(): Promise<void> {
  const file = process.argv[2]!;
  const r = await loadConfigFile(file);
  if (!r.ok) { console.error(r.errors); process.exit(1); }
  const driver = new Driver({ config: r.config, log: new Logger('peer', (process.env['LOG'] as 'info') ?? 'warn') });
  await driver.start();
  const stack = driver.stack!;
  const sourceBytes = Number(process.env['SOURCE_BYTES'] ?? 1 << 20);

  stack.tcp.listen(7, (s) => { s.pipe(s); s.on('error', () => {}); });
  stack.tcp.listen(9, (s) => {
    const h = createHash('sha256');
    let n = 0;
    s.on('data', (d: Buffer) => { h.update(d); n += d.length; });
    s.on('end', () => s.end(`${h.digest('hex')} ${n}\n`));
    s.on('error', () => {});
  });
  stack.tcp.listen(19, (s) => {
    s.on('error', () => {});
    s.resume();
    void sendAll(s, sourceBytes).then((sha) => console.log(`SENT ${sha} ${sourceBytes}`));
  });
  const u = stack.udp.bind(7);
  u.on('message', (msg: Uint8Array, rinfo: { address: string; port: number }) => u.send(msg, rinfo.port, rinfo.address));

  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    const [cmd, host, port, arg] = line.trim().split(/\s+/);
    if (cmd === 'get') {
      const s = stack.tcp.connect({ host: host!, port: Number(port) });
      s.on('connect', () => s.write(`GET ${arg ?? '/'} HTTP/1.0\r\nHost: ${host}\r\n\r\n`));
      const parts: Buffer[] = [];
      s.on('data', (d: Buffer) => parts.push(d));
      s.on('end', () => {
        const all = Buffer.concat(parts);
        const cut = all.indexOf('\r\n\r\n');
        const status = all.subarray(0, all.indexOf('\r\n')).toString().split(' ')[1];
        const body = all.subarray(cut + 4);
        console.log(`GOT ${status} ${createHash('sha256').update(body).digest('hex')} ${body.length}`);
        s.end();
      });
      s.on('error', (e) => console.log(`ERR ${(e as NodeJS.ErrnoException).code ?? e.message}`));
    } else if (cmd === 'put') {
      const s = stack.tcp.connect({ host: host!, port: Number(port) });
      const reply: Buffer[] = [];
      s.on('data', (d: Buffer) => reply.push(d));
      s.on('connect', () => {
        void sendAll(s, Number(arg)).then((sha) => {
          s.on('end', () => console.log(`PUT ${sha} ${Buffer.concat(reply).toString().trim()}`));
        });
      });
      s.on('error', (e) => console.log(`ERR ${(e as NodeJS.ErrnoException).code ?? e.message}`));
    }
  });
  process.on('SIGTERM', () => void driver.stop().then(() => process.exit(0)));
  console.log('READY');
}

if (process.argv[1]?.endsWith('stack-peer.js')) void main();
