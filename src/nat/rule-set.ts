/**
 * A set of running rules of one kind, and their reload. Forwarder and
 * Exposer (forwarder.ts) are this class with the two nets in either order.
 *
 *   applyRules(rules) -> units (one per protocol, identified by their
 *   canonical text less targets, Balance and health checks) -> units no
 *   longer wanted stop listening (TCP: their connections drain; UDP:
 *   sessions close) -> new units bind all their ports or fail as a whole
 *   -> units whose targets changed take them in place (open connections
 *   and the health of unchanged targets stay) -> unchanged units are not
 *   touched
 *
 * One interval timer (unref'd) sweeps idle connections and sessions,
 * forgets drained units, and runs the targets' health checks (target-pool.ts).
 */
import { BurstLog } from './burst-log.js';
import type { TunnelNet } from '../host/net.js';
import { errorCode, unitLabel, type NatLog, type RelayContext, type UnitStats } from './relay.js';
import { units, type NatKind, type NatRule, type NatUnit } from './rule.js';
import { TargetPool } from './target-pool.js';
import { TcpRelay } from './tcp-relay.js';
import { UdpRelay } from './udp-relay.js';

export interface RuleSetOptions {
  /** Default: silent. The driver's Logger fits. */
  log?: NatLog;
  /** Monotonic milliseconds; default performance.now. */
  now?: () => number;
  /** How often idle timeouts are checked; default 1000 ms. */
  sweepIntervalMs?: number;
  /** Repeated refusals are summed up per window; default 10 000 ms. */
  burstWindowMs?: number;
  /** A target that has not accepted within this is given up (client reset); default 30 000 ms. */
  connectTimeoutMs?: number;
  /**
   * Whether the peer behind a target address has a fresh handshake (null:
   * no peer covers it). A target whose peer is stale counts as down without
   * probing. Default: not known (targets are judged by their checks alone).
   */
  peerFresh?: (host: string) => boolean | null;
}

export interface ApplyResult {
  /** Unit texts (see units() in rule.ts) now listening that were not before. */
  added: string[];
  /** Units that stopped listening (their TCP connections drain). */
  removed: string[];
  /** Units left as they were. */
  kept: string[];
  /** Units that took new targets, Balance or health settings in place (their texts after the change). */
  updated: string[];
  /** Units that could not start (bind errors, Source = client without a transparent tunnel). */
  failed: { rule: string; error: string }[];
}

type Relay = TcpRelay | UdpRelay;

const SILENT: NatLog = { info: () => {}, warn: () => {}, debug: () => {} };

export class RuleSet {
  private readonly active = new Map<string, Relay>();
  private readonly draining = new Set<Relay>();
  private readonly ctx: RelayContext;
  private readonly sweepMs: number;
  private timer: NodeJS.Timeout | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(
    readonly kind: NatKind,
    listenNet: TunnelNet,
    connectNet: TunnelNet,
    opts: RuleSetOptions = {},
  ) {
    const log = opts.log ?? SILENT;
    const now = opts.now ?? (() => performance.now());
    this.ctx = {
      listenNet,
      connectNet,
      now,
      log,
      burst: new BurstLog((m) => log.warn(m), opts.burstWindowMs ?? 10_000),
      connectTimeoutMs: opts.connectTimeoutMs ?? 30_000,
      pool: new TargetPool({ connectNet, now, log: { ...log, info: (m) => log.info(`${kind} ${m}`), warn: (m) => log.warn(`${kind} ${m}`) }, ...(opts.peerFresh ? { peerFresh: opts.peerFresh } : {}) }),
    };
    this.sweepMs = opts.sweepIntervalMs ?? 1000;
  }

  /**
   * Makes the running rules equal `rules` (all of this set's kind; others
   * throw TypeError). Calls are queued, never interleaved.
   */
  applyRules(rules: readonly NatRule[]): Promise<ApplyResult> {
    for (const r of rules) if (r.kind !== this.kind) throw new TypeError(`${this.kind} rule set given a ${r.kind} rule`);
    const run = this.chain.then(() => this.apply(rules));
    this.chain = run.catch(() => {});
    return run;
  }

