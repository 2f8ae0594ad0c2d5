/**
 * The targets of a rule set's units: their health (shared by every unit
 * that names the same target with the same checks, and kept across
 * reloads while some unit still names it), the probes, and each unit's
 * view with its balancer and per-target counters.
 *
 *   TargetPool.tick(now), on the rule set's sweep timer
 *     -> each entry: is its peer's handshake fresh? (peerFresh callback)
 *     -> probe due? connect (tcp) / GET path (http) over connectNet,
 *        HealthTimeout -> TargetHealth.probeResult -> a change is logged once
 *   UnitTargets.order(client) -> Balancer over the entries' states
 *   UnitTargets.update(unit) on reload: unchanged targets keep entry and counters
 */
import type { NetSocket, TunnelNet } from '../host/net.js';
import { Balancer } from './balance.js';
import { TargetHealth, type TargetState } from './health.js';
import { errorCode, type NatLog } from './relay.js';
import { formatHostPorts, formatHealthCheck, targetsOf, type HealthSpec, type NatUnit, type WeightedTarget } from './rule.js';

/** Per target of a unit: for `wgts show`, --json and /metrics. */
export interface TargetStats {
  /** host:port (first port of the range). */
  target: string;
  weight: number;
  state: TargetState;
  /** Why: the last check's outcome, or the peer's handshake. */
  reason: string;
  /** Unix ms of the last state change (or of when the target was added). */
  lastChange: number;
  /** Open connections (TCP) or sessions (UDP) of this unit to the target. */
  active: number;
  /** Connections that reached it (TCP) or sessions created (UDP). */
  total: number;
}

export interface PoolContext {
  connectNet: TunnelNet;
  now(): number;
  log: NatLog;
  /** Whether the peer whose AllowedIPs cover `host` has a fresh handshake; null: no peer (or not known). */
  peerFresh?: (host: string) => boolean | null;
}

/** Bytes of an HTTP reply read to find its status line. */
const STATUS_LINE_MAX = 512;

class Entry {
  refs = 0;
  readonly health: TargetHealth;
  /** Unix ms of the last change. */
  changedWall = Date.now();
  probe: NetSocket | null = null;
  probeTimer: NodeJS.Timeout | null = null;
  /** Whether its peer ever had a fresh handshake (a VPS starts before home dials in). */
  peerSeen = false;

  constructor(
    readonly key: string,
    readonly host: string,
    readonly port: number,
    spec: HealthSpec | undefined,
    now: number,
  ) {
    this.health = new TargetHealth(spec, now);
  }
}

