/**
 * wireproxy's tunnel sections at run time (parsed in src/config/tunnels.ts):
 *
 *   TcpClientTunnel  node:net server on BindAddress -> dialer.dial(Target) -> relay
 *   TcpServerTunnel  TunnelNet.listenTcp on each tunnel Address:ListenPort
 *                    -> node:net connect to Target on this host -> relay
 *   UdpProxyTunnel   node:dgram on BindAddress; per client address a tunnel
 *                    UDP socket to Target; replies go back to that client;
 *                    idle sessions close after InactivityTimeout
 *   StdioTunnel      this process's stdin/stdout <-> dialer.dial(Target);
 *                    `onDone` when the connection is over (ssh ProxyCommand)
 */
import { createSocket, type Socket as DgramSocket } from 'node:dgram';
import { connect, createServer, isIP, type Server, type Socket } from 'node:net';
import type { NetListener, NetUdpSocket, TunnelNet } from '../host/net.js';
import { bindDgram } from '../host/dgram.js';
import type { TunnelSectionConfig } from '../config/tunnels.js';
import type { TunnelDialer } from './dial.js';
import { countRefused, hostPort, listenOn, newStats, relay, type ProxyStats } from './relay.js';

type Of<K extends TunnelSectionConfig['kind']> = Extract<TunnelSectionConfig, { kind: K }>;

/** At most this many [UDPProxyTunnel] clients at once; the longest idle goes first. */
const MAX_UDP_SESSIONS = 1024;

function targetText(t: { host: string; port: number }): string {
  return hostPort(t.host, t.port);
}

export class TcpClientTunnel {
  readonly stats: ProxyStats;
  private server: Server | null = null;
  private readonly clients = new Set<Socket>();

  constructor(
    private readonly cfg: Of<'tcp-client'>,
    private readonly dialer: TunnelDialer,
  ) {
    this.stats = newStats(cfg, undefined, targetText(cfg.target));
  }

  async start(): Promise<void> {
    const server = createServer({ allowHalfOpen: true, noDelay: true }, (c) => this.accept(c));
    this.server = server;
    await listenOn(server, this.cfg, this.stats);
  }

  private accept(c: Socket): void {
    this.clients.add(c);
    c.once('close', () => this.clients.delete(c));
    const t = this.dialer.dial(this.cfg.target.port, this.cfg.target.host, { allowHalfOpen: true });
    t.once('error', (e: NodeJS.ErrnoException) => t.connecting && countRefused(this.stats, e.code ?? 'error'));
    relay(c, t, this.stats);
  }

  async close(): Promise<void> {
    for (const c of this.clients) c.destroy();
    const s = this.server;
    this.server = null;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }
}

export class TcpServerTunnel {
  readonly stats: ProxyStats;
  private listeners: NetListener[] = [];
  private readonly open = new Set<Socket>();

  constructor(
    private readonly cfg: Of<'tcp-server'>,
    private readonly net: TunnelNet,
    private readonly addresses: string[],
  ) {
    this.stats = newStats(cfg, `tunnel:${cfg.port}`, targetText(cfg.target));
  }

  async start(): Promise<void> {
    if (this.addresses.length === 0) throw new Error('the interface has no Address to listen on');
    try {
      for (const host of this.addresses) this.listeners.push(await this.net.listenTcp({ host, port: this.cfg.port }, (s) => this.accept(s)));
    } catch (e) {
      for (const l of this.listeners) l.close();
      this.listeners = [];
      throw e;
    }
  }

  private accept(inner: Parameters<Parameters<TunnelNet['listenTcp']>[1]>[0]): void {
    const local = connect({ host: this.cfg.target.host, port: this.cfg.target.port, allowHalfOpen: true, noDelay: true });
    this.open.add(local);
    local.once('close', () => this.open.delete(local));
    local.once('error', (e: NodeJS.ErrnoException) => local.connecting && countRefused(this.stats, e.code ?? 'error'));
    relay(inner, local, this.stats);
  }

  async close(): Promise<void> {
    for (const l of this.listeners) l.close();
    this.listeners = [];
    for (const s of this.open) s.destroy();
  }
}

interface UdpSession {
  sock: Promise<NetUdpSocket>;
  timer: NodeJS.Timeout | null;
}

export class UdpProxyTunnel {
  readonly stats: ProxyStats;
  private local: DgramSocket | null = null;
  private readonly sessions = new Map<string, UdpSession>();
  private target: Promise<string> | null = null;

  constructor(
    private readonly cfg: Of<'udp'>,
    private readonly net: TunnelNet,
    private readonly dialer: TunnelDialer,
  ) {
    this.stats = newStats(cfg, undefined, targetText(cfg.target));
  }