  private async apply(rules: readonly NatRule[]): Promise<ApplyResult> {
    const res: ApplyResult = { added: [], removed: [], kept: [], updated: [], failed: [] };
    if (this.closed) throw new Error(`${this.kind} rule set is closed`);
    const wanted = new Map<string, NatUnit>();
    for (const r of rules) for (const u of units(r)) wanted.set(u.key, u);
    for (const [key, relay] of this.active) {
      if (wanted.has(key)) continue;
      this.active.delete(key);
      res.removed.push(relay.unit.text);
      this.retire(relay);
    }
    for (const [key, unit] of wanted) {
      const text = unit.text;
      const running = this.active.get(key);
      if (running && running.unit.text === text) {
        res.kept.push(text);
        continue;
      }
      if (running) {
        running.retarget(unit);
        res.updated.push(text);
        this.ctx.log.info(`${unitLabel(unit)}: targets, Balance or health checks changed in place`);
        continue;
      }
      const label = unitLabel(unit);
      // Failures are returned, not logged: each caller reports them once, in its own words.
      if (unit.rule.source === 'client' && !this.ctx.connectNet.transparent) {
        const error = `Source = client needs a tunnel that can send from the client's address; ${this.ctx.connectNet.label} cannot (use Source = tunnel, or ProxyProtocol)`;
        res.failed.push({ rule: text, error });
        continue;
      }
      const relay = unit.protocol === 'tcp' ? new TcpRelay(unit, this.ctx) : new UdpRelay(unit, this.ctx);
      try {
        await relay.start();
      } catch (e) {
        relay.targets.release();
        res.failed.push({ rule: text, error: listenFailure(e, unit, this.ctx.listenNet.label) });
        continue;
      }
      this.active.set(key, relay);
      res.added.push(text);
      const where = relay.stats.listeners.map((l) => l.port).join(',');
      this.ctx.log.info(`${label}: listening (port ${where})`);
    }
    this.arm();
    return res;
  }

  private retire(relay: Relay): void {
    const label = unitLabel(relay.unit);
    relay.targets.release();
    if (relay instanceof UdpRelay) {
      relay.stop();
      this.ctx.log.info(`${label}: removed`);
      return;
    }
    relay.stopListening();
    relay.stats.state = 'draining';
    if (relay.idle) {
      this.ctx.log.info(`${label}: removed`);
      return;
    }
    this.draining.add(relay);
    this.ctx.log.info(`${label}: removed; its ${relay.snapshot().active} open connections continue until they close`);
  }

  private arm(): void {
    if (this.timer || this.closed) return;
    this.timer = setInterval(() => this.sweep(), this.sweepMs);
    this.timer.unref();
  }

  private sweep(): void {
    const now = this.ctx.now();
    this.ctx.pool.tick(now);
    for (const r of this.active.values()) r.sweep(now);
    for (const r of this.draining) {
      r.sweep(now);
      if (r.idle) this.draining.delete(r);
    }
  }

  /** Every running unit, draining ones last. */
  stats(): UnitStats[] {
    return [...this.active.values(), ...this.draining].map((r) => r.snapshot());
  }

  /** Stops listening and resets every connection and session. */
  async close(): Promise<void> {
    await this.chain;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const r of [...this.active.values(), ...this.draining]) {
      if (r instanceof UdpRelay) r.stop();
      else {
        r.stopListening();
        r.destroyAll();
      }
    }
    this.active.clear();
    this.draining.clear();
    this.ctx.pool.close();
    this.ctx.burst.close();
  }
}

/** Why a listener could not open, with what to do about it (the port, the capability, the sysctl). */
export function listenFailure(e: unknown, unit: NatUnit, where: string): string {
  const code = errorCode(e);
  const port = typeof (e as { port?: unknown } | null)?.port === 'number' ? (e as { port: number }).port : unit.rule.listen.port;
  const at = `${unit.rule.listen.host.includes(':') ? `[${unit.rule.listen.host}]` : unit.rule.listen.host}:${port}/${unit.protocol}`;
  if (code === 'EADDRINUSE') return `cannot listen on ${at} (${where}): the port is in use (EADDRINUSE); another program, or another wgts, listens there`;
  if (code === 'EACCES' && port < 1024) {
    return `not allowed to listen on ${at} (EACCES): ports below 1024 need root or the CAP_NET_BIND_SERVICE capability ` +
      `(systemd: AmbientCapabilities=CAP_NET_BIND_SERVICE), or sysctl net.ipv4.ip_unprivileged_port_start=${port}; or listen on a port above 1023`;
  }
  if (code === 'EADDRNOTAVAIL') return `cannot listen on ${at}: ${unit.rule.listen.host} is not an address of ${where} (EADDRNOTAVAIL)`;
  return `cannot listen on ${at} (${where}): ${code}`;
}
