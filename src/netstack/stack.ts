/**
 * The userspace TCP/IP stack behind a WireGuard device in userspace mode.
 * Sans-IO: the driver feeds inner IP packets from the tunnel to input(), and
 * calls poll(now) to run timers and collect the packets to send into the
 * tunnel. Time enters only as `now` (monotonic ms); randomness only through
 * the injected `random`.
 *
 *   tunnel -> input(): IPv4/IPv6 parse -> local address check -> (reassembly)
 *          -> ICMP echo / UDP sockets / TCP connections
 *   poll(now): timers due -> transports' output -> returned packets -> tunnel
 *
 * Local addresses are our own, plus foreign ones held by transparent
 * sockets (a TCP connect or UDP bind with someone else's address, like
 * IP_TRANSPARENT): packets to those reach only the exact socket, and never
 * draw a RST, ICMP error or echo reply.
 *
 * Waking: sockets and Duplex streams are written from outside input/poll.
 * When they create output or move a deadline earlier the stack calls
 * `onWake()`; the driver should then schedule poll() soon (e.g. on a
 * microtask or setImmediate) and re-arm its timer from nextDeadline().
 */
import type { Host } from './host.js';
import { type Datagram, type Family, PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP, PROTO_UDP, sameAddress, addressKey } from './ip.js';
import { parseIpv4, fragmentIpv4 } from './ipv4.js';
import { parseIpv6, fragmentIpv6, walkExtensions } from './ipv6.js';
import { parseIp } from '../ip/text.js';
import { inputIcmpv4, inputIcmpv6, sendIcmpError, type IcmpError } from './icmp.js';
import { Reassembler, type ReassemblyLimits, DEFAULT_REASSEMBLY_LIMITS } from './reassembly.js';
import { Udp } from './udp.js';
import { Tcp } from './tcp.js';
import type { TcpConfig } from './tcp-config.js';

export interface StackOptions {
  /** Our own inner addresses, IPv4 and/or IPv6. */
  addresses: Array<{ ip: string; cidr: number }>;
  /** Largest IP packet sent into the tunnel; default 1420. */
  mtu?: number;
  random: (n: number) => Uint8Array;
  /** TCP tunables (see tcp-config.ts for defaults and their sources). */
  tcp?: Partial<TcpConfig>;
  /** Fragment reassembly bounds (default: 64 datagrams, 1 MiB). */
  reassembly?: Partial<ReassemblyLimits>;
}

