/**
 * UDP sockets through the addon's batched system calls (native/udp.c), for
 * the outer WireGuard socket and the forwarder's host-side UDP sockets.
 *
 *   receive: one recvmmsg round -> one JS call with every datagram of it
 *            (GRO-coalesced reads already split) -> 'message' per datagram,
 *            or the raw batch to `onBatch` when set.
 *   send:    send() only queues, per destination; flushAll() hands each
 *            queue to the kernel in one sendmmsg, equal-sized runs as UDP
 *            GSO messages. Flushed at the end of every received batch and
 *            once per event-loop turn (setImmediate) for sends from anywhere
 *            else; the driver flushes after each of its own steps.
 *
 * The socket is dgram-shaped (NetUdpSocket), so callers need not care which
 * kind they hold. UDP semantics: a datagram the kernel refuses (a full send
 * buffer, an unreachable network) is dropped, counted, and reported as one
 * 'error' per flush. WGTS_NATIVE_UDP=0, or no addon, means node:dgram.
 */
import { EventEmitter } from 'node:events';
import { loadAddon } from './addon.js';
import type { NetUdpSocket } from './net.js';
import { formatIp } from '../ip/text.js';

/** The addon's UDP surface. */
export interface NativeUdpAddon {
  udpOpen(family: 4 | 6, address: string, port: number, rcvbuf: number, sndbuf: number, gro: boolean, v6only: boolean): NativeUdpHandle;
  udpStart(h: NativeUdpHandle, onPackets: (buf: ArrayBuffer, lens: Uint32Array, meta: Uint8Array, count: number) => void, onError: (code: string, errno: number) => void): void;
  udpSend(h: NativeUdpHandle, address: string, port: number, packets: Uint8Array[], count: number): number;
  udpLastError(h: NativeUdpHandle): string | null;
  udpClose(h: NativeUdpHandle, onClosed: () => void): void;
}

export interface NativeUdpHandle { readonly fd: number; readonly port: number; readonly gso: boolean; readonly gro: boolean }

/** Bytes of per-datagram metadata from the addon: family, 0, port (BE), 16 address bytes, IPv6 scope id (LE). */
const META = 24;

/** The addon's UDP calls, or null (not built, not Linux, or WGTS_NATIVE_UDP=0). */
export function nativeUdp(): NativeUdpAddon | null {
  if (process.env['WGTS_NATIVE_UDP'] === '0') return null;
  const r = loadAddon();
  if (!r.ok) return null;
  const a = r.addon as unknown as Partial<NativeUdpAddon>;
  return typeof a.udpOpen === 'function' ? (a as NativeUdpAddon) : null;
}

export interface NativeUdpOptions {
  family: 4 | 6;
  /** Local address ('' or absent: any). */
  address?: string;
  port?: number;
  /** Dual-stack IPv6 socket (IPv4 peers as mapped addresses) unless true. Default false. */
  v6only?: boolean;
  rcvbuf?: number;
  sndbuf?: number;
  /** Ask for UDP_GRO: coalesced reads, split again here. */
  gro?: boolean;
}

type SendCb = (err: Error | null, bytes: number) => void;
interface Queue { address: string; port: number; packets: Uint8Array[]; cbs: Array<{ at: number; cb: SendCb }> | null }

const dirty = new Set<NativeUdpSocket>();
let flushQueued = false;

/** Flush every socket with queued datagrams. */
export function flushAll(): void {
  flushQueued = false;
  if (dirty.size === 0) return;
  for (const s of dirty) s.flush();
  dirty.clear();
}

function queueFlush(s: NativeUdpSocket): void {
  dirty.add(s);
  if (!flushQueued) {
    flushQueued = true;
    setImmediate(flushAll);
  }
}

/**
 * The text form of the address in a datagram's meta bytes at `at`: IPv6 as
 * RFC 5952's shortest form, with "%index" for a scoped (link-local) source,
 * which the addon accepts back as a destination.
 */
export function addressOf(meta: Uint8Array, at: number): string {
  if (meta[at] === 4) return `${meta[at + 4]}.${meta[at + 5]}.${meta[at + 6]}.${meta[at + 7]}`;
  const scope = (meta[at + 20]! | (meta[at + 21]! << 8) | (meta[at + 22]! << 16) | (meta[at + 23]! << 24)) >>> 0;
  const text = formatIp(meta.subarray(at + 4, at + 20), { compatibleDotted: false });
  return scope === 0 ? text : `${text}%${scope}`;
}

export class NativeUdpSocket extends EventEmitter implements NetUdpSocket {
  private handle: NativeUdpHandle | null;
  private readonly queues = new Map<string, Queue>();
  private last: Queue | null = null;
  private readonly bound: { address: string; port: number };
  /** Datagrams dropped on send, by error code. */
  readonly dropped = new Map<string, number>();
  /** When set, send drops go here (code, count) instead of an 'error' event. */
  onDrop: ((code: string, count: number) => void) | null = null;
  /** When set, receives each raw batch instead of 'message' events. */
  onBatch: ((buf: ArrayBuffer, lens: Uint32Array, meta: Uint8Array, count: number) => void) | null = null;
  private lastMeta = new Uint8Array(META);
  private lastFrom = { address: '', port: 0 };
  readonly gso: boolean;
  readonly gro: boolean;

