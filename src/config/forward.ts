/**
 * The [Forward] and [Expose] extension sections (the port forwarder): value parsers,
 * the rule builder, and the checks against the rest of the config.
 *
 *   Key = value -> keysFor(kind) parsers -> buildRule (needs Listen and
 *   Target, equal range lengths, protocol/option combinations) -> NatRule
 *   -> checkRules with [Interface]/[Peer] (Expose Listen is one of our
 *   Addresses, no overlapping listeners, a source address for the target's
 *   family, target routed to some peer)
 *
 * The command-line short form (src/nat/short-form.ts) runs the same key
 * parsers, builder and checks, so both give equal NatRule objects and the
 * same messages.
 *
 * Source = client: the tunnel-side connection carries the public client's
 * own address, as a kernel DNAT without SNAT would. Replies then go to that
 * address, so the peer behind Target must route it back into the tunnel:
 * its [Peer] entry for this side needs AllowedIPs = 0.0.0.0/0, ::/0 (or the
 * clients' prefixes). That is the other side's file and cannot be checked
 * here. The tunnel side must also be able to use a foreign source address
 * (the userspace stack's transparent mode); otherwise the relay refuses the
 * rule when it is applied.
 */
import { parseIp } from '../ip/text.js';
import { canonicalIp, splitHostPort } from './addr.js';
import { type Issues, show } from './issues.js';
import type { KeyParsed, KeySpec, SectionInput, SectionSpec } from './schema.js';
import { closest } from './suggest.js';
import type { Cidr, WgConfig } from './types.js';
import { fail, ok, oneOf, parseCongestion } from './values.js';
import type { CongestionName } from '../netstack/cc/types.js';
import {
  DEFAULTS,
  LIMITS,
  familyOf,
  formatHealthCheck,
  formatHostPorts,
  formatTarget,
  targetsOf,
  isWildcard,
  HEALTH_DEFAULTS,
  type Balance,
  type HealthSpec,
  type HostPort,
  type NatKind,
  type NatProtocol,
  type NatRule,
  type ProxyVersion,
  type SourceMode,
  type WeightedTarget,
} from '../nat/rule.js';

const SECTION: Record<NatKind, string> = { forward: 'Forward', expose: 'Expose' };

/** An address with a port range, as written in Listen or Target. */
export interface PortSpan {
  hp: HostPort;
  ports: number;
}


export function parseProtocols(v: string): KeyParsed<NatProtocol[]> {
  const items = v.split(/[\s,+]+/).filter((x) => x !== '');
  if (items.length === 0) return fail('must be tcp, udp or tcp,udp');
  const seen = new Set<NatProtocol>();
  for (const item of items) {
    const s = item.toLowerCase();
    if (s !== 'tcp' && s !== 'udp') {
      const near = closest(s, ['tcp', 'udp']);
      return fail(`${show(item)} is not a protocol; use tcp, udp or tcp,udp${near ? ` (did you mean ${near}?)` : ''}`);
    }
    if (seen.has(s)) return fail(`${s} is listed twice`);
    seen.add(s);
  }
  return ok((['tcp', 'udp'] as const).filter((p) => seen.has(p)));
}

function parsePortPart(s: string): KeyParsed<{ first: number; count: number }> {
  const m = /^([0-9]{1,5})(?:-([0-9]{1,5}))?$/.exec(s);
  const bad = 'port must be an integer 1-65535, or a range FIRST-LAST such as 6000-6010';
  if (!m) return fail(bad);
  const first = Number(m[1]);
  const last = m[2] === undefined ? first : Number(m[2]);
  if (first < 1 || first > 65535 || last < 1 || last > 65535) return fail(bad);
  if (last < first) return fail(`port range ${first}-${last} is reversed; write ${last}-${first}`);
  const count = last - first + 1;
  if (count > LIMITS.ports[1]) return fail(`port range ${first}-${last} has ${count} ports; at most ${LIMITS.ports[1]} per rule`);
  return ok({ first, count });
}

/**
 * `ip:port`, `[ipv6]:port`, or either with a range `first-last`. `hostHint`
 * finishes the message for a host that is not an IP literal.
 */
