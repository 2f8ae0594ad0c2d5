/**
 * UDP (RFC 768) on the stack's addresses with a dgram-like API:
 * stack.udp.bind(port, address?) gives a UdpSocket that emits 'message'
 * (Buffer, rinfo) and sends with send(msg, port, address).
 *
 * Sockets are keyed by (address, port): one bound to an address gets the
 * datagrams to that address:port, a wildcard one (no address) those to any
 * other of our addresses on that port. A socket may be bound to a foreign
 * address (transparent, the forwarder's Source = client): the stack then
 * accepts datagrams to it, for that socket only.
 *
 * Inbound: input() checks length and checksum (mandatory for IPv6, RFC 8200
 * section 8.1), finds the most specific socket, and defers the 'message'
 * event; a closed port of ours answers ICMP port unreachable, one on a
 * foreign address is dropped silently.
 * Outbound: send() builds the datagram and queues it on the stack at once
 * (fragmented by the stack when over the MTU), then wakes the driver.
 */
import { EventEmitter } from 'node:events';
import type { Host } from './host.js';
import { type Datagram, newPacket, sealPacket, transportChecksum, addressKey, isGroupAddress, isUnspecified, PROTO_UDP } from './ip.js';
import { sum, finish, pseudoHeaderSum } from './checksum.js';
import { sendPortUnreachable } from './icmp.js';
import { parseIp, formatIp } from '../ip/text.js';

export interface RemoteInfo {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
  size: number;
}

export interface UdpAddress {
  address: string;
  family: 'IPv4' | 'IPv6' | '';
  port: number;
}

export const UDP_HEADER = 8;
const EPHEMERAL_LOW = 49152;
const EPHEMERAL_HIGH = 65535;

function errno(code: string, message: string): Error {
  return Object.assign(new Error(`${code}: ${message}`), { code });
}

/**
 * A bound UDP socket. Events: 'message' (msg: Buffer, rinfo: RemoteInfo),
 * 'error' (Error), 'close'.
 */
export class UdpSocket extends EventEmitter {
  private closed = false;

  /** @internal made by Udp.bind(). */
  constructor(
    private readonly layer: Udp,
    readonly port: number,
    /** Only datagrams to this local address, or any of ours when null. */
    readonly local: Uint8Array | null,
    /** @internal key in the socket table */
    readonly key: string,
  ) {
    super();
  }

  address(): UdpAddress {
    const a = this.local;
    return { address: a === null ? '' : formatIp(a), family: a === null ? '' : a.length === 4 ? 'IPv4' : 'IPv6', port: this.port };
  }

  /**
   * Sends `msg` to address:port, from the bound address (or our best for
   * a wildcard socket). Errors (bad address, a family other than the bound
   * address's, no source address of that family, too big, closed) go to
   * `cb`, or are emitted as 'error'.
   */
  send(msg: Uint8Array | string, port: number, address: string, cb?: (err: Error | null, bytes: number) => void): void {
    const data = typeof msg === 'string' ? Buffer.from(msg) : msg;
    const err = this.closed ? errno('ERR_SOCKET_DGRAM_NOT_RUNNING', 'socket is closed') : this.layer.sendFrom(this, data, port, address);
    if (cb) queueMicrotask(() => cb(err, err ? 0 : data.length));
    else if (err) queueMicrotask(() => this.emit('error', err));
  }

  close(cb?: () => void): void {
    if (this.closed) return;
    this.closed = true;
    this.layer.unbind(this);
    if (cb) this.once('close', cb);
    queueMicrotask(() => this.emit('close'));
  }

  get isClosed(): boolean {
    return this.closed;
  }
}

/** Socket table key: port and address, or port and '*' for all our addresses. */
function socketKey(port: number, local: Uint8Array | null): string {
  return String.fromCharCode(port >> 8, port & 0xff) + (local === null ? '*' : addressKey(local));
}

export class Udp {
  private readonly sockets = new Map<string, UdpSocket>();
  /** Sockets per port, whatever their address (ephemeral ports are picked among unused ones). */
  private readonly portUse = new Map<number, number>();

  constructor(private readonly host: Host) {}

