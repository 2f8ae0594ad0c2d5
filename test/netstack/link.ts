/**
 * Two stacks joined by an in-memory, fault-injecting link, driven by a fake
 * clock. Each direction delays packets by `delay` ms plus up to `jitter` ms
 * (jitter reorders), and drops, duplicates or corrupts (flips one random
 * bit) at the given rates, from a seeded PRNG so runs repeat exactly (one
 * shared by both directions, or the direction's own with `seed`). A direction may also have a bottleneck: `rate` bytes per ms with
 * a drop-tail queue of `queue` bytes in front of it, so a test can model an
 * internet path (say 20 ms RTT, 1 % loss, 100 Mbit/s) and measure goodput.
 *
 *   send -> filter -> bottleneck queue (drop-tail) -> random loss ->
 *   duplicate/corrupt -> +delay(+jitter) -> heap -> input at its time
 *
 * run(done) alternates: let Node's stream callbacks run (setImmediate),
 * poll both stacks onto the link, deliver what is due; when nothing moves
 * at this instant the clock jumps to the next delivery or stack deadline.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { Stack, type StackOptions } from '../../src/netstack/stack.js';
import { prng, seededRandom } from './helpers.js';
import type { TcpSocket } from '../../src/netstack/tcp-socket.js';
import type { ConnectOptions } from '../../src/netstack/tcp.js';
import type { TcpConfig } from '../../src/netstack/tcp-config.js';

export interface LinkOptions {
  delay?: number;
  jitter?: number;
  loss?: number;
  duplicate?: number;
  corrupt?: number;
  /** Only packets matching this are subject to loss (default: all). */
  lossFilter?: (pkt: Uint8Array) => boolean;
  /** This direction's own PRNG seed, so its faults do not depend on the other direction's traffic. */
  seed?: number;
  /** Bottleneck rate in bytes per ms (12_500 is 100 Mbit/s); none by default. */
  rate?: number;
  /** Drop-tail queue in front of the bottleneck, bytes waiting (default 64 KiB). */
  queue?: number;
  /**
   * The receiving driver's batch interval, ms: arrivals wait for the next
   * multiple of it and go in as one received batch (Stack.batching, then
   * a poll), as the driver feeds one recvmmsg per event-loop turn. None
   * by default: each packet is input on its own.
   */
  batch?: number;
}

/** One direction's bottleneck: when its last queued packet has left. */
interface Bottleneck {
  freeAt: number;
}

interface InFlight {
  at: number;
  order: number;
  to: Stack;
  pkt: Uint8Array;
}

/** A binary min-heap on (at, order). */
class Heap {
  private a: InFlight[] = [];
  get size(): number {
    return this.a.length;
  }
  peek(): InFlight | undefined {
    return this.a[0];
  }
  private less(i: number, j: number): boolean {
    const x = this.a[i]!;
    const y = this.a[j]!;
    return x.at < y.at || (x.at === y.at && x.order < y.order);
  }
  push(e: InFlight): void {
    const a = this.a;
    a.push(e);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(i, p)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }
  pop(): InFlight | undefined {
    const a = this.a;
    if (a.length === 0) return undefined;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.less(l, m)) m = l;
        if (r < a.length && this.less(r, m)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}

export interface LinkCounters {
  sent: number;
  lost: number;
  duplicated: number;
  corrupted: number;
  /** Dropped because the bottleneck queue was full (not counted in `lost`). */
  queueDrops: number;
}

export class Sim {
  now = 0;
  readonly a: Stack;
  readonly b: Stack;
  readonly counters: { ab: LinkCounters; ba: LinkCounters } = {
    ab: { sent: 0, lost: 0, duplicated: 0, corrupted: 0, queueDrops: 0 },
    ba: { sent: 0, lost: 0, duplicated: 0, corrupted: 0, queueDrops: 0 },
  };
  /** Every packet a stack emitted, before faults, when `trace` is on: [time, from 'a'|'b', packet]. */
  readonly log: Array<{ t: number; from: 'a' | 'b'; pkt: Uint8Array }> = [];
  trace = false;
  /** Called on every packet before faults; return false to drop it (scripted loss). */
  filter: ((from: 'a' | 'b', pkt: Uint8Array, t: number) => boolean) | null = null;
  /**
   * Ms a stack deadline fires late, drawn per wakeup, as a real driver's
   * setTimeout does (whole ms, a busy event loop); packets arriving
   * meanwhile wait for that turn too. None by default.
   */
  timerLateness: (() => number) | null = null;
  private readonly heap = new Heap();
  private order = 0;
  private readonly randAb: () => number;
  private readonly randBa: () => number;
  private readonly neck = { ab: { freeAt: 0 } as Bottleneck, ba: { freeAt: 0 } as Bottleneck };
  private woken = false;

