/**
 * The outer UDP socket: one dual-stack IPv6 socket when the host has IPv6,
 * else IPv4 only. IPv4-mapped addresses (::ffff:a.b.c.d) are unwrapped on
 * receive and re-wrapped on send, so the core only ever sees plain addresses.
 */
import { createSocket, type Socket } from 'node:dgram';
import { isIPv4 } from 'node:net';
import type { Endpoint } from '../transport/peer.js';

export type Receiver = (data: Uint8Array, from: Endpoint) => void;

export class UdpBind {
  private socket_: Socket | null = null;
  private dual = false;
  private family: 4 | 6 = 4;
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
    if (address !== undefined) {
      const v6 = address.includes(':');
      await this.bind(v6 ? 'udp6' : 'udp4', port, address);
      this.dual = false;
      this.family = v6 ? 6 : 4;
      return this.port;
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
    return this.port;
  }

  private bind(type: 'udp4' | 'udp6', port: number, address?: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const s = createSocket({ type, ipv6Only: false, reuseAddr: false, recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 } as never);
      const fail = (e: Error) => { s.close(); reject(e); };
      s.once('error', fail);
      s.bind({ port, address: address ?? (type === 'udp6' ? '::' : '0.0.0.0'), exclusive: true }, () => {
        s.off('error', fail);
        s.on('error', this.onError);
        s.on('message', (msg, rinfo) => {
          let address = rinfo.address;
          if (address.startsWith('::ffff:') && isIPv4(address.slice(7))) address = address.slice(7);
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
    let address = to.address;
    if (this.dual && isIPv4(address)) address = '::ffff:' + address;
    else if (!this.dual && isIPv4(address) !== (this.family === 4)) return; // not reachable from this socket
    s.send(data, to.port, address);
  }

  async close(): Promise<void> {
    const s = this.socket_;
    this.socket_ = null;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }
}
