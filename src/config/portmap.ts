/**
 * The [PortMapping] extension section (port mapping for peers): at most one per file; its
 * built value is the PortMapPolicy the NAT-PMP (RFC 6886), PCP (RFC 6887)
 * and UPnP IGD front-ends serve under, in WgConfig.extensions['PortMapping'].
 *
 *   Key = value -> the parsers below (Allow/Deny: miniupnpd's
 *   `EXTPORTS PREFIX INTPORTS`, host bits cleared with a warning)
 *   -> buildPolicy (defaults for absent keys, Allow/Deny in file order)
 *   -> validate against [Interface]/[Peer]/[Expose] (an IPv4 tunnel
 *   Address to answer at; Allow prefixes some peer can hold; the service
 *   ports free of [Expose] listeners).
 */
import type { PermRule, PortMapPolicy, PortMapService } from '../portmap/types.js';
import { defaultPolicy } from '../portmap/policy.js';
import type { NatRule } from '../nat/rule.js';
import { parseIp } from '../ip/text.js';
import { canonicalIp, formatCidr, isHostname, parseCidr } from './addr.js';
import { type Issues, show } from './issues.js';
import type { KeyParsed, KeySpec, SectionInput, SectionSpec } from './schema.js';
import { closest } from './suggest.js';
import type { Cidr } from './types.js';
import { fail, intRange, ok } from './values.js';

export const PORTMAP_SECTION = 'PortMapping';
export const SERVICES: readonly PortMapService[] = ['natpmp', 'pcp', 'upnp'];
/** NAT-PMP and PCP both answer on UDP 5351 (RFC 6886 section 3, RFC 6887 section 19.1). */
export const NATPMP_PCP_PORT = 5351;

/** The values of absent keys: the port-mapping layer's own defaults (never mutated). */
export const PORTMAP_DEFAULTS: Readonly<PortMapPolicy> = Object.freeze(defaultPolicy());

export const LIMITS = {
  maxLifetime: [1, 604800],
  maxMappingsPerPeer: [1, 1024],
} as const;

function parseServices(v: string): KeyParsed<Record<PortMapService, boolean>> {
  const items = v.split(/[\s,]+/).filter((x) => x !== '');
  if (items.length === 0) return fail('list one or more of natpmp, pcp, upnp (leave the [PortMapping] section out to turn port mapping off)');
  const seen = new Set<PortMapService>();
  for (const item of items) {
    const s = item.toLowerCase() as PortMapService;
    if (!SERVICES.includes(s)) {
      const near = closest(s, SERVICES);
      return fail(`${show(item)} is not a port-mapping protocol; use natpmp, pcp, upnp or a comma list of them${near ? ` (did you mean ${near}?)` : ''}`);
    }
    if (seen.has(s)) return fail(`${s} is listed twice`);
    seen.add(s);
  }
  return ok({ natpmp: seen.has('natpmp'), pcp: seen.has('pcp'), upnp: seen.has('upnp') });
}

function parseExternal(v: string): KeyParsed<string> {
  const ip = canonicalIp(v);
  if (!ip) {
    if (!/^[0-9.]+$/.test(v) && isHostname(v)) return fail('names are not looked up; give this host\'s public IPv4 address');
    return fail('not a valid IPv4 address');
  }
  if (ip.family !== 4) return fail('must be an IPv4 address (NAT-PMP and UPnP report an IPv4 external address)');
  if (ip.ip === '0.0.0.0') return fail('0.0.0.0 is not an address; leave ExternalAddress out to let wgts pick one');
  return ok(ip.ip);
}

function parseListenAddress(v: string): KeyParsed<string> {
  const bare = v.startsWith('[') && v.endsWith(']') ? v.slice(1, -1) : v;
  const ip = canonicalIp(bare);
  if (ip) return ok(ip.ip);
  if (!/^[0-9.]+$/.test(bare) && !bare.includes(':') && isHostname(bare)) {
    return fail('names are not looked up; give an IP address of this host, 0.0.0.0 (all IPv4) or :: (all IPv4 and IPv6)');
  }
  return fail(`not a valid ${bare.includes(':') ? 'IPv6' : 'IPv4'} address`);
}

