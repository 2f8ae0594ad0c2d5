/**
 * TunnelSocket: the stream a program gets for a TCP connection through the
 * tunnel, shaped like net.Socket ('connect', 'data', 'end', 'close',
 * 'error' with `code`, remoteAddress/remotePort, setNoDelay/setKeepAlive/
 * setTimeout, ref/unref, half-close). It stands in front of the real socket
 * (the userspace stack's TcpSocket, or a kernel net.Socket in TUN mode),
 * which may arrive later (after a name lookup) or never (the error then).
 *
 *   write() -> [held until attach] -> inner.write(chunk, cb)   cb = room again
 *   inner 'data' -> push(); push() false -> inner.pause(); _read -> inner.resume()
 *   inner 'end' -> push(null)      end() -> inner.end()       (half-close)
 *   inner 'error' / destroy() -> both sides destroyed, idle timer cleared
 */
import { Duplex } from 'node:stream';
import type { NetSocket } from '../host/net.js';

type Pending = { chunk: Buffer; cb: (err?: Error | null) => void };

export class TunnelSocket extends Duplex {
  remoteAddress: string | undefined;
  remotePort: number | undefined;
  remoteFamily: string | undefined;
  localAddress: string | undefined;
  localPort: number | undefined;
  connecting = true;
  private inner: NetSocket | null = null;
  private pending: Pending[] = [];
  private pendingFinal: ((err?: Error | null) => void) | null = null;
  private noDelay: boolean | null = null;
  private keepAlive: [boolean, number] | null = null;
  private idleMs = 0;
  private idleTimer: NodeJS.Timeout | null = null;
  private written = 0;
  private read_ = 0;

  /** allowHalfOpen false (net.Socket's default): our side ends when the peer's does. */
  constructor(opts: { allowHalfOpen?: boolean } = {}) {
    super({ allowHalfOpen: opts.allowHalfOpen ?? false, readableHighWaterMark: 64 * 1024, writableHighWaterMark: 64 * 1024 });
  }

  /** Bytes received (as net.Socket.bytesRead). */
  get bytesRead(): number {
    return this.read_;
  }

  /** Bytes given to write() so far (as net.Socket.bytesWritten). */
  get bytesWritten(): number {
    return this.written;
  }

  /** The stream is open (as net.Socket.readyState). */
  get readyState(): string {
    if (this.connecting) return 'opening';
    if (this.readable && this.writable) return 'open';
    if (this.readable) return 'readOnly';
    if (this.writable) return 'writeOnly';
    return 'closed';
  }

  /**
   * Connect to the real socket. `established`: it is connected already (an
   * accepted one); otherwise 'connect' is awaited.
   * @internal
   */
  attach(inner: NetSocket, established: boolean): void {
    if (this.destroyed) {
      inner.destroy();
      return;
    }
    this.inner = inner;
    if (this.noDelay !== null) (inner as { setNoDelay?(b: boolean): unknown }).setNoDelay?.(this.noDelay);
    if (this.keepAlive) (inner as { setKeepAlive?(b: boolean, d: number): unknown }).setKeepAlive?.(...this.keepAlive);
    inner.on('data', (d: Buffer) => {
      this.read_ += d.length;
      this.touch();
      if (!this.push(d)) inner.pause();
    });
    inner.on('end', () => this.push(null));
    inner.on('error', (e: Error) => this.destroy(e));
    inner.on('close', () => {
      // Both directions are done (or it failed, and 'error' destroyed us already).
      if (this.destroyed) return;
      if (this.readableEnded || this.readableLength === 0) this.destroy();
      else this.once('end', () => this.destroy());
    });
    const ready = (): void => {
      this.connecting = false;
      this.remoteAddress = inner.remoteAddress;
      this.remotePort = inner.remotePort;
      this.remoteFamily = (inner as { remoteFamily?: string }).remoteFamily ?? (inner.remoteAddress?.includes(':') ? 'IPv6' : 'IPv4');
      this.localAddress = inner.localAddress;
      this.localPort = inner.localPort;
      const held = this.pending;
      this.pending = [];
      for (const p of held) inner.write(p.chunk, p.cb);
      if (this.pendingFinal) this.endInner(this.pendingFinal);
      if (inner.isPaused()) inner.resume();
      this.touch();
      this.emit('connect');
      this.emit('ready');
    };
    if (established) queueMicrotask(ready);
    else inner.once('connect', ready);
  }

  /** The connection could not be made (lookup, route or connect error). @internal */
  fail(err: Error): void {
    process.nextTick(() => this.destroy(err));
  }

  address(): { address: string; family: string; port: number } | Record<string, never> {
    if (this.localAddress === undefined) return {};
    return { address: this.localAddress, family: this.remoteFamily ?? 'IPv4', port: this.localPort ?? 0 };
  }

  setNoDelay(noDelay = true): this {
    this.noDelay = noDelay;
    (this.inner as { setNoDelay?(b: boolean): unknown } | null)?.setNoDelay?.(noDelay);
    return this;
  }

  setKeepAlive(enable = false, initialDelay = 0): this {
    this.keepAlive = [enable, initialDelay];
    (this.inner as { setKeepAlive?(b: boolean, d: number): unknown } | null)?.setKeepAlive?.(enable, initialDelay);
    return this;
  }

  /** As net.Socket: emit 'timeout' after `ms` without activity (0 turns it off); the socket stays open. */
  setTimeout(ms: number, cb?: () => void): this {
    this.idleMs = ms;
    if (cb) (ms === 0 ? this.off('timeout', cb) : this.once('timeout', cb));
    this.touch();
    return this;
  }

  /** Tunnel sockets do not hold the process open themselves (the tunnel does). */
  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }

  /** Close with a RST where the real socket can (as net.Socket.resetAndDestroy). */
  resetAndDestroy(): this {
    this.inner?.resetAndDestroy?.();
    return this.destroy();
  }

  private touch(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    if (this.idleMs > 0 && !this.destroyed) {
      this.idleTimer = setTimeout(() => {
        this.idleTimer = null;
        this.emit('timeout');
      }, this.idleMs);
      this.idleTimer.unref();
    }
  }

  private endInner(cb: (err?: Error | null) => void): void {
    this.pendingFinal = null;
    const inner = this.inner!;
    let done = false;
    const once = (err?: Error | null): void => {
      if (!done) (done = true), cb(err);
    };
    inner.once('error', once);
    inner.end(() => once());
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.written += chunk.length;
    this.touch();
    if (this.inner && !this.connecting) this.inner.write(chunk, (err?: Error | null) => cb(err));
    else this.pending.push({ chunk, cb });
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.inner && !this.connecting) this.endInner(cb);
    else this.pendingFinal = cb;
  }

  override _read(): void {
    if (this.inner?.isPaused()) this.inner.resume();
  }

  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    this.idleMs = 0;
    const inner = this.inner;
    if (inner && !inner.destroyed) inner.destroy();
    cb(err);
  }
}
