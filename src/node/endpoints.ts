/**
 * Hostname endpoints ([Peer] Endpoint = name:port): looked up when the peer
 * is added, and looked up again, as wg's reresolve-dns does, for peers whose
 * last handshake is older than `afterMs` (the dynamic-DNS case), checked
 * every `everyMs`.
 *
 *   add peer   -> resolve(host, port) -> Endpoint, or null (retried by the timer;
 *                 a warning the first time, debug lines while it keeps failing)
 *   every tick -> quiet peers with a hostname -> resolve -> new address?
 *              -> peer.endpoint = it -> onChanged(peer)
 */
import type { Device } from '../transport/device.js';
import { endpointKey, type Endpoint, type Peer } from '../transport/peer.js';
import { peerName } from './event-log.js';
import type { Logger } from './log.js';

export interface EndpointResolverOptions {
  device: Device;
  log: Logger;
  /** Hostname lookup (default: the system resolver via dns.lookup). */
  lookup?: (host: string) => Promise<string>;
  everyMs: number;
  afterMs: number;
  /** A peer's endpoint changed: packets staged for the dead address can go out. */
  onChanged: (peer: Peer) => void;
  /** Monotonic milliseconds (the peers' lastHandshake clock). */
  now: () => number;
}

export class EndpointResolver {
  /** Hostname endpoints from the config, by peer id. */
  private readonly hosts = new Map<string, { host: string; port: number }>();
  private timer: NodeJS.Timeout | null = null;
  /** Names whose last lookup failed (warned about once). */
  private readonly failing = new Set<string>();

  constructor(private readonly o: EndpointResolverOptions) {}

  async resolve(host: string, port: number): Promise<Endpoint | null> {
    this.o.log[this.failing.has(host) ? 'debug' : 'info'](`resolving endpoint ${host}...`);
    try {
      // node:dns only for hostname endpoints (it is ~0.9 MB resident).
      const address = this.o.lookup ? await this.o.lookup(host) : (await (await import('node:dns/promises')).lookup(host, { verbatim: true })).address;
      this.o.log.info(`resolved ${host} to ${address}`);
      this.failing.delete(host);
      return { address, port };
    } catch (e) {
      // A warning the first time; the retries that fail the same way are debug lines.
      const first = !this.failing.has(host);
      this.failing.add(host);
      this.o.log[first ? 'warn' : 'debug'](`cannot resolve endpoint ${host}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; will retry every ${this.o.everyMs / 1000} s`);
      return null;
    }
  }

  /** Look `peer`'s hostname up again when it goes quiet. */
  track(peer: Peer, endpoint: { host: string; port: number }): void {
    this.hosts.set(peer.id, endpoint);
  }

  /** The hostname of `peer`'s Endpoint when it has not resolved yet (the peer has no address to send to), else undefined. */
  unresolved(peer: Peer): string | undefined {
    return peer.endpoint ? undefined : this.hosts.get(peer.id)?.host;
  }

  /** How often a name that did not resolve is tried again, in ms. */
  get retryMs(): number {
    return this.o.everyMs;
  }

  /** Stop re-resolving for a peer (its endpoint was set by hand). */
  forget(peer: Peer): void {
    this.hosts.delete(peer.id);
  }

  start(): void {
    this.timer = setInterval(() => void this.reresolve(), this.o.everyMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async reresolve(): Promise<void> {
    for (const [id, ep] of this.hosts) {
      const peer = this.o.device.listPeers().find((p) => p.id === id);
      if (!peer) { this.hosts.delete(id); continue; }
      if (peer.lastHandshake !== null && this.o.now() - peer.lastHandshake < this.o.afterMs) continue;
      const e = await this.resolve(ep.host, ep.port);
      if (e && (!peer.endpoint || endpointKey(peer.endpoint) !== endpointKey(e))) {
        peer.endpoint = e;
        this.o.log.info(`${peerName(peer)}: endpoint re-resolved to ${endpointKey(e)}`);
        this.o.onChanged(peer);
      }
    }
  }
}