  constructor(
    aOpts: Partial<StackOptions>,
    bOpts: Partial<StackOptions>,
    private readonly ab: LinkOptions = {},
    private readonly ba: LinkOptions = ab,
    seed = 1,
  ) {
    const shared = prng(seed);
    this.randAb = ab.seed !== undefined ? prng(ab.seed) : shared;
    this.randBa = ba.seed !== undefined ? prng(ba.seed) : shared;
    this.a = new Stack({ addresses: [{ ip: '10.0.0.1', cidr: 24 }, { ip: 'fd00::1', cidr: 64 }], random: seededRandom(seed * 7 + 1), ...aOpts });
    this.b = new Stack({ addresses: [{ ip: '10.0.0.2', cidr: 24 }, { ip: 'fd00::2', cidr: 64 }], random: seededRandom(seed * 7 + 2), ...bOpts });
    this.a.onWake = () => (this.woken = true);
    this.b.onWake = () => (this.woken = true);
  }

  private send(from: 'a' | 'b', pkt: Uint8Array): void {
    const o = from === 'a' ? this.ab : this.ba;
    const c = from === 'a' ? this.counters.ab : this.counters.ba;
    const to = from === 'a' ? this.b : this.a;
    const rand = from === 'a' ? this.randAb : this.randBa;
    if (this.trace) this.log.push({ t: this.now, from, pkt });
    c.sent++;
    if (this.filter !== null && !this.filter(from, pkt, this.now)) {
      c.lost++;
      return;
    }
    // The bottleneck: the packet waits behind those still queued, unless the queue is full.
    let departs = this.now;
    if (o.rate !== undefined) {
      const n = from === 'a' ? this.neck.ab : this.neck.ba;
      const start = Math.max(this.now, n.freeAt);
      if ((start - this.now) * o.rate + pkt.length > (o.queue ?? 65536)) {
        c.queueDrops++;
        return;
      }
      n.freeAt = start + pkt.length / o.rate;
      departs = n.freeAt;
    }
    if (o.loss && (o.lossFilter === undefined || o.lossFilter(pkt)) && rand() < o.loss) {
      c.lost++;
      return;
    }
    const copies = o.duplicate && rand() < o.duplicate ? 2 : 1;
    if (copies === 2) c.duplicated++;
    for (let i = 0; i < copies; i++) {
      let p = pkt;
      if (o.corrupt && rand() < o.corrupt) {
        p = pkt.slice();
        const bit = Math.floor(rand() * p.length * 8);
        p[bit >> 3]! ^= 1 << (bit & 7);
        c.corrupted++;
      }
      let at = departs + (o.delay ?? 1) + (o.jitter ? rand() * o.jitter : 0);
      if (o.batch) at = Math.ceil(at / o.batch) * o.batch;
      this.heap.push({ at, order: this.order++, to, pkt: p });
    }
  }

  /** Polls both stacks and delivers what is due now; true if anything moved. */
  step(): boolean {
    let moved = false;
    for (const [name, s] of [['a', this.a], ['b', this.b]] as const) {
      const out = s.poll(this.now);
      if (out.length > 0) moved = true;
      for (const p of out) this.send(name, p);
    }
    for (let e = this.heap.peek(); e !== undefined && e.at <= this.now; e = this.heap.peek()) {
      this.heap.pop();
      // A batching direction's arrivals due now go in as one batch; the next step's poll answers it.
      e.to.batching = (e.to === this.b ? this.ab : this.ba).batch !== undefined;
      e.to.input(e.pkt, this.now);
      e.to.batching = false;
      moved = true;
    }
    return moved;
  }

  /** Advances the fake clock to the next event; false when there is none. */
  advance(limit = Infinity): boolean {
    const delivery = this.heap.peek()?.at ?? Infinity;
    const deadline = Math.min(this.a.nextDeadline(), this.b.nextDeadline());
    let next = Math.min(delivery, deadline, limit);
    if (next === Infinity) return false;
    if (this.timerLateness !== null && deadline === next && deadline <= delivery) next = Math.min(deadline + this.timerLateness(), limit);
    if (next > this.now) this.now = next;
    return true;
  }

