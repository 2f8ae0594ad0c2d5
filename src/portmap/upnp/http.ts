/**
 * A minimal HTTP/1.1 server for the IGD (RFC 9112): one request per
 * connection, Content-Length bodies only, every response closes. The parser
 * and the response writer are sans-IO; serveHttpConnection wires them to any
 * Duplex (net.Socket, the userspace stack's TcpSocket). No timers: the
 * driver adds idle timeouts.
 *
 *   bytes -> parseHttpRequest (incomplete | error status | request)
 *   -> handler(req, remote) -> formatHttpResponse -> write, end
 */
import type { NetSocket } from '../../host/net.js';

export interface HttpRequest {
  method: string;
  /** Path without the query string (absolute-form targets are reduced to their path). */
  path: string;
  /** Lower-case names. */
  headers: Map<string, string>;
  body: string;
}

export interface HttpResponse {
  status: number;
  headers?: Record<string, string>;
  body: string;
}

export type HttpHandler = (req: HttpRequest, remote: { address: string; port?: number | undefined }) => HttpResponse;

export interface HttpLimits {
  /** Request line + headers, in bytes (default 8192). */
  maxHeaderBytes?: number;
  /** Body, in bytes (default 65536). */
  maxBodyBytes?: number;
  /** Told why a request was refused before reaching the handler (a counted drop). */
  onReject?: (status: number, reason: string) => void;
}

export const DEFAULT_MAX_HEADER_BYTES = 8192;
export const DEFAULT_MAX_BODY_BYTES = 65536;

export type ParseResult =
  /** `need`: once the header is complete, the total byte count the request will have. */
  | { kind: 'incomplete'; need?: number; expectContinue?: boolean }
  | { kind: 'error'; status: number; reason: string }
  | { kind: 'request'; request: HttpRequest };

const REASONS: Record<number, string> = {
  100: 'Continue',
  200: 'OK',
  400: 'Bad Request',
  404: 'Not Found',
  405: 'Method Not Allowed',
  411: 'Length Required',
  413: 'Content Too Large',
  414: 'URI Too Long',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  505: 'HTTP Version Not Supported',
};

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function headerEnd(buf: Uint8Array, limit: number): number {
  const n = Math.min(buf.length, limit + 4);
  for (let i = 0; i + 3 < n; i++) {
    if (buf[i] === 13 && buf[i + 1] === 10 && buf[i + 2] === 13 && buf[i + 3] === 10) return i;
  }
  return -1;
}

/** Parse one request from the bytes received so far. */
export function parseHttpRequest(buf: Uint8Array, limits: HttpLimits = {}): ParseResult {
  const maxHeader = limits.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
  const maxBody = limits.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const err = (status: number, reason: string): ParseResult => ({ kind: 'error', status, reason });
  const end = headerEnd(buf, maxHeader);
  if (end < 0) {
    return buf.length > maxHeader ? err(431, 'header too large') : { kind: 'incomplete' };
  }
  if (end > maxHeader) return err(431, 'header too large');
  const head = Buffer.from(buf.buffer, buf.byteOffset, end).toString('latin1');
  const lines = head.split('\r\n');
  const rl = /^([A-Z]{1,16}) (\S{1,2048}) HTTP\/([0-9])\.([0-9])$/.exec(lines[0]!);
  if (!rl) return err(400, 'bad request line');
  if (rl[3] !== '1') return err(505, 'http version');
  let target = rl[2]!;
  const abs = /^https?:\/\/[^/?#]*(.*)$/i.exec(target);
  if (abs) target = abs[1] || '/';
  if (!target.startsWith('/')) return err(400, 'bad request target');
  const q = target.search(/[?#]/);
  const path = q >= 0 ? target.slice(0, q) : target;
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) return err(400, 'bad header line');
    const name = line.slice(0, colon).toLowerCase();
    if (!TOKEN.test(name)) return err(400, 'bad header name'); // also refuses obs-fold and "name :"
    const value = line.slice(colon + 1).trim();
    if (/[\u0000-\u0008\u000a-\u001f\u007f]/.test(value)) return err(400, 'control character in header');
    const prev = headers.get(name);
    if (prev !== undefined && name === 'content-length' && prev !== value) return err(400, 'conflicting content-length');
    if (prev !== undefined && name === 'host') return err(400, 'duplicate host');
    headers.set(name, prev !== undefined && name !== 'content-length' ? `${prev}, ${value}` : value);
  }
  if (rl[4] !== '0' && !headers.has('host')) return err(400, 'missing host');
  if (headers.has('transfer-encoding')) return err(501, 'transfer-encoding');
  const cl = headers.get('content-length');
  let length = 0;
  if (cl !== undefined) {
    if (!/^[0-9]{1,10}$/.test(cl)) return err(400, 'bad content-length');
    length = Number(cl);
  } else if (rl[1] === 'POST' || rl[1] === 'PUT') return err(411, 'length required');
  if (length > maxBody) return err(413, 'body too large');
  const start = end + 4;
  if (buf.length < start + length) {
    const expectContinue = (headers.get('expect') ?? '').toLowerCase() === '100-continue';
    return { kind: 'incomplete', need: start + length, expectContinue };
  }
  const body = Buffer.from(buf.buffer, buf.byteOffset + start, length).toString('utf8');
  return { kind: 'request', request: { method: rl[1]!, path, headers, body } };
}

/** The bytes of a response; adds Content-Length and Connection: close. */
export function formatHttpResponse(res: HttpResponse): Uint8Array {
  const body = Buffer.from(res.body, 'utf8');
  let head = `HTTP/1.1 ${res.status} ${REASONS[res.status] ?? 'Unknown'}\r\n`;
  for (const [k, v] of Object.entries(res.headers ?? {})) {
    const lk = k.toLowerCase();
    if (lk === 'content-length' || lk === 'connection') continue;
    head += `${k.replace(/[^!#$%&'*+.^_`|~0-9A-Za-z-]/g, '')}: ${String(v).replace(/[\r\n]/g, '')}\r\n`;
  }
  head += `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