  /** Open and bind (synchronously); throws errno-coded errors (EADDRINUSE, EADDRNOTAVAIL...). */
  constructor(private readonly addon: NativeUdpAddon, o: NativeUdpOptions) {
    super();
    const h = addon.udpOpen(o.family, o.address ?? '', o.port ?? 0, o.rcvbuf ?? 0, o.sndbuf ?? 0, o.gro ?? false, o.v6only ?? false);
    this.handle = h;
    this.gso = h.gso;
    this.gro = h.gro;
    this.bound = { address: o.address || (o.family === 6 ? '::' : '0.0.0.0'), port: h.port };
    addon.udpStart(h, (buf, lens, meta, count) => this.onPackets(buf, lens, meta, count), (code, errno) => {
      const e = new Error(`udp socket: ${code}`) as NodeJS.ErrnoException;
      e.code = code;
      e.errno = errno;
      this.emit('error', e);
    });
  }

  /** The OS descriptor (for SO_MARK), -1 once closed. */
  get fd(): number {
    return this.handle ? this.handle.fd : -1;
  }

  address(): { address: string; port: number } {
    return { ...this.bound };
  }

  private onPackets(buf: ArrayBuffer, lens: Uint32Array, meta: Uint8Array, count: number): void {
    if (!this.handle) return;
    if (this.onBatch) this.onBatch(buf, lens, meta, count);
    else {
      let off = 0;
      for (let i = 0; i < count; i++) {
        const len = lens[i]!;
        const msg = Buffer.from(buf, off, len);
        off += len;
        this.emit('message', msg, this.source(meta, i));
        if (!this.handle) break;
      }
    }
    flushAll();
  }

  /**
   * The sender of datagram i of a batch as { address, port }: the object is
   * reused while consecutive datagrams come from the same place, so callers
   * must not keep it across batches if they mutate it (nobody does).
   */
  source(meta: Uint8Array, i: number): { address: string; port: number } {
    const at = i * META;
    const last = this.lastMeta;
    let same = this.lastFrom.address !== '';
    for (let k = 0; same && k < META; k++) if (meta[at + k] !== last[k]) same = false;
    if (same) return this.lastFrom;
    last.set(meta.subarray(at, at + META));
    this.lastFrom = { address: addressOf(meta, at), port: (meta[at + 2]! << 8) | meta[at + 3]! };
    return this.lastFrom;
  }

  send(msg: Uint8Array, port: number, address: string, cb?: (err: Error | null, bytes: number) => void): void {
    if (!this.handle) {
      if (cb) queueMicrotask(() => cb(new Error('socket is closed'), 0));
      return;
    }
    let q = this.last;
    if (q === null || q.port !== port || q.address !== address) {
      const key = `${address}|${port}`;
      q = this.queues.get(key) ?? null;
      if (q === null) {
        q = { address, port, packets: [], cbs: null };
        this.queues.set(key, q);
      }
      this.last = q;
    }
    q.packets.push(msg);
    if (cb) (q.cbs ??= []).push({ at: q.packets.length - 1, cb });
    if (q.packets.length === 1) queueFlush(this);
  }

  /** Hand every queued datagram to the kernel now. */
  flush(): void {
    const h = this.handle;
    if (!h) return;
    let failed: string | null = null;
    for (const [key, q] of this.queues) {
      const n = q.packets.length;
      if (n === 0) {
        // Idle destinations are forgotten, so a socket talking to many clients keeps no queues.
        this.queues.delete(key);
        if (this.last === q) this.last = null;
        continue;
      }
      const sent = this.addon.udpSend(h, q.address, q.port, q.packets, n);
      let err: string | null = null;
      if (sent < n) {
        err = this.addon.udpLastError(h) ?? 'EIO';
        this.dropped.set(err, (this.dropped.get(err) ?? 0) + (n - sent));
        if (this.onDrop) this.onDrop(err, n - sent);
        else failed = err;
      }
      const cbs = q.cbs;
      if (cbs) {
        q.cbs = null;
        // The kernel takes datagrams in order; those past `sent` were the dropped ones.
        for (const { at, cb } of cbs) {
          const e = at < sent ? null : Object.assign(new Error(`send ${err}`), { code: err });
          cb(e, e ? 0 : q.packets[at]!.length);
        }
      }
      q.packets = [];
    }
    if (failed !== null && this.listenerCount('error') > 0) {
      const e = new Error(`send ${failed}`) as NodeJS.ErrnoException;
      e.code = failed;
      this.emit('error', e);
    }
  }

  close(cb?: () => void): void {
    const h = this.handle;
    if (!h) {
      if (cb) queueMicrotask(cb);
      return;
    }
    this.flush();
    dirty.delete(this);
    this.handle = null;
    this.queues.clear();
    this.last = null;
    this.addon.udpClose(h, () => cb?.());
  }
}
