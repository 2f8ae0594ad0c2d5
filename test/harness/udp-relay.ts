// Impairing UDP relay for tests and benches (this machine's kernel has no
// netem). Endpoint A talks to the relay's A-side socket, endpoint B to its
// B-side socket; each datagram received on one side is forwarded out of the
// other side's socket to that side's target (configured, or learned from the
// latest sender), after per-direction decisions from a seeded PRNG: drop,
// duplicate (sent twice), or hold back (released right after the next
// datagram in that direction, i.e. reordered, or after holdMs). Every datagram
// draws exactly three numbers, so the same seed gives the same decisions for
// the same datagram sequence; jitter draws from a stream of its own, so adding
// delay never changes which datagrams are dropped.
//
//   message -> Direction.handle: drop? dup? hold?
//           -> emit: no delay -> send now
//                    delay    -> FIFO (due = max(now + delay + jitter, tail's due))
//                                one timer for the head; it sends every due datagram
//
// The FIFO stays sorted because a datagram is never due before the one ahead
// of it: jitter keeps order, and only `reorder` reorders. Sockets are the
// addon's batched native UDP when built (one recvmmsg/sendmmsg per batch),
// else node:dgram at about half the rate. Ceiling (`npm run bench -- --row
// relay`, 1420-byte datagrams, one way, on 2 cores shared with a load of
// ~13): 220-290 Mbit/s delivered, as fast as the same blaster straight into
// the sink; 7-9 us of relay CPU per datagram, ~1.2 Gbit/s per core. The
// kernel path it sits in reaches ~60-100 Mbit/s.
// Runs in-process (UdpRelay.start) or as a child in a namespace (spawnRelay,
// which runs this file with a JSON argument and reads a ready line).
import { createSocket } from 'node:dgram';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Netns } from './netns.js';
import type { Proc } from './exec.js';
import { waitFor } from './wait.js';
import { flushAll, nativeUdp, NativeUdpSocket } from '../../src/host/native-udp.js';
import type { NetUdpSocket } from '../../src/host/net.js';

/** Deterministic PRNG: a Weyl sequence through a 32-bit avalanche mix. Returns [0, 1). */
export function createPrng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    z ^= z >>> 16;
    return (z >>> 0) / 0x1_0000_0000;
  };
}

export interface Impairment {
  /** Probability a datagram is dropped. */
  drop?: number;
  /** Probability a (not dropped) datagram is sent twice. */
  duplicate?: number;
  /** Probability a (not dropped) datagram is held back behind the next one. */
  reorder?: number;
  /** Longest hold before a held datagram is sent anyway. Default 10 ms. */
  holdMs?: number;
  /** One-way delay added to every datagram, ms (e.g. half the path's RTT). Default 0. */
  delayMs?: number;
  /** Extra delay drawn uniformly from [0, jitterMs) per datagram; order is kept. Default 0. */
  jitterMs?: number;
}

export interface HostPort {
  address: string;
  port: number;
}

export interface RelayOptions {
  /** Socket endpoint A sends to. Port 0 / absent = any free port. */
  listenA: { address: string; port?: number };
  listenB: { address: string; port?: number };
  /** Where A's datagrams go. Absent: the latest sender seen on the B side. */
  targetB?: HostPort;
  /** Where B's datagrams go. Absent: the latest sender seen on the A side. */
  targetA?: HostPort;
  seed?: number;
  /** Applied to both directions unless aToB / bToA override. */
  impair?: Impairment;
  aToB?: Impairment;
  bToA?: Impairment;
  /**
   * Socket kind: 'native' (the addon's batched recvmmsg/sendmmsg, about twice
   * dgram's rate) or 'dgram'. Default: native when the addon is built.
   */
  io?: 'native' | 'dgram';
}

export interface DirectionStats {
  received: number;
  /** Datagrams sent on, duplicates included. */
  sent: number;
  dropped: number;
  duplicated: number;
  /** Held datagrams that went out after a later one. */
  reordered: number;
  /** Held datagrams released by the hold timer (delayed, not reordered). */
  delayed: number;
  /** Datagrams that went through the delay line (delayMs or jitterMs set). */
  queued: number;
  /** Most datagrams waiting in the delay line at once. */
  maxQueue: number;
  /** Datagrams received but not yet sent on (held back or in the delay line) right now. */
  waiting: number;
  /** Dropped because the target was not known yet. */
  noTarget: number;
  sendErrors: number;
}

export interface RelayStats {
  aToB: DirectionStats;
  bToA: DirectionStats;
}

const emptyStats = (): DirectionStats => ({
  received: 0,
  sent: 0,
  dropped: 0,
  duplicated: 0,
  reordered: 0,
  delayed: 0,
  queued: 0,
  maxQueue: 0,
  waiting: 0,
  noTarget: 0,
  sendErrors: 0,
});