function errorResponse(status: number): HttpResponse {
  return { status, headers: { 'Content-Type': 'text/plain' }, body: `${status} ${REASONS[status] ?? 'Error'}\n` };
}

/**
 * Read one request from `sock`, answer it through `handler`, then end the
 * socket. Malformed or oversized requests get 400/411/413/431/501/505; a
 * handler that throws gets 500. Never throws; socket errors end the exchange.
 */
export function serveHttpConnection(sock: NetSocket, handler: HttpHandler, limits: HttpLimits = {}): void {
  const cap = (limits.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES) + 4 + (limits.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES);
  let chunks: Buffer[] = [];
  let size = 0;
  let need = 0; // bytes the whole request has, once its header was parsed
  let done = false;
  let continued = false;

  const finish = (res: HttpResponse): void => {
    done = true;
    chunks = [];
    sock.removeListener('data', onData);
    sock.removeListener('end', onEnd);
    try {
      sock.end(formatHttpResponse(res));
    } catch {
      sock.destroy();
      return;
    }
    sock.on('data', () => {}); // drain whatever else arrives until the peer closes
  };
  const reject = (status: number, reason: string): void => {
    limits.onReject?.(status, reason);
    finish(errorResponse(status));
  };
  const onData = (chunk: Buffer | string): void => {
    if (done) return;
    const b = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk;
    chunks.push(b);
    size += b.length;
    if (need > 0 && size < need) return; // body still arriving: no re-parse per chunk
    const buf = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    chunks = [buf];
    const r = parseHttpRequest(buf, limits);
    if (r.kind === 'error') return reject(r.status, r.reason);
    if (r.kind === 'incomplete') {
      if (size > cap) return reject(413, 'request too large'); // (the parser's own limits fire first)
      need = r.need ?? 0;
      if (r.expectContinue && !continued) {
        continued = true;
        try {
          sock.write('HTTP/1.1 100 Continue\r\n\r\n');
        } catch {
          /* the end() below reports nothing either; the peer is gone */
        }
      }
      return;
    }
    let res: HttpResponse;
    try {
      res = handler(r.request, { address: sock.remoteAddress ?? '', port: sock.remotePort });
    } catch {
      limits.onReject?.(500, 'handler threw');
      res = errorResponse(500);
    }
    finish(res);
  };
  const onEnd = (): void => {
    if (!done) reject(400, 'connection closed mid-request');
  };
  sock.on('data', onData);
  sock.on('end', onEnd);
  sock.on('error', () => {
    done = true;
    sock.destroy();
  });
  sock.resume();
}