export function parsePortSpan(v: string, hostHint: string): KeyParsed<PortSpan> {
  const split = splitHostPort(v, {
    noPort: `missing port; use ADDRESS:PORT or [IPv6]:PORT (${hostHint})`,
    noHost: `missing address before ":" (${hostHint})`,
    unbracketedV6: 'an IPv6 address needs brackets: [addr]:port',
  });
  if (!split.ok) return split;
  const hostText = split.value.host;
  if (split.value.bracketed) {
    if (hostText.includes('%')) return fail('IPv6 zone ids (%...) are not supported here');
    if (!canonicalIp(hostText) || !hostText.includes(':')) return fail('the address inside [...] must be an IPv6 address');
  } else if (!canonicalIp(hostText)) {
    return fail(/^[0-9.]+$/.test(hostText) ? 'not a valid IPv4 address' : `${show(hostText)} is not an IP address (${hostHint})`);
  }
  const p = parsePortPart(split.value.port);
  if (!p.ok) return p;
  return ok({ hp: { host: canonicalIp(hostText)!.ip, port: p.value.first }, ports: p.value.count });
}

/** One entry of Target: a span and its weight. */
export interface TargetSpan extends PortSpan {
  weight: number;
}

/**
 * Target: one or more `ADDRESS:PORT[-LAST] [weight=N]`, separated by commas
 * (or `+`, which the command-line short form needs since its options are
 * comma-separated).
 */
export function parseTargets(v: string, hostHint: string): KeyParsed<TargetSpan[]> {
  const items = v.split(/[,+]/).map((x) => x.trim());
  if (items.length > LIMITS.targets[1]) return fail(`${items.length} targets; at most ${LIMITS.targets[1]} per rule`);
  const out: TargetSpan[] = [];
  for (const item of items) {
    if (item === '') return fail(items.length > 1 ? 'an empty entry in the list; separate targets with one comma' : `missing address (${hostHint})`);
    const m = /^(\S+)(?:\s+weight\s*=\s*(\S*))?$/i.exec(item);
    if (!m) return fail(`${show(item)}: expected ADDRESS:PORT, optionally followed by weight=N (1-${LIMITS.weight[1]})`);
    const span = parsePortSpan(m[1]!, hostHint);
    if (!span.ok) return items.length > 1 ? fail(`${show(m[1]!)}: ${span.error}`) : span;
    let weight = 1;
    if (m[2] !== undefined) {
      const w = m[2];
      if (!/^[0-9]{1,3}$/.test(w) || Number(w) < LIMITS.weight[0] || Number(w) > LIMITS.weight[1]) return fail(`weight=${w}: must be an integer ${LIMITS.weight[0]}-${LIMITS.weight[1]}`);
      weight = Number(w);
    }
    const same = out.find((t) => t.hp.host === span.value.hp.host && t.hp.port === span.value.hp.port);
    if (same) return fail(`${formatHostPorts(span.value.hp, 1)} is listed twice`);
    out.push({ ...span.value, weight });
  }
  return ok(out);
}

/** HealthCheck: off, tcp (a connect), or http:/path (a GET answered 2xx/3xx). */
export function parseHealthCheck(v: string): KeyParsed<Pick<HealthSpec, 'check' | 'path'>> {
  const s = v.trim();
  const lower = s.toLowerCase();
  if (lower === 'off' || lower === 'tcp') return ok({ check: lower, path: '/' });
  if (lower === 'http') return ok({ check: 'http', path: '/' });
  if (lower.startsWith('http:')) {
    const path = s.slice(5);
    if (!path.startsWith('/') || !/^[\x21-\x7e]+$/.test(path)) return fail('http:PATH needs a path starting with "/" without spaces, e.g. http:/healthz');
    return ok({ check: 'http', path });
  }
  const near = closest(lower, ['off', 'tcp', 'http']);
  return fail(`must be off, tcp (a connect) or http:/PATH (a GET answered 2xx or 3xx)${near ? ` (did you mean ${near}?)` : ''}`);
}

