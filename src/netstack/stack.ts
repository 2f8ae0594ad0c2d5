/**
 * The userspace TCP/IP stack behind a WireGuard device in userspace mode.
 * Sans-IO: the driver feeds inner IP packets from the tunnel to input(), and
 * calls poll(now) to run timers and collect the packets to send into the
 * tunnel. Time enters only as `now` (monotonic ms); randomness only through
 * the injected `random`.
 *
 *   tunnel -> input(): IPv4/IPv6 parse -> (reassembly) -> local address check
 *          -> ICMP echo / UDP sockets / TCP connections
 *   poll(now): timers due -> transports' output -> returned packets -> tunnel
 *
 * Waking: sockets and Duplex streams are written from outside input/poll.
 * When they create output or move a deadline earlier the stack calls
 * `onWake()`; the driver should then schedule poll() soon (e.g. on a
 * microtask or setImmediate) and re-arm its timer from nextDeadline().
 */
import type { Host } from './host.js';
import { type Datagram, type Family, PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP, PROTO_UDP, sameAddress } from './ip.js';
import { parseIpv4, fragmentIpv4 } from './ipv4.js';
import { parseIpv6, fragmentIpv6 } from './ipv6.js';
import { parseIp } from '../transport/ip.js';
import { inputIcmpv4, inputIcmpv6, type IcmpError } from './icmp.js';

export interface StackOptions {
  /** Our own inner addresses, IPv4 and/or IPv6. */
  addresses: Array<{ ip: string; cidr: number }>;
  /** Largest IP packet sent into the tunnel; default 1420. */
  mtu?: number;
  random: (n: number) => Uint8Array;
}

interface Address {
  ip: Uint8Array;
  cidr: number;
}

/** ICMP error token bucket: burst and refill per second. */
const ICMP_BURST = 50;
const ICMP_PER_SEC = 100;

export class Stack implements Host {
  readonly drops = new Map<string, number>();
  readonly mtu: number;
  readonly random: (n: number) => Uint8Array;
  /** Set by the driver: called when poll() has new work (see the module comment). */
  onWake?: () => void;

  private readonly addrs: Address[] = [];
  private out: Uint8Array[] = [];
  private ipId: number;
  private ipv6FragId: number;
  private icmpTokens = ICMP_BURST;
  private icmpLast = -Infinity;
  private woken = false;
  private deferred: Array<() => void> = [];

  constructor(opts: StackOptions) {
    this.mtu = opts.mtu ?? 1420;
    if (!Number.isInteger(this.mtu) || this.mtu < 1280 || this.mtu > 65535) throw new RangeError(`Stack: mtu ${this.mtu} outside 1280..65535`);
    this.random = opts.random;
    for (const a of opts.addresses) {
      const ip = parseIp(a.ip);
      if (ip === null) throw new TypeError(`Stack: bad address ${JSON.stringify(a.ip)}`);
      if (!Number.isInteger(a.cidr) || a.cidr < 0 || a.cidr > ip.length * 8) throw new RangeError(`Stack: bad prefix length ${a.cidr} for ${a.ip}`);
      this.addrs.push({ ip, cidr: a.cidr });
    }
    const r = opts.random(6);
    this.ipId = (r[0]! << 8) | r[1]!;
    this.ipv6FragId = ((r[2]! << 24) | (r[3]! << 16) | (r[4]! << 8) | r[5]!) >>> 0;
  }

  // ---- driver API ----

  /** An inner IP packet arriving from the tunnel. Never throws; malformed input is a counted drop. The packet is not retained. */
  input(packet: Uint8Array, now: number): void {
    try {
      this.inputIp(packet, now);
    } catch {
      // A bug, not hostile input: keep the stack alive and make it visible.
      this.drop('internal-error');
    }
  }

  /** Run timers due at `now`, and return (and forget) every IP packet the stack wants to send into the tunnel. */
  poll(now: number): Uint8Array[] {
    void now;
    this.woken = false;
    const out = this.out;
    this.out = [];
    return out;
  }

