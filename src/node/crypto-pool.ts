/**
 * ChaCha20-Poly1305 for transport messages on worker threads, in order
 * (as wireguard-go's encryption/decryption workers with per-peer sequential
 * queues). The device decides everything; only the AEAD work moves.
 *
 *   seal(d) / open(job): copy the message and its key into the next slot of a
 *     worker's ring (crypto-ring.ts), or do it right here when the ring is
 *     full or the message too big; remember it in the tx or rx FIFO
 *   flush(): wake sleeping workers once per batch
 *   worker done -> Atomics.waitAsync resolves -> drain(): FIFO heads that are
 *     finished are copied back into their own buffers and handed to onSealed /
 *     onOpened, so each direction leaves in the order it came in
 *
 * Slots are scratch only: results are copied back before the callbacks run,
 * so nothing downstream (socket queues, the netstack) ever holds shared memory,
 * and an opened slot's data (the plaintext) is zeroed as soon as it is copied
 * (the worker zeroes each slot's key; a sealed slot holds only ciphertext).
 */
import type { Worker } from 'node:worker_threads';
import { openPayload } from '../transport/packet.js';
import { sealPending, type Datagram, type PendingOpen } from '../transport/device.js';
import {
  CONTROL_WORDS, DATA, DONE, KEY, LEN, NONCE, OP, OP_OPEN, OP_SEAL, RESULT, SLEEPING, SLOT_DATA, SLOT_SIZE, STOP, SUBMITTED,
} from './crypto-ring.js';

const HEADER = 16;

/** Atomics.waitAsync (ES2024; in Node since 16), which this TypeScript lib setting does not declare. */
const waitAsync = (Atomics as unknown as {
  waitAsync(a: Int32Array, index: number, value: number): { async: false; value: string } | { async: true; value: Promise<string> };
}).waitAsync;
/** Slots per worker ring (a power of two: the running counts wrap at 2^32). */
const SLOTS = 256;
/**
 * A message that finds its direction idle, with the previous one longer ago
 * than this (ms), is done on the main thread: sparse traffic (ping, a shell)
 * would only pay two thread wake-ups per message for nothing.
 */
const SPARSE_GAP_MS = 1;

export interface CryptoPoolHandlers {
  /** A sealed datagram, in submission order; ok false: its session ended, drop it. */
  onSealed(d: Datagram, ok: boolean): void;
  /** An opened transport message, in submission order: plaintext view into job.data, or null. */
  onOpened(job: PendingOpen, plain: Uint8Array | null): void;
  /** After a drain delivered anything (one call per batch). */
  onDrained(): void;
}

interface Lane {
  worker: Worker;
  control: Int32Array;
  bytes: Uint8Array;
  view: DataView;
  submitted: number;
  /** Slots whose result has not been copied back yet (the worker may be done with them). */
  held: Uint8Array;
  /** Submissions since the last flush. */
  fresh: boolean;
  waiting: boolean;
}

interface TxItem { lane: Lane | null; seq: number; slot: number; d: Datagram; ok: boolean }
interface RxItem { lane: Lane | null; seq: number; slot: number; job: PendingOpen; plain: Uint8Array | null }

/** Has lane finished submission number `seq`? (wrap-safe) */
function finished(lane: Lane, seq: number): boolean {
  return ((Atomics.load(lane.control, DONE) - seq) | 0) > 0;
}

export class CryptoPool {
  private readonly lanes: Lane[] = [];
  private next = 0;
  private readonly tx: TxItem[] = [];
  private txHead = 0;
  private readonly rx: RxItem[] = [];
  private rxHead = 0;
  private closed = false;
  private draining = false;
  private drainAgain = false;
  /** Messages done on the main thread (sparse traffic, ring full, too big). */
  inline = 0;
  /** Messages done on a worker thread. */
  offloaded = 0;
  private lastTx = -Infinity;
  private lastRx = -Infinity;

  private constructor(private readonly h: CryptoPoolHandlers) {}