const LISTEN_HINT: Record<NatKind, string> = {
  forward: 'names are not looked up; 0.0.0.0 listens on all IPv4 addresses, [::] on all IPv4 and IPv6',
  expose: 'it must be one of the [Interface] Address values',
};
const TARGET_HINT: Record<NatKind, string> = {
  forward: 'the target is inside the tunnel and names are not looked up; give its tunnel IP',
  expose: 'names are not looked up; use 127.0.0.1 or [::1] for this host',
};

function integer(min: number, max: number, unit: string, offWord?: boolean): (v: string) => KeyParsed<number> {
  return (v) => {
    const s = v.toLowerCase();
    if (offWord && s === 'off') return ok(0);
    if (!/^[0-9]{1,10}$/.test(s) || Number(s) < min || Number(s) > max) {
      return fail(`must be an integer ${min}-${max}${unit}${offWord ? ', or off' : ''}`);
    }
    return ok(Number(s));
  };
}

/** The key table of one section; [Expose] has no Source. */
export function keysFor(kind: NatKind): Record<string, KeySpec<any>> {
  const keys: Record<string, KeySpec<any>> = {
    Protocol: { parse: parseProtocols },
    Listen: { parse: (v: string) => parsePortSpan(v, LISTEN_HINT[kind]) },
    Target: { parse: (v: string) => parseTargets(v, TARGET_HINT[kind]) },
  };
  if (kind === 'forward') {
    keys['Source'] = {
      parse: oneOf<SourceMode>(['tunnel', 'client'], 'must be tunnel (connect from our tunnel Address) or client (the public client\'s own address)'),
    };
  }
  keys['ProxyProtocol'] = { parse: oneOf<ProxyVersion>(['off', 'v1', 'v2'], 'must be off, v1 or v2') };
  keys['MaxConnections'] = { parse: integer(LIMITS.maxConnections[0], LIMITS.maxConnections[1], '') };
  keys['IdleTimeout'] = { parse: integer(LIMITS.idleTimeout[0], LIMITS.idleTimeout[1], ' (seconds; 0 = never)', true) };
  keys['UdpTimeout'] = { parse: integer(LIMITS.udpTimeout[0], LIMITS.udpTimeout[1], ' (seconds)') };
  keys['MaxSessions'] = { parse: integer(LIMITS.maxSessions[0], LIMITS.maxSessions[1], '') };
  keys['Congestion'] = { parse: parseCongestion };
  keys['Balance'] = {
    parse: oneOf<Balance>(['roundrobin', 'leastconn', 'source'], 'must be roundrobin, leastconn or source (the same client address sticks to the same target)'),
  };
  keys['HealthCheck'] = { parse: parseHealthCheck };
  keys['HealthInterval'] = { parse: integer(LIMITS.healthInterval[0], LIMITS.healthInterval[1], ' (seconds)') };
  keys['HealthTimeout'] = { parse: integer(LIMITS.healthTimeout[0], LIMITS.healthTimeout[1], ' (seconds)') };
  keys['HealthFailures'] = { parse: integer(LIMITS.healthCount[0], LIMITS.healthCount[1], '') };
  keys['HealthSuccesses'] = { parse: integer(LIMITS.healthCount[0], LIMITS.healthCount[1], '') };
  return keys;
}

/** Where the builder and the checks report: a section in a file, or a command-line argument. */
export interface RuleReport {
  error(key: string | undefined, message: string): void;
  warn(key: string | undefined, message: string): void;
}

function sectionReport(input: SectionInput, issues: Issues): RuleReport {
  const line = (key: string | undefined): number => (key && input.one(key)?.line) || input.line;
  return {
    error: (key, m) => issues.error(line(key), key, m),
    warn: (key, m) => issues.warn(line(key), key, m),
  };
}

const REQUIRED_HINT: Record<NatKind, Record<'Listen' | 'Target', string>> = {
  forward: { Listen: 'the public address:port on this host, e.g. 0.0.0.0:8080', Target: 'the address:port inside the tunnel, e.g. 10.0.0.2:8080' },
  expose: { Listen: 'one of this interface\'s Address values with a port, e.g. 10.0.0.2:8080', Target: 'the local service, e.g. 127.0.0.1:8080' },
};

