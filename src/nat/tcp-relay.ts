/**
 * The TCP relay of one unit: a listener per port of the range; each
 * accepted connection opens one to the target and the two are spliced.
 *
 *   accept (paused) -> MaxConnections? else RST
 *     -> the targets in the Balance rule's order (target-pool.ts)
 *     -> connectNet.connectTcp(target[i], Source=client: client's address)
 *     -> [PROXY header] -> 'connect': pipe both ways, resume (the last
 *        candidate target: piped at once, the client's first bytes wait in
 *        the stack and leave with the handshake's ACK)
 *     -> refused/unreachable/timed out: the next healthy target (the
 *        client sees nothing); none left: RST the accepted side, one log
 *        line per burst
 *
 * Writes of one tick are corked into one (pipeOneWay). Backpressure: a
 * side is paused while the other side's write() says its buffer is full,
 * and resumed on 'drain', so each direction holds at most one buffer's
 * worth. Half-close: 'end' on one side becomes end() on the
 * other. A reset (or error) on one side resets the other. The rule set's
 * sweep() closes connections idle longer than IdleTimeout, or still
 * connecting after the connect timeout.
 */
import { encodeProxyHeader } from './proxy-protocol.js';
import type { NetListener, NetSocket, TunnelNet } from '../host/net.js';
import { bindRange, bump, errorCode, newStats, resetSocket, unitLabel, type RelayContext, type UnitStats } from './relay.js';
import { familyOf, formatHostPorts, unmapV4, type NatUnit } from './rule.js';
import { UnitTargets, type UnitTarget } from './target-pool.js';

interface Conn {
  pub: NetSocket;
  /** The current attempt's socket; null before the first or after a connect that threw. */
  tun: NetSocket | null;
  /** Port offset in the range. */
  index: number;
  /** The target of the current attempt. */
  target: UnitTarget;
  /** Targets still to try if this attempt fails before connecting. */
  next: UnitTarget[];
  /** The target whose `active` counts this connection. */
  counted: UnitTarget | null;
  /** host:port of the current attempt, for log lines. */
  dest: string;
  connected: boolean;
  /** When the current attempt started, and how long it may take. */
  started: number;
  timeoutMs: number;
  lastActive: number;
  pubClosed: boolean;
  tunClosed: boolean;
  /** The two sides are piped (from 'connect', or from the last target's attempt). */
  spliced: boolean;
}

export class TcpRelay {
  readonly stats: UnitStats;
  readonly targets: UnitTargets;
  private readonly listeners: NetListener[] = [];
  private readonly conns = new Set<Conn>();
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

  /** Binds every port of the range, or none (rejects with the first error). */
  async start(): Promise<void> {
    const r = this.unit.rule;
    await bindRange(r, async (port, i) => {
      const l = await this.ctx.listenNet.listenTcp({ host: r.listen.host, port, ...(r.congestion !== undefined ? { congestion: r.congestion } : {}) }, (s) => this.accept(s, i));
      this.listeners.push(l);
      this.stats.listeners.push({ address: l.address, port: l.port });
    }, () => this.stopListening());
  }

  /** A reload changed only the targets, Balance or health checks: open connections stay where they are. */
  retarget(unit: NatUnit): void {
    this.unit = unit;
    this.stats.rule = unit.text;
    this.label = unitLabel(unit);
    this.targets.update(unit);
  }

  stopListening(): void {
    this.stopped = true;
    for (const l of this.listeners.splice(0)) l.close();
  }

  get idle(): boolean {
    return this.conns.size === 0;
  }

  /** Resets every connection (shutdown). */
  destroyAll(): void {
    for (const c of [...this.conns]) {
      resetSocket(c.pub);
      if (c.tun) resetSocket(c.tun);
    }
  }