/** `N` or `N-M`, 1-65535, N <= M. */
function parseRange(s: string, what: string): KeyParsed<[number, number]> {
  const m = /^([0-9]{1,5})(?:-([0-9]{1,5}))?$/.exec(s);
  const bad = `${what} ${show(s)}: must be a port 1-65535 or a range FIRST-LAST such as 1024-65535`;
  if (!m) return fail(bad);
  const first = Number(m[1]);
  const last = m[2] === undefined ? first : Number(m[2]);
  if (first < 1 || last < 1 || first > 65535 || last > 65535) return fail(bad);
  if (last < first) return fail(`${what} ${first}-${last} is reversed; write ${last}-${first}`);
  return ok([first, last]);
}

const RULE_USAGE = 'must be EXTERNAL-PORTS PREFIX INTERNAL-PORTS, e.g. 1024-65535 10.0.0.0/24 1024-65535';

/** Allow / Deny: `EXTPORTS PREFIX INTPORTS`; the line is filled in by buildPolicy. */
function ruleParser(allow: boolean): (v: string) => KeyParsed<PermRule> {
  const name = allow ? 'Allow' : 'Deny';
  return (v) => {
    const parts = v.split(/[ \t]+/).filter((x) => x !== '');
    if (parts.length !== 3) return fail(`${RULE_USAGE} (found ${parts.length} word${parts.length === 1 ? '' : 's'})`);
    const external = parseRange(parts[0]!, 'external ports');
    if (!external.ok) return fail(external.error);
    const p = parseCidr(parts[1]!, true);
    if (!p.ok) {
      const isName = !parts[1]!.includes('/') && !/^[0-9.]+$/.test(parts[1]!) && isHostname(parts[1]!);
      return fail(`prefix ${show(parts[1]!)}: ${isName ? 'names are not looked up; give ADDRESS/LENGTH' : p.error}`);
    }
    const internal = parseRange(parts[2]!, 'internal ports');
    if (!internal.ok) return fail(internal.error);
    const c = p.value.cidr;
    const notes = p.value.hostBits ? [`${name} prefix ${show(parts[1]!)} has host bits set; using ${formatCidr(c)}`] : undefined;
    return ok({ allow, external: external.value, prefix: { ip: c.ip, cidr: c.cidr, family: c.family }, internal: internal.value, line: 0 }, notes);
  };
}

const KEYS: Record<string, KeySpec<any>> = {
  Protocols: { parse: parseServices },
  ExternalAddress: { parse: parseExternal },
  ListenAddress: { parse: parseListenAddress },
  Allow: { parse: ruleParser(true), repeatable: true },
  Deny: { parse: ruleParser(false), repeatable: true },
  MaxLifetime: { parse: seconds(LIMITS.maxLifetime[0], LIMITS.maxLifetime[1]) },
  MaxMappingsPerPeer: { parse: intRange(LIMITS.maxMappingsPerPeer[0], LIMITS.maxMappingsPerPeer[1]) },
  UpnpHttpPort: { parse: intRange(1, 65535) },
};

function seconds(min: number, max: number): (v: string) => KeyParsed<number> {
  const p = intRange(min, max);
  return (v) => {
    const r = p(v);
    return r.ok ? r : fail(`${r.error} (seconds)`);
  };
}

export function buildPolicy(input: SectionInput): PortMapPolicy {
  const rules = [...input.all<PermRule>('Allow'), ...input.all<PermRule>('Deny')]
    .map((f) => ({ ...f.value, line: f.line }))
    .sort((a, b) => a.line - b.line);
  return {
    services: input.one<Record<PortMapService, boolean>>('Protocols')?.value ?? { ...PORTMAP_DEFAULTS.services },
    externalAddress: input.one<string>('ExternalAddress')?.value,
    listenAddress: input.one<string>('ListenAddress')?.value ?? PORTMAP_DEFAULTS.listenAddress,
    rules,
    maxLifetime: input.one<number>('MaxLifetime')?.value ?? PORTMAP_DEFAULTS.maxLifetime,
    maxMappingsPerPeer: input.one<number>('MaxMappingsPerPeer')?.value ?? PORTMAP_DEFAULTS.maxMappingsPerPeer,
    upnpHttpPort: input.one<number>('UpnpHttpPort')?.value ?? PORTMAP_DEFAULTS.upnpHttpPort,
  };
}

// ---------------------------------------------------------------- checks

/** Two prefixes share an address: one holds the other. */
function overlaps(a: Cidr, b: Cidr): boolean {
  const x = parseIp(a.ip);
  const y = parseIp(b.ip);
  if (!x || !y || x.length !== y.length) return false;
  const len = Math.min(a.cidr, b.cidr);
  for (let bit = 0; bit < len; bit += 8) {
    const mask = (0xff00 >> Math.min(8, len - bit)) & 0xff;
    if ((x[bit / 8]! & mask) !== (y[bit / 8]! & mask)) return false;
  }
  return true;
}

