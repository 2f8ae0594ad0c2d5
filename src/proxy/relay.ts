/**
 * What the SOCKS5 and HTTP proxies share: credentials checked in constant
 * time, a two-way byte relay with half-close, and per-proxy counters.
 *
 *   client ──pipe──> tunnel      each direction ends on its own (half-close);
 *   client <──pipe── tunnel      an error on either side destroys both;
 *                                a dialled TunnelSocket into a kernel socket: pipeOneWay (a tick's chunks in one write)
 *   listenOn: the section's BindAddress, the bound port into the stats
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { Socket, type Server } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ProxyConfig } from '../config/proxy.js';
import type { NetSocket } from '../host/net.js';
import { pipeOneWay } from '../nat/tcp-relay.js';
import { TunnelSocket } from './socket.js';
import type { ProxySample } from '../node/metrics.js';

/** A proxy's counters: the metrics' ProxySample (listen, target, active, total, refused, bytes) with its kind. */
export interface ProxyStats extends ProxySample {
  /** A proxy ([Socks5], [http]) or a wireproxy tunnel section. */
  kind: 'socks5' | 'http' | 'tcp-client' | 'tcp-server' | 'udp' | 'stdio';
}

export function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

export function newStats(cfg: { kind: ProxyStats['kind']; bind?: { host: string; port: number } }, listen?: string, target?: string): ProxyStats {
  return {
    kind: cfg.kind,
    listen: listen ?? (cfg.bind ? hostPort(cfg.bind.host, cfg.bind.port) : ''),
    ...(target !== undefined ? { target } : {}),
    active: 0, total: 0, refused: {}, bytesIn: 0, bytesOut: 0,
  };
}

/** Listen on the section's BindAddress (rejects on bind errors); the bound port goes into the stats. */
export async function listenOn(server: Server, cfg: { bind: { host: string; port: number } }, stats: ProxyStats): Promise<{ address: string; port: number }> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: cfg.bind.host, port: cfg.bind.port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const a = server.address() as { address: string; port: number };
  stats.listen = hostPort(a.address, a.port);
  return { address: a.address, port: a.port };
}

export function credentialsOf(cfg: ProxyConfig): Credentials | null {
  return cfg.username !== undefined ? new Credentials(cfg.username, cfg.password ?? '') : null;
}

export function countRefused(s: ProxyStats, why: string): void {
  s.refused[why] = (s.refused[why] ?? 0) + 1;
}

/** Username/password, compared by digest so neither length nor content leaks through timing. */
export class Credentials {
  private readonly user: Buffer;
  private readonly pass: Buffer;
  constructor(username: string, password: string) {
    this.user = digest(Buffer.from(username));
    this.pass = digest(Buffer.from(password));
  }

  check(username: Buffer, password: Buffer): boolean {
    const u = timingSafeEqual(this.user, digest(username));
    const p = timingSafeEqual(this.pass, digest(password));
    return u && p;
  }
}

function digest(b: Buffer): Buffer {
  return createHash('sha256').update(b).digest();
}

/** Relay bytes both ways until both directions have ended; `onClose` runs once. */
export function relay(client: Duplex, tunnel: Duplex, stats: ProxyStats, onClose?: () => void): void {
  stats.active++;
  stats.total++;
  let closed = 0;
  const done = (): void => {
    if (++closed === 2) {
      stats.active--;
      onClose?.();
    }
  };
  client.once('close', done);
  tunnel.once('close', done);
  const fail = (): void => {
    client.destroy();
    tunnel.destroy();
  };
  client.on('error', fail);
  tunnel.on('error', fail);
  client.on('data', (d: Buffer) => void (stats.bytesOut += d.length));
  client.pipe(tunnel);
  if (tunnel instanceof TunnelSocket && client instanceof Socket) {
    // What we dialled into the tunnel, back to a kernel socket: the stack hands over a chunk
    // per TCP segment, and pipeOneWay corks the client for a tick so a tick's worth leaves in
    // one writev, not a write(2) each.
    pipeOneWay(tunnel as NetSocket, client as NetSocket, (n) => void (stats.bytesIn += n));
  } else {
    tunnel.on('data', (d: Buffer) => void (stats.bytesIn += d.length));
    tunnel.pipe(client);
  }
}