/** The NatRule of one section (or one short-form rule); undefined after reporting an error. */
export function buildRule(kind: NatKind, input: SectionInput, report: RuleReport): NatRule | undefined {
  const name = SECTION[kind];
  const listen = input.one<PortSpan>('Listen');
  const target = input.one<TargetSpan[]>('Target');
  let missing = false;
  for (const [key, f] of [['Listen', listen], ['Target', target]] as const) {
    if (f || input.refused(key)) continue;
    report.error(key, `[${name}] has no ${key} (required: ${REQUIRED_HINT[kind][key]})`);
    missing = true;
  }
  if (!listen || !target || missing) return undefined;
  const protocols = input.one<NatProtocol[]>('Protocol')?.value ?? ['tcp'];
  const source = kind === 'forward' ? (input.one<SourceMode>('Source')?.value ?? DEFAULTS.source) : 'tunnel';
  const proxyProtocol = input.one<ProxyVersion>('ProxyProtocol')?.value ?? DEFAULTS.proxyProtocol;
  const congestion = input.one<CongestionName>('Congestion')?.value;
  const L = listen.value;
  const all = target.value;
  const T = all[0]!;
  let bad = false;

  for (const t of all) {
    if (t.ports === L.ports) continue;
    bad = true;
    const which = all.length > 1 ? `Target ${formatHostPorts(t.hp, t.ports)}` : 'Target';
    if (t.ports === 1) {
      const eg = formatHostPorts(t.hp, L.ports);
      report.error('Target', `${which} must be a port range as long as Listen's (${L.ports} ports), e.g. ${eg}`);
    } else {
      report.error('Target', `${which}'s range has ${t.ports} ports but Listen's has ${L.ports}; they must be the same length`);
    }
    break;
  }
  if (kind === 'expose' && isWildcard(L.hp.host)) {
    bad = true;
    report.error('Listen', `Listen = ${formatHostPorts(L.hp, L.ports)}: [Expose] listens inside the tunnel on one of this interface's Address values, not on a wildcard`);
  }
  const wild = all.find((t) => isWildcard(t.hp.host));
  if (wild) {
    bad = true;
    report.error('Target', `Target = ${formatHostPorts(wild.hp, wild.ports)}: a wildcard address cannot be connected to`);
  }
  if (proxyProtocol === 'v1' && !protocols.includes('tcp')) {
    bad = true;
    report.error('ProxyProtocol', 'ProxyProtocol = v1 has no UDP form; use v2 (a binary header before each datagram) or off');
  } else if (proxyProtocol === 'v1' && protocols.includes('udp')) {
    report.warn('ProxyProtocol', 'ProxyProtocol = v1 applies to the TCP part of this rule only; UDP datagrams are forwarded unchanged (v2 covers both)');
  }
  const health = healthOf(input, report);
  if (source === 'client') {
    const lf = familyOf(L.hp.host);
    const tf = familyOf(T.hp.host);
    if (all.some((t) => familyOf(t.hp.host) !== tf)) {
      bad = true;
      report.error('Target', 'with Source = client every Target must be of one address family (IPv4 or IPv6)');
    }
    if (tf === 6 && lf === 4) {
      bad = true;
      report.error('Source', `Source = client cannot carry IPv4 clients (Listen ${L.hp.host}) to an IPv6 Target; use Source = tunnel`);
    } else if (tf === 4 && lf === 6 && L.hp.host !== '::') {
      bad = true;
      report.error('Source', `Source = client cannot carry IPv6 clients (Listen ${L.hp.host}) to an IPv4 Target; use Source = tunnel`);
    } else if (tf === 4 && L.hp.host === '::') {
      report.warn('Source', 'with Source = client and an IPv4 Target, IPv6 clients on [::] are refused (reset); only IPv4 clients get through');
    }
  }
  if (bad) return undefined;
  const balance = input.one<Balance>('Balance')?.value;
  const targets: WeightedTarget[] = all.map((t) => ({ ...t.hp, weight: t.weight }));
  return {
    kind,
    protocols,
    listen: L.hp,
    target: T.hp,
    ...(all.length > 1 || T.weight !== 1 ? { targets } : {}),
    ...(balance !== undefined ? { balance } : {}),
    ...(health ? { health } : {}),
    ports: L.ports,
    source,
    proxyProtocol,
    maxConnections: input.one<number>('MaxConnections')?.value ?? DEFAULTS.maxConnections,
    idleTimeout: input.one<number>('IdleTimeout')?.value ?? DEFAULTS.idleTimeout,
    udpTimeout: input.one<number>('UdpTimeout')?.value ?? DEFAULTS.udpTimeout,
    maxSessions: input.one<number>('MaxSessions')?.value ?? DEFAULTS.maxSessions,
    ...(congestion !== undefined ? { congestion } : {}),
  };
}

