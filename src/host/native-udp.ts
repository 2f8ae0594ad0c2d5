/**
 * UDP sockets through the addon's batched system calls (native/udp.c), for
 * the outer WireGuard socket and the forwarder's host-side UDP sockets.
 *
 *   receive: one recvmmsg round -> one JS call with every datagram of it
 *            (GRO-coalesced reads already split) -> 'message' per datagram,
 *            or the raw batch to `onBatch` when set.
 *   receive with pktinfo: each datagram also says which local address it
 *            was sent to (source(): `local`), for replies from that address.
 *   send:    send()/sendFrom() only queue, per destination and source; flushAll() hands each
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
  udpOpen(family: 4 | 6, address: string, port: number, rcvbuf: number, sndbuf: number, gro: boolean, v6only: boolean, pktinfo?: boolean): NativeUdpHandle;
  udpStart(h: NativeUdpHandle, onPackets: (buf: ArrayBuffer, lens: Uint32Array, meta: Uint8Array, count: number) => void, onError: (code: string, errno: number) => void): void;
  udpSend(h: NativeUdpHandle, address: string, port: number, packets: Uint8Array[], count: number, local?: string): number;
  udpLastError(h: NativeUdpHandle): string | null;
  /** Whether a send since the last call had its source address refused (gone from the host) and went without it. */
  udpSourceCleared(h: NativeUdpHandle): boolean;
  udpClose(h: NativeUdpHandle, onClosed: () => void): void;
}

export interface NativeUdpHandle { readonly fd: number; readonly port: number; readonly gso: boolean; readonly gro: boolean; readonly pktinfo?: boolean }

/**
 * Bytes of per-datagram metadata from the addon: family, local family (0 =
 * unknown), port (BE), 16 address bytes, IPv6 scope id (LE), then the local
 * address the datagram was sent to (16 bytes) and its interface index (LE).
 */
export const META = 44;

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
  /** Learn the local address of each received datagram (IP_PKTINFO / IPV6_PKTINFO): source().local. */
  pktinfo?: boolean;
}

/** A datagram's sender, and with pktinfo the local address it was sent to (see localOf). */
export interface UdpSource { address: string; port: number; local?: string }

type SendCb = (err: Error | null, bytes: number) => void;
interface Queue { address: string; port: number; local: string; packets: Uint8Array[]; cbs: Array<{ at: number; cb: SendCb }> | null }

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

/**
 * The local address a datagram was sent to, from its meta bytes at `at`, as
 * the addon takes it back for sending (udpSend's `local`): IPv4 dotted,
 * IPv6 in RFC 5952 form with "%ifindex" for a link-local address (the
 * interface it came in on); '' when the socket does not learn it.
 */
export function localOf(meta: Uint8Array, at: number): string {
  const fam = meta[at + 1];
  if (fam === 4) return `${meta[at + 24]}.${meta[at + 25]}.${meta[at + 26]}.${meta[at + 27]}`;
  if (fam !== 6) return '';
  const text = formatIp(meta.subarray(at + 24, at + 40), { compatibleDotted: false });
  // fe80::/10: the same address can be on several links, so the interface goes with it.
  if (meta[at + 24] !== 0xfe || (meta[at + 25]! & 0xc0) !== 0x80) return text;
  const ifindex = (meta[at + 40]! | (meta[at + 41]! << 8) | (meta[at + 42]! << 16) | (meta[at + 43]! << 24)) >>> 0;
  return ifindex === 0 ? text : `${text}%${ifindex}`;
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
  private lastFrom: UdpSource = { address: '', port: 0 };
  readonly gso: boolean;
  readonly gro: boolean;
  /** Received datagrams carry their local address (source().local). */
  readonly pktinfo: boolean;
  /** A source address given to sendFrom was refused (gone from the host); those datagrams went from the kernel's choice. */
  onSourceGone: ((address: string, port: number, local: string) => void) | null = null;

  /** Open and bind (synchronously); throws errno-coded errors (EADDRINUSE, EADDRNOTAVAIL...). */
  constructor(private readonly addon: NativeUdpAddon, o: NativeUdpOptions) {
    super();
    const h = addon.udpOpen(o.family, o.address ?? '', o.port ?? 0, o.rcvbuf ?? 0, o.sndbuf ?? 0, o.gro ?? false, o.v6only ?? false, o.pktinfo ?? false);
    this.handle = h;
    this.gso = h.gso;
    this.gro = h.gro;
    this.pktinfo = h.pktinfo === true;
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
   * The sender of datagram i of a batch as { address, port }, plus `local`
   * on a pktinfo socket: the object is
   * reused while consecutive datagrams come from the same place, so callers
   * must not keep it across batches if they mutate it (nobody does).
   */
  source(meta: Uint8Array, i: number): UdpSource {
    const at = i * META;
    const last = this.lastMeta;
    let same = this.lastFrom.address !== '';
    for (let k = 0; same && k < META; k++) if (meta[at + k] !== last[k]) same = false;
    if (same) return this.lastFrom;
    last.set(meta.subarray(at, at + META));
    const from: UdpSource = { address: addressOf(meta, at), port: (meta[at + 2]! << 8) | meta[at + 3]! };
    if (meta[at + 1] !== 0) from.local = localOf(meta, at);
    this.lastFrom = from;
    return from;
  }

  send(msg: Uint8Array, port: number, address: string, cb?: (err: Error | null, bytes: number) => void): void {
    this.sendFrom(msg, port, address, '', cb);
  }

  /**
   * Queue a datagram to address:port from the local address `local` (as
   * localOf gives it; '' = the kernel's choice). Datagrams of one
   * destination and source go to the kernel together.
   */
  sendFrom(msg: Uint8Array, port: number, address: string, local: string, cb?: (err: Error | null, bytes: number) => void): void {
    if (!this.handle) {
      if (cb) queueMicrotask(() => cb(new Error('socket is closed'), 0));
      return;
    }
    let q = this.last;
    if (q === null || q.port !== port || q.address !== address || q.local !== local) {
      const key = `${address}|${port}|${local}`;
      q = this.queues.get(key) ?? null;
      if (q === null) {
        q = { address, port, local, packets: [], cbs: null };
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
      const sent = q.local === '' ? this.addon.udpSend(h, q.address, q.port, q.packets, n) : this.addon.udpSend(h, q.address, q.port, q.packets, n, q.local);
      if (q.local !== '' && this.addon.udpSourceCleared(h)) this.onSourceGone?.(q.address, q.port, q.local);
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
