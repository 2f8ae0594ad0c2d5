/**
 * TEST DOUBLE, not a tunnel: plain kernel sockets on 127.0.0.0/8 stand in
 * for the tunnel side of the relays (the userspace stack in production).
 * It is the production KernelNet with two test-only changes:
 * - transparent = true: every 127.x.y.z can be bound on Linux, so a
 *   connection "from the client's address" (Source = client) can be made
 *   on loopback. TCP binds the client's address and port (both sockets have
 *   SO_REUSEADDR, which libuv sets on every bind). UDP binds the client's
 *   address only: its port is held by the client's own socket, so the
 *   requested port is recorded in `calls` but not bound.
 * - every call and every socket it makes is recorded, so tests can see
 *   what the relay asked for and how much it kept buffered.
 */
import { KernelNet } from '../../src/host/kernel-net.js';
import type { NetListener, NetSocket, NetUdpSocket } from '../../src/host/net.js';

type ConnectOpts = { host: string; port: number; localAddress?: string; localPort?: number };
type UdpOpts = { family: 4 | 6; address?: string; port?: number };

export class LoopbackTunnel extends KernelNet {
  readonly calls = { connectTcp: [] as ConnectOpts[], listenTcp: [] as { host: string; port: number }[], udpSocket: [] as UdpOpts[] };
  readonly sockets: NetSocket[] = [];

  constructor() {
    super('loopback test tunnel', { transparent: true });
  }

  override connectTcp(o: ConnectOpts): NetSocket {
    this.calls.connectTcp.push(o);
    const s = super.connectTcp(o);
    this.sockets.push(s);
    return s;
  }

  override listenTcp(o: { host: string; port: number }, cb: (s: NetSocket) => void): Promise<NetListener> {
    this.calls.listenTcp.push(o);
    return super.listenTcp(o, cb);
  }

  override udpSocket(o: UdpOpts): Promise<NetUdpSocket> {
    this.calls.udpSocket.push(o);
    return super.udpSocket(o.address !== undefined ? { family: o.family, address: o.address } : o);
  }
}