const HEALTH_KEYS = ['HealthInterval', 'HealthTimeout', 'HealthFailures', 'HealthSuccesses'] as const;

/** The HealthSpec when HealthCheck is tcp or http; the other Health keys alone only warn. */
function healthOf(input: SectionInput, report: RuleReport): HealthSpec | undefined {
  const check = input.one<Pick<HealthSpec, 'check' | 'path'>>('HealthCheck')?.value;
  if (!check || check.check === 'off') {
    const stray = HEALTH_KEYS.find((k) => input.one(k));
    if (stray) report.warn(stray, `${stray} has no effect without HealthCheck = tcp or http:/PATH`);
    return undefined;
  }
  const n = (k: (typeof HEALTH_KEYS)[number], d: number): number => input.one<number>(k)?.value ?? d;
  const D = HEALTH_DEFAULTS;
  const spec: HealthSpec = {
    ...check,
    interval: n('HealthInterval', D.interval),
    timeout: n('HealthTimeout', D.timeout),
    failures: n('HealthFailures', D.failures),
    successes: n('HealthSuccesses', D.successes),
  };
  if (spec.timeout > spec.interval) report.warn('HealthTimeout', `HealthTimeout (${spec.timeout} s) is longer than HealthInterval (${spec.interval} s); the next probe waits for the previous one`);
  return spec;
}

// ---------------------------------------------------------------- checks

function inCidr(ip: Uint8Array, c: Cidr): boolean {
  const net = parseIp(c.ip);
  if (!net || net.length !== ip.length) return false;
  for (let bit = 0; bit < c.cidr; bit += 8) {
    const take = Math.min(8, c.cidr - bit);
    const mask = (0xff00 >> take) & 0xff;
    if ((ip[bit / 8]! & mask) !== (net[bit / 8]! & mask)) return false;
  }
  return true;
}

/** Two listeners that the host (or the stack) would refuse to bind together. */
function hostsClash(a: string, b: string): boolean {
  if (a === b || a === '::' || b === '::') return true;
  if (a === '0.0.0.0') return familyOf(b) === 4;
  if (b === '0.0.0.0') return familyOf(a) === 4;
  return false;
}

function rangesOverlap(a: NatRule, b: NatRule): boolean {
  return a.listen.port < b.listen.port + b.ports && b.listen.port < a.listen.port + a.ports;
}

export interface CheckedRule {
  rule: NatRule;
  report: RuleReport;
  /** How to name this rule in another rule's message: `the [Forward] at line 12`, `--forward tcp:...`. */
  label: string;
}

type CheckConfig = Pick<WgConfig, 'iface' | 'peers'>;

