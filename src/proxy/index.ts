/**
 * The [Socks5] and [http] proxies and wireproxy's tunnel sections of one
 * running interface: started from the config, replaced on reload when
 * their section changed, closed with the interface.
 *
 *   config -> proxiesOf -> Socks5Server | HttpProxyServer (each over the one TunnelDialer)
 *          -> tunnelsOf -> TcpClientTunnel | TcpServerTunnel | UdpProxyTunnel | StdioTunnel
 */
import { proxiesOf, type ProxyConfig } from '../config/proxy.js';
import { tunnelsOf, type TunnelSectionConfig } from '../config/tunnels.js';
import type { TunnelNet } from '../host/net.js';
import type { TunnelDialer } from './dial.js';
import { HttpProxyServer } from './http.js';
import { Socks5Server } from './socks5.js';
import { hostPort, type ProxyStats } from './relay.js';
import { StdioTunnel, TcpClientTunnel, TcpServerTunnel, UdpProxyTunnel } from './tunnels.js';

export { TunnelDialer, netError, type Resolver } from './dial.js';
export { TunnelSocket } from './socket.js';
export { TunnelResolver, systemLookup, dnsError, type ResolverStats } from './resolver.js';
export { TunnelHttpAgent, TunnelHttpsAgent, tlsOver } from './agents.js';
export type { ProxyStats } from './relay.js';

type Server = { readonly stats: ProxyStats; start(): Promise<unknown>; close(): Promise<void> };
type Running = { key: string; server: Server };
type Section = ProxyConfig | TunnelSectionConfig;

/** What the tunnel sections need besides the dialer. */
export interface ProxyContext {
  net: TunnelNet;
  /** Our tunnel addresses ([TCPServerTunnel] listens on each). */
  addresses: () => string[];
  /** [STDIOTunnel]'s connection is over: the process should end. */
  onStdioDone: (why: string) => void;
}

interface Log {
  info(msg: string): void;
  error(msg: string): void;
}

/** A section's identity on reload: everything in it (the password only as part of the key, never printed). */
function keyOf(p: Section): string {
  return JSON.stringify(p);
}

const NAMES: Record<ProxyStats['kind'], string> = {
  socks5: 'SOCKS5 proxy', http: 'HTTP proxy', 'tcp-client': 'TCP client tunnel', 'tcp-server': 'TCP server tunnel', udp: 'UDP proxy tunnel', stdio: 'STDIO tunnel',
};

/** "SOCKS5 proxy on 127.0.0.1:1080 (username/password)"; `listen` is the bound address once started. Never the password. */
function label(p: Section, listen?: string): string {
  const where = listen ?? ('bind' in p ? hostPort(p.bind.host, p.bind.port) : p.kind === 'tcp-server' ? `tunnel:${p.port}` : 'stdio');
  const target = 'target' in p ? ` -> ${hostPort(p.target.host, p.target.port)}` : '';
  const auth = 'username' in p && p.username ? ' (username/password)' : '';
  return `${NAMES[p.kind]} on ${where}${target}${auth}`;
}

export class ProxySet {
  private running: Running[] = [];

  constructor(
    private readonly dialer: TunnelDialer,
    private readonly log: Log,
    private readonly ctx: ProxyContext,
  ) {}

  private make(p: Section): Server {
    switch (p.kind) {
      case 'socks5': return new Socks5Server(p, this.dialer, this.ctx.net);
      case 'http': return new HttpProxyServer(p, this.dialer);
      case 'tcp-client': return new TcpClientTunnel(p, this.dialer);
      case 'tcp-server': return new TcpServerTunnel(p, this.ctx.net, this.ctx.addresses());
      case 'udp': return new UdpProxyTunnel(p, this.ctx.net, this.dialer);
      case 'stdio': return new StdioTunnel(p, this.dialer, this.ctx.onStdioDone);
    }
  }

  /** Start the proxies and tunnels `cfg` asks for and stop the ones it no longer lists. Returns the failures. */
  async apply(cfg: { extensions: Record<string, unknown[]> }): Promise<string[]> {
    const want: Section[] = [...proxiesOf(cfg), ...tunnelsOf(cfg)];
    const keys = new Set(want.map(keyOf));
    const keep: Running[] = [];
    for (const r of this.running) {
      if (keys.has(r.key)) keep.push(r);
      else await r.server.close();
    }
    const failed: string[] = [];
    for (const p of want) {
      const key = keyOf(p);
      if (keep.some((r) => r.key === key)) continue;
      const server = this.make(p);
      try {
        await server.start();
        keep.push({ key, server });
        this.log.info(`started ${label(p, server.stats.listen)}`);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        failed.push(`${label(p)}: ${code === 'EADDRINUSE' ? 'the port is in use' : code === 'EADDRNOTAVAIL' ? 'not an address of this host' : (e as Error).message}`);
      }
    }
    this.running = keep;
    return failed;
  }

  stats(): ProxyStats[] {
    return this.running.map((r) => r.server.stats);
  }

  async close(): Promise<void> {
    const all = this.running;
    this.running = [];
    for (const r of all) await r.server.close();
  }
}
