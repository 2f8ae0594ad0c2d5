/**
 * An HTTP proxy into the tunnel, as wireproxy's [http]: CONNECT (any TCP,
 * e.g. https) and absolute-URI requests (`GET http://host/path`), with
 * Basic authentication when the section has credentials (407 otherwise).
 * node:http parses the client's requests and makes the upstream ones.
 *
 *   CONNECT host:port -> auth -> dial -> "200 Connection Established" -> relay
 *   GET http://h/p    -> auth -> http.request via the tunnel agent -> response piped back
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse, type OutgoingHttpHeaders } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ProxyConfig } from '../config/proxy.js';
import type { TunnelDialer } from './dial.js';
import { TunnelHttpAgent } from './agents.js';
import { countRefused, credentialsOf, listenOn, newStats, relay, type Credentials, type ProxyStats } from './relay.js';

/** Hop-by-hop headers (RFC 9110 section 7.6.1) and the proxy's own, not passed upstream. */
const HOP = new Set(['connection', 'keep-alive', 'proxy-authorization', 'proxy-authenticate', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

const STATUS_FOR: Record<string, number> = { ECONNREFUSED: 502, EHOSTUNREACH: 502, ENOTFOUND: 502, ETIMEDOUT: 504 };

export class HttpProxyServer {
  readonly stats: ProxyStats;
  private server: Server | null = null;
  private readonly creds: Credentials | null;
  private readonly agent: TunnelHttpAgent;
  private readonly tunnels = new Set<Duplex>();

  constructor(
    private readonly cfg: ProxyConfig,
    private readonly dialer: TunnelDialer,
  ) {
    this.creds = credentialsOf(cfg);
    this.stats = newStats(cfg);
    this.agent = new TunnelHttpAgent(dialer, { keepAlive: true });
  }

  async start(): Promise<{ address: string; port: number }> {
    const server = createServer((req, res) => this.onRequest(req, res));
    server.on('connect', (req: IncomingMessage, sock: Duplex, head: Buffer) => this.onConnect(req, sock, head));
    server.on('clientError', (_e, sock: Duplex) => {
      countRefused(this.stats, 'bad-request');
      if (!sock.destroyed) sock.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    });
    this.server = server;
    return listenOn(server, this.cfg, this.stats);
  }

  async close(): Promise<void> {
    for (const t of this.tunnels) t.destroy();
    this.agent.destroy();
    const s = this.server;
    this.server = null;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }

  private authorized(req: IncomingMessage): boolean {
    if (!this.creds) return true;
    const h = req.headers['proxy-authorization'];
    const m = typeof h === 'string' ? /^basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(h) : null;
    if (!m) return false;
    const text = Buffer.from(m[1]!, 'base64');
    const colon = text.indexOf(0x3a);
    if (colon < 0) return false;
    return this.creds.check(text.subarray(0, colon), text.subarray(colon + 1));
  }

  private onConnect(req: IncomingMessage, sock: Duplex, head: Buffer): void {
    sock.on('error', () => sock.destroy());
    if (!this.authorized(req)) {
      countRefused(this.stats, 'bad-credentials');
      sock.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="wgts"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+):([0-9]{1,5})$/.exec(req.url ?? '');
    const port = m ? Number(m[2]) : 0;
    if (!m || port < 1 || port > 65535) {
      countRefused(this.stats, 'bad-request');
      sock.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    const t = this.dialer.dial(port, m[1]!, { allowHalfOpen: true });
    this.tunnels.add(t);
    t.once('close', () => this.tunnels.delete(t));
    const onError = (e: NodeJS.ErrnoException): void => {
      countRefused(this.stats, e.code ?? 'error');
      const status = STATUS_FOR[e.code ?? ''] ?? 502;
      if (!sock.destroyed) sock.end(`HTTP/1.1 ${status} ${status === 504 ? 'Gateway Timeout' : 'Bad Gateway'}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    };
    t.once('error', onError);
    t.once('connect', () => {
      t.off('error', onError);
      if (sock.destroyed) return void t.destroy();
      sock.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) t.write(head);
      relay(sock, t, this.stats);
    });
    sock.once('close', () => {
      if (t.connecting) t.destroy();
    });
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    if (!this.authorized(req)) {
      countRefused(this.stats, 'bad-credentials');
      res.writeHead(407, { 'Proxy-Authenticate': 'Basic realm="wgts"', 'Content-Length': 0 }).end();
      return;
    }
    let url: URL;
    try {
      url = new URL(req.url ?? '');
      if (url.protocol !== 'http:') throw new Error('scheme');
    } catch {
      countRefused(this.stats, 'bad-request');
      res.writeHead(400, { 'Content-Type': 'text/plain' }).end('this is a proxy: send absolute http:// URIs, or CONNECT for anything else\n');
      return;
    }
    const headers: OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(req.headers)) if (!HOP.has(k) && v !== undefined) headers[k] = v;
    this.stats.active++;
    this.stats.total++;
    let counted = true;
    const finish = (): void => {
      if (counted) (counted = false), this.stats.active--;
    };
    res.once('close', finish);
    const up = request({
      agent: this.agent,
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: Number(url.port || 80),
      method: req.method,
      path: url.pathname + url.search,
      headers,
    });
    up.on('response', (r) => {
      const out: OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(r.headers)) if (!HOP.has(k) && v !== undefined) out[k] = v;
      res.writeHead(r.statusCode ?? 502, r.statusMessage, out);
      r.on('data', (d: Buffer) => void (this.stats.bytesIn += d.length));
      r.pipe(res);
    });
    up.on('error', (e: NodeJS.ErrnoException) => {
      countRefused(this.stats, e.code ?? 'error');
      if (!res.headersSent) res.writeHead(STATUS_FOR[e.code ?? ''] ?? 502, { 'Content-Type': 'text/plain' }).end(`${e.code ?? 'error'}\n`);
      else res.destroy();
    });
    req.on('data', (d: Buffer) => void (this.stats.bytesOut += d.length));
    req.pipe(up);
  }
}
