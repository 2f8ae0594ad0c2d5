/**
 * TunnelNet over the host's own sockets (node:net, node:dgram): the host
 * side of every rule, and the tunnel side in TUN mode, where the tunnel
 * addresses are the kernel's. Listeners accept half-open, paused sockets;
 * Nagle is off on both sides of a relay, as a relay adds no batching need.
 */
import { connect, createServer, type Socket } from 'node:net';
import type { NetListener, NetSocket, NetUdpSocket, TunnelNet } from './net.js';
import { NativeUdpSocket, nativeUdp } from './native-udp.js';
import { bindDgram, literalLookup } from './dgram.js';

export interface KernelNetOptions {
  /**
   * Allow a foreign local address in connectTcp/udpSocket (Source =
   * client). Plain kernel sockets can only bind the host's own addresses,
   * so this is false unless the addresses are known to be bindable (the
   * tests' loopback, where all of 127.0.0.0/8 is).
   */
  transparent?: boolean;
  /** Called for errors on a listening socket after it is up (e.g. EMFILE on accept). */
  onListenError?: (e: Error) => void;
}

/**
 * Accept queue of a listener (the kernel caps it at net.core.somaxconn,
 * 4096 by default). Node's default of 511 overflows when a thousand
 * clients connect at once (wrk -c1000): the kernel drops their handshake's
 * last ACK and each waits for a 1 s SYN-ACK or SYN retransmission.
 */
export const LISTEN_BACKLOG = 4096;

/** Forwarded UDP bursts overflow the default ~208 KiB buffers; the kernel caps this at rmem_max/wmem_max. */
const UDP_BUFFER = 4 << 20;

export class KernelNet implements TunnelNet {
  readonly transparent: boolean;

  constructor(
    readonly label = 'host',
    private readonly opts: KernelNetOptions = {},
  ) {
    this.transparent = opts.transparent ?? false;
  }

  connectTcp(o: { host: string; port: number; localAddress?: string; localPort?: number }): NetSocket {
    return connect({ host: o.host, port: o.port, localAddress: o.localAddress, localPort: o.localPort, allowHalfOpen: true, noDelay: true });
  }

  listenTcp(o: { host: string; port: number }, onConnection: (sock: NetSocket) => void): Promise<NetListener> {
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (s: Socket) => onConnection(s));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: o.host, port: o.port, backlog: LISTEN_BACKLOG }, () => {
        server.off('error', reject);
        server.on('error', (e) => this.opts.onListenError?.(e));
        const a = server.address();
        const port = a !== null && typeof a === 'object' ? a.port : o.port;
        resolve({ address: o.host, port, close: () => void server.close() });
      });
    });
  }

  async udpSocket(o: { family: 4 | 6; address?: string; port?: number }): Promise<NetUdpSocket> {
    // With the addon: batched receives and sendmmsg/GSO sends (native-udp.ts).
    const addon = nativeUdp();
    if (addon) {
      return new NativeUdpSocket(addon, {
        family: o.family, address: o.address ?? '', port: o.port ?? 0, v6only: o.family === 6, rcvbuf: UDP_BUFFER, sndbuf: UDP_BUFFER, gro: true,
      });
    }
    // node:dgram only when the addon is missing (it is ~0.8 MB resident).
    const { createSocket } = await import('node:dgram');
    // Rules carry IP literals only, so the literal lookup is safe here.
    const s = createSocket({ type: o.family === 6 ? 'udp6' : 'udp4', recvBufferSize: UDP_BUFFER, sendBufferSize: UDP_BUFFER, lookup: literalLookup });
    return bindDgram(s, { address: o.address, port: o.port ?? 0, exclusive: true });
  }

  async udpGroup(o: { group: string; port: number; interfaceAddress: string }): Promise<NetUdpSocket> {
    // node:dgram has IP_ADD_MEMBERSHIP; bound to the group address, the
    // socket sees that group only, and its sends take the routed source
    // address (Linux leaves a multicast-bound socket's source unset).
    const { createSocket } = await import('node:dgram');
    const s = await bindDgram(createSocket({ type: 'udp4', reuseAddr: true, lookup: literalLookup }), { address: o.group, port: o.port });
    try {
      s.addMembership(o.group, o.interfaceAddress);
    } catch (e) {
      s.close();
      throw e;
    }
    return s;
  }
}
