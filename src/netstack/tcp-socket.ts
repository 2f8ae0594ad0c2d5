/**
 * A TCP connection as a Node Duplex stream (half-open allowed, like
 * net.Socket with allowHalfOpen). Writes go into the connection's send
 * buffer; the write callback is held while that buffer is full (peer
 * window, congestion window), so write() returns false and 'drain' follows
 * once ACKs make room. Received data is pushed; the advertised window is
 * what the readable side has not buffered, so a reader that stops reading
 * closes the window. Events: 'connect' (active open), 'data', 'end' (peer
 * FIN), 'finish' (our FIN acknowledged), 'error', 'close'.
 */
import { Duplex } from 'node:stream';
import type { ConnSocket, TcpConn } from './tcp-conn.js';
import type { TcpError } from './tcp-config.js';
import { formatIp } from '../ip/text.js';

export class TcpSocket extends Duplex implements ConnSocket {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly remoteFamily: 'IPv4' | 'IPv6';
  readonly localAddress: string;
  readonly localPort: number;
  connecting: boolean;
  private readonly conn: TcpConn;
  private written = 0;

  /** @internal made by the TCP layer. */
  constructor(conn: TcpConn, connecting: boolean) {
    super({ allowHalfOpen: true, readableHighWaterMark: 64 * 1024, writableHighWaterMark: 64 * 1024 });
    this.conn = conn;
    this.connecting = connecting;
    this.remoteAddress = formatIp(conn.remoteIp);
    this.remotePort = conn.remotePort;
    this.remoteFamily = conn.v === 4 ? 'IPv4' : 'IPv6';
    this.localAddress = formatIp(conn.localIp);
    this.localPort = conn.localPort;
  }

  /** The connection's state name (RFC 9293 section 3.3.2), for diagnostics. */
  get tcpState(): string {
    return this.conn.state;
  }

  /** The control block, for diagnostics and tests. */
  get tcb(): TcpConn {
    return this.conn;
  }

  /** Bytes received from the peer (as net.Socket.bytesRead). */
  get bytesRead(): number {
    return this.conn.bytesReceived;
  }

  /** Bytes handed to the connection by write() so far (as net.Socket.bytesWritten). */
  get bytesWritten(): number {
    return this.written;
  }

  address(): { address: string; family: string; port: number } {
    return { address: this.localAddress, family: this.remoteFamily, port: this.localPort };
  }

  setNoDelay(noDelay = true): this {
    this.conn.noDelay = noDelay;
    return this;
  }

  /** As net.Socket: enable keep-alive probes after `initialDelay` ms idle (0 keeps the current idle time). */
  setKeepAlive(enable = false, initialDelay = 0): this {
    this.conn.setKeepAlive(enable, initialDelay);
    return this;
  }

  /** Closes with a RST instead of FIN (as net.Socket.resetAndDestroy()). */
  resetAndDestroy(): this {
    this.conn.appDestroy(new Error('reset'), true);
    return this.destroy();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.written += chunk.length;
    this.conn.appWrite(chunk, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.conn.appEnd(cb);
  }

  override _read(): void {
    this.conn.appRead();
  }

  override read(size?: number): any {
    const r: unknown = super.read(size);
    this.conn.appRead();
    return r;
  }

  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    this.conn.appDestroy(err, this.readableLength > 0);
    cb(err);
  }

  // ---- ConnSocket: called by the connection, from the stack's deferred queue ----

  deliver(data: Buffer): void {
    this.push(data);
  }

  deliverEnd(): void {
    this.push(null);
  }

  connected(): void {
    this.connecting = false;
    this.emit('connect');
    this.emit('ready');
  }

  fail(err: TcpError): void {
    this.destroy(err);
  }
}