  /** Start `workers` threads (at least 1). Resolves when they are running. */
  static async create(workers: number, handlers: CryptoPoolHandlers): Promise<CryptoPool> {
    // Loaded only when workers are asked for (off by default): ~2 MB of resident memory.
    const { Worker } = await import('node:worker_threads');
    const pool = new CryptoPool(handlers);
    const url = new URL('./crypto-worker.js', import.meta.url);
    for (let i = 0; i < Math.max(1, workers); i++) {
      const control = new SharedArrayBuffer(CONTROL_WORDS * 4);
      const slots = new SharedArrayBuffer(SLOTS * SLOT_SIZE);
      const worker = new Worker(url, { workerData: { control, slots, slotCount: SLOTS }, name: `wgts crypto ${i}` });
      await new Promise<void>((resolve, reject) => {
        worker.once('online', resolve);
        worker.once('error', reject);
      });
      worker.unref(); // never what keeps the process alive
      worker.on('error', () => { /* the lane stalls; close() still terminates it */ });
      pool.lanes.push({
        worker, control: new Int32Array(control), bytes: new Uint8Array(slots), view: new DataView(slots),
        submitted: 0, held: new Uint8Array(SLOTS), fresh: false, waiting: false,
      });
    }
    return pool;
  }

  get workers(): number {
    return this.lanes.length;
  }

  /** Datagrams and messages submitted and not yet handed back. */
  get pending(): number {
    return this.tx.length - this.txHead + this.rx.length - this.rxHead;
  }

  /** Queue a datagram carrying a PendingSeal. */
  seal(d: Datagram): void {
    const job = d.seal!;
    const t = performance.now();
    const sparse = this.txHead === this.tx.length && t - this.lastTx > SPARSE_GAP_MS;
    this.lastTx = t;
    const lane = sparse || this.closed || d.data.length > SLOT_DATA || job.keypair.wiped ? null : this.pick();
    if (!lane) {
      this.inline++;
      this.tx.push({ lane: null, seq: 0, slot: 0, d, ok: sealPending(d) });
      if (this.txHead === this.tx.length - 1) this.drain();
      return;
    }
    const slot = lane.submitted & (SLOTS - 1);
    const base = slot * SLOT_SIZE;
    const b = lane.bytes;
    b[base + OP] = OP_SEAL;
    lane.view.setUint32(base + LEN, d.data.length, true);
    writeNonce(lane.view, base, job.counter);
    b.set(job.keypair.sendKey, base + KEY);
    b.set(d.data, base + DATA);
    this.tx.push({ lane, seq: lane.submitted, slot, d, ok: false });
    this.submit(lane);
  }

  /** Queue a transport message from Device.receiveDeferred. */
  open(job: PendingOpen): void {
    const len = job.data.length - HEADER;
    const t = performance.now();
    const sparse = this.rxHead === this.rx.length && t - this.lastRx > SPARSE_GAP_MS;
    this.lastRx = t;
    const lane = sparse || this.closed || len > SLOT_DATA || job.keypair.wiped ? null : this.pick();
    if (!lane) {
      this.inline++;
      const plain = job.keypair.wiped ? null : openPayload(job.keypair.recvKey, job.counter, job.data.subarray(HEADER));
      this.rx.push({ lane: null, seq: 0, slot: 0, job, plain });
      if (this.rxHead === this.rx.length - 1) this.drain();
      return;
    }
    const slot = lane.submitted & (SLOTS - 1);
    const base = slot * SLOT_SIZE;
    const b = lane.bytes;
    b[base + OP] = OP_OPEN;
    lane.view.setUint32(base + LEN, len, true);
    // The nonce is the header's counter field, as sent.
    b.fill(0, base + NONCE, base + NONCE + 4);
    b.set(job.data.subarray(8, 16), base + NONCE + 4);
    b.set(job.keypair.recvKey, base + KEY);
    b.set(job.data.subarray(HEADER), base + DATA);
    this.rx.push({ lane, seq: lane.submitted, slot, job, plain: null });
    this.submit(lane);
  }

  /** Round robin over lanes whose next slot is free; null when all rings are full. */
  private pick(): Lane | null {
    for (let i = 0; i < this.lanes.length; i++) {
      const lane = this.lanes[(this.next + i) % this.lanes.length]!;
      // A slot is free once its last result was copied back (which implies the worker finished it).
      if (lane.held[lane.submitted & (SLOTS - 1)] === 0) {
        this.next = (this.next + i + 1) % this.lanes.length;
        return lane;
      }
    }
    return null;
  }

  private submit(lane: Lane): void {
    this.offloaded++;
    lane.held[lane.submitted & (SLOTS - 1)] = 1;
    lane.submitted = (lane.submitted + 1) | 0;
    Atomics.store(lane.control, SUBMITTED, lane.submitted);
    lane.fresh = true;
  }

