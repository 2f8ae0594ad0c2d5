/**
 * One UAPI stream connection, sans-IO: bytes in (feed/end) -> response texts
 * out, and a `closed` flag telling the driver to end the stream.
 * Framing follows wireguard-go's IpcHandle (device/uapi.go): an operation line
 * `get=1\n` (which must be followed by one more '\n') or `set=1\n` (then key=value
 * lines up to a blank line); any other operation closes the connection without a
 * response. Every response ends in `errno=N\n\n`. Several requests may follow each
 * other on one connection. A set stops at its first bad line: the errno is sent
 * and the connection closed, which is what a wireguard-go client observes too
 * (wireguard-go then reads the rest of the request as operations and hangs up).
 * Memory is bounded: an operation line is at most 8 bytes, a set line at most
 * 65535 bytes (bufio.Scanner's limit: -EIO beyond), a whole set request at most
 * `maxRequestBytes` (-ENOMEM beyond); both overflow cases close the connection.
 */
import type { UapiBackend } from './types.js';
import { normalizeErrno, UAPI_EINVAL, UAPI_EIO, UAPI_ENOMEM, UAPI_EUNKNOWN } from './errno.js';
import { serializeGet } from './get.js';
import { SetParser } from './set.js';

/** Longest set line accepted, without its '\n' (bufio.MaxScanTokenSize - 1). */
export const UAPI_MAX_LINE = 65535;
/** Default cap on one set request's size: a few tens of thousands of peers. */
export const UAPI_DEFAULT_MAX_REQUEST = 4 << 20;

const OP_GET = 'get=1\n';
const OP_SET = 'set=1\n';
/**
 * wgts extension, never sent by wg(8): `stats=1\n\n` answers counters that
 * the wg protocol has no key for (drops by reason, forwards), as key=value
 * lines ending with errno=0. A wireguard-go socket hangs up on it.
 */
const OP_STATS = 'stats=1\n';
const OPS = [OP_GET, OP_SET, OP_STATS];
const MAX_OP = Math.max(...OPS.map((o) => o.length));

export interface UapiConnectionOptions {
  /** Cap on the bytes of one set request (after `set=1\n`). Default UAPI_DEFAULT_MAX_REQUEST. */
  maxRequestBytes?: number;
  /** Diagnostics for the driver's log (why a request failed or the connection closed). No key material. */
  onEvent?: (message: string) => void;
}

type Mode = 'op' | 'getNewline' | 'statsNewline' | 'set' | 'closed';

function errnoResponse(errno: number): string {
  return `errno=${errno}\n\n`;
}

export class UapiConnection {
  private readonly backend: UapiBackend;
  private readonly maxRequestBytes: number;
  private readonly onEvent: (message: string) => void;
  private mode: Mode = 'op';
  /** Bytes of the current, not yet complete line (operation or set line). */
  private pending: Buffer[] = [];
  private pendingLen = 0;
  private parser: SetParser | null = null;
  private requestBytes = 0;

  constructor(backend: UapiBackend, opts: UapiConnectionOptions = {}) {
    this.backend = backend;
    this.maxRequestBytes = opts.maxRequestBytes ?? UAPI_DEFAULT_MAX_REQUEST;
    this.onEvent = opts.onEvent ?? (() => {});
  }

  /** True once the driver should end the stream (after writing the last responses). */
  get closed(): boolean {
    return this.mode === 'closed';
  }

  /** Process received bytes; returns the responses to write, in order. */
  feed(chunk: Buffer | Uint8Array | string): string[] {
    const data = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const out: string[] = [];
    let i = 0;
    while (i < data.length && this.mode !== 'closed') {
      if (this.mode === 'op') i = this.feedOp(data, i);
      else if (this.mode === 'getNewline') i = this.feedGetNewline(data, i, out);
      else if (this.mode === 'statsNewline') i = this.feedStatsNewline(data, i, out);
      else i = this.feedSet(data, i, out);
    }
    return out;
  }

  /**
   * The peer finished sending (EOF). Like wireguard-go, a set request cut short
   * is still completed (its last unterminated line included) and answered; a
   * partial operation or get gets no answer. The connection is closed after.
   */
  end(): string[] {
    const out: string[] = [];
    if (this.mode === 'set') {
      const last = this.takeLine();
      if (last === '' || last === '\r' || this.setLine(last, out)) this.finishSet(out);
    }
    this.close('peer closed the connection');
    return out;
  }

