/**
 * The TCP layer: demultiplexing segments to connections, listeners, the
 * TIME-WAIT table, or a RST for a closed port (RFC 9293 3.10.7.1); active
 * and passive opens; initial sequence numbers per RFC 6528 and ephemeral
 * ports per RFC 6056 (algorithm 3), both keyed by injected randomness.
 *
 *   input(d) -> parseSegment -> conn.input | TIME-WAIT | listener | RST
 *
 * Listeners are keyed by (address, port): one bound to the packet's
 * destination address wins over a wildcard one on the same port. A
 * connection may use a foreign local address (transparent connect, the
 * forwarder's Source = client); segments to a foreign address reach only an
 * exact connection or TIME-WAIT entry, and are otherwise dropped without a
 * RST (a RST is only ever sent from our own addresses).
 *   poll(now) -> TIME-WAIT expiry, connection timers, dirty connections
 *
 * Bounds: maxConnections, a SYN backlog per listener, maxTimeWait entries
 * (the oldest goes first), and per-connection buffers (see tcp-config.ts).
 */
import type { Host } from './host.js';
import { type Datagram, type Family, addressKey, isGroupAddress, isUnspecified } from './ip.js';
import type { IcmpError } from './icmp.js';
import { type Segment, ACK, FIN, RST, SYN, parseSegment, buildSegment } from './tcp-segment.js';
import { seqAdd, seqGt, seqGe, seqLt } from './tcp-seq.js';
import { TcpConn, type ConnOwner, type TcpStats } from './tcp-conn.js';
import { TcpSocket } from './tcp-socket.js';
import { DeadlineHeap } from './deadline-heap.js';
import { type TcpConfig, DEFAULT_TCP, tcpError } from './tcp-config.js';
import type { CongestionName } from './cc/types.js';
import { mac } from '../crypto/blake2s.js';
import { parseIp } from '../ip/text.js';

const EPHEMERAL_LOW = 49152;
const EPHEMERAL_HIGH = 65535;
/** Domain of the timestamp offset's hash under the ISN secret. */
const TS_LABEL = new TextEncoder().encode('tcp timestamp offset');
/**
 * Keyed hashes remembered per host pair (timestamp offset) and per
 * destination (ephemeral port offset); a table this full is emptied, so a
 * flood of sources costs only the hashing it would have cost anyway.
 */
const HASH_CACHE_MAX = 4096;

export interface ListenOptions {
  /** Only accept on this one of our addresses (default, or '0.0.0.0' / '::': all of ours). */
  address?: string;
  /** Half-open connections kept for this listener (default TcpConfig.backlog). */
  backlog?: number;
  /** Congestion controller of the accepted connections (default TcpConfig.congestion). */
  congestion?: CongestionName;
  /**
   * Allow `address` to be foreign (like IP_TRANSPARENT): it is held on the
   * host while the listener is open, and a SYN to it reaches only this
   * listener; anything else to it is dropped without a RST.
   */
  transparent?: boolean;
}

export interface ConnectOptions {
  host: string;
  port: number;
  /**
   * Our end's address. Any unicast address of host's family: one of ours,
   * or a foreign one (transparent: segments to it reach this connection).
   * Default (or unspecified): our address best matching host.
   */
  localAddress?: string;
  localPort?: number;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
  /** Congestion controller of this connection (default TcpConfig.congestion). */
  congestion?: CongestionName;
}

export class TcpListener {
  /** SYN-RECEIVED connections (backlog accounting). */
  halfOpen = 0;
  closed = false;

  /** @internal */
  constructor(
    private readonly layer: Tcp,
    readonly port: number,
    readonly local: Uint8Array | null,
    /** @internal key in the listener table */
    readonly key: string,
    readonly backlog: number,
    readonly onConnection: (s: TcpSocket) => void,
    readonly congestion: CongestionName | undefined,
    /** `local` is a foreign address this listener holds on the host. */
    readonly foreign: boolean,
  ) {}

  /** Stops accepting; established connections are unaffected. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.layer.unlisten(this);
  }
}

interface TimeWait {
  v: Family;
  /** The local address is foreign and held on the host. */
  foreign: boolean;
  localIp: Uint8Array;
  localPort: number;
  remoteIp: Uint8Array;
  remotePort: number;
  sndNxt: number;
  rcvNxt: number;
  expires: number;
}

