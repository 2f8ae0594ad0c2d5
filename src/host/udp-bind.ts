/**
 * The outer UDP socket: one dual-stack IPv6 socket when the host has IPv6,
 * else IPv4 only. With the addon (native/udp.c) it is a NativeUdpSocket:
 * batched receives with UDP GRO, sends queued and flushed as sendmmsg/GSO
 * (flushAll in native-udp.ts); otherwise node:dgram. IPv4-mapped addresses (::ffff:a.b.c.d) are unwrapped on
 * receive and re-wrapped on send, so the core only ever sees plain addresses.
 *
 * Sticky source (native sockets only): each received datagram's endpoint
 * carries `local`, the address it was sent to; a send to an endpoint with
 * `local` leaves from it. When that address is gone the addon sends from the
 * kernel's choice and onSourceGone says which, so the owner can forget it.
 * node:dgram cannot do either (no control messages): replies leave from the
 * kernel's choice of source.
 *
 * Per-datagram cost matters here (every tunnel packet passes once): endpoints
 * are already IP literals, so the socket's `lookup` answers synchronously
 * (dgram's default defers every send through dns.lookup and a nextTick), and
 * the wire form of an address is cached instead of re-tested per send.
 */
import type { Socket } from 'node:dgram';
import { isIPv4 } from 'node:net';
import type { Endpoint } from '../transport/peer.js';
import { bindDgram, literalLookup } from './dgram.js';
import { NativeUdpSocket, nativeUdp, type NativeUdpAddon } from './native-udp.js';
import type { MarkableSocket } from './mark.js';

export type Receiver = (data: Uint8Array, from: Endpoint) => void;

/** Socket buffer sizes asked for; the kernel caps them at net.core.[rw]mem_max. */
const SOCKET_BUFFER = 4 << 20;
/** Bound on the wire-address cache (one entry per distinct peer address seen). */
const ADDRESS_CACHE_MAX = 1024;


export class UdpBind {
  private socket_: Socket | null = null;
  private native_: NativeUdpSocket | null = null;
  private readonly addon: NativeUdpAddon | null;
  private dual = false;
  private family: 4 | 6 = 4;
  /** Endpoint address -> the address string handed to dgram ('' = unreachable from this socket). */
  private readonly wire = new Map<string, string>();
  port = 0;
  /** True while a received batch is being delivered (onBatchEnd follows it). */
  batching = false;

  constructor(
    private readonly onMessage: Receiver,
    private readonly onError: (e: Error) => void,
    /** Called after every successful bind, e.g. to set SO_MARK on the new socket. */
    private readonly onBound: (s: MarkableSocket) => void = () => {},
    private readonly opts: {
      /** Use the addon's batched sockets when it is there (default: yes, unless WGTS_NATIVE_UDP=0). */
      native?: boolean;
      /** Datagrams the kernel refused (native sockets: a full send buffer, an unreachable network), by code. */
      onDrop?: (code: string, count: number) => void;
      /** After the last datagram of a received batch (native sockets; dgram delivers one at a time). */
      onBatchEnd?: () => void;
      /** A local address endpoints were sending from is gone (native sockets). */
      onSourceGone?: (local: string) => void;
    } = {},
  ) {
    this.addon = opts.native === false ? null : nativeUdp();
  }

  /** The bound socket, for socket options (SO_MARK). */
  get socket(): MarkableSocket | null {
    return this.native_ ?? this.socket_;
  }

  /** 'native' (batched system calls, with GSO/GRO/pktinfo when the kernel has them) or 'dgram'. */
  get kind(): string {
    const n = this.native_;
    if (!n) return 'dgram';
    return `native${n.gso ? ' gso' : ''}${n.gro ? ' gro' : ''}${n.pktinfo ? ' pktinfo' : ''}`;
  }

  /** Whether replies can leave from the address each peer sent to (a native socket with pktinfo). */
  get stickySource(): boolean {
    return this.native_?.pktinfo === true;
  }

  /** Bind `port` (0 = random). Rejects with EADDRINUSE and friends. */
  async open(port: number, address?: string): Promise<number> {
    await this.openSocket(port, address);
    this.wire.clear(); // the cached forms depend on dual/family
    return this.port;
  }

