/**
 * Shared pieces of the hostile-network tests, all on 127.0.0.1:
 *   startWgts: a real `wgts up --userspace` from a 0600 config -> its UDP port,
 *   PID and UAPI socket; LegitPeer: an in-process sans-IO Device driven by a
 *   tiny UDP loop (socket -> receive -> send, one timer for nextDeadline);
 *   RssSampler: VmRSS and CPU ticks of a PID from /proc, sampled periodically.
 */
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Device, type Output, type DeviceEvent } from '../../src/transport/device.js';
import { clampPrivateKey, publicKey } from '../../src/crypto/x25519.js';
import { encodeKey } from '../../src/crypto/util.js';
import { uapiClient } from '../../src/uapi/client.js';
import { Proc } from '../harness/exec.js';
import { trackPath, untrackPath } from '../harness/registry.js';
import { waitFor } from '../harness/wait.js';
import { cpuTicks, rssKb } from '../harness/procstat.js';

export { rssKb };

export const CLI = resolve('dist/src/cli/main.js');
export const HOST = '127.0.0.1';
let counter = 0;

export interface Keys { priv: Uint8Array; pub: Uint8Array }

export function newKeys(): Keys {
  const priv = clampPrivateKey(new Uint8Array(randomBytes(32)));
  return { priv, pub: publicKey(priv) };
}

export class Wgts {
  private constructor(readonly proc: Proc, readonly name: string, readonly port: number, readonly dir: string, readonly socketPath: string) {}

  get pid(): number { return this.proc.pid; }

  /** `wgts up` with one peer (no endpoint: it learns it from the handshake). */
  static async start(own: Keys, peer: Keys, label: string, opts: { prefix?: string[] } = {}): Promise<Wgts> {
    const dir = mkdtempSync(join(tmpdir(), 'wgts-hostile-'));
    trackPath(dir);
    const file = join(dir, 'wg0.conf');
    const conf = [
      '[Interface]', `PrivateKey = ${encodeKey(own.priv)}`, 'Address = 10.77.0.1/24', '',
      '[Peer]', `PublicKey = ${encodeKey(peer.pub)}`, 'AllowedIPs = 10.77.0.2/32', '',
    ].join('\n');
    writeFileSync(file, conf, { mode: 0o600 });
    const name = `wgh${process.pid.toString(36)}${label}${counter++}`.slice(0, 15);
    const proc = new Proc([...(opts.prefix ?? []), process.execPath, CLI, 'up', file, '--userspace', '--interface', name], { label: `wgts ${name}` });
    const out = await waitFor(() => {
      if (!proc.running) throw new Error(`wgts exited: ${proc.output()}`);
      const o = proc.output();
      return o.includes('UAPI socket') ? o : null;
    }, 10_000, `wgts ${name} to start`);
    const m = /listening on UDP port (\d+)/.exec(out);
    if (!m) throw new Error(`no port in wgts output: ${out}`);
    const sock = /UAPI socket (\S+)/.exec(out)![1]!;
    trackPath(sock);
    return new Wgts(proc, name, Number(m[1]), dir, sock);
  }

  /** `get=1` over the UAPI socket, as key=value pairs (keys may repeat). */
  async get(): Promise<[string, string][]> {
    const text = await uapiClient(this.socketPath, 'get=1\n\n', { timeoutMs: 3000 });
    return text.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]);
  }

  /** `stats=1` (wgts extension): counters such as drop.<reason>, as numbers by key. */
  stats(): Promise<Map<string, number>> {
    return uapiStats(this.socketPath);
  }

  async stop(): Promise<number | null> {
    const exit = await this.proc.stop(5000);
    rmSync(this.dir, { recursive: true, force: true });
    untrackPath(this.dir);
    if (existsSync(this.socketPath)) rmSync(this.socketPath, { force: true });
    untrackPath(this.socketPath);
    return exit.code;
  }
}

/** `stats=1` over a UAPI socket (wgts extension): counters such as drop.<reason>, as numbers by key. */
export async function uapiStats(socketPath: string): Promise<Map<string, number>> {
  const text = await uapiClient(socketPath, 'stats=1\n\n', { timeoutMs: 3000 });
  const out = new Map<string, number>();
  for (const l of text.split('\n')) {
    const eq = l.indexOf('=');
    if (eq > 0) out.set(l.slice(0, eq), Number(l.slice(eq + 1)));
  }
  return out;
}

/**
 * `wgts up --userspace` from a whole config text (written 0600 into `dir` as
 * NAME.conf) -> its process, outer UDP port and UAPI socket path.
 */
export async function startWgtsConf(
  dir: string, name: string, conf: string, opts: { env?: Record<string, string>; nodeFlags?: string[] } = {},
): Promise<{ proc: Proc; port: number; socketPath: string }> {
  const file = join(dir, `${name}.conf`);
  writeFileSync(file, conf, { mode: 0o600 });
  const proc = new Proc([process.execPath, ...(opts.nodeFlags ?? []), CLI, 'up', file, '--userspace', '--interface', name], { label: `wgts ${name}`, ...(opts.env ? { env: opts.env } : {}) });
  const out = await waitFor(() => {
    if (!proc.running) throw new Error(`wgts ${name} exited: ${proc.output()}`);
    return proc.output().includes('UAPI socket') ? proc.output() : null;
  }, 10_000, `wgts ${name}`);
  const socketPath = /UAPI socket (\S+)/.exec(out)![1]!;
  trackPath(socketPath);
  return { proc, port: Number(/listening on UDP port (\d+)/.exec(out)![1]), socketPath };
}