/** Latin-1 string of local address, local port, remote address, remote port. */
function tupleKey(lip: Uint8Array, lport: number, rip: Uint8Array, rport: number): string {
  let s = String.fromCharCode(lport >> 8, lport & 0xff, rport >> 8, rport & 0xff);
  for (let i = 0; i < lip.length; i++) s += String.fromCharCode(lip[i]!);
  for (let i = 0; i < rip.length; i++) s += String.fromCharCode(rip[i]!);
  return s;
}

/** Listener table key: port and address, or port and '*' for all our addresses. */
function listenKey(port: number, local: Uint8Array | null): string {
  return String.fromCharCode(port >> 8, port & 0xff) + (local === null ? '*' : addressKey(local));
}

function u16(n: number): Uint8Array {
  return new Uint8Array([n >> 8, n & 0xff]);
}

/** The first four bytes of a hash as an unsigned 32-bit number. */
function hash32(h: Uint8Array): number {
  return ((h[0]! << 24) | (h[1]! << 16) | (h[2]! << 8) | h[3]!) >>> 0;
}

/** table's value for key, computed and remembered on a miss (the table is emptied when full). */
function cached(table: Map<string, number>, key: string, compute: () => number): number {
  let v = table.get(key);
  if (v === undefined) {
    if (table.size >= HASH_CACHE_MAX) table.clear();
    v = compute();
    table.set(key, v);
  }
  return v;
}

export class Tcp implements ConnOwner {
  readonly cfg: TcpConfig;
  readonly stats: TcpStats = {
    segmentsIn: 0,
    segmentsOut: 0,
    retransmits: 0,
    fastRetransmits: 0,
    timeouts: 0,
    tailLossProbes: 0,
    dsacksReceived: 0,
    spuriousUndos: 0,
    resetsSent: 0,
    resetsReceived: 0,
    challengeAcks: 0,
  };
  private readonly conns = new Map<string, TcpConn>();
  private readonly listeners = new Map<string, TcpListener>();
  private readonly timeWait = new Map<string, TimeWait>();
  private readonly dirty = new Set<TcpConn>();
  /** The listener each half-open (SYN-RECEIVED) connection counts against, for backlog accounting. */
  private readonly spawnedBy = new Map<TcpConn, TcpListener>();
  /**
   * Connections by timer deadline. A connection is filed again whenever its
   * deadline may have moved earlier (after input, service, timers), and an
   * entry is only believed if it is the connection's latest filing
   * (filedAt) and the connection is still in the table; a deadline that
   * moved later is found when its old entry comes up and is re-filed then.
   */
  private readonly timers = new DeadlineHeap<TcpConn>();
  private readonly isnKey: Uint8Array;
  private readonly portKey: Uint8Array;
  /** tsOffset() and ephemeral()'s hash by tupleKey (ports 0 / remote port only): a BLAKE2s each, per connection. */
  private readonly tsOffsets = new Map<string, number>();
  private readonly portOffsets = new Map<string, number>();
  private nextEphemeral = 0;

  constructor(
    readonly host: Host,
    cfg: Partial<TcpConfig> = {},
  ) {
    this.cfg = { ...DEFAULT_TCP, ...cfg };
    this.isnKey = host.random(32);
    this.portKey = host.random(32);
  }

  /** Live connections (not TIME-WAIT), for diagnostics and tests. */
  connections(): IterableIterator<TcpConn> {
    return this.conns.values();
  }

  get timeWaitCount(): number {
    return this.timeWait.size;
  }

  // --------------------------------------------------------------- API