  private async openSocket(port: number, address?: string): Promise<void> {
    if (address !== undefined) {
      const v6 = address.includes(':');
      await this.bind(v6 ? 'udp6' : 'udp4', port, address);
      this.dual = false;
      this.family = v6 ? 6 : 4;
      return;
    }
    try {
      await this.bind('udp6', port);
      this.dual = true;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL' && code !== 'EINVAL') throw e;
      await this.bind('udp4', port);
      this.dual = false;
      this.family = 4;
    }
  }

  private async bind(type: 'udp4' | 'udp6', port: number, address?: string): Promise<void> {
    if (this.addon) return this.bindNative(this.addon, type, port, address);
    // node:dgram only without the addon (it is ~0.8 MB resident).
    const { createSocket } = await import('node:dgram');
    const s = await bindDgram(createSocket({
      type, ipv6Only: false, reuseAddr: false, recvBufferSize: SOCKET_BUFFER, sendBufferSize: SOCKET_BUFFER, lookup: literalLookup,
    } as never), { port, address: address ?? (type === 'udp6' ? '::' : '0.0.0.0'), exclusive: true });
    s.on('error', this.onError);
    s.on('message', (msg, rinfo) => {
      let address = rinfo.address;
      // The kernel writes mapped addresses only as ::ffff:a.b.c.d.
      if (address.length > 7 && address.startsWith('::ffff:') && address.includes('.')) address = address.slice(7);
      this.onMessage(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength), { address, port: rinfo.port });
    });
    this.socket_ = s;
    this.port = s.address().port;
    this.onBound(s);
  }

  private async bindNative(addon: NativeUdpAddon, type: 'udp4' | 'udp6', port: number, address?: string): Promise<void> {
    const s = new NativeUdpSocket(addon, {
      family: type === 'udp6' ? 6 : 4, address: address ?? '', port, v6only: false,
      rcvbuf: SOCKET_BUFFER, sndbuf: SOCKET_BUFFER, gro: true, pktinfo: true,
    });
    s.on('error', this.onError);
    if (this.opts.onDrop) s.onDrop = this.opts.onDrop;
    const gone = this.opts.onSourceGone;
    if (gone) s.onSourceGone = (_address, _port, local) => gone(local);
    s.onBatch = (buf, lens, meta, count) => {
      let off = 0;
      this.batching = true;
      try {
        for (let i = 0; i < count && this.native_ === s; i++) {
          const len = lens[i]!;
          const from = s.source(meta, i);
          this.onMessage(new Uint8Array(buf, off, len), from.local ? { address: from.address, port: from.port, local: from.local } : { address: from.address, port: from.port });
          off += len;
        }
      } finally {
        this.batching = false;
      }
      this.opts.onBatchEnd?.();
    };
    this.native_ = s;
    this.port = s.address().port;
    this.onBound(s);
  }

  /** Hand datagrams queued by send() to the kernel now (native sockets batch them; dgram sends at once). */
  flush(): void {
    this.native_?.flush();
  }

  send(data: Uint8Array, to: Endpoint): void {
    const n = this.native_;
    if (n) {
      n.sendFrom(data, to.port, to.address, to.local ?? ''); // the addon maps IPv4 for a dual-stack socket, and counts what this socket cannot reach
      return;
    }
    const s = this.socket_;
    if (!s) return;
    let address = this.wire.get(to.address);
    if (address === undefined) {
      address = this.wireAddress(to.address);
      if (this.wire.size >= ADDRESS_CACHE_MAX) this.wire.clear();
      this.wire.set(to.address, address);
    }
    if (address === '') return; // not reachable from this socket
    s.send(data, to.port, address);
  }

  private wireAddress(address: string): string {
    const v4 = isIPv4(address);
    if (this.dual) return v4 ? '::ffff:' + address : address;
    return v4 === (this.family === 4) ? address : '';
  }

  async close(): Promise<void> {
    const n = this.native_;
    this.native_ = null;
    if (n) await new Promise<void>((r) => n.close(() => r()));
    const s = this.socket_;
    this.socket_ = null;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }
}