function checkRate(name: string, v: number | undefined): void {
  if (v !== undefined && !(v >= 0 && v <= 1)) throw new Error(`udp-relay: ${name} must be in [0, 1], got ${v}`);
}

function checkMs(name: string, v: number | undefined): void {
  if (v !== undefined && !(v >= 0 && v <= 60_000)) throw new Error(`udp-relay: ${name} must be in [0, 60000] ms, got ${v}`);
}

function checkImpairment(i: Impairment): Impairment {
  checkRate('drop', i.drop);
  checkRate('duplicate', i.duplicate);
  checkRate('reorder', i.reorder);
  checkMs('holdMs', i.holdMs);
  checkMs('delayMs', i.delayMs);
  checkMs('jitterMs', i.jitterMs);
  return { ...i };
}

/** A datagram in the delay line: send `copies` times at `due` (performance.now() ms). */
interface Delayed {
  data: Buffer;
  copies: number;
  due: number;
}

interface Held {
  data: Buffer;
  dup: boolean;
  timer: NodeJS.Timeout;
}

/** One direction: decisions, held slot, delay line, counters. */
class Direction {
  readonly stats = emptyStats();
  impair: Impairment;
  private held: Held | null = null;
  private closed = false;
  /** The delay line: a FIFO (array + head index), due times non-decreasing. */
  private line: Delayed[] = [];
  private lineHead = 0;
  private lineTimer: NodeJS.Timeout | null = null;
  /** dgram's per-send callback; native sockets report drops in bulk (onDrop) instead. */
  private readonly onSent: ((err: Error | null) => void) | undefined;

  constructor(
    private readonly rand: () => number,
    private readonly jitterRand: () => number,
    impair: Impairment,
    private out: NetUdpSocket,
    private readonly target: () => HostPort | null,
  ) {
    this.impair = impair;
    if (!(out instanceof NativeUdpSocket)) this.onSent = (err) => void (err && this.stats.sendErrors++);
    this.setOut(out);
  }

  /** Send through `out` (of the same kind) from now on (UdpRelay.rebindB: a NAT's new mapping). */
  setOut(out: NetUdpSocket): void {
    this.out = out;
    if (out instanceof NativeUdpSocket) out.onDrop = (_code, n) => void (this.stats.sendErrors += n);
  }

  handle(data: Buffer): void {
    this.stats.received++;
    const rDrop = this.rand();
    const rDup = this.rand();
    const rHold = this.rand();
    if (rDrop < (this.impair.drop ?? 0)) {
      this.stats.dropped++;
      return;
    }
    const dup = rDup < (this.impair.duplicate ?? 0);
    if (rHold < (this.impair.reorder ?? 0) && this.held === null) {
      const timer = setTimeout(() => this.release(false), this.impair.holdMs ?? 10);
      this.held = { data, dup, timer };
      return;
    }
    this.emit(data, dup);
    this.release(true);
  }

  private release(afterLater: boolean): void {
    const h = this.held;
    if (h === null) return;
    this.held = null;
    clearTimeout(h.timer);
    if (this.closed) return;
    if (afterLater) this.stats.reordered++;
    else this.stats.delayed++;
    this.emit(h.data, h.dup);
  }

  private emit(data: Buffer, dup: boolean): void {
    const delay = this.impair.delayMs ?? 0;
    const jitter = this.impair.jitterMs ?? 0;
    if (delay === 0 && jitter === 0 && this.lineHead === this.line.length) {
      this.send(data, dup);
      return;
    }
    const tail = this.line.length > this.lineHead ? this.line[this.line.length - 1]!.due : 0;
    const due = Math.max(performance.now() + delay + (jitter > 0 ? this.jitterRand() * jitter : 0), tail);
    this.line.push({ data, copies: dup ? 2 : 1, due });
    this.stats.queued++;
    const waiting = this.line.length - this.lineHead;
    if (waiting > this.stats.maxQueue) this.stats.maxQueue = waiting;
    if (this.lineTimer === null) this.armLine();
  }

  /** One timer, for the head of the line. */
  private armLine(): void {
    const head = this.line[this.lineHead];
    if (head === undefined || this.closed) return;
    this.lineTimer = setTimeout(() => this.drainLine(), Math.max(0, head.due - performance.now()));
  }

  /** Send every datagram that is due (timers fire up to ~1 ms late; the next one may be due too). */
  private drainLine(): void {
    this.lineTimer = null;
    const now = performance.now() + 0.5;
    while (this.lineHead < this.line.length && this.line[this.lineHead]!.due <= now) {
      const d = this.line[this.lineHead]!;
      this.line[this.lineHead++] = undefined as unknown as Delayed;
      this.send(d.data, d.copies === 2);
    }
    flushAll(); // native sockets: one sendmmsg for the whole run (no-op for dgram)
    if (this.lineHead === this.line.length) {
      this.line = [];
      this.lineHead = 0;
    } else if (this.lineHead > 4096 && this.lineHead * 2 > this.line.length) {
      this.line = this.line.slice(this.lineHead);
      this.lineHead = 0;
    }
    this.armLine();
  }

