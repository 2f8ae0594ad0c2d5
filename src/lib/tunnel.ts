/**
 * Tunnel: wgts as a library. One running interface (src/interface) with
 * the verbs of node:net, node:dgram and fetch, so a program reaches
 * addresses inside the tunnel without root or a TUN device.
 *
 *   Tunnel.start(config, options)   path | wg-quick text | parsed config -> Interface.start
 *   connect(port, host)             -> dialer (names, AllowedIPs) -> TunnelSocket (net.Socket-like)
 *   lookup(name) / resolve4/6       -> the config's DNS servers through the tunnel (src/proxy/resolver.ts)
 *   createServer(handler).listen(p) -> TunnelServer on the tunnel Address
 *   createSocket('udp4'|'udp6')     -> TunnelUdpSocket (dgram-like)
 *   fetch(url, init)                -> undici Agent whose connect() is connect() [+ TLS]
 *   httpAgent() / httpsAgent()      -> http(s).Agent whose createConnection() is connect() [+ TLS]
 *   'handshake' | 'peer-up' | 'peer-down' (PeerInfo); stats(); reload(config)
 *   close()                         -> agents, servers, sockets, then the interface: no handle left
 */
import { EventEmitter } from 'node:events';
import type { AgentOptions } from 'node:http';
import type { AgentOptions as HttpsAgentOptions } from 'node:https';
import type { Duplex } from 'node:stream';
import type { ConnectionOptions } from 'node:tls';
import { loadConfigFile } from '../config/load.js';
import { formatIssue } from '../config/issues.js';
import { parseConfig } from '../config/parse.js';
import type { WgConfig } from '../config/types.js';
import { encodeKey } from '../crypto/util.js';
import { Interface, type ModeRequest } from '../interface/interface.js';
import type { MetricsSnapshot } from '../node/metrics.js';
import { Logger, type LogLevel } from '../node/log.js';
import { endpointKey, type Peer } from '../transport/peer.js';
import { TunnelHttpAgent, TunnelHttpsAgent, tlsOver, type ProxyStats, type TunnelResolver, type TunnelSocket } from '../proxy/index.js';
import { TunnelServer } from './server.js';
import { TunnelUdpSocket } from './dgram.js';

export interface TunnelOptions {
  /** 'userspace' (the default for the library: no root, no TUN), 'tun', or 'auto' (TUN when the process may). */
  mode?: ModeRequest;
  /** The interface name (default: the config file's stem, or "wgts"). */
  name?: string;
  /** Default 'warn'. Lines go to stderr, or to `logSink`. */
  logLevel?: LogLevel;
  logSink?: (line: string) => void;
  /** Serve the wg(8) UAPI socket (default false), optionally under another name. */
  uapi?: boolean | { name?: string };
  /** The local address the outer UDP socket binds (default: all). */
  listenAddress?: string;
}

/** A peer as events report it. */
export interface PeerInfo {
  publicKey: string;
  endpoint: string | null;
}

export interface TunnelEvents {
  handshake: [peer: PeerInfo];
  'peer-up': [peer: PeerInfo];
  'peer-down': [peer: PeerInfo];
}

export type TunnelConfig = string | WgConfig;

type UndiciAgent = import('undici').Agent;
type FetchInit = Parameters<typeof import('undici').fetch>[1];
/** The pool key of fetch() calls without `tls`. */
const DEFAULT_TLS = {};

/** Read a path, wg-quick text, or take a parsed config; refuse a bad one with every file:line error. */
async function toConfig(config: TunnelConfig, name: string | undefined): Promise<WgConfig> {
  if (typeof config !== 'string') return name ? { ...config, interfaceName: name } : config;
  const isText = config.includes('\n') || config.trimStart().startsWith('[');
  const r = isText
    ? parseConfig(name ? `${name}.conf` : 'wgts.conf', config, name ? { interfaceName: name } : {})
    : await loadConfigFile(config, name ? { interfaceName: name } : {});
  if (!r.ok) throw new Error(`invalid config:\n${r.errors.map(formatIssue).join('\n')}`);
  return r.config;
}