  async start(): Promise<void> {
    const s = createSocket({ type: isIP(this.cfg.bind.host) === 6 ? 'udp6' : 'udp4' });
    this.local = await bindDgram(s, { address: this.cfg.bind.host, port: this.cfg.bind.port });
    const a = s.address();
    this.stats.listen = hostPort(a.address, a.port);
    s.on('message', (msg, rinfo) => this.fromClient(msg, rinfo.address, rinfo.port));
    s.on('error', () => countRefused(this.stats, 'local-socket-error'));
  }

  /** Target's address: an IP literal, or a name looked up once through the tunnel's resolver. */
  private targetIp(): Promise<string> {
    this.target ??= this.dialer.lookup(this.cfg.target.host).then((a) => {
      if (!a[0]) throw new Error('no address');
      return a[0];
    });
    this.target.catch(() => (this.target = null));
    return this.target;
  }

  private fromClient(msg: Buffer, address: string, port: number): void {
    const key = hostPort(address, port);
    let s = this.sessions.get(key);
    if (!s) {
      if (this.sessions.size >= MAX_UDP_SESSIONS) this.drop(this.sessions.keys().next().value!);
      const sock = this.targetIp().then(async (ip) => {
        const u = await this.net.udpSocket({ family: isIP(ip) === 6 ? 6 : 4 });
        u.on('message', (reply, from) => {
          if (from.address !== ip || from.port !== this.cfg.target.port) return; // only the Target answers
          this.stats.bytesIn += reply.length;
          this.touch(key);
          this.local?.send(reply, port, address);
        });
        u.on('error', () => countRefused(this.stats, 'tunnel-socket-error'));
        return u;
      });
      s = { sock, timer: null };
      this.sessions.set(key, s);
      this.stats.total++;
      this.stats.active = this.sessions.size;
      sock.catch((e: NodeJS.ErrnoException) => {
        countRefused(this.stats, e.code ?? 'error');
        this.drop(key);
      });
    }
    this.touch(key);
    this.stats.bytesOut += msg.length;
    void s.sock.then(async (u) => u.send(msg, this.cfg.target.port, await this.targetIp()), () => {});
  }

  /** Restart the session's idle timer (and keep it last in the eviction order). */
  private touch(key: string): void {
    const s = this.sessions.get(key);
    if (!s) return;
    this.sessions.delete(key);
    this.sessions.set(key, s);
    if (s.timer) clearTimeout(s.timer);
    s.timer = this.cfg.inactivityTimeout > 0 ? setTimeout(() => this.drop(key), this.cfg.inactivityTimeout * 1000) : null;
  }

  private drop(key: string): void {
    const s = this.sessions.get(key);
    if (!s) return;
    this.sessions.delete(key);
    this.stats.active = this.sessions.size;
    if (s.timer) clearTimeout(s.timer);
    s.sock.then((u) => u.close(), () => {});
  }

  async close(): Promise<void> {
    for (const k of [...this.sessions.keys()]) this.drop(k);
    const l = this.local;
    this.local = null;
    if (l) await new Promise<void>((r) => l.close(() => r()));
  }
}

export class StdioTunnel {
  readonly stats: ProxyStats;
  private conn: ReturnType<TunnelDialer['dial']> | null = null;

  constructor(
    private readonly cfg: Of<'stdio'>,
    private readonly dialer: TunnelDialer,
    private readonly onDone: (why: string) => void,
    private readonly io: { stdin: NodeJS.ReadableStream; stdout: NodeJS.WritableStream } = { stdin: process.stdin, stdout: process.stdout },
  ) {
    this.stats = newStats(cfg, 'stdio', targetText(cfg.target));
  }

  async start(): Promise<void> {
    const t = this.dialer.dial(this.cfg.target.port, this.cfg.target.host, { allowHalfOpen: true });
    this.conn = t;
    this.stats.active = 1;
    this.stats.total = 1;
    t.on('data', (d: Buffer) => void (this.stats.bytesIn += d.length));
    this.io.stdin.on('data', (d: Buffer) => void (this.stats.bytesOut += d.length));
    t.once('error', (e: NodeJS.ErrnoException) => {
      countRefused(this.stats, e.code ?? 'error');
      this.onDone(`STDIOTunnel to ${this.stats.target}: ${e.code ?? e.message}`);
    });
    t.once('close', () => {
      this.stats.active = 0;
      this.io.stdin.unpipe(t);
      this.io.stdin.pause();
      this.onDone(`STDIOTunnel to ${this.stats.target} closed`);
    });
    this.io.stdin.pipe(t);
    t.pipe(this.io.stdout, { end: false });
  }

  async close(): Promise<void> {
    this.conn?.destroy();
    this.conn = null;
  }
}