export class TargetPool {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly ctx: PoolContext) {}

  acquire(t: { host: string; port: number }, spec: HealthSpec | undefined): Entry {
    const key = `${formatHostPorts(t, 1)}|${spec ? `${formatHealthCheck(spec)},${spec.interval},${spec.timeout},${spec.failures},${spec.successes}` : 'none'}`;
    let e = this.entries.get(key);
    if (!e) {
      e = new Entry(key, t.host, t.port, spec, this.ctx.now());
      this.entries.set(key, e);
      this.refreshPeer(e, this.ctx.now());
    }
    e.refs++;
    return e;
  }

  release(e: Entry): void {
    if (--e.refs > 0) return;
    this.entries.delete(e.key);
    this.stopProbe(e);
  }

  /** Peer freshness and due probes; the rule set calls it on its sweep timer. */
  tick(now: number): void {
    for (const e of this.entries.values()) {
      this.refreshPeer(e, now);
      if (e.health.probeDue(now)) this.startProbe(e);
    }
  }

  close(): void {
    for (const e of this.entries.values()) this.stopProbe(e);
    this.entries.clear();
  }

  private refreshPeer(e: Entry, now: number): void {
    const fresh = this.ctx.peerFresh?.(e.host) ?? null;
    const change = e.health.peer(now, fresh);
    if (change && !e.peerSeen && fresh === false) {
      // Not a fault: every VPS starts before its home side has dialled in.
      e.changedWall = Date.now();
      this.ctx.log.info(`target ${formatHostPorts(e, 1)} waits for its peer's first handshake`);
      return;
    }
    if (fresh) e.peerSeen = true;
    this.report(e, change);
  }

  private report(e: Entry, change: { state: TargetState; reason: string } | null): void {
    if (!change) return;
    e.changedWall = Date.now();
    const line = `target ${formatHostPorts(e, 1)} is ${change.state}: ${change.reason}`;
    if (change.state === 'down') this.ctx.log.warn(line);
    else this.ctx.log.info(line);
  }

  private stopProbe(e: Entry): void {
    if (e.probeTimer) clearTimeout(e.probeTimer);
    e.probeTimer = null;
    e.probe?.destroy();
    e.probe = null;
  }

  private startProbe(e: Entry): void {
    const spec = e.health.spec!;
    e.health.probeStarted();
    let done = false;
    const finish = (ok: boolean, why: string): void => {
      if (done) return;
      done = true;
      const sock = e.probe;
      this.stopProbe(e);
      sock?.destroy();
      if (this.entries.get(e.key) !== e) return;
      this.report(e, e.health.probeResult(this.ctx.now(), ok, why));
    };
    let sock: NetSocket;
    try {
      sock = this.ctx.connectNet.connectTcp({ host: e.host, port: e.port });
    } catch (err) {
      // Counted at the next tick rather than now, so a throwing net cannot recurse.
      e.probeTimer = setTimeout(() => finish(false, errorCode(err)), 0);
      e.probeTimer.unref();
      return;
    }
    e.probe = sock;
    e.probeTimer = setTimeout(() => finish(false, `no answer within ${spec.timeout} s`), spec.timeout * 1000);
    e.probeTimer.unref();
    sock.on('error', (err: Error) => finish(false, errorCode(err)));
    sock.once('close', () => finish(false, 'connection closed before a status line'));
    sock.once('connect', () => {
      if (spec.check === 'tcp') return finish(true, '');
      const host = e.host.includes(':') ? `[${e.host}]` : e.host;
      sock.write(`GET ${spec.path} HTTP/1.1\r\nHost: ${host}:${e.port}\r\nUser-Agent: wgts-health-check\r\nConnection: close\r\n\r\n`);
      let head = '';
      sock.on('data', (chunk: Buffer) => {
        head += chunk.toString('latin1');
        const eol = head.indexOf('\r\n');
        if (eol < 0 && head.length < STATUS_LINE_MAX) return;
        const m = /^HTTP\/1\.[01] ([0-9]{3})/.exec(head);
        if (!m) return finish(false, 'not an HTTP reply');
        const status = Number(m[1]);
        finish(status >= 200 && status < 400, `HTTP ${status}`);
      });
      sock.resume();
    });
  }
}

export type TargetEntry = Entry;

/** One unit's targets: entries in the pool, counters, and the balancer. */
export interface UnitTarget {
  spec: WeightedTarget;
  entry: Entry;
  /** host:port of the range's first port. */
  id: string;
  active: number;
  total: number;
}

export class UnitTargets {
  list: UnitTarget[] = [];
  private balancer: Balancer;

  constructor(
    private readonly pool: TargetPool,
    unit: NatUnit,
  ) {
    this.balancer = new Balancer(unit.rule.balance ?? 'roundrobin');
    this.list = this.build(unit, new Map());
  }

  private build(unit: NatUnit, old: Map<string, UnitTarget>): UnitTarget[] {
    return targetsOf(unit.rule).map((spec) => {
      const id = formatHostPorts(spec, 1);
      const prev = old.get(id);
      const entry = this.pool.acquire(spec, unit.rule.health);
      const t: UnitTarget = { spec, entry, id, active: prev?.active ?? 0, total: prev?.total ?? 0 };
      return t;
    });
  }

  /**
   * Takes a reloaded unit's targets. Targets kept keep their counters and
   * (with unchanged checks) their health; returns the ones that are gone.
   */
  update(unit: NatUnit): UnitTarget[] {
    const old = new Map(this.list.map((t) => [t.id, t]));
    const next = this.build(unit, old);
    for (const t of this.list) this.pool.release(t.entry);
    this.list = next;
    this.balancer = new Balancer(unit.rule.balance ?? 'roundrobin');
    const ids = new Set(next.map((t) => t.id));
    return [...old.values()].filter((t) => !ids.has(t.id));
  }

  /** The targets to try for a new client, the Balance rule's choice first. */
  order(client: string): UnitTarget[] {
    const cands = this.list.map((t) => ({ id: t.id, weight: t.spec.weight, up: t.entry.health.state === 'up', active: t.active }));
    return this.balancer.order(cands, client).map((i) => this.list[i]!);
  }

  release(): void {
    for (const t of this.list) this.pool.release(t.entry);
  }

  snapshot(): TargetStats[] {
    return this.list.map((t) => ({
      target: t.id,
      weight: t.spec.weight,
      state: t.entry.health.state,
      reason: t.entry.health.reason,
      lastChange: t.entry.changedWall,
      active: t.active,
      total: t.total,
    }));
  }
}