  private send(data: Buffer, dup: boolean): void {
    const t = this.target();
    if (t === null) {
      this.stats.noTarget++;
      return;
    }
    if (dup) this.stats.duplicated++;
    for (let i = 0; i < (dup ? 2 : 1); i++) {
      this.stats.sent++;
      this.out.send(data, t.port, t.address, this.onSent);
    }
  }

  snapshot(): DirectionStats {
    return { ...this.stats, waiting: this.line.length - this.lineHead + (this.held ? 1 : 0) };
  }

  close(): void {
    this.closed = true;
    if (this.held) clearTimeout(this.held.timer);
    this.held = null;
    if (this.lineTimer) clearTimeout(this.lineTimer);
    this.lineTimer = null;
    this.line = [];
    this.lineHead = 0;
  }
}

/** Socket buffers asked for (the kernel caps them at net.core.[rw]mem_max): room for a burst at ~100 Mbit/s. */
const SOCKET_BUFFER = 4 << 20;

function bindSocket(address: string, port: number, io: 'native' | 'dgram'): Promise<NetUdpSocket> {
  const addon = io === 'native' ? nativeUdp() : null;
  if (addon) {
    const family = address.includes(':') ? 6 : 4;
    return Promise.resolve().then(() => new NativeUdpSocket(addon, { family, address, port, rcvbuf: SOCKET_BUFFER, sndbuf: SOCKET_BUFFER, v6only: true }));
  }
  return new Promise((resolve, reject) => {
    const s = createSocket({ type: address.includes(':') ? 'udp6' : 'udp4', recvBufferSize: SOCKET_BUFFER, sendBufferSize: SOCKET_BUFFER });
    s.once('error', reject);
    s.bind(port, address, () => {
      s.off('error', reject);
      resolve(s);
    });
  });
}

export class UdpRelay {
  readonly sockA: NetUdpSocket;
  /** Replaced by rebindB(). */
  sockB: NetUdpSocket;
  private readonly aToB: Direction;
  private readonly bToA: Direction;
  private learnedA: HostPort | null = null;
  private learnedB: HostPort | null = null;

  private constructor(sockA: NetUdpSocket, sockB: NetUdpSocket, opts: RelayOptions, io: 'native' | 'dgram') {
    this.io = io;
    this.sockA = sockA;
    this.sockB = sockB;
    const seed = opts.seed ?? 1;
    const base = checkImpairment(opts.impair ?? {});
    // Independent streams per direction: interleaving of the two directions does not matter.
    // Jitter has streams of its own, so the drop/dup/hold draws are the same with or without it.
    this.aToB = new Direction(createPrng(seed), createPrng(seed ^ 0x27d4eb2f), checkImpairment(opts.aToB ?? base), sockB, () => opts.targetB ?? this.learnedB);
    this.bToA = new Direction(createPrng(seed ^ 0x5bd1e995), createPrng(seed ^ 0x165667b1), checkImpairment(opts.bToA ?? base), sockA, () => opts.targetA ?? this.learnedA);
    sockA.on('message', (msg: Buffer, from: HostPort) => {
      if (this.learnedA === null || this.learnedA.port !== from.port || this.learnedA.address !== from.address) this.learnedA = { address: from.address, port: from.port };
      this.aToB.handle(msg);
    });
    this.listenB(sockB);
    // Late errors (e.g. ICMP-driven) must not crash the test process.
    sockA.on('error', () => this.aToB.stats.sendErrors++);
  }

  private listenB(sock: NetUdpSocket): void {
    sock.on('message', (msg: Buffer, from: HostPort) => {
      if (this.learnedB === null || this.learnedB.port !== from.port || this.learnedB.address !== from.address) this.learnedB = { address: from.address, port: from.port };
      this.bToA.handle(msg);
    });
    sock.on('error', () => this.bToA.stats.sendErrors++);
  }

  /**
   * NAT rebinding: replace the B-side socket with one on a fresh port and
   * close the old one, as a NAT that drops a mapping and makes a new one.
   * A's traffic reaches B from the new port from now on; what B still sends
   * to the old port is lost (port unreachable) until B learns the new one.
   * Returns the new port.
   */
  async rebindB(): Promise<number> {
    const old = this.sockB;
    const fresh = await bindSocket(old.address().address, 0, this.io);
    this.listenB(fresh);
    this.sockB = fresh;
    this.aToB.setOut(fresh);
    await new Promise<void>((r) => old.close(() => r()));
    return fresh.address().port;
  }

