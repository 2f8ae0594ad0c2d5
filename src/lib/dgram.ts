/**
 * TunnelUdpSocket: dgram.Socket's shape for UDP through the tunnel. The
 * real socket (the stack's, or a kernel one in TUN mode) is bound on
 * bind() or on the first send(), as dgram binds implicitly.
 *
 *   bind([port][, address][, cb]) -> TunnelNet.udpSocket -> 'listening'
 *   send(msg, port, address[, cb])  (waits for the bind)  'message' (msg, rinfo)
 *   close([cb]) -> 'close'
 */
import { EventEmitter } from 'node:events';
import type { NetUdpSocket, TunnelNet } from '../host/net.js';

type SendCb = (err: Error | null, bytes: number) => void;

export class TunnelUdpSocket extends EventEmitter {
  private sock: NetUdpSocket | null = null;
  private binding: Promise<NetUdpSocket> | null = null;
  private closed = false;

  /** @internal made by Tunnel.createSocket. */
  constructor(
    private readonly net: TunnelNet,
    readonly type: 'udp4' | 'udp6',
    private readonly onClose?: (s: TunnelUdpSocket) => void,
  ) {
    super();
  }

  /** bind([port][, address][, cb]) or bind({ port, address }[, cb]). */
  bind(port?: number | { port?: number; address?: string } | (() => void), address?: string | (() => void), cb?: () => void): this {
    let o: { port?: number; address?: string } = {};
    let done: (() => void) | undefined;
    if (typeof port === 'function') done = port;
    else if (typeof port === 'object') (o = port), (done = typeof address === 'function' ? address : undefined);
    else {
      o = { ...(port !== undefined ? { port } : {}), ...(typeof address === 'string' ? { address } : {}) };
      done = typeof address === 'function' ? address : cb;
    }
    if (done) this.once('listening', done);
    void this.ensureBound(o).catch(() => {});
    return this;
  }

  private ensureBound(o: { port?: number; address?: string } = {}): Promise<NetUdpSocket> {
    if (this.closed) return Promise.reject(Object.assign(new Error('Not running'), { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' }));
    this.binding ??= this.net.udpSocket({ family: this.type === 'udp4' ? 4 : 6, ...o }).then(
      (s) => {
        if (this.closed) {
          s.close();
          throw Object.assign(new Error('Not running'), { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' });
        }
        this.sock = s;
        s.on('message', (msg, rinfo) => this.emit('message', msg, { ...rinfo, family: rinfo.address.includes(':') ? 'IPv6' : 'IPv4', size: msg.length }));
        s.on('error', (e) => this.emit('error', e));
        this.emit('listening');
        return s;
      },
      (e: Error) => {
        this.emit('error', e);
        throw e;
      },
    );
    return this.binding;
  }

  send(msg: Uint8Array | string, port: number, address: string, cb?: SendCb): void {
    const data = typeof msg === 'string' ? Buffer.from(msg) : msg;
    const go = (s: NetUdpSocket): void =>
      s.send(data, port, address, (err, n) => {
        if (cb) cb(err, n);
        else if (err) this.emit('error', err);
      });
    if (this.sock) go(this.sock);
    else this.ensureBound().then(go, (e: Error) => cb?.(e, 0));
  }

  address(): { address: string; family: string; port: number } {
    if (!this.sock) throw Object.assign(new Error('getsockname EBADF'), { code: 'EBADF' });
    const a = this.sock.address();
    return { ...a, family: a.address.includes(':') ? 'IPv6' : 'IPv4' };
  }

  close(cb?: () => void): this {
    if (cb) this.once('close', cb);
    if (this.closed) return this;
    this.closed = true;
    this.onClose?.(this);
    const s = this.sock;
    this.sock = null;
    if (s) s.close(() => this.emit('close'));
    else queueMicrotask(() => this.emit('close'));
    return this;
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }
}