  /**
   * Runs until done() or `maxTime` fake ms. Node callbacks run between steps.
   * Throws if nothing can ever happen again before done().
   */
  async run(done: () => boolean, maxTime = 3_600_000): Promise<void> {
    let stuck = 0;
    let spins = 0;
    while (!done()) {
      if (++spins % 8 === 0 || this.woken) await new Promise((r) => setImmediate(r));
      else await Promise.resolve();
      this.woken = false;
      if (this.step()) {
        stuck = 0;
        continue;
      }
      // Nothing moved: let every pending Node callback run before time moves on.
      await new Promise((r) => setImmediate(r));
      if (done()) return;
      this.woken = false;
      if (this.step()) continue;
      if (this.now >= maxTime) throw new Error(`sim: not done by t=${this.now}`);
      if (!this.advance(maxTime)) {
        if (++stuck > 20) throw new Error(`sim: stuck at t=${this.now} with nothing scheduled`);
      }
    }
  }

  /** Runs until the fake clock reaches t (events in between are processed). */
  async runUntil(t: number): Promise<void> {
    while (this.now < t) {
      await new Promise((r) => setImmediate(r));
      if (this.step()) continue;
      if (this.woken) {
        this.woken = false;
        continue;
      }
      this.advance(t);
      if (this.now >= t) {
        this.step();
        break;
      }
    }
  }
}

/** Deterministic pseudo-random bytes (AES-128-CTR keystream of a seed) in chunks, with their SHA-256. */
export function* payload(total: number, seed: number, chunk = 64 * 1024): Generator<Buffer> {
  const key = Buffer.alloc(16);
  key.writeUInt32BE(seed >>> 0, 0);
  const c = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const zero = Buffer.alloc(chunk);
  for (let at = 0; at < total; at += chunk) {
    const n = Math.min(chunk, total - at);
    yield c.update(n === chunk ? zero : zero.subarray(0, n));
  }
}

export function payloadDigest(total: number, seed: number): string {
  const h = createHash('sha256');
  for (const b of payload(total, seed)) h.update(b);
  return h.digest('hex');
}

/** Writes `total` bytes to a writable with backpressure, then ends it. Resolves the count of write() calls that returned false. */
export function writeAll(w: NodeJS.WritableStream & { write(b: Buffer): boolean; end(): void }, total: number, seed: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const gen = payload(total, seed);
    let refused = 0;
    const pump = (): void => {
      for (;;) {
        const n = gen.next();
        if (n.done) {
          w.end();
          resolve(refused);
          return;
        }
        if (!w.write(n.value)) {
          refused++;
          w.once('drain', pump);
          return;
        }
      }
    };
    (w as unknown as NodeJS.EventEmitter).once('error', reject);
    pump();
  });
}

/** Collects a readable's bytes into a SHA-256 digest and a count. */
export function digestOf(r: NodeJS.ReadableStream): { done: Promise<void>; bytes: () => number; hex: () => string } {
  const h = createHash('sha256');
  let n = 0;
  let hex = '';
  const done = new Promise<void>((resolve, reject) => {
    r.on('data', (b: Buffer) => {
      h.update(b);
      n += b.length;
    });
    r.on('end', () => {
      hex = h.digest('hex');
      resolve();
    });
    r.on('error', reject);
  });
  return { done, bytes: () => n, hex: () => hex };
}

/** Opens a connection a -> b (listener on b), and runs until both ends are established. */
export async function establish(sim: Sim, port = 80, opts: Partial<ConnectOptions> = {}): Promise<{ client: TcpSocket; server: TcpSocket }> {
  let server: TcpSocket | null = null;
  const l = sim.b.tcp.listen(port, (s) => (server = s));
  const client = sim.a.tcp.connect({ host: '10.0.0.2', port, ...opts });
  let connected = false;
  client.once('connect', () => (connected = true));
  await sim.run(() => server !== null && connected);
  l.close();
  return { client, server: server! };
}

/**
 * A connection a -> b over a 5 ms one-way link, both ends with `tcp`, warmed
 * up by 4 full segments so SRTT is known and the next flight goes out at once.
 */
export async function warmedUp(tcp: Partial<TcpConfig>): Promise<{ sim: Sim; client: TcpSocket; server: TcpSocket }> {
  const sim = new Sim({ tcp }, { tcp }, { delay: 5 });
  const { client, server } = await establish(sim);
  server.resume();
  const snd = client.tcb.snd;
  client.write(Buffer.alloc(4 * snd.mss, 1));
  await sim.run(() => snd.una === snd.max && snd.buf.length === 0);
  return { sim, client, server };
}
