/**
 * The rule objects shared by the config sections ([Forward], [Expose]), the
 * command-line short form (--forward/--expose) and the relays. Pure: types,
 * defaults, the canonical text that identifies a rule on reload, and the
 * expansion of a rule into per-protocol units with one listener per port.
 *
 *   NatRule (one section / one --forward) -> units(): one per protocol
 *   -> unitText() identifies it across reloads -> a TCP or UDP relay
 */

export type NatKind = 'forward' | 'expose';
export type NatProtocol = 'tcp' | 'udp';
export type SourceMode = 'tunnel' | 'client';
import type { CongestionName } from '../netstack/cc/types.js';

export type ProxyVersion = 'off' | 'v1' | 'v2';
export type Balance = 'roundrobin' | 'leastconn' | 'source';

/** One of a rule's targets: the first port of its range and its share of new connections. */
export interface WeightedTarget extends HostPort {
  /** 1-256; a target of weight 2 gets twice the share of a target of weight 1. */
  weight: number;
}

/**
 * Active health checks of a rule's targets. `tcp`: a connect; `http`: a GET
 * of `path` answered 2xx or 3xx. Intervals and timeouts in seconds.
 */
export interface HealthSpec {
  check: 'off' | 'tcp' | 'http';
  /** http only: the request path, starting with '/'. */
  path: string;
  interval: number;
  timeout: number;
  /** Consecutive failed probes before an up target goes down. */
  failures: number;
  /** Consecutive good probes before a down target comes back. */
  successes: number;
}

/** An IP literal (canonical text; IPv6 without brackets, zone id allowed on a Forward Listen) and a port. */
export interface HostPort {
  host: string;
  port: number;
}

export interface NatRule {
  kind: NatKind;
  /** Non-empty, no duplicates, in the order tcp, udp. */
  protocols: NatProtocol[];
  /** First port of the listening range. Port 0 (API only, not in config): an ephemeral port, ports must be 1. */
  listen: HostPort;
  /** First port of the target range (the first of `targets` when there are several). */
  target: HostPort;
  /**
   * All targets, each a range as long as Listen's; absent means one target,
   * `target`, of weight 1. targetsOf() reads both forms.
   */
  targets?: WeightedTarget[];
  /** How a new connection or UDP session picks among healthy targets; default roundrobin. */
  balance?: Balance;
  /** Health checks of the targets; absent: none (targets count as up while their peer's handshake is fresh). */
  health?: HealthSpec;
  /** Length of both port ranges; 1 for a single port. */
  ports: number;
  /** Forward only (always 'tunnel' for expose): whose address the tunnel-side connection comes from. */
  source: SourceMode;
  /** TCP: a PROXY header first on the target-side connection; UDP (v2 only): one before each datagram to the target. */
  proxyProtocol: ProxyVersion;
  /** TCP: connections open at once per rule (whole range); excess ones are reset. */
  maxConnections: number;
  /** TCP: seconds without data in either direction before both sides are reset; 0 = never. */
  idleTimeout: number;
  /** UDP: seconds without a datagram in either direction before a session is forgotten. */
  udpTimeout: number;
  /** UDP: sessions (public client address:port pairs) held at once per rule. */
  maxSessions: number;
  /** TCP: congestion controller of the userspace stack's connections for this rule; undefined: the interface's. */
  congestion?: CongestionName;
}

/**
 * Defaults where the issue is silent.
 * - IdleTimeout 7440 s: RFC 5382 REQ-5, a NAT's established-TCP idle timeout
 *   must not be under 2 h 4 min.
 * - UdpTimeout 120 s: the issue's value, RFC 4787 REQ-5's minimum.
 * - MaxConnections 1024 and MaxSessions 512: below the usual soft
 *   RLIMIT_NOFILE of 1024 for the kernel-socket side of one rule's sessions.
 */
export const DEFAULTS = {
  source: 'tunnel' as SourceMode,
  proxyProtocol: 'off' as ProxyVersion,
  maxConnections: 1024,
  idleTimeout: 7440,
  udpTimeout: 120,
  maxSessions: 512,
} as const;

/** Health check defaults (HAProxy's fall 3 / rise 2; an interval a home server can afford). */
export const HEALTH_DEFAULTS: HealthSpec = { check: 'off', path: '/', interval: 5, timeout: 2, failures: 3, successes: 2 };

export const LIMITS = {
  weight: [1, 256],
  healthInterval: [1, 3600],
  healthTimeout: [1, 600],
  healthCount: [1, 100],
  targets: [1, 64],
  maxConnections: [1, 1_000_000],
  idleTimeout: [0, 30 * 86400],
  udpTimeout: [1, 86400],
  /** The userspace stack's ephemeral port range holds 16384 ports (RFC 6335 49152-65535). */
  maxSessions: [1, 16384],
  /** Ports in one range: each is a listening socket (a file descriptor on the host side). */
  ports: [1, 1024],
} as const;

