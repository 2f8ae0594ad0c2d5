/**
 * The UDP relay of one unit: a listening socket per port of the range, and
 * a session per public client address:port, each with its own socket
 * towards the target so replies find their way back.
 *
 *   client datagram -> session (new: a target by the Balance rule, for
 *   the session's life; admit, open a socket; datagrams queue, at most
 *   QUEUE_MAX, until it is bound) -> [PROXY v2 header] + datagram -> target[i]
 *   target reply (only from target[i]: address- and port-dependent
 *   filtering, RFC 4787 section 5) -> listening socket -> that client, as is
 *
 * Bounds, so a flood of new source ports cannot exhaust memory or file
 * descriptors: at most MaxSessions sessions. When full, the least recently
 * active session that never got a reply is evicted (as Linux conntrack's
 * early drop of unreplied entries); when every session has been answered,
 * the new client's datagram is dropped (refused 'session-limit').
 * Sockets still closing count too: sessions' sockets (open + closing) never
 * exceed MaxSessions + min(64, MaxSessions). Sessions idle for UdpTimeout
 * (both directions refresh it) are closed by sweep().
 */
import type { NetUdpSocket } from '../host/net.js';
import { encodeProxyV2 } from './proxy-protocol.js';
import { bindRange, bump, errorCode, newStats, unitLabel, type RelayContext, type UnitStats } from './relay.js';
import { familyOf, isWildcard, unmapV4, type NatUnit } from './rule.js';
import { UnitTargets, type UnitTarget } from './target-pool.js';

/** Datagrams held per session while its socket is being bound. */
const QUEUE_MAX = 8;
const CLOSING_SLACK = 64;

interface Session {
  key: string;
  index: number;
  /** Chosen when the session starts; it stays there (no failover mid-session). */
  target: UnitTarget;
  /** ProxyProtocol = v2: the header put before each datagram to the target. */
  header: Buffer | null;
  client: { address: string; port: number };
  listen: NetUdpSocket;
  sock: NetUdpSocket | null;
  queue: Buffer[];
  replied: boolean;
  lastActive: number;
  closed: boolean;
}

export class UdpRelay {
  readonly stats: UnitStats;
  readonly targets: UnitTargets;
  private readonly listeners: NetUdpSocket[] = [];
  private readonly sessions = new Map<string, Session>();
  /** Sessions without a reply yet, least recently active first (eviction order). */
  private readonly unreplied = new Map<string, Session>();
  /** Session sockets opened and not yet fully closed (binding, open or closing). */
  private sockets = 0;
  private label: string;
  private stopped = false;

  constructor(
    public unit: NatUnit,
    private readonly ctx: RelayContext,
  ) {
    this.stats = newStats(unit);
    this.label = unitLabel(unit);
    this.targets = new UnitTargets(ctx.pool, unit);
  }

  /** A reload changed only the targets, Balance or health checks: sessions to removed targets close. */
  retarget(unit: NatUnit): void {
    this.unit = unit;
    this.stats.rule = unit.text;
    this.label = unitLabel(unit);
    const gone = new Set(this.targets.update(unit));
    for (const s of [...this.sessions.values()]) if (gone.has(s.target)) this.closeSession(s);
  }

  async start(): Promise<void> {
    const r = this.unit.rule;
    const family = familyOf(r.listen.host);
    await bindRange(r, async (port, i) => {
      const s = await this.ctx.listenNet.udpSocket({ family, address: r.listen.host, port });
      this.listeners.push(s);
      const a = s.address();
      this.stats.listeners.push({ address: a.address || r.listen.host, port: a.port });
      s.on('message', (msg, rinfo) => this.fromClient(s, i, msg, rinfo));
      s.on('error', () => bump(this.stats.drops, 'send-error'));
    }, () => this.stop());
  }

  /** Closes the listening sockets and every session (replies could not go back any more). */
  stop(): void {
    this.stopped = true;
    for (const s of this.listeners.splice(0)) s.close();
    for (const s of [...this.sessions.values()]) this.closeSession(s);
  }

  get idle(): boolean {
    return this.sessions.size === 0;
  }

  sweep(now: number): void {
    const idleMs = this.unit.rule.udpTimeout * 1000;
    for (const s of [...this.sessions.values()]) {
      if (now - s.lastActive >= idleMs) {
        this.stats.timeouts++;
        this.closeSession(s);
      }
    }
  }

