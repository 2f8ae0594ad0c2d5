/**
 * The one way this program opens TCP connections into the tunnel for the
 * library, the SOCKS5 and HTTP proxies: a host (IP literal, or a name for
 * the resolver) and a port in, a TunnelSocket out at once.
 *
 *   dial(port, host) -> TunnelSocket (returned now)
 *     host a name  -> resolver (inside the tunnel) -> first routed address | ENOTFOUND
 *     address      -> routed to a peer? (AllowedIPs) | EHOSTUNREACH
 *     -> TunnelNet.connectTcp -> socket.attach()   (ECONNREFUSED, ETIMEDOUT later)
 */
import { isIP } from 'node:net';
import type { TunnelNet } from '../host/net.js';
import { parseIp } from '../ip/text.js';
import { TunnelSocket } from './socket.js';

/** Names to addresses, through the tunnel's DNS servers. */
export type Resolver = (name: string) => Promise<string[]>;

export interface DialerOptions {
  /** False when no peer's AllowedIPs cover the address (userspace mode); absent: the kernel routes (TUN mode). */
  routed?: (ip: Uint8Array) => boolean;
  /** Absent: names are refused with ENOTFOUND. */
  resolve?: Resolver;
}

const ERRNO: Record<string, number> = { EHOSTUNREACH: -113, ENOTFOUND: -3008, EADDRNOTAVAIL: -99, EINVAL: -22 };

/** An error shaped like node:net's (`code`, `errno`, `syscall`, `address`, `port`). */
export function netError(code: string, syscall: string, host: string, port?: number): Error {
  const where = port === undefined ? host : `${host}:${port}`;
  return Object.assign(new Error(`${syscall} ${code} ${where}`), { code, errno: ERRNO[code] ?? -1, syscall, ...(syscall === 'getaddrinfo' ? { hostname: host } : { address: host, port }) });
}

export class TunnelDialer {
  constructor(
    readonly net: TunnelNet,
    private readonly opts: DialerOptions = {},
  ) {}

  /** The resolver, or one that refuses every name. */
  lookup(name: string): Promise<string[]> {
    const literal = unbracket(name);
    if (isIP(literal)) return Promise.resolve([literal]);
    if (!this.opts.resolve) return Promise.reject(netError('ENOTFOUND', 'getaddrinfo', name));
    return this.opts.resolve(name);
  }

  /** allowHalfOpen: as net.connect's option (default false: our side ends when the peer's does). */
  dial(port: number, host: string, opts: { allowHalfOpen?: boolean } = {}): TunnelSocket {
    const sock = new TunnelSocket(opts);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`port must be an integer 1-65535, got ${port}`);
    const literal = unbracket(host);
    if (isIP(literal)) this.open(sock, literal, port);
    else {
      this.lookup(host).then(
        (addrs) => {
          if (sock.destroyed) return;
          // The first address a peer's AllowedIPs cover (an AAAA answer on an IPv4-only tunnel is skipped).
          const first = addrs.find((a) => this.isRouted(a)) ?? addrs[0];
          if (first === undefined) sock.fail(netError('ENOTFOUND', 'getaddrinfo', host));
          else this.open(sock, first, port);
        },
        (e: Error) => sock.fail(e),
      );
    }
    return sock;
  }

  private isRouted(ip: string): boolean {
    const raw = parseIp(ip);
    return raw !== null && (!this.opts.routed || this.opts.routed(raw));
  }

  private open(sock: TunnelSocket, ip: string, port: number): void {
    const raw = parseIp(ip);
    if (raw === null) return sock.fail(netError('EINVAL', 'connect', ip, port));
    if (this.opts.routed && !this.opts.routed(raw)) return sock.fail(netError('EHOSTUNREACH', 'connect', ip, port));
    try {
      sock.attach(this.net.connectTcp({ host: ip, port }), false);
    } catch (e) {
      sock.fail(e as Error);
    }
  }
}

function unbracket(h: string): string {
  return h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h;
}
