/**
 * The TCP relay of one unit: a listener per port of the range; each
 * accepted connection opens one to the target and the two are spliced.
 *
 *   accept (paused) -> MaxConnections? else RST
 *     -> connectNet.connectTcp(target[i], Source=client: client's address)
 *     -> [PROXY header] -> 'connect': pipe both ways, resume
 *     -> refused/unreachable: RST the accepted side, one log line per burst
 *
 * Backpressure: a side is paused while the other side's write() says its
 * buffer is full, and resumed on 'drain', so each direction holds at most
 * one buffer's worth. Half-close: 'end' on one side becomes end() on the
 * other. A reset (or error) on one side resets the other. The rule set's
 * sweep() closes connections idle longer than IdleTimeout, or still
 * connecting after the connect timeout.
 */
import { encodeProxyHeader } from './proxy-protocol.js';
import type { NetListener, NetSocket, TunnelNet } from '../host/net.js';
import { bindRange, bump, errorCode, newStats, resetSocket, unitLabel, type RelayContext, type UnitStats } from './relay.js';
import { familyOf, formatHostPorts, unmapV4, type NatUnit } from './rule.js';

interface Conn {
  pub: NetSocket;
  tun: NetSocket;
  /** host:port of the target, for log lines. */
  dest: string;
  connected: boolean;
  started: number;
  lastActive: number;
  closed: number;
}

export class TcpRelay {
  readonly stats: UnitStats;
  private readonly listeners: NetListener[] = [];
  private readonly conns = new Set<Conn>();
  private readonly label: string;
  private stopped = false;

  constructor(
    readonly unit: NatUnit,
    private readonly ctx: RelayContext,
  ) {
    this.stats = newStats(unit);
    this.label = unitLabel(unit);
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
      resetSocket(c.tun);
    }
  }

  /** Idle and connect timeouts. */
  sweep(now: number): void {
    const idleMs = this.unit.rule.idleTimeout * 1000;
    for (const c of [...this.conns]) {
      if (!c.connected) {
        if (now - c.started >= this.ctx.connectTimeoutMs) this.refuse(c.pub, 'ETIMEDOUT', `${c.dest} did not answer within ${this.ctx.connectTimeoutMs / 1000} s`, c.tun);
      } else if (idleMs > 0 && now - c.lastActive >= idleMs) {
        this.stats.timeouts++;
        resetSocket(c.pub);
        resetSocket(c.tun);
      }
    }
  }

  private refuse(pub: NetSocket, reason: string, why: string, tun?: NetSocket): void {
    bump(this.stats.refused, reason);
    this.ctx.burst.event(`${this.unit.text}\0${reason}`, `${this.label}: ${why}; client connection reset`);
    resetSocket(pub);
    if (tun) tun.destroy();
  }

  private accept(pub: NetSocket, index: number): void {
    pub.on('error', () => {}); // handled through 'close' below; never crash on a client's reset
    const r = this.unit.rule;
    const client = pub.remoteAddress;
    const clientPort = pub.remotePort;
    if (this.stopped || client === undefined || clientPort === undefined) {
      resetSocket(pub);
      return;
    }
    if (this.conns.size >= r.maxConnections) {
      this.refuse(pub, 'max-connections', `MaxConnections (${r.maxConnections}) reached`);
      return;
    }
    const host = r.target.host;
    const port = r.target.port + index;
    const opts: Parameters<TunnelNet['connectTcp']>[0] = { host, port };
    if (r.congestion !== undefined) opts.congestion = r.congestion;
    if (r.source === 'client') {
      const from = unmapV4(client);
      if (familyOf(from) !== familyOf(host)) {
        this.refuse(pub, 'family', `an IPv${familyOf(from)} client cannot reach the IPv${familyOf(host)} target with Source = client`);
        return;
      }
      opts.localAddress = from;
      opts.localPort = clientPort;
    }
    let tun: NetSocket;
    try {
      tun = this.ctx.connectNet.connectTcp(opts);
    } catch (e) {
      this.refuse(pub, errorCode(e), `cannot connect to ${formatHostPorts({ host, port }, 1)} (${errorCode(e)})`);
      return;
    }
    const now = this.ctx.now();
    const c: Conn = { pub, tun, dest: formatHostPorts({ host, port }, 1), connected: false, started: now, lastActive: now, closed: 0 };
    this.conns.add(c);
    const proxy = r.proxyProtocol;
    if (proxy !== 'off') {
      tun.write(
        encodeProxyHeader(proxy, {
          source: { address: client, port: clientPort },
          destination: { address: pub.localAddress ?? '', port: pub.localPort ?? 0 },
        }),
      );
    }
    const closed = (): void => {
      if (++c.closed === 2) this.conns.delete(c);
    };
    pub.once('close', () => {
      if (!c.connected) tun.destroy();
      closed();
    });
    tun.once('close', closed);
    pub.on('error', () => resetSocket(tun));
    tun.on('error', (e: Error) => {
      if (!c.connected) this.refuse(pub, errorCode(e), `${c.dest} ${describe(errorCode(e))}`);
      else resetSocket(pub);
    });
    tun.once('connect', () => {
      if (pub.destroyed) {
        tun.destroy();
        return;
      }
      c.connected = true;
      c.lastActive = this.ctx.now();
      this.stats.total++;
      this.splice(c);
    });
  }

  private splice(c: Conn): void {
    const s = this.stats;
    const touch = (): void => {
      c.lastActive = this.ctx.now();
    };
    pipeOneWay(c.pub, c.tun, (n) => {
      s.bytesToTarget += n;
      touch();
    });
    pipeOneWay(c.tun, c.pub, (n) => {
      s.bytesFromTarget += n;
      touch();
    });
    c.pub.resume();
    c.tun.resume();
  }

  snapshot(): UnitStats {
    return { ...this.stats, active: this.conns.size, refused: { ...this.stats.refused }, drops: { ...this.stats.drops }, listeners: [...this.stats.listeners] };
  }
}

/** src -> dst with backpressure; src's end becomes dst's end (half-close). */
function pipeOneWay(src: NetSocket, dst: NetSocket, count: (n: number) => void): void {
  src.on('data', (chunk: Buffer) => {
    count(chunk.length);
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