  /** Idle and connect timeouts. */
  sweep(now: number): void {
    const idleMs = this.unit.rule.idleTimeout * 1000;
    for (const c of [...this.conns]) {
      if (!c.connected) {
        if (c.tun && now - c.started >= c.timeoutMs) this.failed(c, 'ETIMEDOUT', `${c.dest} did not answer within ${c.timeoutMs / 1000} s`);
      } else if (idleMs > 0 && now - c.lastActive >= idleMs) {
        this.stats.timeouts++;
        resetSocket(c.pub);
        if (c.tun) resetSocket(c.tun);
      }
    }
  }

  private refuse(pub: NetSocket, reason: string, why: string, tun?: NetSocket | null): void {
    bump(this.stats.refused, reason);
    this.ctx.burst.event(`${this.unit.text}\0${reason}`, `${this.label}: ${why}; client connection reset`);
    resetSocket(pub);
    if (tun) tun.destroy();
  }

  private accept(pub: NetSocket, index: number): void {
    pub.on('error', () => {}); // handled through 'close' below; never crash on a client's reset
    const r = this.unit.rule;
    // The client's address costs a getpeername(2): asked for only by the rules that use it.
    const needsClient = r.source === 'client' || r.balance === 'source' || r.proxyProtocol !== 'off';
    const client = needsClient ? pub.remoteAddress : '';
    if (this.stopped || client === undefined || (needsClient && pub.remotePort === undefined)) {
      resetSocket(pub);
      return;
    }
    if (this.conns.size >= r.maxConnections) {
      this.refuse(pub, 'max-connections', `MaxConnections (${r.maxConnections}) reached`);
      return;
    }
    const from = unmapV4(client);
    let order = this.targets.order(from);
    if (r.source === 'client') {
      order = order.filter((t) => familyOf(t.spec.host) === familyOf(from));
      if (order.length === 0) {
        this.refuse(pub, 'family', `an IPv${familyOf(from)} client cannot reach the IPv${familyOf(r.target.host)} target with Source = client`);
        return;
      }
    }
    const now = this.ctx.now();
    const c: Conn = {
      pub, tun: null, index, target: order[0]!, next: order.slice(1), counted: null, dest: '',
      connected: false, started: now, timeoutMs: 0, lastActive: now, pubClosed: false, tunClosed: false, spliced: false,
    };
    this.conns.add(c);
    pub.once('close', () => {
      c.pubClosed = true;
      if (!c.connected) c.tun?.destroy();
      this.maybeDone(c);
    });
    pub.on('error', () => {
      if (c.tun) resetSocket(c.tun);
    });
    this.attempt(c);
  }

  /** Connects to c.target; a failure before 'connect' moves on to c.next (failed()). */
  private attempt(c: Conn): void {
    const r = this.unit.rule;
    const t = c.target;
    const host = t.spec.host;
    const port = t.spec.port + c.index;
    c.dest = formatHostPorts({ host, port }, 1);
    const opts: Parameters<TunnelNet['connectTcp']>[0] = { host, port };
    if (r.congestion !== undefined) opts.congestion = r.congestion;
    if (r.source === 'client') {
      opts.localAddress = unmapV4(c.pub.remoteAddress!);
      opts.localPort = c.pub.remotePort!;
    }
    let tun: NetSocket;
    try {
      tun = this.ctx.connectNet.connectTcp(opts);
    } catch (e) {
      c.tun = null;
      this.failed(c, errorCode(e), `cannot connect to ${c.dest} (${errorCode(e)})`);
      return;
    }
    c.tun = tun;
    c.tunClosed = false;
    t.active++;
    c.counted = t;
    c.started = this.ctx.now();
    // With another target to go to, a target that does not answer within HealthTimeout is given up.
    c.timeoutMs = c.next.length > 0 && r.health ? Math.min(r.health.timeout * 1000, this.ctx.connectTimeoutMs) : this.ctx.connectTimeoutMs;
    const proxy = r.proxyProtocol;
    if (proxy !== 'off') {
      tun.write(
        encodeProxyHeader(proxy, {
          source: { address: c.pub.remoteAddress!, port: c.pub.remotePort! },
          destination: { address: c.pub.localAddress ?? '', port: c.pub.localPort ?? 0 },
        }),
      );
    }
    tun.once('close', () => {
      if (c.tun !== tun) return;
      c.tunClosed = true;
      this.maybeDone(c);
    });
    tun.on('error', (e: Error) => {
      if (c.tun !== tun) return;
      if (!c.connected) this.failed(c, errorCode(e), `${c.dest} ${describe(errorCode(e))}`);
      else resetSocket(c.pub);
    });
    tun.once('connect', () => {
      if (c.tun !== tun) return;
      if (c.pub.destroyed) {
        tun.destroy();
        return;
      }
      c.connected = true;
      c.lastActive = this.ctx.now();
      this.stats.total++;
      t.total++;
      if (!c.spliced) this.splice(c);
    });
    // The last candidate target: nothing to fail over to, so what the client
    // sends may flow before the tunnel side connects. The stack holds it and
    // sends it with the handshake's ACK, one datagram and one turn sooner.
    if (c.next.length === 0) this.splice(c);
  }