/** `host:port`, `[v6]:port`, with `-last` when the range is longer than one port. */
export function formatHostPorts(hp: HostPort, ports: number): string {
  const host = hp.host.includes(':') ? `[${hp.host}]` : hp.host;
  return ports > 1 ? `${host}:${hp.port}-${hp.port + ports - 1}` : `${host}:${hp.port}`;
}

/** The rule's targets, weights included; a rule without `targets` has one, `target`. */
export function targetsOf(r: NatRule): WeightedTarget[] {
  return r.targets ?? [{ ...r.target, weight: 1 }];
}

/** `10.0.0.2:8080-8090 weight=2`: one target as written in Target (weight only when not 1). */
export function formatTarget(t: WeightedTarget, ports: number): string {
  return formatHostPorts(t, ports) + (t.weight !== 1 ? ` weight=${t.weight}` : '');
}

/** The health check as written in HealthCheck: off, tcp, http:/path. */
export function formatHealthCheck(h: HealthSpec): string {
  return h.check === 'http' ? `http:${h.path}` : h.check;
}

/** The options that keep a relay (and its connections) when they change: targets are swapped in place. */
function targetOptions(r: NatRule): string[] {
  const o: string[] = [];
  if (r.balance !== undefined) o.push(`Balance=${r.balance}`);
  const h = r.health;
  if (h && h.check !== 'off') o.push(`HealthCheck=${formatHealthCheck(h)}`, `HealthInterval=${h.interval}`, `HealthTimeout=${h.timeout}`, `HealthFailures=${h.failures}`, `HealthSuccesses=${h.successes}`);
  return o;
}

function options(r: NatRule, protocols: readonly NatProtocol[]): string[] {
  const o: string[] = [];
  if (r.kind === 'forward') o.push(`Source=${r.source}`);
  if (protocols.includes('tcp')) {
    o.push(`ProxyProtocol=${r.proxyProtocol}`, `MaxConnections=${r.maxConnections}`, `IdleTimeout=${r.idleTimeout}`);
    if (r.congestion !== undefined) o.push(`Congestion=${r.congestion}`);
  }
  if (protocols.includes('udp')) {
    if (!protocols.includes('tcp') && r.proxyProtocol === 'v2') o.push(`ProxyProtocol=${r.proxyProtocol}`);
    o.push(`UdpTimeout=${r.udpTimeout}`, `MaxSessions=${r.maxSessions}`);
  }
  return o;
}

/** `tcp,udp:0.0.0.0:8080=10.0.0.2:8080`: the rule without its options; several targets joined by `+`. */
export function headText(r: NatRule, protocols: readonly NatProtocol[] = r.protocols): string {
  return `${listenText(r, protocols)}=${targetsOf(r).map((t) => formatTarget(t, r.ports)).join('+')}`;
}

function listenText(r: NatRule, protocols: readonly NatProtocol[]): string {
  return `${protocols.join(',')}:${formatHostPorts(r.listen, r.ports)}`;
}

function text(r: NatRule, protocols: readonly NatProtocol[]): string {
  return [headText(r, protocols), ...options(r, protocols), ...targetOptions(r)].join(',');
}

/**
 * The rule in the command-line short form with every option spelled out
 * (defaults included), e.g. `tcp:0.0.0.0:8080=10.0.0.2:8080,Source=tunnel,...`.
 * parseShortForm(kind, shortFormText(r)) gives back an equal rule.
 */
export function shortFormText(r: NatRule): string {
  return text(r, r.protocols);
}

/** One protocol of one rule: the unit the relays run and reload identifies. */
export interface NatUnit {
  rule: NatRule;
  protocol: NatProtocol;
  /** `forward tcp:0.0.0.0:8080=10.0.0.2:8080,Source=tunnel,...`: only the options this protocol uses. */
  text: string;
  /**
   * The text without targets, Balance and health settings: a reload that
   * changes only those updates the running relay in place (its listeners,
   * connections and sessions to unchanged targets stay).
   */
  key: string;
}

export function units(r: NatRule): NatUnit[] {
  return r.protocols.map((protocol) => ({
    rule: r,
    protocol,
    text: `${r.kind} ${text(r, [protocol])}`,
    // Port 0 (API only) listens on an ephemeral port: two such rules are two listeners whatever their targets.
    key: r.listen.port === 0 ? `${r.kind} ${text(r, [protocol])}` : `${r.kind} ${[listenText(r, [protocol]), ...options(r, [protocol])].join(',')}`,
  }));
}

/** IPv4 text of an IPv4-mapped IPv6 address (`::ffff:1.2.3.4` -> `1.2.3.4`), else the input. */
export function unmapV4(address: string): string {
  const m = /^::ffff:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i.exec(address);
  return m ? m[1]! : address;
}

export function familyOf(address: string): 4 | 6 {
  return address.includes(':') ? 6 : 4;
}

/** The wildcard listen addresses. */
export function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::';
}