type Report = Pick<Issues, 'error' | 'warn'>;

/** The config around the section: tunnel addresses, peers, [Expose] listeners. */
export function checkPolicy(
  p: PortMapPolicy,
  input: SectionInput,
  cfg: { iface: { addresses: Cidr[] }; peers: { allowedIps: Cidr[] }[]; extensions: Record<string, unknown[]> },
  issues: Report,
): void {
  const v4 = cfg.iface.addresses.filter((a) => a.family === 4);
  if (v4.length === 0) {
    issues.error(
      input.line,
      undefined,
      '[PortMapping] needs an IPv4 Address in [Interface]: NAT-PMP, PCP and UPnP answer peers at this host\'s tunnel address (add one, e.g. Address = 10.0.0.1/24)',
    );
  }
  for (const r of p.rules) {
    if (!r.allow) continue;
    if (!cfg.peers.some((peer) => peer.allowedIps.some((c) => overlaps(c, r.prefix)))) {
      issues.warn(r.line, 'Allow', `Allow prefix ${r.prefix.ip}/${r.prefix.cidr} is outside every [Peer] AllowedIPs; no peer can ever match this rule`);
    }
  }
  const own = new Set(v4.map((a) => a.ip));
  const exposes = (cfg.extensions['Expose'] ?? []) as NatRule[];
  const taken = (proto: 'tcp' | 'udp', port: number): NatRule | undefined =>
    exposes.find((e) => own.has(e.listen.host) && e.protocols.includes(proto) && port >= e.listen.port && port < e.listen.port + e.ports);
  if (p.services.upnp) {
    const e = taken('tcp', p.upnpHttpPort);
    if (e) {
      issues.error(
        input.lineOf('UpnpHttpPort') ?? input.line,
        'UpnpHttpPort',
        `UpnpHttpPort ${p.upnpHttpPort} is taken: an [Expose] rule listens on ${e.listen.host} tcp ports ${e.listen.port}-${e.listen.port + e.ports - 1}; set UpnpHttpPort to a free port`,
      );
    }
  }
  if (p.services.natpmp || p.services.pcp) {
    const e = taken('udp', NATPMP_PCP_PORT);
    if (e) {
      issues.error(
        input.lineOf('Protocols') ?? input.line,
        'Protocols',
        `NAT-PMP and PCP answer on udp port ${NATPMP_PCP_PORT}, but an [Expose] rule listens on ${e.listen.host} udp ports ${e.listen.port}-${e.listen.port + e.ports - 1}; move that rule or set Protocols = upnp`,
      );
    }
  }
}

// ---------------------------------------------------------------- section

function range([a, b]: [number, number]): string {
  return a === b ? String(a) : `${a}-${b}`;
}

export function serializePolicy(p: PortMapPolicy): [string, string][] {
  const out: [string, string][] = [];
  if (!SERVICES.every((s) => p.services[s])) out.push(['Protocols', SERVICES.filter((s) => p.services[s]).join(', ')]);
  if (p.externalAddress !== undefined) out.push(['ExternalAddress', p.externalAddress]);
  if (p.listenAddress !== PORTMAP_DEFAULTS.listenAddress) out.push(['ListenAddress', p.listenAddress]);
  for (const r of p.rules) {
    out.push([r.allow ? 'Allow' : 'Deny', `${range(r.external)} ${r.prefix.ip}/${r.prefix.cidr} ${range(r.internal)}`]);
  }
  if (p.maxLifetime !== PORTMAP_DEFAULTS.maxLifetime) out.push(['MaxLifetime', String(p.maxLifetime)]);
  if (p.maxMappingsPerPeer !== PORTMAP_DEFAULTS.maxMappingsPerPeer) out.push(['MaxMappingsPerPeer', String(p.maxMappingsPerPeer)]);
  if (p.upnpHttpPort !== PORTMAP_DEFAULTS.upnpHttpPort) out.push(['UpnpHttpPort', String(p.upnpHttpPort)]);
  return out;
}

export const portMappingSection: SectionSpec<PortMapPolicy> = {
  name: PORTMAP_SECTION,
  repeatable: false,
  keys: KEYS,
  build: (input) => buildPolicy(input),
  validate: (items, cfg, issues) => {
    for (const { input, value } of items) checkPolicy(value, input, cfg, issues);
  },
  serialize: serializePolicy,
};