function peerInfo(p: Peer): PeerInfo {
  return { publicKey: encodeKey(p.publicKey), endpoint: p.endpoint ? endpointKey(p.endpoint) : null };
}

export class Tunnel extends EventEmitter<TunnelEvents> {
  private readonly sockets = new Set<TunnelSocket | Duplex>();
  private readonly servers = new Set<TunnelServer>();
  private readonly udp = new Set<TunnelUdpSocket>();
  private readonly agents: { destroy(): unknown }[] = [];
  private readonly undici = new Map<object, UndiciAgent>();
  private closing: Promise<void> | null = null;

  private constructor(
    /** The running interface underneath (for `wgts`'s own tools; not needed to use the tunnel). */
    readonly iface: Interface,
    private readonly log: Logger,
  ) {
    super();
    for (const ev of ['handshake', 'peer-up', 'peer-down'] as const) iface.on(ev, (p) => this.emit(ev, peerInfo(p)));
    iface.on('stop-request', (why) => this.log.error(`the interface cannot run on: ${why}`));
  }

  /** Start a tunnel; rejects with the config's errors, or why it could not start (nothing is left running). */
  static async start(config: TunnelConfig, options: TunnelOptions = {}): Promise<Tunnel> {
    const cfg = await toConfig(config, options.name);
    const log = new Logger(cfg.interfaceName, options.logLevel ?? 'warn', options.logSink);
    const u = options.uapi;
    const iface = await Interface.start(cfg, {
      log,
      mode: options.mode ?? 'userspace',
      uapi: u ? (typeof u === 'object' && u.name ? { name: u.name } : {}) : false,
      source: cfg.sourceFile,
      ...(options.listenAddress ? { driver: { bindAddress: options.listenAddress } } : {}),
    });
    return new Tunnel(iface, log);
  }

  /** The interface's name. */
  get name(): string {
    return this.iface.name;
  }

  /** Our addresses inside the tunnel (the config's Address values). */
  get addresses(): string[] {
    return this.iface.addresses;
  }

  /** The outer UDP port (useful with ListenPort = 0). */
  get listenPort(): number {
    return this.iface.driver.bind.port;
  }

  /** A TCP connection through the tunnel, as net.connect: connect(port, host) or connect({ port, host }). */
  connect(port: number | { port: number; host?: string; allowHalfOpen?: boolean }, host?: string, onConnect?: () => void): TunnelSocket {
    const o = typeof port === 'object' ? port : { port, host };
    const s = this.iface.dialer.dial(Number(o.port), o.host ?? 'localhost', { allowHalfOpen: 'allowHalfOpen' in o && o.allowHalfOpen === true });
    if (onConnect) s.once('connect', onConnect);
    this.track(s);
    return s;
  }

  /**
   * A name to its addresses (IPv4 first), through the config's `DNS =`
   * servers inside the tunnel with its search domains; the system resolver
   * when the config has no DNS line. Errors carry node:dns codes
   * (ENOTFOUND, EAI_AGAIN).
   */
  lookup(name: string, options: { family?: 0 | 4 | 6 } = {}): Promise<string[]> {
    return this.iface.lookup(name, options.family ?? 0);
  }

  /** As dns.resolve4 / resolve6 against the tunnel's DNS servers: the name as given, no search domains. */
  resolve4(name: string): Promise<string[]> {
    return this.resolver().resolve(name, 'A');
  }

  resolve6(name: string): Promise<string[]> {
    return this.resolver().resolve(name, 'AAAA');
  }

  private resolver(): TunnelResolver {
    const r = this.iface.resolver;
    if (!r) throw Object.assign(new Error('this tunnel has no DNS servers (add DNS = to [Interface])'), { code: 'ENOTIMP' });
    return r;
  }

