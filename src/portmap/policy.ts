/**
 * The [PortMapping] allow-list of the port-mapping service, in the spirit of miniupnpd's
 * `allow|deny EXT-PORTS ADDRESS/CIDR INT-PORTS` lines: a request for
 * internalAddress:internalPort -> externalPort is checked against the rules
 * in order, and the first rule whose three parts all match decides.
 *
 *   PortMapPolicy.rules --compile (cached per policy object)--> checks
 *   permits(policy, addr, intPort, extPort) -> first match's allow
 *   externalChecker(policy, addr, intPort) -> (extPort) => boolean, for the
 *   lease table's search over many external ports.
 *
 * No rules at all means "allow 1024-65535 any 1024-65535"; rules that match
 * nothing refuse. Port 0 is never permitted. IPv4-mapped IPv6 text
 * (::ffff:a.b.c.d) is matched as the IPv4 address it carries.
 */
import { formatIp, parseIp } from '../ip/text.js';
import type { PermRule, PortMapPolicy } from './types.js';

/** The RFC 6886 section 3.3 recommended lifetime, used as the default cap. */
const DEFAULT_MAX_LIFETIME = 7200;

export function defaultPolicy(): PortMapPolicy {
  return {
    services: { natpmp: true, pcp: true, upnp: true },
    externalAddress: undefined,
    listenAddress: '0.0.0.0',
    rules: [],
    maxLifetime: DEFAULT_MAX_LIFETIME,
    maxMappingsPerPeer: 32,
    upnpHttpPort: 5000,
  };
}

interface CompiledRule {
  allow: boolean;
  ext0: number;
  ext1: number;
  int0: number;
  int1: number;
  /** Network bytes (4 or 16), or null for a rule that can never match (unparsable prefix). */
  net: Uint8Array | null;
  cidr: number;
}

const DEFAULT_RULE: CompiledRule = { allow: true, ext0: 1024, ext1: 65535, int0: 1024, int1: 65535, net: null, cidr: 0 };

const compiled = new WeakMap<PortMapPolicy, { rules: PermRule[]; out: CompiledRule[] }>();

function compile(policy: PortMapPolicy): CompiledRule[] {
  const hit = compiled.get(policy);
  if (hit && hit.rules === policy.rules) return hit.out;
  const out = policy.rules.map((r): CompiledRule => {
    const bytes = parseIp(r.prefix.ip);
    const net = bytes && bytes.length === (r.prefix.family === 4 ? 4 : 16) ? bytes : null;
    const max = net ? net.length * 8 : 0;
    const cidr = Number.isInteger(r.prefix.cidr) ? Math.max(0, Math.min(max, r.prefix.cidr)) : max;
    return { allow: r.allow, ext0: r.external[0], ext1: r.external[1], int0: r.internal[0], int1: r.internal[1], net, cidr };
  });
  compiled.set(policy, { rules: policy.rules, out });
  return out;
}

/** Address text to bytes; an IPv4-mapped IPv6 address becomes its 4 IPv4 bytes. */
function addressBytes(address: string): Uint8Array | null {
  const b = parseIp(address);
  if (!b || b.length === 4) return b;
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return b;
  return b[10] === 0xff && b[11] === 0xff ? b.subarray(12) : b;
}

/** Canonical text of an address (IPv4-mapped IPv6 as plain IPv4), or null when it does not parse. */
export function canonicalAddress(address: string): string | null {
  const b = addressBytes(address);
  return b ? formatIp(b) : null;
}

function inPrefix(addr: Uint8Array, net: Uint8Array, cidr: number): boolean {
  if (addr.length !== net.length) return false;
  const full = cidr >> 3;
  for (let i = 0; i < full; i++) if (addr[i] !== net[i]) return false;
  const rest = cidr & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((addr[full]! ^ net[full]!) & mask) === 0;
}

function validPort(p: number): boolean {
  return Number.isInteger(p) && p >= 1 && p <= 65535;
}

/**
 * The rules that can decide for this requester, in order: those whose
 * address prefix and internal-port range hold it. Only their external
 * ranges remain to be checked. Null when the address or port is invalid.
 */
function candidates(policy: PortMapPolicy, internalAddress: string, internalPort: number): CompiledRule[] | null {
  if (!validPort(internalPort)) return null;
  const addr = addressBytes(internalAddress);
  if (!addr) return null;
  const rules = policy.rules.length === 0 ? [DEFAULT_RULE] : compile(policy);
  return rules.filter((r) => internalPort >= r.int0 && internalPort <= r.int1 && (r === DEFAULT_RULE || (r.net !== null && inPrefix(addr, r.net, r.cidr))));
}

function decide(rules: CompiledRule[], externalPort: number): boolean {
  if (!validPort(externalPort)) return false;
  for (const r of rules) if (externalPort >= r.ext0 && externalPort <= r.ext1) return r.allow;
  return false;
}

/** Whether the allow-list lets internalAddress:internalPort be mapped from externalPort. */
export function permits(policy: PortMapPolicy, internalAddress: string, internalPort: number, externalPort: number): boolean {
  const rules = candidates(policy, internalAddress, internalPort);
  return rules !== null && decide(rules, externalPort);
}

/**
 * permits() with the address and internal port fixed, for checking many
 * external ports; null when no external port at all is permitted.
 */
export function externalChecker(policy: PortMapPolicy, internalAddress: string, internalPort: number): ((externalPort: number) => boolean) | null {
  const rules = candidates(policy, internalAddress, internalPort);
  if (!rules || !rules.some((r) => r.allow)) return null;
  return (externalPort) => decide(rules, externalPort);
}
