/**
 * A SOCKS5 server (RFC 1928) whose CONNECTs and UDP ASSOCIATEs go into the
 * tunnel, with username/password authentication (RFC 1929) when the
 * [Socks5] section has credentials. Names (ATYP 3) are resolved inside the
 * tunnel.
 *
 *   greeting  VER=5 NMETHODS METHODS  -> 5 METHOD (0 none | 2 user/pass | 0xFF refused)
 *   [auth]    1 ULEN UNAME PLEN PASSWD -> 1 STATUS (0 ok, else close)
 *   CONNECT   5 1 0 ATYP ADDR PORT     -> dial -> 5 REP 0 ATYP BND.ADDR BND.PORT
 *             then bytes both ways (relay.ts)
 *   UDP ASSOCIATE 5 3 0 ATYP ADDR PORT -> a relay UDP socket beside the control
 *             connection -> 5 0 0 ATYP BND (the relay's address); datagrams
 *             RSV FRAG=0 ATYP DST DATA from the client's address go to DST
 *             through the tunnel, answers come back with the sender as header;
 *             everything closes with the control connection (socks5-udp.ts)
 *
 * A client that sends something else gets the RFC's refusal where there is
 * one and the connection closed; the reason is counted.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { ProxyConfig } from '../config/proxy.js';
import type { TunnelNet } from '../host/net.js';
import type { TunnelDialer } from './dial.js';
import { readAddress, writeAddress } from './socks5-addr.js';
import { UdpAssociation } from './socks5-udp.js';
import { countRefused, credentialsOf, listenOn, newStats, relay, type Credentials, type ProxyStats } from './relay.js';

/** RFC 1928 section 6 reply codes. */
const REP = { ok: 0, failure: 1, notAllowed: 2, netUnreachable: 3, hostUnreachable: 4, refused: 5, ttlExpired: 6, cmdUnsupported: 7, atypUnsupported: 8 } as const;
const METHOD_NONE = 0x00;
const METHOD_USERPASS = 0x02;
const METHOD_REFUSED = 0xff;
/** A client that has not finished the greeting, auth and request in this many bytes is not a SOCKS5 client. */
const MAX_HANDSHAKE = 1024;
const HANDSHAKE_TIMEOUT_MS = 30_000;

function repFor(code: string | undefined): number {
  switch (code) {
    case 'ECONNREFUSED': return REP.refused;
    case 'EHOSTUNREACH': case 'ENOTFOUND': return REP.hostUnreachable;
    case 'ENETUNREACH': return REP.netUnreachable;
    case 'ETIMEDOUT': return REP.ttlExpired;
    default: return REP.failure;
  }
}

export class Socks5Server {
  readonly stats: ProxyStats;
  private server: Server | null = null;
  private readonly creds: Credentials | null;
  private readonly clients = new Set<Socket>();

  constructor(
    private readonly cfg: ProxyConfig,
    private readonly dialer: TunnelDialer,
    private readonly net: TunnelNet,
  ) {
    this.creds = credentialsOf(cfg);
    this.stats = newStats(cfg);
  }

  /** Listen on BindAddress; rejects on bind errors. */
  async start(): Promise<{ address: string; port: number }> {
    const server = createServer({ allowHalfOpen: true, noDelay: true }, (c) => this.accept(c));
    this.server = server;
    return listenOn(server, this.cfg, this.stats);
  }

  /** Stop listening and close every client. */
  async close(): Promise<void> {
    for (const c of this.clients) c.destroy();
    const s = this.server;
    this.server = null;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }

  private accept(c: Socket): void {
    this.clients.add(c);
    c.once('close', () => this.clients.delete(c));
    c.on('error', () => c.destroy());
    let buf: Buffer = Buffer.alloc(0);
    let stage: 'greeting' | 'auth' | 'request' = 'greeting';
    const timer = setTimeout(() => refuse('timeout'), HANDSHAKE_TIMEOUT_MS);
    const refuse = (why: string, reply?: Buffer): void => {
      clearTimeout(timer);
      countRefused(this.stats, why);
      c.off('data', onData);
      if (reply) c.end(reply);
      else c.destroy();
    };
    const onData = (d: Buffer): void => {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      if (buf.length > MAX_HANDSHAKE) return refuse('bad-request');
      for (;;) {
        if (stage === 'greeting') {
          if (buf.length < 2) return;
          if (buf[0] !== 5) return refuse('bad-version');
          const n = buf[1]!;
          if (buf.length < 2 + n) return;
          const methods = buf.subarray(2, 2 + n);
          buf = buf.subarray(2 + n);
          const want = this.creds ? METHOD_USERPASS : METHOD_NONE;
          if (!methods.includes(want)) return refuse(this.creds ? 'no-auth-offered' : 'no-method', Buffer.from([5, METHOD_REFUSED]));
          c.write(Buffer.from([5, want]));
          stage = this.creds ? 'auth' : 'request';
        } else if (stage === 'auth') {
          // RFC 1929: VER=1 ULEN UNAME PLEN PASSWD
          if (buf.length < 2) return;
          if (buf[0] !== 1) return refuse('bad-auth-version', Buffer.from([1, 1]));
          const ulen = buf[1]!;
          if (buf.length < 3 + ulen) return;
          const plen = buf[2 + ulen]!;
          if (buf.length < 3 + ulen + plen) return;
          const user = buf.subarray(2, 2 + ulen);
          const pass = buf.subarray(3 + ulen, 3 + ulen + plen);
          buf = buf.subarray(3 + ulen + plen);
          if (!this.creds!.check(user, pass)) return refuse('bad-credentials', Buffer.from([1, 1]));
          c.write(Buffer.from([1, 0]));
          stage = 'request';
        } else {
          const req = parseRequest(buf);
          if (req === null) return;
          if ('error' in req) return refuse(req.error, reply(req.rep));
          clearTimeout(timer);
          c.off('data', onData);
          c.pause();
          const rest = buf.subarray(req.length);
          if (rest.length) c.unshift(rest);
          if (req.cmd === CMD_UDP) this.associate(c, req.port);
          else this.connect(c, req.host, req.port);
          return;
        }
      }
    };
    c.on('data', onData);
  }

  /** UDP ASSOCIATE: the relay lives as long as the control connection. */
  private associate(c: Socket, clientPort: number): void {
    const a = new UdpAssociation(this.net, this.dialer, this.stats, c.remoteAddress ?? '', clientPort);
    c.once('close', () => a.close());
    c.resume();
    c.on('data', () => {}); // RFC 1928: the control connection only carries its closing
    a.start(c.localAddress ?? '127.0.0.1').then(
      (bound) => {
        if (c.destroyed) return a.close();
        this.stats.active++;
        this.stats.total++;
        c.once('close', () => this.stats.active--);
        c.write(reply(REP.ok, bound.address, bound.port));
      },
      (e: NodeJS.ErrnoException) => {
        countRefused(this.stats, e.code ?? 'udp-bind');
        if (!c.destroyed) c.end(reply(REP.failure));
      },
    );
  }

  private connect(c: Socket, host: string, port: number): void {
    const t = this.dialer.dial(port, host, { allowHalfOpen: true });
    const onError = (e: NodeJS.ErrnoException): void => {
      countRefused(this.stats, e.code ?? 'error');
      if (!c.destroyed) c.end(reply(repFor(e.code)));
    };
    t.once('error', onError);
    t.once('connect', () => {
      t.off('error', onError);
      if (c.destroyed) return void t.destroy();
      c.write(reply(REP.ok, t.localAddress, t.localPort));
      relay(c, t, this.stats);
      c.resume();
    });
    c.once('close', () => {
      if (t.connecting) t.destroy();
    });
  }
}

const CMD_CONNECT = 1;
const CMD_UDP = 3;

type Request = { cmd: number; host: string; port: number; length: number } | { error: string; rep: number };

/** RFC 1928 section 4; null until the whole request is there. */
function parseRequest(b: Buffer): Request | null {
  if (b.length < 5) return null;
  if (b[0] !== 5) return { error: 'bad-version', rep: REP.failure };
  const cmd = b[1]!;
  const a = readAddress(b, 3);
  if (a === null) return null;
  if ('error' in a) return { error: a.error, rep: a.error === 'bad-name' ? REP.hostUnreachable : REP.atypUnsupported };
  if (cmd !== CMD_CONNECT && cmd !== CMD_UDP) return { error: `command-${cmd}`, rep: REP.cmdUnsupported };
  // UDP ASSOCIATE may give port 0 ("not known yet", RFC 1928 section 4).
  if (a.port === 0 && cmd === CMD_CONNECT) return { error: 'bad-port', rep: REP.failure };
  return { cmd, host: a.host, port: a.port, length: a.end };
}

/** A reply: VER REP RSV and the bound address (0.0.0.0:0 when none). */
function reply(rep: number, addr?: string, port?: number): Buffer {
  return Buffer.concat([Buffer.from([5, rep, 0]), writeAddress(addr ?? '0.0.0.0', port ?? 0)]);
}
