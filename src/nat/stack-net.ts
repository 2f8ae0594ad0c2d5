/**
 * TunnelNet over the userspace stack (src/netstack): the tunnel side in
 * userspace mode. Sockets are the stack's TcpSocket / UdpSocket, which
 * behave like node:net / node:dgram ones; the stack wakes the driver
 * itself when they have output.
 */
import type { Stack } from '../netstack/stack.js';
import type { NetListener, NetSocket, NetUdpSocket, TunnelNet } from '../host/net.js';
import type { CongestionName } from '../netstack/cc/types.js';

export class StackNet implements TunnelNet {
  readonly label = 'the tunnel (userspace stack)';
  /** The stack connects and binds from foreign addresses (Source = client) and accepts the replies to them. */
  readonly transparent = true;

  /**
   * `transparentListen`: listeners may bind a foreign address too (the hub's
   * [Forward] copies at this host's public addresses, reached from peers).
   */
  constructor(private readonly stack: Stack, private readonly opts: { transparentListen?: boolean } = {}) {}

  connectTcp(o: { host: string; port: number; localAddress?: string; localPort?: number; congestion?: CongestionName }): NetSocket {
    return this.stack.tcp.connect({ ...o, noDelay: true });
  }

  async listenTcp(o: { host: string; port: number; congestion?: CongestionName }, onConnection: (sock: NetSocket) => void): Promise<NetListener> {
    const l = this.stack.tcp.listen(
      o.port,
      (s) => {
        s.pause();
        onConnection(s);
      },
      { address: o.host, transparent: this.opts.transparentListen === true, ...(o.congestion !== undefined ? { congestion: o.congestion } : {}) },
    );
    return { address: o.host, port: l.port, close: () => l.close() };
  }

  async udpSocket(o: { family: 4 | 6; address?: string; port?: number }): Promise<NetUdpSocket> {
    return this.stack.udp.bind(o.port ?? 0, o.address);
  }
}
