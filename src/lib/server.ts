/**
 * TunnelServer: net.Server's shape for connections that arrive through the
 * tunnel. listen(port) listens on every Address of the interface (or the
 * one given), and each accepted connection reaches the handler and the
 * 'connection' event as a TunnelSocket.
 *
 *   listen(port[, host][, cb]) -> TunnelNet.listenTcp per address -> 'listening'
 *   accepted NetSocket -> TunnelSocket.attach(established) -> 'connection'
 *   close([cb]) -> listeners closed (accepted sockets are left to their owners, as net.Server)
 */
import { EventEmitter } from 'node:events';
import type { NetListener, TunnelNet } from '../host/net.js';
import { TunnelSocket } from '../proxy/socket.js';

export class TunnelServer extends EventEmitter {
  private bound_: NetListener[] = [];
  private bound: { address: string; family: string; port: number } | null = null;
  private readonly sockets = new Set<TunnelSocket>();

  /** @internal made by Tunnel.createServer. */
  constructor(
    private readonly net: TunnelNet,
    private readonly addresses: () => string[],
    private readonly opts: { allowHalfOpen?: boolean },
    handler?: (s: TunnelSocket) => void,
    private readonly onClose?: (s: TunnelServer) => void,
  ) {
    super();
    if (handler) this.on('connection', handler);
  }

  get listening(): boolean {
    return this.bound_.length > 0;
  }

  /** listen(port[, host][, cb]) or listen({ port, host }[, cb]); errors (EADDRINUSE...) come as 'error'. */
  listen(port: number | { port: number; host?: string }, host?: string | (() => void), cb?: () => void): this {
    const o = typeof port === 'object' ? port : { port, ...(typeof host === 'string' ? { host } : {}) };
    const done = typeof host === 'function' ? host : cb;
    if (done) this.once('listening', done);
    void this.start(o.port, o.host).then(
      () => this.emit('listening'),
      (e: Error) => this.emit('error', e),
    );
    return this;
  }

  private async start(port: number, host?: string): Promise<void> {
    const hosts = host !== undefined ? [host] : this.addresses();
    if (hosts.length === 0) throw Object.assign(new Error('listen EADDRNOTAVAIL: the interface has no Address'), { code: 'EADDRNOTAVAIL' });
    let p = port;
    const got: NetListener[] = [];
    try {
      for (const h of hosts) {
        const l = await this.net.listenTcp({ host: h, port: p }, (s) => this.accept(s));
        got.push(l);
        p = l.port; // port 0: every address gets the port the first one drew
      }
    } catch (e) {
      for (const l of got) l.close();
      throw e;
    }
    this.bound_ = got;
    const first = got[0]!;
    this.bound = { address: first.address, family: first.address.includes(':') ? 'IPv6' : 'IPv4', port: first.port };
  }

  private accept(inner: Parameters<TunnelSocket['attach']>[0]): void {
    const s = new TunnelSocket(this.opts);
    this.sockets.add(s);
    s.once('close', () => this.sockets.delete(s));
    s.attach(inner, true);
    s.once('connect', () => this.emit('connection', s));
  }

  address(): { address: string; family: string; port: number } | null {
    return this.bound;
  }

  close(cb?: (err?: Error) => void): this {
    for (const l of this.bound_) l.close();
    this.bound_ = [];
    this.onClose?.(this);
    queueMicrotask(() => {
      this.emit('close');
      cb?.();
    });
    return this;
  }

  /** Destroy the connections this server accepted (Tunnel.close does this). */
  closeAllConnections(): void {
    for (const s of this.sockets) s.destroy();
  }
}