/** Reassembly timeouts: IPv4 30 s (as Linux; RFC 791 suggests 15 s), IPv6 60 s (RFC 8200 section 4.5). */
const REASSEMBLY_TIMEOUT_V4 = 30_000;
const REASSEMBLY_TIMEOUT_V6 = 60_000;

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
  /**
   * Set by the driver: called (at most once between polls) when poll() has
   * new work outside input(): a socket was written, ended or destroyed, a
   * UDP datagram was sent, or a deadline moved earlier. The driver should
   * call poll() soon (setImmediate) and re-arm its timer from nextDeadline().
   */
  onWake?: () => void;
  readonly udp: Udp;
  readonly tcp: Tcp;

  private readonly addrs: Address[] = [];
  /** Foreign addresses held by transparent sockets (Latin-1 key), with hold counts. */
  private readonly held = new Map<string, number>();
  private out: Uint8Array[] = [];
  private ipId: number;
  private ipv6FragId: number;
  private icmpTokens = ICMP_BURST;
  private icmpLast = -Infinity;
  /**
   * Set by the driver while it feeds the inner packets of one received UDP
   * batch to input() and will poll() right after the last: ACKs those
   * segments ask for wait for that poll, so one ACK per connection answers
   * the batch (as Linux ACKs once per GRO aggregate). Off (the default), an
   * ACK is queued by the input() that asked for it.
   */
  batching = false;
  private woken = false;
  private deferred: Array<() => void> = [];
  private readonly reassembler: Reassembler;
  private inStep = false;

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
    this.reassembler = new Reassembler({ ...DEFAULT_REASSEMBLY_LIMITS, ...opts.reassembly });
    this.udp = new Udp(this);
    this.tcp = new Tcp(this, opts.tcp);
  }

  // ---- driver API ----

  /**
   * An inner IP packet arriving from the tunnel. Never throws; malformed
   * input is a counted drop. The packet is not retained (data is copied).
   * Replies and ACKs it causes are collected by the next poll().
   */
  input(packet: Uint8Array, now: number): void {
    this.step(() => this.inputIp(packet, now));
  }

  /** Run timers due at `now`, and return (and forget) every IP packet the stack wants to send into the tunnel. */
  poll(now: number): Uint8Array[] {
    this.woken = false;
    this.step(() => {
      this.reassembler.expire(now);
      this.tcp.poll(now);
    });
    // App calls made by deferred callbacks (a 'data' handler writing back) are applied now too.
    for (let i = 0; i < 8 && this.tcp.hasWork; i++) this.step(() => this.tcp.poll(now));
    this.woken = false;
    if (this.tcp.hasWork) this.wake(); // still busy: ask for another poll rather than loop here
    const out = this.out;
    this.out = [];
    return out;
  }

  /** Earliest time poll() has timer work to do, Infinity if none. */
  nextDeadline(): number {
    return Math.min(this.reassembler.nextDeadline(), this.tcp.nextDeadline());
  }

  /** Packets queued for poll() (for drivers that want to know without polling). */
  get pending(): number {
    return this.out.length;
  }

  /** Runs protocol work, then the deferred user-visible events; a bug becomes a counted drop. */
  private step(work: () => void): void {
    const outer = this.inStep;
    this.inStep = true;
    try {
      work();
    } catch {
      this.drop('internal-error');
    }
    if (outer) return;
    try {
      while (this.deferred.length > 0) {
        const fns = this.deferred;
        this.deferred = [];
        for (const fn of fns) {
          try {
            fn();
          } catch (err) {
            // A throwing event handler is the application's bug: surface it like Node would, later.
            queueMicrotask(() => {
              throw err;
            });
          }
        }
      }
    } finally {
      this.inStep = false;
    }
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

  holdAddress(a: Uint8Array): void {
    const k = addressKey(a);
    this.held.set(k, (this.held.get(k) ?? 0) + 1);
  }

  releaseAddress(a: Uint8Array): void {
    const k = addressKey(a);
    const n = this.held.get(k);
    if (n === undefined) return;
    if (n <= 1) this.held.delete(k);
    else this.held.set(k, n - 1);
  }

  /** Our own address, or a foreign one a transparent socket holds. */
  accepts(a: Uint8Array): boolean {
    return this.isLocal(a) || (this.held.size > 0 && this.held.has(addressKey(a)));
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
    if (v === 4) this.inputIpv4(packet, now);
    else if (v === 6) this.inputIpv6(packet, now);
    else this.drop('ip-version');
  }

  private inputIpv4(packet: Uint8Array, now: number): void {
    const p = parseIpv4(packet);
    if (typeof p === 'string') return this.drop(p);
    if (!this.accepts(p.dst)) return this.drop('not-for-us');
    const header = p.packet.subarray(0, p.headerLength);
    if (!p.mf && p.fragOffset === 0) {
      this.deliver({ version: 4, src: p.src, dst: p.dst, proto: p.proto, payload: p.payload, header, reassembled: false }, now);
      return;
    }
    const key = `4|${p.src.join('.')}|${p.dst.join('.')}|${p.proto}|${p.id}`;
    const r = this.reassembler.add(key, p.fragOffset, p.mf, p.payload, now, REASSEMBLY_TIMEOUT_V4, 65535 - p.headerLength, p.fragOffset === 0 ? header : null);
    if (!r.done) {
      if (r.drop) this.drop(r.drop);
      return;
    }
    const first = r.first ?? header;
    this.deliver({ version: 4, src: p.src, dst: p.dst, proto: p.proto, payload: r.payload, header: first, reassembled: true }, now);
  }

  private inputIpv6(packet: Uint8Array, now: number): void {
    const p = parseIpv6(packet);
    if (typeof p === 'string') return this.drop(p);
    if (!this.accepts(p.dst)) return this.drop('not-for-us');
    if (p.frag === undefined) {
      this.deliver({ version: 6, src: p.src, dst: p.dst, proto: p.proto, payload: p.payload, header: p.header, reassembled: false }, now);
      return;
    }
    const f = p.frag;
    if (f.offset === 0 && !f.mf) {
      // An atomic fragment (RFC 6946): process it on its own.
      this.deliverFragmentable(p.src, p.dst, p.proto, p.payload, p.header, false, now);
      return;
    }
    const key = `6|${p.src.join('.')}|${p.dst.join('.')}|${f.id}`;
    const fixed = p.header.subarray(0, p.header.length - 8);
    const r = this.reassembler.add(key, f.offset, f.mf, p.payload, now, REASSEMBLY_TIMEOUT_V6, 65535 - (p.header.length - 40), f.offset === 0 ? withNext(fixed, p.proto) : null);
    if (!r.done) {
      if (r.drop) this.drop(r.drop);
      return;
    }
    const first = r.first;
    if (first === null) return this.drop('fragment-first-missing');
    this.deliverFragmentable(p.src, p.dst, first[first.length - 1]!, r.payload, first.subarray(0, first.length - 1), true, now);
  }

  /** The fragmentable part of an IPv6 packet: walk its extension headers, then deliver. */
  private deliverFragmentable(src: Uint8Array, dst: Uint8Array, next: number, data: Uint8Array, header: Uint8Array, reassembled: boolean, now: number): void {
    const w = walkExtensions(data, 0, next, false);
    if (typeof w === 'string') return this.drop(w);
    if (w.frag !== undefined) return this.drop('ipv6-nested-fragment');
    this.deliver({ version: 6, src, dst, proto: w.proto, payload: data.subarray(w.offset), header, reassembled }, now);
  }

  private deliver(d: Datagram, now: number): void {
    switch (d.proto) {
      case PROTO_ICMP:
        if (d.version !== 4) return this.drop('icmp-over-ipv6');
        return inputIcmpv4(this, d, (e) => this.icmpError(e, now));
      case PROTO_ICMPV6:
        if (d.version !== 6) return this.drop('icmp6-over-ipv4');
        return inputIcmpv6(this, d, (e) => this.icmpError(e, now));
      case PROTO_UDP:
        return this.udp.input(d, now);
      case PROTO_TCP:
        return this.tcp.input(d, now);
      default:
        this.drop('unknown-protocol');
        // RFC 1122 3.2.2.1: protocol unreachable. (IPv6 would need the pointer to the Next Header field; it is just dropped.)
        if (d.version === 4 && this.isLocal(d.dst)) sendIcmpError(this, d, now, 3, 2);
        return;
    }
  }

  private icmpError(e: IcmpError, now: number): void {
    if (!this.accepts(e.src)) return this.drop('icmp-error-not-ours');
    if (e.proto === PROTO_TCP) this.tcp.icmpError(e, now);
    else this.drop('icmp-error-ignored');
  }
}

/** The unfragmentable header with its upper-layer protocol appended (kept by the reassembler). */
function withNext(header: Uint8Array, next: number): Uint8Array {
  const out = new Uint8Array(header.length + 1);
  out.set(header);
  out[header.length] = next;
  return out;
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