  /**
   * Accepts connections on `port` at opts.address (one of ours) or at all
   * our addresses; `onConnection` gets each established socket. A listener
   * on an address and a wildcard one may share a port (the address-bound one
   * gets that address's connections). Throws EADDRINUSE (same address and
   * port), EADDRNOTAVAIL (not our address).
   */
  listen(port: number, onConnection: (s: TcpSocket) => void, opts: ListenOptions = {}): TcpListener {
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`tcp.listen: port ${port}`);
    let local: Uint8Array | null = null;
    let foreign = false;
    if (opts.address !== undefined) {
      local = parseIp(opts.address);
      if (local === null || isGroupAddress(local)) throw tcpError('EADDRNOTAVAIL', 'listen', opts.address, port);
      if (isUnspecified(local)) local = null;
      else if (!this.host.isLocal(local)) {
        if (opts.transparent !== true) throw tcpError('EADDRNOTAVAIL', 'listen', opts.address, port);
        foreign = true;
      }
    }
    const key = listenKey(port, local);
    if (this.listeners.has(key)) throw tcpError('EADDRINUSE', 'listen', opts.address ?? '', port);
    const l = new TcpListener(this, port, local, key, opts.backlog ?? this.cfg.backlog, onConnection, opts.congestion, foreign);
    this.listeners.set(key, l);
    if (foreign) this.host.holdAddress(local!);
    return l;
  }

  /** @internal */
  unlisten(l: TcpListener): void {
    if (this.listeners.get(l.key) !== l) return;
    this.listeners.delete(l.key);
    if (l.foreign) this.host.releaseAddress(l.local!);
  }

  /** The listener for a segment to dst:port: bound to dst, else a wildcard one (only for our own addresses). */
  private listenerFor(dst: Uint8Array, port: number): TcpListener | undefined {
    if (this.listeners.size === 0) return undefined;
    return this.listeners.get(listenKey(port, dst)) ?? this.listeners.get(listenKey(port, null));
  }

  /**
   * Opens a connection; the socket emits 'connect' once established, or
   * 'error' (ECONNREFUSED, ETIMEDOUT, EHOSTUNREACH, EADDRNOTAVAIL).
   * Writes before that are buffered.
   */
  connect(opts: ConnectOptions): TcpSocket {
    const remote = parseIp(opts.host);
    if (remote === null) throw new TypeError(`tcp.connect: bad host ${JSON.stringify(opts.host)}`);
    if (!Number.isInteger(opts.port) || opts.port < 1 || opts.port > 65535) throw new RangeError(`tcp.connect: port ${opts.port}`);
    let local: Uint8Array | null = null;
    if (opts.localAddress !== undefined) {
      local = parseIp(opts.localAddress);
      if (local === null || local.length !== remote.length || isGroupAddress(local)) throw tcpError('EADDRNOTAVAIL', 'connect', opts.localAddress, opts.localPort ?? 0);
      if (isUnspecified(local)) local = null;
    }
    if (local === null) {
      local = this.host.sourceFor(remote);
      if (local === null) throw tcpError('EADDRNOTAVAIL', 'connect', opts.host, opts.port);
    }
    if (opts.localPort !== undefined && (!Number.isInteger(opts.localPort) || opts.localPort < 0 || opts.localPort > 65535)) throw new RangeError(`tcp.connect: localPort ${opts.localPort}`);
    if (this.conns.size >= this.cfg.maxConnections) throw tcpError('EADDRNOTAVAIL', 'connect', opts.host, opts.port);
    let lport = opts.localPort ?? 0;
    if (lport === 0) lport = this.ephemeral(local, remote, opts.port);
    else if (this.inUse(local, lport, remote, opts.port)) throw tcpError('EADDRINUSE', 'connect', opts.host, opts.port);
    const key = tupleKey(local, lport, remote, opts.port);
    const c = new TcpConn(this, {
      v: remote.length === 4 ? 4 : 6, localIp: local, localPort: lport, remoteIp: remote, remotePort: opts.port, key, passive: false,
      mtu: this.host.mtu, congestion: opts.congestion, tsOffset: this.tsOffset(local, remote),
    });
    this.holdIfForeign(c);
    c.needSyn = true;
    const sock = new TcpSocket(c, true);
    c.socket = sock;
    if (opts.noDelay !== undefined) c.noDelay = opts.noDelay;
    if (opts.keepAlive) {
      c.keepAlive = true;
      if (opts.keepAliveInitialDelay) c.keepIdle = opts.keepAliveInitialDelay;
    }
    this.conns.set(key, c);
    this.markDirty(c);
    return sock;
  }

  /** The 4-tuple is taken, or a listener is bound to local:lport. */
  private inUse(local: Uint8Array, lport: number, remote: Uint8Array, rport: number): boolean {
    const k = tupleKey(local, lport, remote, rport);
    if (this.conns.has(k) || this.timeWait.has(k)) return true;
    const l = this.listenerFor(local, lport);
    return l !== undefined && (l.local !== null || this.host.isLocal(local));
  }

  /** RFC 6056 algorithm 3: a keyed-hash offset per destination plus a counter. */
  private ephemeral(local: Uint8Array, remote: Uint8Array, rport: number): number {
    const span = EPHEMERAL_HIGH - EPHEMERAL_LOW + 1;
    const offset = cached(this.portOffsets, tupleKey(local, 0, remote, rport), () => hash32(mac(this.portKey, local, remote, u16(rport))));
    for (let i = 0; i < span; i++) {
      const port = EPHEMERAL_LOW + ((offset + this.nextEphemeral + i) % span);
      if (!this.inUse(local, port, remote, rport)) {
        this.nextEphemeral += i + 1;
        return port;
      }
    }
    throw tcpError('EADDRNOTAVAIL', 'connect', '', rport);
  }

  /** RFC 6528: ISN = M + F(localip, localport, remoteip, remoteport, secretkey), M a 4 microsecond clock. */
  private isn(now: number, local: Uint8Array, lport: number, remote: Uint8Array, rport: number): number {
    const f = hash32(mac(this.isnKey, local, u16(lport), remote, u16(rport)));
    return (Math.floor(now * 250) + f) >>> 0;
  }

  /**
   * The TSval offset of every connection between two addresses (RFC 7323
   * section 7.1: Timestamp_clock + F(localhost, remotehost, secret); Linux's
   * per host pair offsets). One clock per host pair keeps the TSvals of
   * successive connections to a peer increasing, so a new SYN on a tuple the
   * peer still holds in TIME-WAIT passes its PAWS check and reopens it; a
   * random offset per connection fails it half the time, and that SYN then
   * waits out the initial RTO (1 s).
   */
  private tsOffset(local: Uint8Array, remote: Uint8Array): number {
    return cached(this.tsOffsets, tupleKey(local, 0, remote, 0), () => hash32(mac(this.isnKey, TS_LABEL, local, remote)));
  }

  /** A connection whose local address is not ours (transparent) holds it on the host until its tuple is gone. */
  private holdIfForeign(c: TcpConn): void {
    if (this.host.isLocal(c.localIp)) return;
    c.foreign = true;
    this.host.holdAddress(c.localIp);
  }

  // ------------------------------------------------------- ConnOwner

  accepted(c: TcpConn): void {
    const l = this.takeHalfOpen(c);
    const sock = new TcpSocket(c, false);
    c.socket = sock;
    if (l === null || l.closed) {
      c.abort(null, true, c.snd.lastNow);
      return;
    }
    this.host.defer(() => l.onConnection(sock));
  }

  /** A half-open connection leaves its listener's backlog (accepted or closed); returns that listener. */
  private takeHalfOpen(c: TcpConn): TcpListener | null {
    const l = this.spawnedBy.get(c);
    if (l === undefined) return null;
    this.spawnedBy.delete(c);
    l.halfOpen = Math.max(0, l.halfOpen - 1);
    return l;
  }

  closed(c: TcpConn, timeWait: boolean, now: number): void {
    if (this.conns.get(c.key) === c) this.conns.delete(c.key);
    this.dirty.delete(c);
    this.takeHalfOpen(c);
    const foreign = c.foreign;
    c.foreign = false;
    if (!timeWait) {
      if (foreign) this.host.releaseAddress(c.localIp);
      return;
    }
    const old = this.timeWait.get(c.key);
    if (old !== undefined) this.forgetTimeWait(c.key, old);
    if (this.timeWait.size >= this.cfg.maxTimeWait) {
      const oldest = this.timeWait.entries().next();
      if (!oldest.done) this.forgetTimeWait(oldest.value[0], oldest.value[1]);
    }
    // The TIME-WAIT entry takes over the hold on a foreign address.
    this.timeWait.set(c.key, {
      v: c.v,
      foreign,
      localIp: c.localIp,
      localPort: c.localPort,
      remoteIp: c.remoteIp,
      remotePort: c.remotePort,
      sndNxt: c.snd.nxt,
      rcvNxt: c.rcvNxt,
      expires: now + this.cfg.timeWait,
    });
  }

  private forgetTimeWait(key: string, tw: TimeWait): void {
    this.timeWait.delete(key);
    if (tw.foreign) this.host.releaseAddress(tw.localIp);
  }

  markDirty(c: TcpConn, wake = true): void {
    this.dirty.add(c);
    if (wake) this.host.wake();
  }

  // ------------------------------------------------------------ input

  input(d: Datagram, now: number): void {
    const seg = parseSegment(d.payload, d.src, d.dst);
    if (typeof seg === 'string') return this.host.drop(seg);
    if (seg.srcPort === 0 || seg.dstPort === 0) return this.host.drop('tcp-port-zero');
    const key = tupleKey(d.dst, seg.dstPort, d.src, seg.srcPort);
    const c = this.conns.get(key);
    if (c !== undefined) {
      c.input(seg, now);
      this.file(c);
      return;
    }
    const tw = this.timeWait.get(key);
    if (tw !== undefined && this.inputTimeWait(key, tw, seg, now)) return;
    // A foreign address (held by a transparent socket) never sends a RST: only a plain SYN
    // to a transparent listener bound to exactly that address gets an answer.
    if (!this.host.isLocal(d.dst)) {
      const t = this.listeners.get(listenKey(seg.dstPort, d.dst));
      if (t === undefined || !t.foreign || (seg.flags & (SYN | ACK | RST | FIN)) !== SYN) return this.host.drop('tcp-foreign-no-connection');
      this.inputListen(t, key, seg, d, now, tw);
      return;
    }
    const l = this.listenerFor(d.dst, seg.dstPort);
    if (l !== undefined) {
      this.inputListen(l, key, seg, d, now, tw);
      return;
    }
    this.host.drop('tcp-port-closed');
    this.resetFor(seg, d);
  }

  /** RFC 9293 3.10.7.2 LISTEN. */
  private inputListen(l: TcpListener, key: string, seg: Segment, d: Datagram, now: number, tw?: TimeWait): void {
    if (seg.flags & RST) return this.host.drop('tcp-listen-rst');
    if (seg.flags & ACK) {
      this.host.drop('tcp-listen-ack');
      this.resetFor(seg, d);
      return;
    }
    if (!(seg.flags & SYN)) return this.host.drop('tcp-listen-no-syn');
    if (seg.flags & FIN) return this.host.drop('tcp-syn-fin');
    if (l.halfOpen >= l.backlog) return this.host.drop('tcp-backlog-full');
    if (this.conns.size >= this.cfg.maxConnections) return this.host.drop('tcp-too-many-connections');
    const v: Family = d.version;
    const c = new TcpConn(this, {
      v,
      localIp: d.dst.slice(),
      localPort: seg.dstPort,
      remoteIp: d.src.slice(),
      remotePort: seg.srcPort,
      key,
      passive: true,
      mtu: this.host.mtu,
      congestion: l.congestion,
      tsOffset: this.tsOffset(d.dst, d.src),
    });
    // At a transparent listener's address: the connection holds it itself, so it outlives the listener.
    this.holdIfForeign(c);
    this.spawnedBy.set(c, l);
    l.halfOpen++;
    this.conns.set(key, c);
    let iss = this.isn(now, d.dst, seg.dstPort, d.src, seg.srcPort);
    // Reusing a TIME-WAIT tuple: start well above the old connection's sequence space (RFC 9293 3.6.1).
    if (tw !== undefined && !seqGt(iss, seqAdd(tw.sndNxt, 0x10000))) iss = seqAdd(tw.sndNxt, 0x20000);
    c.openPassive(seg, iss, now);
    this.file(c);
    this.stats.segmentsIn++;
  }

  /**
   * TIME-WAIT (RFC 9293 3.10.7.4): re-ACK a retransmitted FIN and restart
   * the timer; ignore RST (RFC 1337); let a new SYN above the old sequence
   * space reopen the tuple. Returns false when the segment should go on to a
   * listener.
   */
  private inputTimeWait(key: string, tw: TimeWait, seg: Segment, now: number): boolean {
    if (seg.flags & RST) {
      this.host.drop('tcp-time-wait-rst-ignored');
      return true;
    }
    if (seg.flags & SYN && !(seg.flags & ACK)) {
      if (seqGt(seg.seq, tw.rcvNxt)) {
        this.forgetTimeWait(key, tw);
        return false;
      }
      this.timeWaitAck(tw);
      return true;
    }
    if (seg.flags & FIN || seg.data.length > 0) {
      this.timeWaitAck(tw);
      if (seg.flags & FIN && seqLt(seg.seq, tw.rcvNxt) && seqGe(seqAdd(seg.seq, seg.data.length + 1), tw.rcvNxt)) {
        // A retransmitted FIN: restart the 2 MSL timer (and keep the table in expiry order).
        this.timeWait.delete(key);
        tw.expires = now + this.cfg.timeWait;
        this.timeWait.set(key, tw);
      }
      return true;
    }
    this.host.drop('tcp-time-wait-segment');
    return true;
  }

  private timeWaitAck(tw: TimeWait): void {
    this.stats.segmentsOut++;
    this.host.emit(
      buildSegment(tw.v, tw.localIp, tw.remoteIp, { srcPort: tw.localPort, dstPort: tw.remotePort, seq: tw.sndNxt, ack: tw.rcvNxt, flags: ACK, window: 0 }, 0, null, this.host.nextIpId()),
    );
  }

  /** RST for a segment with no connection (RFC 9293 3.10.7.1). */
  private resetFor(seg: Segment, d: Datagram): void {
    if (seg.flags & RST) return;
    this.stats.resetsSent++;
    const len = seg.data.length + (seg.flags & SYN ? 1 : 0) + (seg.flags & FIN ? 1 : 0);
    const o =
      seg.flags & ACK
        ? { srcPort: seg.dstPort, dstPort: seg.srcPort, seq: seg.ack, ack: 0, flags: RST, window: 0 }
        : { srcPort: seg.dstPort, dstPort: seg.srcPort, seq: 0, ack: seqAdd(seg.seq, len), flags: RST | ACK, window: 0 };
    this.host.emit(buildSegment(d.version, d.dst, d.src, o, 0, null, this.host.nextIpId()));
  }

  /** An ICMP error quoting one of our segments (RFC 5927: the quoted sequence number must be in flight). */
  icmpError(e: IcmpError, now: number): void {
    if (e.transport.length < 8) return this.host.drop('tcp-icmp-short-quote');
    const t = e.transport;
    const lport = (t[0]! << 8) | t[1]!;
    const rport = (t[2]! << 8) | t[3]!;
    const seq = ((t[4]! << 24) | (t[5]! << 16) | (t[6]! << 8) | t[7]!) >>> 0;
    const c = this.conns.get(tupleKey(e.src, lport, e.dst, rport));
    if (c === undefined) return this.host.drop('tcp-icmp-no-connection');
    if (seqLt(seq, c.snd.una) || !seqLt(seq, seqAdd(c.snd.max, 1))) return this.host.drop('tcp-icmp-seq-not-in-flight');
    c.icmpError(e.kind, e.mtu, now);
    c.flush(now);
    this.file(c);
  }

  // ------------------------------------------------------------- timers

  poll(now: number): void {
    for (const [k, tw] of this.timeWait) {
      if (tw.expires > now) break;
      this.forgetTimeWait(k, tw);
    }
    while (this.settledTop() <= now) {
      const c = this.timers.peekItem()!;
      this.timers.pop();
      c.filedAt = Infinity;
      c.onTimers(now);
      this.file(c);
    }
    if (this.dirty.size > 0) {
      const work = [...this.dirty];
      this.dirty.clear();
      for (const c of work) {
        if (c.needSyn) {
          if (c.abortRequested) c.abort(null, false, now);
          else c.openActive(this.isn(now, c.localIp, c.localPort, c.remoteIp, c.remotePort), now);
        } else {
          c.service(now);
        }
        this.file(c);
      }
    }
  }

  /** File c under its deadline if that is earlier than where it is filed now. */
  private file(c: TcpConn): void {
    const d = c.deadline();
    if (d < c.filedAt && this.conns.get(c.key) === c) {
      c.filedAt = d;
      this.timers.push(d, c);
    }
  }

  /**
   * The heap's earliest deadline, made exact: entries that are not their
   * connection's latest filing, or whose connection is gone, are dropped; a
   * connection whose deadline moved later is re-filed under it.
   */
  private settledTop(): number {
    const h = this.timers;
    while (h.size > 0) {
      const at = h.peekAt();
      const c = h.peekItem()!;
      const live = c.filedAt === at && this.conns.get(c.key) === c;
      if (live && c.deadline() === at) return at;
      h.pop();
      if (!live) continue;
      c.filedAt = Infinity;
      this.file(c);
    }
    return Infinity;
  }

  /** True when app calls are waiting for poll(). */
  get hasWork(): boolean {
    return this.dirty.size > 0;
  }

  nextDeadline(): number {
    let d = Infinity;
    const first = this.timeWait.values().next();
    if (!first.done) d = first.value.expires;
    return Math.min(d, this.settledTop());
  }
}