  /**
   * Binds a UDP port (0 or omitted: an ephemeral one) on all our addresses
   * (address omitted, '0.0.0.0' or '::'), or on `address` only: one of ours,
   * a foreign unicast address (transparent bind), or a multicast group
   * (datagrams to the group; its replies leave from our own address). Throws EADDRINUSE when
   * that address and port are taken, EADDRNOTAVAIL for a bad address.
   */
  bind(port = 0, address?: string): UdpSocket {
    let local: Uint8Array | null = null;
    if (address !== undefined) {
      local = parseIp(address);
      if (local === null) throw errno('EADDRNOTAVAIL', `cannot bind ${JSON.stringify(address)}`);
      if (isUnspecified(local)) local = null;
    }
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`udp.bind: port ${port}`);
    if (port === 0) port = this.ephemeral();
    const key = socketKey(port, local);
    if (this.sockets.has(key)) throw errno('EADDRINUSE', `udp port ${port} in use`);
    const s = new UdpSocket(this, port, local, key);
    this.sockets.set(key, s);
    this.portUse.set(port, (this.portUse.get(port) ?? 0) + 1);
    if (local !== null && !this.host.isLocal(local)) this.host.holdAddress(local);
    return s;
  }

  /** @internal */
  unbind(s: UdpSocket): void {
    if (this.sockets.get(s.key) !== s) return;
    this.sockets.delete(s.key);
    const n = this.portUse.get(s.port) ?? 0;
    if (n <= 1) this.portUse.delete(s.port);
    else this.portUse.set(s.port, n - 1);
    if (s.local !== null && !this.host.isLocal(s.local)) this.host.releaseAddress(s.local);
  }

  private ephemeral(): number {
    const span = EPHEMERAL_HIGH - EPHEMERAL_LOW + 1;
    const r = this.host.random(2);
    const start = ((r[0]! << 8) | r[1]!) % span;
    for (let i = 0; i < span; i++) {
      const p = EPHEMERAL_LOW + ((start + i) % span);
      if (!this.portUse.has(p)) return p;
    }
    throw errno('EADDRINUSE', 'no free ephemeral udp port');
  }

  /** @internal builds and queues one datagram; returns an error instead of throwing. */
  sendFrom(s: UdpSocket, data: Uint8Array, port: number, address: string): Error | null {
    const dst = parseIp(address);
    if (dst === null) return errno('EINVAL', `bad address ${JSON.stringify(address)}`);
    if (!Number.isInteger(port) || port < 1 || port > 65535) return errno('ERR_SOCKET_BAD_PORT', `bad port ${port}`);
    if (s.local !== null && s.local.length !== dst.length) return errno('EAFNOSUPPORT', `socket bound to an IPv${s.local.length === 4 ? 4 : 6} address cannot send to ${address}`);
    // A socket bound to a multicast group (to receive, e.g., SSDP searches) answers from our own address.
    const src = s.local !== null && !isGroupAddress(s.local) ? s.local : this.host.sourceFor(dst);
    if (src === null || src.length !== dst.length) return errno('EAFNOSUPPORT', `no ${dst.length === 4 ? 'IPv4' : 'IPv6'} address on this stack`);
    const v = dst.length === 4 ? 4 : 6;
    const len = UDP_HEADER + data.length;
    if (len > 65535 - (v === 4 ? 20 : 0)) return errno('EMSGSIZE', `datagram of ${data.length} bytes too big`);
    const pkt = newPacket(v, len);
    const h = pkt.length - len;
    pkt[h] = s.port >> 8;
    pkt[h + 1] = s.port & 0xff;
    pkt[h + 2] = port >> 8;
    pkt[h + 3] = port & 0xff;
    pkt[h + 4] = len >> 8;
    pkt[h + 5] = len & 0xff;
    pkt.set(data, h + UDP_HEADER);
    let c = transportChecksum(pkt, h, src, dst, PROTO_UDP);
    if (c === 0) c = 0xffff; // zero means "no checksum" (RFC 768)
    pkt[h + 6] = c >> 8;
    pkt[h + 7] = c & 0xff;
    sealPacket(pkt, v, src, dst, PROTO_UDP, this.host.nextIpId());
    this.host.emit(pkt);
    this.host.wake();
    return null;
  }

  input(d: Datagram, now: number): void {
    const p = d.payload;
    if (p.length < UDP_HEADER) return this.host.drop('udp-short');
    const len = (p[4]! << 8) | p[5]!;
    if (len < UDP_HEADER || len > p.length) return this.host.drop('udp-length');
    const stored = (p[6]! << 8) | p[7]!;
    if (stored === 0) {
      if (d.version === 6) return this.host.drop('udp-zero-checksum-ipv6');
    } else if (finish(sum(p, 0, len, pseudoHeaderSum(d.src, d.dst, PROTO_UDP, len))) !== 0) {
      return this.host.drop('udp-checksum');
    }
    const sport = (p[0]! << 8) | p[1]!;
    const dport = (p[2]! << 8) | p[3]!;
    const ours = this.host.isLocal(d.dst);
    const s = this.sockets.get(socketKey(dport, d.dst)) ?? (ours ? this.sockets.get(socketKey(dport, null)) : undefined);
    if (s === undefined) {
      if (!ours) return this.host.drop('udp-foreign-no-socket');
      this.host.drop('udp-port-closed');
      sendPortUnreachable(this.host, d, now);
      return;
    }
    if (sport === 0) return this.host.drop('udp-source-port-zero');
    const msg = Buffer.from(p.subarray(UDP_HEADER, len));
    const rinfo: RemoteInfo = { address: formatIp(d.src), family: d.version === 4 ? 'IPv4' : 'IPv6', port: sport, size: msg.length };
    this.host.defer(() => {
      if (!s.isClosed) s.emit('message', msg, rinfo);
    });
  }
}
