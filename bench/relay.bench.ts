/**
 * The impairing UDP relay's own ceiling (loopback, no root): how many
 * 1420-byte datagrams a second it carries with no impairment and with a
 * 10 ms delay, so the paths rows know the relay is not their bottleneck.
 *
 *   blaster (child, connected dgram socket, as fast as it can)
 *     -> relay child (test/harness/udp-relay.ts, native sockets) -> sink (this process)
 *   reference: the same blaster straight into the sink
 *
 * Figures are the delivered rate; beneath each, the relay's CPU time per
 * datagram (from /proc after it is ready) and the rate one full core of it
 * would carry, which is the steadier figure on a busy machine.
 */
import { createSocket } from 'node:dgram';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import type { Row } from './harness.js';
import { cpuTicks } from '../test/harness/procstat.js';
import { RELAY_READY_PREFIX } from '../test/harness/udp-relay.js';

export const about = "the impairing UDP relay's own ceiling (1420-byte datagrams, loopback)";

const SIZE = 1420;
const SECONDS = 3;
const RELAY = join(dirname(fileURLToPath(import.meta.url)), '..', 'test', 'harness', 'udp-relay.js');

const BLASTER = `
import { createSocket } from 'node:dgram';
const [port, secs, size] = process.argv.slice(1).map(Number);
const s = createSocket('udp4');
s.connect(port, '127.0.0.1', () => {
  const buf = Buffer.alloc(size);
  const end = performance.now() + secs * 1000;
  let n = 0;
  const loop = () => {
    for (let i = 0; i < 64; i++) { s.send(buf); n++; }
    if (performance.now() < end) setImmediate(loop); else s.close(() => console.log(n));
  };
  loop();
});
`;

interface Blast { sent: number; got: number; perSec: number; relayCpuUs: number | null }

function lineFrom(child: ChildProcess, prefix: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith(prefix));
      if (line !== undefined && out.includes('\n', out.indexOf(line))) resolve(line.slice(prefix.length));
    });
    child.once('exit', (code) => reject(new Error(`child exited (${code}) before "${prefix}": ${out}`)));
  });
}

async function blast(delayMs: number | null): Promise<Blast> {
  const sink = createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
  let got = 0;
  let first = 0;
  let last = 0;
  sink.on('message', () => {
    if (got++ === 0) first = performance.now();
    last = performance.now();
  });
  await new Promise<void>((r) => sink.bind(0, '127.0.0.1', r));
  let relay: ChildProcess | null = null;
  try {
    let port = sink.address().port;
    let cpu0 = 0;
    if (delayMs !== null) {
      const opts = { listenA: { address: '127.0.0.1' }, listenB: { address: '127.0.0.1' }, targetB: { address: '127.0.0.1', port }, impair: { delayMs } };
      relay = spawn(process.execPath, [RELAY, JSON.stringify(opts)], { stdio: ['ignore', 'pipe', 'inherit'] });
      port = (JSON.parse(await lineFrom(relay, RELAY_READY_PREFIX)) as { portA: number }).portA;
      cpu0 = cpuTicks(relay.pid!);
    }
    const blaster = spawn(process.execPath, ['--input-type=module', '-e', BLASTER, String(port), String(SECONDS), String(SIZE)], { stdio: ['ignore', 'pipe', 'inherit'] });
    const sent = Number(await new Promise<string>((resolve) => {
      let out = '';
      blaster.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      blaster.once('exit', () => resolve(out.trim()));
    }));
    await new Promise((r) => setTimeout(r, 200 + (delayMs ?? 0)));
    const relayCpuUs = relay ? ((cpuTicks(relay.pid!) - cpu0) * 10_000) / Math.max(1, got) : null;
    return { sent, got, perSec: got > 1 ? ((got - 1) * 1000) / (last - first) : 0, relayCpuUs };
  } finally {
    relay?.kill('SIGTERM');
    sink.close();
  }
}

export async function run(): Promise<Row[]> {
  const rows: Row[] = [];
  for (const delayMs of [0, 10]) {
    // Alternate: relay, direct, relay, direct; keep the better of each (the machine is shared).
    const relayed: Blast[] = [];
    const direct: Blast[] = [];
    for (let i = 0; i < 2; i++) {
      relayed.push(await blast(delayMs));
      direct.push(await blast(null));
    }
    const best = (xs: Blast[]) => xs.reduce((a, b) => (b.perSec > a.perSec ? b : a));
    const r = best(relayed);
    const d = best(direct);
    const cpu = Math.min(...relayed.map((x) => x.relayCpuUs ?? Infinity));
    rows.push({
      group: 'relay',
      name: `impairing relay, ${SIZE}-B datagrams, ${delayMs === 0 ? 'no impairment' : `${delayMs} ms delay`}`,
      opsPerSec: r.perSec * SIZE * 8,
      unit: 'bit/s',
      reference: { name: 'blaster straight to the sink', opsPerSec: d.perSec * SIZE * 8 },
      detail: `${Math.round(r.perSec)} datagrams/s delivered (${r.got} of ${r.sent} offered); relay CPU ${cpu.toFixed(1)} us/datagram = ` +
        `${((1e6 / cpu) * SIZE * 8 / 1e6).toFixed(0)} Mbit/s per core`,
    });
  }
  return rows;
}