  /** A TCP server on our tunnel Address(es), as net.createServer. */
  createServer(opts?: { allowHalfOpen?: boolean } | ((socket: TunnelSocket) => void), handler?: (socket: TunnelSocket) => void): TunnelServer {
    const o = typeof opts === 'object' ? opts : {};
    const h = typeof opts === 'function' ? opts : handler;
    const s = new TunnelServer(this.iface.net, () => this.iface.addresses, o, h, (x) => this.servers.delete(x));
    this.servers.add(s);
    return s;
  }

  /** A UDP socket through the tunnel, as dgram.createSocket. */
  createSocket(type: 'udp4' | 'udp6' | { type: 'udp4' | 'udp6' }, onMessage?: (msg: Buffer, rinfo: { address: string; port: number }) => void): TunnelUdpSocket {
    const s = new TunnelUdpSocket(this.iface.net, typeof type === 'object' ? type.type : type, (x) => this.udp.delete(x));
    if (onMessage) s.on('message', onMessage);
    this.udp.add(s);
    return s;
  }

  /** An http.Agent whose connections go through the tunnel (for http.request and libraries that take an agent). */
  httpAgent(opts?: AgentOptions): TunnelHttpAgent {
    const a = new TunnelHttpAgent(this.iface.dialer, opts);
    this.agents.push(a);
    return a;
  }

  /** An https.Agent whose TLS connections go through the tunnel. */
  httpsAgent(opts?: HttpsAgentOptions): TunnelHttpsAgent {
    const a = new TunnelHttpsAgent(this.iface.dialer, opts);
    this.agents.push(a);
    return a;
  }

  /**
   * WHATWG fetch through the tunnel (undici); http: and https:. `tls` sets
   * the TLS options of https: requests (e.g. `{ ca }` for a private CA);
   * each distinct object gets its own connection pool.
   */
  async fetch(url: string | URL, init?: FetchInit & { tls?: ConnectionOptions }): Promise<import('undici').Response> {
    const undici = await import('undici');
    const { tls, ...rest } = init ?? {};
    const key = tls ?? DEFAULT_TLS;
    let agent = this.undici.get(key);
    if (!agent) {
      agent = new undici.Agent({
        connect: (o, cb) => {
          const host = o.hostname;
          const port = Number(o.port || (o.protocol === 'https:' ? 443 : 80));
          const raw = this.connect(port, host);
          const sock = o.protocol === 'https:' ? tlsOver(raw, host, { ...tls, ...(o.servername ? { servername: o.servername } : {}), ALPNProtocols: ['http/1.1'] }) : raw;
          if (sock !== raw) this.track(sock);
          let settled = false;
          const onErr = (e: Error): void => {
            if (!settled) (settled = true), cb(e, null);
          };
          sock.once('error', onErr);
          sock.once(o.protocol === 'https:' ? 'secureConnect' : 'connect', () => {
            sock.off('error', onErr);
            if (!settled) (settled = true), cb(null, sock as never);
          });
        },
      });
      this.undici.set(key, agent);
    }
    return undici.fetch(url, { ...rest, dispatcher: agent });
  }

  /** Peers (handshake age, bytes), drops by reason, forwards, and the proxies. */
  stats(): MetricsSnapshot & { proxies: ProxyStats[] } {
    return { ...this.iface.stats(), proxies: this.iface.proxyStats() };
  }

  /** Apply a new config (peers, forwards, proxies) without dropping established connections. */
  async reload(config: TunnelConfig): Promise<void> {
    await this.iface.reload(await toConfig(config, this.iface.name));
  }

  /** Close everything this tunnel opened, then the interface; the process can exit afterwards. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    for (const a of this.undici.values()) await a.destroy().catch(() => {});
    this.undici.clear();
    for (const a of this.agents) a.destroy();
    for (const s of this.servers) s.close(), s.closeAllConnections();
    for (const u of [...this.udp]) u.close();
    for (const s of this.sockets) s.destroy();
    await this.iface.stop();
    this.removeAllListeners();
  }

  private track(s: TunnelSocket | Duplex): void {
    this.sockets.add(s);
    s.once('close', () => this.sockets.delete(s));
  }
}
