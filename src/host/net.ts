/**
 * The socket API the relays are written against. One side of every rule is
 * the host (KernelNet: node:net / node:dgram), the other the tunnel: the
 * userspace stack in userspace mode (StackNet), kernel sockets on the TUN
 * interface in TUN mode (KernelNet again). A Forward listens on the host
 * and connects into the tunnel; an Expose does the reverse.
 */
import type { Duplex } from 'node:stream';
import type { CongestionName } from '../netstack/cc/types.js';

/** A connected TCP stream: net.Socket and the stack's TcpSocket both fit. */
export type NetSocket = Duplex & {
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
  readonly localAddress?: string | undefined;
  readonly localPort?: number | undefined;
  /** Close with RST (net.Socket since Node 18.3; the stack's TcpSocket). */
  resetAndDestroy?(): unknown;
};

export interface NetListener {
  /** The bound address and port (the port is useful when 0 was asked for). */
  readonly address: string;
  readonly port: number;
  /** Stop accepting; connections already accepted are not touched. */
  close(): void;
}

export interface NetUdpSocket {
  /** Fire and forget; failures are reported through 'error' (or cb). */
  send(msg: Uint8Array, port: number, address: string, cb?: (err: Error | null, bytes: number) => void): void;
  on(event: 'message', cb: (msg: Buffer, rinfo: { address: string; port: number }) => void): unknown;
  on(event: 'error', cb: (err: Error) => void): unknown;
  address(): { address: string; port: number };
  /** cb runs once the socket (and its descriptor, for kernel sockets) is gone. */
  close(cb?: () => void): void;
}

export interface TunnelNet {
  /** For log lines: "host", "tunnel (userspace)", "tunnel (kernel)". */
  readonly label: string;
  /**
   * connectTcp and udpSocket accept a local address that is not one of
   * ours (Source = client). False for plain kernel sockets.
   */
  readonly transparent: boolean;
  /**
   * Starts a connection: the socket emits 'connect' once established, or
   * 'error' (ECONNREFUSED, ETIMEDOUT, EHOSTUNREACH...). Writes made before
   * 'connect' are sent after it, in order. May throw (EADDRNOTAVAIL, or a
   * connection table that is full); the relays treat that as a refusal.
   * `congestion` picks the userspace stack's controller (the kernel keeps its own).
   */
  connectTcp(opts: { host: string; port: number; localAddress?: string; localPort?: number; congestion?: CongestionName }): NetSocket;
  /**
   * Accepts connections on host:port. Accepted sockets allow half-open
   * and do not flow until resume() is called. Rejects on bind errors
   * (EADDRINUSE, EACCES, EADDRNOTAVAIL).
   */
  listenTcp(opts: { host: string; port: number; congestion?: CongestionName }, onConnection: (sock: NetSocket) => void): Promise<NetListener>;
  /**
   * A UDP socket of the family of `family`, bound to address:port (defaults:
   * any address, an ephemeral port). Resolves once bound; rejects on bind
   * errors.
   */
  udpSocket(opts: { family: 4 | 6; address?: string; port?: number }): Promise<NetUdpSocket>;
  /**
   * An IPv4 socket that receives datagrams sent to multicast `group`:`port`
   * arriving on the interface that holds `interfaceAddress` (kernel sockets:
   * bound to the group, IP_ADD_MEMBERSHIP there). Replies sent from it
   * leave unicast from the interface's address. Absent where udpSocket can
   * bind the group address itself (the userspace stack).
   */
  udpGroup?(opts: { group: string; port: number; interfaceAddress: string }): Promise<NetUdpSocket>;
}