  private fromClient(listen: NetUdpSocket, index: number, msg: Buffer, rinfo: { address: string; port: number }): void {
    if (this.stopped) return;
    const key = `${index}|${rinfo.address}|${rinfo.port}`;
    const now = this.ctx.now();
    let s = this.sessions.get(key);
    if (s) {
      s.lastActive = now;
      if (!s.replied) {
        this.unreplied.delete(key);
        this.unreplied.set(key, s);
      }
      this.toTarget(s, msg);
      return;
    }
    const r = this.unit.rule;
    const from = unmapV4(rinfo.address);
    let order = this.targets.order(from);
    if (r.source === 'client') order = order.filter((t) => familyOf(t.spec.host) === familyOf(from));
    const target = order[0];
    if (!target) {
      this.refuse('family', `an IPv${familyOf(from)} client cannot reach the IPv${familyOf(r.target.host)} target with Source = client`);
      return;
    }
    if (!this.admit()) return;
    const header = r.proxyProtocol === 'v2' ? this.proxyHeader(listen, from, rinfo.port) : null;
    s = { key, index, target, header, client: { address: rinfo.address, port: rinfo.port }, listen, sock: null, queue: [msg], replied: false, lastActive: now, closed: false };
    this.sessions.set(key, s);
    this.unreplied.set(key, s);
    this.stats.total++;
    target.total++;
    target.active++;
    this.sockets++;
    const opts = r.source === 'client' ? { family: familyOf(from), address: from, port: rinfo.port } : { family: familyOf(target.spec.host) };
    const session = s;
    this.ctx.connectNet.udpSocket(opts).then(
      (sock) => this.opened(session, sock),
      (e: unknown) => {
        this.sockets--;
        this.refuse(errorCode(e), `cannot open a socket towards the target (${errorCode(e)})`);
        this.closeSession(session);
      },
    );
  }

  /**
   * PROXY v2 with DGRAM (HAProxy's proxy-protocol.txt 2.2, as frp sends it):
   * source = the client, destination = the address and port it sent to.
   * A wildcard listener cannot tell which of the host's addresses that was
   * (no IP_PKTINFO in node:dgram), so the wildcard of the client's family
   * stands for it.
   */
  private proxyHeader(listen: NetUdpSocket, client: string, port: number): Buffer {
    const a = listen.address();
    const local = unmapV4(a.address || this.unit.rule.listen.host);
    const dst = isWildcard(local) ? (familyOf(client) === 4 ? '0.0.0.0' : '::') : local;
    return encodeProxyV2({ source: { address: client, port }, destination: { address: dst, port: a.port } }, 'udp');
  }

  /** Room for one more session: evict the stalest unanswered one if full. */
  private admit(): boolean {
    const max = this.unit.rule.maxSessions;
    if (this.sockets >= max + Math.min(CLOSING_SLACK, max)) {
      this.refuse('sockets-closing', 'too many session sockets still closing; datagram dropped');
      return false;
    }
    if (this.sessions.size >= max) {
      const oldest = this.unreplied.values().next();
      if (oldest.done) {
        this.refuse('session-limit', `MaxSessions (${max}) reached and every session is answered; datagram dropped`);
        return false;
      }
      this.stats.evicted++;
      this.closeSession(oldest.value);
    }
    return true;
  }

  private refuse(reason: string, why: string): void {
    bump(this.stats.refused, reason);
    this.ctx.burst.event(`${this.unit.text}\0${reason}`, `${this.label}: ${why}`);
  }

  private opened(s: Session, sock: NetUdpSocket): void {
    if (s.closed) {
      sock.close(() => this.sockets--);
      return;
    }
    s.sock = sock;
    sock.on('message', (msg, rinfo) => this.fromTarget(s, msg, rinfo));
    sock.on('error', () => bump(this.stats.drops, 'send-error'));
    for (const m of s.queue.splice(0)) this.toTarget(s, m);
  }

  private toTarget(s: Session, msg: Buffer): void {
    if (!s.sock) {
      if (s.queue.length < QUEUE_MAX) s.queue.push(msg);
      else bump(this.stats.drops, 'queue-full');
      return;
    }
    this.stats.bytesToTarget += msg.length;
    const t = s.target.spec;
    this.send(s.sock, s.header ? Buffer.concat([s.header, msg]) : msg, t.port + s.index, t.host);
  }

  private fromTarget(s: Session, msg: Buffer, rinfo: { address: string; port: number }): void {
    const t = s.target.spec;
    if (s.closed) return;
    if (rinfo.port !== t.port + s.index || unmapV4(rinfo.address) !== t.host) {
      bump(this.stats.drops, 'foreign-source');
      return;
    }
    s.lastActive = this.ctx.now();
    if (!s.replied) {
      s.replied = true;
      this.unreplied.delete(s.key);
    }
    this.stats.bytesFromTarget += msg.length;
    this.send(s.listen, msg, s.client.port, s.client.address);
  }

  /** Sends never throw past the relay: a failure is a counted drop. */
  private send(sock: NetUdpSocket, msg: Buffer, port: number, address: string): void {
    try {
      sock.send(msg, port, address);
    } catch {
      bump(this.stats.drops, 'send-error');
    }
  }

  private closeSession(s: Session): void {
    if (s.closed) return;
    s.closed = true;
    s.queue.length = 0;
    this.sessions.delete(s.key);
    this.unreplied.delete(s.key);
    s.target.active--;
    if (s.sock) {
      const sock = s.sock;
      s.sock = null;
      sock.close(() => this.sockets--);
    }
  }

  snapshot(): UnitStats {
    return { ...this.stats, active: this.sessions.size, sockets: this.sockets, refused: { ...this.stats.refused }, drops: { ...this.stats.drops }, listeners: [...this.stats.listeners], targets: this.targets.snapshot() };
  }

}
