/**
 * One SOCKS5 UDP ASSOCIATE (RFC 1928 section 7): a UDP relay socket on this
 * host for one client, and tunnel UDP sockets (one per family) towards the
 * destinations it names.
 *
 *   client --[RSV RSV FRAG ATYP DST.ADDR DST.PORT DATA]--> relay socket
 *     FRAG != 0, or another sender than the client: dropped and counted
 *     DST a name -> resolved inside the tunnel -> tunnel socket -> DST
 *   DST --DATA--> tunnel socket -> [0 0 0 ATYP SRC.ADDR SRC.PORT DATA] -> client
 *
 * The client is the control connection's address; its port is the one the
 * request named, or the first datagram's when it named 0.
 */
import { createSocket, type Socket as DgramSocket } from 'node:dgram';
import { isIP } from 'node:net';
import type { NetUdpSocket, TunnelNet } from '../host/net.js';
import { bindDgram } from '../host/dgram.js';
import type { TunnelDialer } from './dial.js';
import { countRefused, type ProxyStats } from './relay.js';
import { readAddress, writeAddress } from './socks5-addr.js';

export class UdpAssociation {
  private relay: DgramSocket | null = null;
  private readonly tunnel = new Map<4 | 6, Promise<NetUdpSocket>>();
  private closed = false;

  constructor(
    private readonly net: TunnelNet,
    private readonly dialer: TunnelDialer,
    private readonly stats: ProxyStats,
    private readonly clientIp: string,
    private clientPort: number,
  ) {}

  /** Bind the relay socket on `localAddress` (where the client reached us); resolves with its address. */
  async start(localAddress: string): Promise<{ address: string; port: number }> {
    const host = localAddress.startsWith('::ffff:') ? localAddress.slice(7) : localAddress;
    const s = await bindDgram(createSocket(isIP(host) === 6 ? 'udp6' : 'udp4'), { address: host, port: 0 });
    if (this.closed) {
      s.close();
      throw Object.assign(new Error('closed'), { code: 'ECANCELED' });
    }
    this.relay = s;
    s.on('message', (m, r) => this.fromClient(m, r.address, r.port));
    s.on('error', () => countRefused(this.stats, 'udp-relay-error'));
    return { address: host, port: s.address().port };
  }

  private fromClient(m: Buffer, ip: string, port: number): void {
    const plain = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
    const client = this.clientIp.startsWith('::ffff:') ? this.clientIp.slice(7) : this.clientIp;
    if (plain !== client || (this.clientPort !== 0 && port !== this.clientPort)) return countRefused(this.stats, 'udp-foreign-sender');
    this.clientPort = port;
    if (m.length < 4 || m[0] !== 0 || m[1] !== 0) return countRefused(this.stats, 'udp-bad-header');
    if (m[2] !== 0) return countRefused(this.stats, 'udp-fragment'); // fragmentation is optional; we do not reassemble
    const a = readAddress(m, 3);
    if (a === null || 'error' in a || a.port === 0) return countRefused(this.stats, 'udp-bad-header');
    const data = m.subarray(a.end);
    this.stats.bytesOut += data.length;
    this.dialer.lookup(a.host).then(
      async (addrs) => {
        const dst = addrs[0];
        if (dst === undefined || this.closed) return;
        const sock = await this.socketFor(isIP(dst) === 6 ? 6 : 4);
        sock.send(data, a.port, dst);
      },
      (e: NodeJS.ErrnoException) => countRefused(this.stats, e.code ?? 'udp-lookup'),
    ).catch((e: NodeJS.ErrnoException) => countRefused(this.stats, e.code ?? 'udp-send'));
  }

  private socketFor(family: 4 | 6): Promise<NetUdpSocket> {
    let p = this.tunnel.get(family);
    if (!p) {
      p = this.net.udpSocket({ family }).then((u) => {
        if (this.closed) u.close();
        u.on('message', (d, from) => this.toClient(d, from.address, from.port));
        u.on('error', () => countRefused(this.stats, 'udp-tunnel-error'));
        return u;
      });
      this.tunnel.set(family, p);
      p.catch(() => this.tunnel.delete(family));
    }
    return p;
  }

  private toClient(d: Buffer, from: string, port: number): void {
    if (!this.relay || this.clientPort === 0) return;
    this.stats.bytesIn += d.length;
    this.relay.send(Buffer.concat([Buffer.from([0, 0, 0]), writeAddress(from, port), d]), this.clientPort, this.clientIp);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.relay?.close();
    this.relay = null;
    for (const p of this.tunnel.values()) p.then((u) => u.close(), () => {});
    this.tunnel.clear();
  }
}