  /** Wake the workers that have new slots; collect what is already finished. Call once per batch. */
  flush(): void {
    for (const lane of this.lanes) {
      if (!lane.fresh) continue;
      lane.fresh = false;
      if (Atomics.load(lane.control, SLEEPING) !== 0) Atomics.notify(lane.control, SUBMITTED, 1);
    }
    this.drain();
  }

  /**
   * Hand back finished FIFO heads in order; then wait for the lanes still
   * busy. Handlers may submit more (and so call drain again): that call only
   * asks this one to go round once more.
   */
  private drain(): void {
    if (this.draining) { this.drainAgain = true; return; }
    this.draining = true;
    let any = false;
    try {
      do {
        this.drainAgain = false;
        if (this.drainTx()) any = true;
        if (this.drainRx()) any = true;
      } while (this.drainAgain && !this.closed);
    } finally {
      this.draining = false;
    }
    if (any && !this.closed) this.h.onDrained();
    this.waitForLanes();
  }

  private drainTx(): boolean {
    let any = false;
    while (this.txHead < this.tx.length) {
      const it = this.tx[this.txHead]!;
      if (it.lane) {
        if (!finished(it.lane, it.seq)) break;
        // A session that ended meanwhile sends nothing more, as if sealed here.
        it.ok = !it.d.seal!.keypair.wiped;
        const base = it.slot * SLOT_SIZE + DATA;
        if (it.ok) it.d.data.set(it.lane.bytes.subarray(base, base + it.d.data.length));
        it.lane.held[it.slot] = 0;
        it.d.seal = undefined;
      }
      this.tx[this.txHead++] = undefined as never;
      any = true;
      this.h.onSealed(it.d, it.ok);
    }
    if (this.txHead === this.tx.length) { this.tx.length = 0; this.txHead = 0; }
    return any;
  }

  private drainRx(): boolean {
    let any = false;
    while (this.rxHead < this.rx.length) {
      const it = this.rx[this.rxHead]!;
      if (it.lane) {
        if (!finished(it.lane, it.seq)) break;
        const s = it.slot * SLOT_SIZE;
        const len = it.job.data.length - HEADER - 16;
        if (it.lane.bytes[s + RESULT] === 1) {
          const out = it.job.data.subarray(HEADER, HEADER + len);
          out.set(it.lane.bytes.subarray(s + DATA, s + DATA + len));
          it.plain = out;
        }
        it.lane.bytes.fill(0, s + DATA, s + DATA + len + 16);
        it.lane.held[it.slot] = 0;
      }
      this.rx[this.rxHead++] = undefined as never;
      any = true;
      this.h.onOpened(it.job, it.plain);
    }
    if (this.rxHead === this.rx.length) { this.rx.length = 0; this.rxHead = 0; }
    return any;
  }

  /** Arm a wake-up on the lane each FIFO head waits for (at most one per lane). */
  private waitForLanes(): void {
    if (this.closed) return;
    if (this.txHead < this.tx.length) this.waitFor(this.tx[this.txHead]!);
    if (this.rxHead < this.rx.length) this.waitFor(this.rx[this.rxHead]!);
  }

  private waitFor(head: { lane: Lane | null; seq: number }): void {
    const lane = head.lane;
    if (!lane || lane.waiting) return;
    lane.waiting = true;
    const wake = (): void => {
      lane.waiting = false;
      if (!this.closed) this.drain();
    };
    // Wait for DONE to move from the value that shows the head unfinished;
    // if it already moved, waitAsync answers at once and we drain again.
    const seen = Atomics.load(lane.control, DONE);
    if (((seen - head.seq) | 0) > 0) { queueMicrotask(wake); return; }
    const w = waitAsync(lane.control, DONE, seen);
    if (w.async) void w.value.then(wake);
    else queueMicrotask(wake);
  }

  /** Stop the workers. Queued items are dropped (the driver is stopping). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const lane of this.lanes) {
      Atomics.store(lane.control, STOP, 1);
      Atomics.notify(lane.control, SUBMITTED);
      // Let a pending waitAsync settle.
      Atomics.notify(lane.control, DONE);
    }
    await Promise.all(this.lanes.map((l) => l.worker.terminate()));
    for (const lane of this.lanes) lane.bytes.fill(0);
    this.tx.length = 0;
    this.rx.length = 0;
    this.txHead = this.rxHead = 0;
  }
}

function writeNonce(view: DataView, base: number, counter: number): void {
  view.setUint32(base + NONCE, 0, true);
  view.setUint32(base + NONCE + 4, counter >>> 0, true);
  view.setUint32(base + NONCE + 8, Math.floor(counter / 0x1_0000_0000), true);
}