  /** Earliest time poll() has timer work to do, Infinity if none. */
  nextDeadline(): number {
    return Infinity;
  }

  // ---- Host ----

  emit(packet: Uint8Array): void {
    if (packet.length <= this.mtu) this.out.push(packet);
    else if (packet[0]! >> 4 === 4) this.out.push(...fragmentIpv4(packet, this.mtu));
    else this.out.push(...fragmentIpv6(packet, this.mtu, (this.ipv6FragId = (this.ipv6FragId + 1) >>> 0)));
  }

  drop(reason: string): void {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + 1);
  }

  nextIpId(): number {
    this.ipId = (this.ipId + 1) & 0xffff;
    return this.ipId;
  }

  icmpErrorAllowed(now: number): boolean {
    if (this.icmpLast !== -Infinity) this.icmpTokens = Math.min(ICMP_BURST, this.icmpTokens + ((now - this.icmpLast) * ICMP_PER_SEC) / 1000);
    this.icmpLast = now;
    if (this.icmpTokens < 1) return false;
    this.icmpTokens -= 1;
    return true;
  }

  sourceFor(remote: Uint8Array): Uint8Array | null {
    let best: Address | null = null;
    let bestLen = -1;
    for (const a of this.addrs) {
      if (a.ip.length !== remote.length) continue;
      const len = commonPrefix(a.ip, remote, a.cidr);
      if (len > bestLen) {
        best = a;
        bestLen = len;
      }
    }
    return best === null ? null : best.ip;
  }

  isLocal(a: Uint8Array): boolean {
    for (const x of this.addrs) if (sameAddress(x.ip, a)) return true;
    return false;
  }

  defer(fn: () => void): void {
    this.deferred.push(fn);
  }

  wake(): void {
    if (this.woken) return;
    this.woken = true;
    this.onWake?.();
  }

  // ---- inbound ----

  private inputIp(packet: Uint8Array, now: number): void {
    if (packet.length === 0) return this.drop('empty');
    const v = packet[0]! >> 4;
    if (v === 4) {
      const p = parseIpv4(packet);
      if (typeof p === 'string') return this.drop(p);
      if (!this.isLocal(p.dst)) return this.drop('not-for-us');
      if (p.mf || p.fragOffset !== 0) return this.drop('fragment-unsupported');
      this.deliver({ version: 4, src: p.src, dst: p.dst, proto: p.proto, payload: p.payload, header: p.packet.subarray(0, p.headerLength), reassembled: false }, now);
    } else if (v === 6) {
      const p = parseIpv6(packet);
      if (typeof p === 'string') return this.drop(p);
      if (!this.isLocal(p.dst)) return this.drop('not-for-us');
      if (p.frag) return this.drop('fragment-unsupported');
      this.deliver({ version: 6, src: p.src, dst: p.dst, proto: p.proto, payload: p.payload, header: p.header, reassembled: false }, now);
    } else {
      this.drop('ip-version');
    }
  }

  private deliver(d: Datagram, now: number): void {
    void now;
    switch (d.proto) {
      case PROTO_ICMP:
        if (d.version !== 4) return this.drop('icmp-over-ipv6');
        return inputIcmpv4(this, d, (e) => this.icmpError(e));
      case PROTO_ICMPV6:
        if (d.version !== 6) return this.drop('icmp6-over-ipv4');
        return inputIcmpv6(this, d, (e) => this.icmpError(e));
      case PROTO_UDP:
        return this.drop('udp-unsupported');
      case PROTO_TCP:
        return this.drop('tcp-unsupported');
      default:
        return this.drop('unknown-protocol');
    }
  }

  private icmpError(e: IcmpError): void {
    void e;
    this.drop('icmp-error-unhandled');
  }
}

function commonPrefix(a: Uint8Array, b: Uint8Array, limit: number): number {
  let n = 0;
  for (let i = 0; i < a.length && n < limit; i++) {
    const x = a[i]! ^ b[i]!;
    if (x === 0) {
      n += 8;
      continue;
    }
    n += Math.clz32(x) - 24;
    break;
  }
  return Math.min(n, limit);
}

export type { Family };
