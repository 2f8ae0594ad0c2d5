/**
 * The outer UDP socket: one dual-stack IPv6 socket when the host has IPv6,
 * else IPv4 only. IPv4-mapped addresses (::ffff:a.b.c.d) are unwrapped on
 * receive and re-wrapped on send, so the core only ever sees plain addresses.
 *
 * Per-datagram cost matters here (every tunnel packet passes once): endpoints
 * are already IP literals, so the socket's `lookup` answers synchronously
 * (dgram's default defers every send through dns.lookup and a nextTick), and
 * the wire form of an address is cached instead of re-tested per send.
 */
import { createSocket, type Socket } from 'node:dgram';
import { isIPv4 } from 'node:net';
import type { Endpoint } from '../transport/peer.js';
import { literalLookup } from '../nat/kernel-net.js';

export type Receiver = (data: Uint8Array, from: Endpoint) => void;

/** Socket buffer sizes asked for; the kernel caps them at net.core.[rw]mem_max. */
const SOCKET_BUFFER = 4 << 20;
/** Bound on the wire-address cache (one entry per distinct peer address seen). */
const ADDRESS_CACHE_MAX = 1024;


export class UdpBind {
  private socket_: Socket | null = null;
  private dual = false;
  private family: 4 | 6 = 4;
  /** Endpoint address -> the address string handed to dgram ('' = unreachable from this socket). */
  private readonly wire = new Map<string, string>();
  port = 0;

  constructor(
    private readonly onMessage: Receiver,
    private readonly onError: (e: Error) => void,
    /** Called after every successful bind, e.g. to set SO_MARK on the new socket. */
    private readonly onBound: (s: Socket) => void = () => {},
  ) {}

  /** The bound socket, for socket options (SO_MARK). */
  get socket(): Socket | null {
    return this.socket_;
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

  private bind(type: 'udp4' | 'udp6', port: number, address?: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const s = createSocket({
        type, ipv6Only: false, reuseAddr: false, recvBufferSize: SOCKET_BUFFER, sendBufferSize: SOCKET_BUFFER, lookup: literalLookup,
      } as never);
      const fail = (e: Error) => { s.close(); reject(e); };
      s.once('error', fail);
      s.bind({ port, address: address ?? (type === 'udp6' ? '::' : '0.0.0.0'), exclusive: true }, () => {
        s.off('error', fail);
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
        resolve();
      });
    });
  }

  send(data: Uint8Array, to: Endpoint): void {
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
    const s = this.socket_;
    this.socket_ = null;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }
}
