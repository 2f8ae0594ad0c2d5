/**
 * What the TCP and UDP relays share: the context a rule set hands them,
 * the per-unit statistics, and small socket helpers.
 */
import type { BurstLog } from './burst-log.js';
import type { NetSocket, TunnelNet } from '../host/net.js';
import { headText, type NatRule, type NatUnit } from './rule.js';
import type { TargetPool, TargetStats } from './target-pool.js';

export interface NatLog {
  info(msg: string): void;
  warn(msg: string): void;
  debug(msg: string): void;
}

export interface RelayContext {
  /** Where the unit listens: the host for Forward, the tunnel for Expose. */
  listenNet: TunnelNet;
  /** Where it connects to the target. */
  connectNet: TunnelNet;
  now(): number;
  log: NatLog;
  burst: BurstLog;
  connectTimeoutMs: number;
  /** The targets' health, shared by the rule set's units. */
  pool: TargetPool;
}

/** Per unit (one protocol of one rule): a plain object for `wgts show`. */
export interface UnitStats {
  kind: 'forward' | 'expose';
  protocol: 'tcp' | 'udp';
  /** The unit's canonical text (its identity on reload). */
  rule: string;
  /** 'draining': removed by a reload; its TCP connections run until they close. */
  state: 'active' | 'draining';
  listeners: { address: string; port: number }[];
  /** Open connections (TCP, including ones still connecting) or sessions (UDP). */
  active: number;
  /** Connections that reached the target (TCP), sessions created (UDP). */
  total: number;
  /** Public connections reset, or first datagrams dropped, by reason (max-connections, ECONNREFUSED, ...). */
  refused: Record<string, number>;
  /** Closed for idleness (IdleTimeout / UdpTimeout). */
  timeouts: number;
  /** UDP: sessions dropped to make room (never-answered ones first). */
  evicted: number;
  /** UDP: session sockets open or still closing (kernel sockets: file descriptors). */
  sockets: number;
  /** UDP: datagrams dropped by reason (foreign-source, queue-full, send-error). */
  drops: Record<string, number>;
  /** Payload bytes client -> target and target -> client (PROXY headers not counted). */
  bytesToTarget: number;
  bytesFromTarget: number;
  /** Each target's health state and this unit's connections (TCP) or sessions (UDP) to it. */
  targets: TargetStats[];
}

export function newStats(unit: NatUnit): UnitStats {
  return {
    kind: unit.rule.kind,
    protocol: unit.protocol,
    rule: unit.text,
    state: 'active',
    listeners: [],
    active: 0,
    total: 0,
    refused: {},
    timeouts: 0,
    evicted: 0,
    sockets: 0,
    drops: {},
    bytesToTarget: 0,
    bytesFromTarget: 0,
    targets: [],
  };
}

export function bump(counts: Record<string, number>, reason: string): void {
  counts[reason] = (counts[reason] ?? 0) + 1;
}

/** `forward tcp:0.0.0.0:8080=10.0.0.2:8080`: the unit without its options, for log lines. */
export function unitLabel(unit: NatUnit): string {
  return `${unit.rule.kind} ${headText(unit.rule, [unit.protocol])}`;
}

/**
 * Binds one listener per port of the rule's listen range, in order (port 0
 * stays 0: an ephemeral port). All or nothing: on the first error, `undo`
 * releases what was bound and the error is rethrown.
 */
export async function bindRange(rule: NatRule, bindOne: (port: number, index: number) => Promise<void>, undo: () => void): Promise<void> {
  try {
    for (let i = 0; i < rule.ports; i++) await bindOne(rule.listen.port === 0 ? 0 : rule.listen.port + i, i);
  } catch (e) {
    undo();
    throw e;
  }
}

export function errorCode(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : e instanceof Error ? e.message : 'error';
}

/** Close with RST where the socket can; a socket still connecting is just dropped. */
export function resetSocket(s: NetSocket): void {
  if (s.destroyed) return;
  const connecting = (s as { connecting?: boolean }).connecting === true;
  if (!connecting && typeof s.resetAndDestroy === 'function') {
    try {
      s.resetAndDestroy();
      return;
    } catch {
      // no handle any more: fall through
    }
  }
  s.destroy();
}