/** Cross-checks of rules of one kind against each other and the interface. */
export function checkRules(kind: NatKind, items: readonly CheckedRule[], cfg: CheckConfig): void {
  const own = cfg.iface.addresses.map((a) => a.ip);
  items.forEach(({ rule: r, report }, i) => {
    const span = formatHostPorts(r.listen, r.ports);
    for (const prev of items.slice(0, i)) {
      const p = prev.rule;
      const shared = r.protocols.filter((x) => p.protocols.includes(x));
      if (shared.length > 0 && rangesOverlap(r, p) && hostsClash(r.listen.host, p.listen.host)) {
        report.error('Listen', `Listen ${span} (${shared.join(',')}) overlaps ${prev.label} (${formatHostPorts(p.listen, p.ports)})`);
        break;
      }
    }
    if (kind === 'expose') {
      if (!own.includes(r.listen.host)) {
        const near = closest(r.listen.host, own);
        const list = own.length > 0 ? own.join(', ') : 'none: add an Address to [Interface]';
        report.error('Listen', `Listen ${r.listen.host} is not an Address of this interface${near ? ` (did you mean ${near}?)` : ''}; [Expose] listens inside the tunnel on one of: ${list}`);
      }
      return;
    }
    const lp = cfg.iface.listenPort;
    if (lp && r.protocols.includes('udp') && lp >= r.listen.port && lp < r.listen.port + r.ports) {
      report.error('Listen', `Listen ${span} (udp) includes ${lp}, the WireGuard ListenPort of [Interface] (its socket listens on all addresses)`);
    }
    for (const t of targetsOf(r)) {
      const tip = parseIp(t.host)!;
      if (own.includes(t.host)) {
        report.error('Target', `Target ${t.host} is this interface's own Address; a [Forward] target is a peer inside the tunnel (use [Expose] to publish a service of this host)`);
        return;
      }
      const fam = familyOf(t.host);
      if (r.source === 'tunnel' && !cfg.iface.addresses.some((a) => a.family === fam)) {
        report.error('Target', `Target ${t.host} is IPv${fam} but [Interface] has no IPv${fam} Address to connect from (Source = tunnel)`);
      }
      if (!cfg.peers.some((p) => p.allowedIps.some((c) => inCidr(tip, c)))) {
        report.warn('Target', `no [Peer] has AllowedIPs covering ${t.host}; connections to it fail until one does`);
      }
    }
  });
}

// ---------------------------------------------------------------- sections

function serializeRule(r: NatRule): [string, string][] {
  const out: [string, string][] = [
    ['Protocol', r.protocols.join(',')],
    ['Listen', formatHostPorts(r.listen, r.ports)],
    ['Target', targetsOf(r).map((t) => formatTarget(t, r.ports)).join(', ')],
  ];
  if (r.kind === 'forward' && r.source !== DEFAULTS.source) out.push(['Source', r.source]);
  if (r.proxyProtocol !== DEFAULTS.proxyProtocol) out.push(['ProxyProtocol', r.proxyProtocol]);
  if (r.maxConnections !== DEFAULTS.maxConnections) out.push(['MaxConnections', String(r.maxConnections)]);
  if (r.idleTimeout !== DEFAULTS.idleTimeout) out.push(['IdleTimeout', String(r.idleTimeout)]);
  if (r.udpTimeout !== DEFAULTS.udpTimeout) out.push(['UdpTimeout', String(r.udpTimeout)]);
  if (r.maxSessions !== DEFAULTS.maxSessions) out.push(['MaxSessions', String(r.maxSessions)]);
  if (r.congestion !== undefined) out.push(['Congestion', r.congestion]);
  if (r.balance !== undefined) out.push(['Balance', r.balance]);
  const h = r.health;
  if (h) {
    out.push(['HealthCheck', formatHealthCheck(h)]);
    const D = HEALTH_DEFAULTS;
    if (h.interval !== D.interval) out.push(['HealthInterval', String(h.interval)]);
    if (h.timeout !== D.timeout) out.push(['HealthTimeout', String(h.timeout)]);
    if (h.failures !== D.failures) out.push(['HealthFailures', String(h.failures)]);
    if (h.successes !== D.successes) out.push(['HealthSuccesses', String(h.successes)]);
  }
  return out;
}

function section(kind: NatKind): SectionSpec<NatRule> {
  const name = SECTION[kind];
  return {
    name,
    repeatable: true,
    keys: keysFor(kind),
    build: (input, issues) => buildRule(kind, input, sectionReport(input, issues)),
    validate: (items, cfg, issues) =>
      checkRules(
        kind,
        items.map(({ input, value }) => ({ rule: value, report: sectionReport(input, issues), label: `the [${name}] at line ${input.line}` })),
        cfg,
      ),
    serialize: serializeRule,
  };
}

export const forwardSection: SectionSpec<NatRule> = section('forward');
export const exposeSection: SectionSpec<NatRule> = section('expose');