  private close(reason: string): void {
    if (this.mode === 'closed') return;
    this.mode = 'closed';
    this.pending = [];
    this.pendingLen = 0;
    this.parser = null;
    this.onEvent(`uapi: closing connection: ${reason}`);
  }

  private push(buf: Buffer): void {
    if (buf.length === 0) return;
    this.pending.push(buf);
    this.pendingLen += buf.length;
  }

  private takeLine(): string {
    const s = Buffer.concat(this.pending, this.pendingLen).toString('utf8');
    this.pending = [];
    this.pendingLen = 0;
    return s;
  }

  private feedOp(data: Buffer, i: number): number {
    // Take at most what could still complete "get=1\n" / "set=1\n".
    const want = MAX_OP - this.pendingLen;
    const end = Math.min(data.length, i + want);
    const nl = data.indexOf(0x0a, i);
    const stop = nl !== -1 && nl < end ? nl + 1 : end;
    this.push(data.subarray(i, stop));
    const s = Buffer.concat(this.pending, this.pendingLen).toString('latin1');
    if (OPS.includes(s)) {
      this.pending = [];
      this.pendingLen = 0;
      if (s === OP_GET) {
        this.mode = 'getNewline';
      } else if (s === OP_STATS) {
        this.mode = 'statsNewline';
      } else {
        this.mode = 'set';
        this.parser = new SetParser();
        this.requestBytes = 0;
      }
    } else if (!OPS.some((o) => o.startsWith(s))) {
      this.close('invalid operation');
    }
    return stop;
  }

  private feedGetNewline(data: Buffer, i: number, out: string[]): number {
    this.mode = 'op';
    if (data[i] !== 0x0a) {
      this.onEvent('uapi: get: trailing character after get=1');
      out.push(errnoResponse(UAPI_EINVAL));
    } else {
      out.push(this.doGet());
    }
    return i + 1;
  }

  private feedSet(data: Buffer, i: number, out: string[]): number {
    const nl = data.indexOf(0x0a, i);
    const end = nl === -1 ? data.length : nl;
    const consumed = (nl === -1 ? end : nl + 1) - i;
    if (this.pendingLen + (end - i) > UAPI_MAX_LINE) {
      out.push(errnoResponse(UAPI_EIO));
      this.close('set: line too long');
      return data.length;
    }
    this.requestBytes += consumed;
    if (this.requestBytes > this.maxRequestBytes) {
      out.push(errnoResponse(UAPI_ENOMEM));
      this.close('set: request too large');
      return data.length;
    }
    this.push(data.subarray(i, end));
    if (nl === -1) return data.length;
    const line = this.takeLine();
    if (line === '' || line === '\r') this.finishSet(out);
    else this.setLine(line, out);
    return nl + 1;
  }

  /** Returns false (after answering and closing) when the line is rejected. */
  private setLine(line: string, out: string[]): boolean {
    const err = this.parser!.line(line);
    if (err === null) return true;
    this.onEvent(`uapi: set: ${err.reason} (errno=${err.errno})`);
    out.push(errnoResponse(err.errno));
    this.close('set request rejected');
    return false;
  }

  private finishSet(out: string[]): void {
    const req = this.parser!.finish();
    this.parser = null;
    this.mode = 'op';
    let errno: number;
    try {
      errno = normalizeErrno(this.backend.apply(req).errno);
    } catch {
      errno = UAPI_EUNKNOWN;
    }
    if (errno !== 0) this.onEvent(`uapi: set: device refused the configuration (errno=${errno})`);
    out.push(errnoResponse(errno));
  }

  private feedStatsNewline(data: Buffer, i: number, out: string[]): number {
    this.mode = 'op';
    if (data[i] !== 0x0a) {
      out.push(errnoResponse(UAPI_EINVAL));
      return i + 1;
    }
    try {
      const lines = (this.backend.stats?.() ?? []).map(([k, v]) => `${k}=${v}\n`);
      out.push(lines.join('') + 'errno=0\n\n');
    } catch {
      out.push(errnoResponse(UAPI_EUNKNOWN));
    }
    return i + 1;
  }

  private doGet(): string {
    try {
      return serializeGet(this.backend.view());
    } catch {
      this.onEvent('uapi: get: device view failed');
      return errnoResponse(UAPI_EUNKNOWN);
    }
  }
}
