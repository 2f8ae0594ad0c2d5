/**
 * The [Socks5] and [http] proxies of one running interface: started from
 * the config, replaced on reload when their section changed, closed with
 * the interface.
 *
 *   config -> proxiesOf -> Socks5Server | HttpProxyServer (each over the one TunnelDialer)
 */
import { proxiesOf, type ProxyConfig } from '../config/proxy.js';
import type { TunnelDialer } from './dial.js';
import { HttpProxyServer } from './http.js';
import { Socks5Server } from './socks5.js';
import type { ProxyStats } from './relay.js';

export { TunnelDialer, netError, type Resolver } from './dial.js';
export { TunnelSocket } from './socket.js';
export { TunnelResolver, systemLookup, dnsError, type ResolverStats } from './resolver.js';
export { TunnelHttpAgent, TunnelHttpsAgent, tlsOver } from './agents.js';
export type { ProxyStats } from './relay.js';

type Running = { key: string; server: Socks5Server | HttpProxyServer };

interface Log {
  info(msg: string): void;
  error(msg: string): void;
}

/** A proxy's identity on reload: everything in its section (the password only as part of the key, never printed). */
function keyOf(p: ProxyConfig): string {
  return JSON.stringify([p.kind, p.bind.host, p.bind.port, p.username ?? null, p.password ?? null]);
}

/** "SOCKS5 proxy on 127.0.0.1:1080 (username/password)"; `listen` is the bound address once started. */
function label(p: ProxyConfig, listen?: string): string {
  const host = p.bind.host.includes(':') ? `[${p.bind.host}]` : p.bind.host;
  return `${p.kind === 'socks5' ? 'SOCKS5' : 'HTTP'} proxy on ${listen ?? `${host}:${p.bind.port}`}${p.username ? ' (username/password)' : ''}`;
}

export class ProxySet {
  private running: Running[] = [];

  constructor(
    private readonly dialer: TunnelDialer,
    private readonly log: Log,
  ) {}

  /** Start the proxies `cfg` asks for and stop the ones it no longer lists. Returns the failures. */
  async apply(cfg: { extensions: Record<string, unknown[]> }): Promise<string[]> {
    const want = proxiesOf(cfg);
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
      const server = p.kind === 'socks5' ? new Socks5Server(p, this.dialer) : new HttpProxyServer(p, this.dialer);
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