  /** The current attempt failed before connecting: the next target, or the client is reset. */
  private failed(c: Conn, code: string, why: string): void {
    const old = c.tun;
    const next = c.next.shift();
    if (next && !c.pub.destroyed) {
      this.ctx.burst.event(`${this.unit.text}\0failover\0${code}`, `${this.label}: ${why}; trying ${formatHostPorts(next.spec, 1)}`);
      this.uncount(c);
      c.tun = null;
      old?.destroy();
      c.target = next;
      this.attempt(c);
      return;
    }
    this.refuse(c.pub, code, why, old);
    if (!old) this.maybeDone(c);
  }

  private uncount(c: Conn): void {
    if (c.counted) c.counted.active--;
    c.counted = null;
  }

  private maybeDone(c: Conn): void {
    if (!c.pubClosed || (c.tun !== null && !c.tunClosed)) return;
    if (!this.conns.delete(c)) return;
    this.uncount(c);
  }

  private splice(c: Conn): void {
    c.spliced = true;
    const s = this.stats;
    const tun = c.tun!;
    const touch = (): void => {
      c.lastActive = this.ctx.now();
    };
    pipeOneWay(c.pub, tun, (n) => {
      s.bytesToTarget += n;
      touch();
    });
    pipeOneWay(tun, c.pub, (n) => {
      s.bytesFromTarget += n;
      touch();
    });
    c.pub.resume();
    tun.resume();
  }

  snapshot(): UnitStats {
    return { ...this.stats, active: this.conns.size, refused: { ...this.stats.refused }, drops: { ...this.stats.drops }, listeners: [...this.stats.listeners], targets: this.targets.snapshot() };
  }
}

/**
 * src -> dst with backpressure; src's end becomes dst's end (half-close).
 * The chunks of one tick leave together: dst is corked at the first and
 * uncorked on the next tick, so a kernel socket takes them in one writev.
 * The userspace stack hands over one chunk per TCP segment, and the UDP
 * batch that carried them is processed in one tick: written one by one,
 * that was a write(2) per segment (about 730 per MB, the biggest single
 * cost of a forward receiving from the tunnel).
 */
export function pipeOneWay(src: NetSocket, dst: NetSocket, count: (n: number) => void): void {
  let corked = false;
  const uncork = (): void => {
    corked = false;
    dst.uncork();
  };
  src.on('data', (chunk: Buffer) => {
    count(chunk.length);
    if (!corked) {
      corked = true;
      dst.cork();
      process.nextTick(uncork);
    }
    if (!dst.write(chunk)) src.pause();
  });
  dst.on('drain', () => src.resume());
  src.once('end', () => {
    if (!dst.destroyed) dst.end();
  });
}

function describe(code: string): string {
  switch (code) {
    case 'ECONNREFUSED':
      return 'refused the connection (ECONNREFUSED)';
    case 'ETIMEDOUT':
      return 'did not answer (ETIMEDOUT)';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `is unreachable (${code})`;
    default:
      return `failed (${code})`;
  }
}