  static async start(opts: RelayOptions): Promise<UdpRelay> {
    for (const i of [opts.impair, opts.aToB, opts.bToA]) if (i) checkImpairment(i); // before binding anything
    const io = opts.io ?? (nativeUdp() ? 'native' : 'dgram');
    const a = await bindSocket(opts.listenA.address, opts.listenA.port ?? 0, io);
    let b: NetUdpSocket;
    try {
      b = await bindSocket(opts.listenB.address, opts.listenB.port ?? 0, io);
    } catch (err) {
      a.close();
      throw err;
    }
    return new UdpRelay(a, b, opts, a instanceof NativeUdpSocket ? 'native' : 'dgram');
  }

  /** The socket kind in use. */
  readonly io: 'native' | 'dgram';

  get portA(): number {
    return this.sockA.address().port;
  }

  get portB(): number {
    return this.sockB.address().port;
  }

  get stats(): RelayStats {
    return { aToB: this.aToB.snapshot(), bToA: this.bToA.snapshot() };
  }

  /** Change impairment at run time (e.g. clean handshake first, then loss). */
  setImpairment(dir: 'aToB' | 'bToA' | 'both', impair: Impairment): void {
    const i = checkImpairment(impair);
    if (dir !== 'bToA') this.aToB.impair = i;
    if (dir !== 'aToB') this.bToA.impair = { ...i };
  }

  async close(): Promise<void> {
    this.aToB.close();
    this.bToA.close();
    await Promise.all([
      new Promise<void>((r) => this.sockA.close(() => r())),
      new Promise<void>((r) => this.sockB.close(() => r())),
    ]);
  }
}

export const RELAY_READY_PREFIX = 'udp-relay ready ';
export const RELAY_STATS_PREFIX = 'udp-relay stats ';

export interface RelayChild {
  proc: Proc;
  portA: number;
  portB: number;
  /** The counters so far (SIGUSR2: the child prints them and keeps running). */
  stats(timeoutMs?: number): Promise<RelayStats>;
  /** SIGTERM the child and return its final counters. */
  stop(): Promise<RelayStats>;
}

function statsLines(out: string): RelayStats[] {
  return out
    .split('\n')
    .filter((l) => l.startsWith(RELAY_STATS_PREFIX))
    .map((l) => JSON.parse(l.slice(RELAY_STATS_PREFIX.length)) as RelayStats);
}

/** Run the relay as a child process inside `ns` (node running this file). */
export async function spawnRelay(ns: Netns, opts: RelayOptions, timeoutMs = 5000): Promise<RelayChild> {
  const self = fileURLToPath(import.meta.url);
  const proc = ns.spawn([process.execPath, self, JSON.stringify(opts)], { label: 'udp-relay' });
  const ready = await waitFor(
    () => {
      proc.assertRunning('udp-relay');
      const line = proc.output().split('\n').find((l) => l.startsWith(RELAY_READY_PREFIX));
      return line ? (JSON.parse(line.slice(RELAY_READY_PREFIX.length)) as { portA: number; portB: number }) : null;
    },
    timeoutMs,
    `udp-relay in ${ns.name} to report ready`,
  );
  return {
    proc,
    portA: ready.portA,
    portB: ready.portB,
    async stats(ms = 5000) {
      const before = statsLines(proc.output()).length;
      proc.signal('SIGUSR2');
      return waitFor(() => {
        proc.assertRunning('udp-relay');
        const all = statsLines(proc.output());
        return all.length > before ? all[all.length - 1]! : null;
      }, ms, `udp-relay in ${ns.name} to print its counters`);
    },
    async stop() {
      await proc.stop(2000);
      const all = statsLines(proc.output());
      if (all.length === 0) throw new Error(`udp-relay exited without stats:\n${proc.output()}`);
      return all[all.length - 1]!;
    },
  };
}

async function childMain(arg: string | undefined): Promise<void> {
  if (!arg) throw new Error('usage: udp-relay.js <RelayOptions JSON>');
  const relay = await UdpRelay.start(JSON.parse(arg) as RelayOptions);
  const onSignal = (): void => {
    process.stdout.write(RELAY_STATS_PREFIX + JSON.stringify(relay.stats) + '\n');
    void relay.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('SIGUSR2', () => process.stdout.write(RELAY_STATS_PREFIX + JSON.stringify(relay.stats) + '\n'));
  process.stdout.write(RELAY_READY_PREFIX + JSON.stringify({ portA: relay.portA, portB: relay.portB, io: relay.io }) + '\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  childMain(process.argv[2]).catch((err: Error) => {
    process.stderr.write(`udp-relay: ${err.message}\n`);
    process.exit(1);
  });
}