/** A legitimate peer: the project's own sans-IO Device behind a UDP socket on 127.0.0.1. */
export class LegitPeer {
  readonly dev: Device;
  private sock: Socket | null = null;
  private timer: NodeJS.Timeout | null = null;
  readonly events: { at: number; e: DeviceEvent }[] = [];
  /** Datagrams received, by message type. */
  readonly received = new Map<number, number>();
  readonly delivered: Uint8Array[] = [];
  /** Every datagram sent and received, in order (for replays). */
  readonly sentLog: Uint8Array[] = [];
  readonly receivedLog: Uint8Array[] = [];

  constructor(own: Keys, peerPub: Uint8Array, wgtsPort: number, opts: { wallClock?: () => number } = {}) {
    this.dev = new Device({
      privateKey: own.priv,
      random: (n) => new Uint8Array(randomBytes(n)),
      wallClock: opts.wallClock ?? (() => Date.now()),
    });
    // No persistent keepalive, so adding the peer sends nothing.
    this.dev.upsertPeer({
      publicKey: peerPub,
      endpoint: { address: HOST, port: wgtsPort },
      allowedIps: [{ ip: Uint8Array.of(10, 77, 0, 1), cidr: 32 }],
    }, performance.now());
  }

  get port(): number { return this.sock ? this.sock.address().port : 0; }

  start(): Promise<number> {
    return new Promise((resolve) => {
      const s = createSocket('udp4');
      s.on('message', (msg, rinfo) => {
        this.received.set(msg[0]!, (this.received.get(msg[0]!) ?? 0) + 1);
        this.receivedLog.push(new Uint8Array(msg));
        this.handle(this.dev.receive(new Uint8Array(msg), { address: rinfo.address, port: rinfo.port }, performance.now()));
      });
      s.bind(0, HOST, () => resolve(s.address().port));
      this.sock = s;
    });
  }

  /** An inner packet 10.77.0.2 -> 10.77.0.1 (UDP to the discard port). */
  sendData(payload = 8): void {
    const p = new Uint8Array(28 + payload);
    p[0] = 0x45;
    p[2] = p.length >> 8;
    p[3] = p.length & 0xff;
    p[8] = 64;
    p[9] = 17;
    p.set([10, 77, 0, 2], 12);
    p.set([10, 77, 0, 1], 16);
    p[22] = 0; p[23] = 9; // UDP dst port 9
    p[24] = (8 + payload) >> 8; p[25] = (8 + payload) & 0xff;
    this.handle(this.dev.send(p, performance.now()));
  }

  handle(out: Output): void {
    const t = performance.now();
    for (const d of out.datagrams) {
      this.sentLog.push(Uint8Array.from(d.data));
      this.sock?.send(d.data, d.to.port, d.to.address);
    }
    for (const e of out.events) this.events.push({ at: t, e });
    for (const p of out.packets) this.delivered.push(p.packet);
    this.schedule();
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const next = this.dev.nextDeadline();
    if (!Number.isFinite(next)) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.handle(this.dev.tick(performance.now()));
    }, Math.max(0, Math.ceil(next - performance.now())));
  }

  firstEvent(type: DeviceEvent['type']): { at: number; e: DeviceEvent } | undefined {
    return this.events.find((x) => x.e.type === type);
  }

  count(type: DeviceEvent['type'], pred: (e: DeviceEvent) => boolean = () => true): number {
    return this.events.filter((x) => x.e.type === type && pred(x.e)).length;
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.sock?.close();
    this.sock = null;
  }
}

/** Samples VmRSS (kB) and utime+stime (clock ticks) of a process. */
export class RssSampler {
  readonly samples: number[] = [];
  private timer: NodeJS.Timeout;
  private ticks0: number;

  constructor(readonly pid: number, everyMs = 100) {
    this.ticks0 = cpuTicks(pid);
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
    this.timer.unref();
  }

  private sample(): void {
    const kb = rssKb(this.pid);
    if (kb > 0) this.samples.push(kb);
  }

  private result: { startMb: number; peakMb: number; cpuSeconds: number } | null = null;

  /** Stops sampling (once); returns peak and first RSS in MB and CPU seconds used meanwhile. */
  stop(): { startMb: number; peakMb: number; cpuSeconds: number } {
    if (this.result) return this.result;
    clearInterval(this.timer);
    this.sample();
    return (this.result = {
      startMb: (this.samples[0] ?? 0) / 1024,
      peakMb: Math.max(0, ...this.samples) / 1024,
      cpuSeconds: (cpuTicks(this.pid) - this.ticks0) / 100, // USER_HZ is 100 on Linux
    });
  }
}

/**
 * Resolves once `pid` has used at most one clock tick of CPU over `windowMs`
 * (it has worked through what was queued for it), or after `timeoutMs`.
 * Returns how long that took.
 */
export async function waitIdle(pid: number, windowMs = 200, timeoutMs = 10_000): Promise<number> {
  const start = performance.now();
  let last = cpuTicks(pid);
  while (performance.now() - start < timeoutMs) {
    await new Promise((r) => setTimeout(r, windowMs));
    const now = cpuTicks(pid);
    if (now - last <= 1) break;
    last = now;
  }
  return performance.now() - start;
}

