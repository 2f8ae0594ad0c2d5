/**
 * The [Interface] section: wg(8) keys (PrivateKey, ListenPort, FwMark) and
 * wg-quick(8) keys (Address, MTU, DNS, Table, Pre/PostUp/Down, SaveConfig).
 * The private key is given once: inline (PrivateKey), or named by
 * PrivateKeyFile / PrivateKeyEnv (read by load.ts, see parse.ts).
 * Keys a userspace device cannot honour carry an `unsupported` warning.
 * wgts resource caps (MaxStagedPackets, MaxTimeWait, MaxReassemblyBuffers)
 * are optional; undefined leaves the core default (128, 4096, 64).
 * MetricsListen (IPv4:port or [IPv6]:port) turns on the Prometheus endpoint.
 * Congestion (cubic | newreno | bbr) picks the userspace TCP's congestion
 * controller for every connection of the interface's stack.
 * wireproxy's CheckAlive (IP list) and CheckAliveInterval (seconds, only
 * with CheckAlive) are checked and then ignored with a warning.
 */
import { isZero } from '../crypto/util.js';
import { publicKey } from '../crypto/x25519.js';
import { canonicalIp, formatCidr, isHostname, parseCidr } from './addr.js';
import { compact } from './lexer.js';
import { type Issues, show } from './issues.js';
import type { KeyParsed, SectionInput, SectionSpec } from './schema.js';
import type { Cidr, Endpoint, InterfaceConfig, RouteTable } from './types.js';
import { envName, fail, intRange, keyPath, ok, oneSource, parseBool, parseCongestion, parseFwMark, parseKey, splitList } from './values.js';
import type { CongestionName } from '../netstack/cc/types.js';

function parseAddresses(v: string): KeyParsed<Cidr[]> {
  const out: Cidr[] = [];
  for (const item of splitList(v)) {
    const r = parseCidr(item, false);
    if (!r.ok) return fail(`${show(item)}: ${r.error}`);
    out.push(r.value.cidr);
  }
  return ok(out);
}

/** wg-quick: items that look numeric-dotted or contain ":" are servers, the rest search domains. */
function parseDns(v: string): KeyParsed<{ servers: string[]; search: string[] }> {
  const servers: string[] = [];
  const search: string[] = [];
  for (const item of splitList(v)) {
    if (/^[0-9.]+$/.test(item) || item.includes(':')) {
      const ip = canonicalIp(item);
      if (!ip) return fail(`${show(item)}: not a valid IP address`);
      servers.push(ip.ip);
    } else if (isHostname(item)) {
      search.push(item);
    } else {
      return fail(`${show(item)}: neither an IP address nor a search domain`);
    }
  }
  return ok({ servers, search });
}

/** wireproxy's CheckAlive: a list of IP addresses (no names, no prefixes). */
function parseIpList(v: string): KeyParsed<string[]> {
  const out: string[] = [];
  for (const item of splitList(v)) {
    const ip = canonicalIp(item);
    if (!ip) return fail(`${show(item)}: not an IP address (CheckAlive lists addresses to ping, e.g. 10.0.0.1, fd00::1)`);
    out.push(ip.ip);
  }
  if (out.length === 0) return fail('give at least one IP address');
  return ok(out);
}

function parseTable(v: string): KeyParsed<RouteTable> {
  const s = v.toLowerCase();
  if (s === 'off') return ok({ kind: 'off' });
  if (s === 'auto') return ok({ kind: 'auto' });
  if (/^[0-9]{1,10}$/.test(v)) {
    if (Number(v) > 0xffffffff) return fail('table number must be 0-4294967295');
    return ok({ kind: 'id', id: Number(v) });
  }
  if (/^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/.test(v)) return ok({ kind: 'name', name: v });
  return fail('must be "off", "auto", a table number or a table name');
}

/** MetricsListen: an IP literal and a port 0-65535 (0: any free port), `1.2.3.4:9586` or `[::1]:9586`. No hostnames. */
function parseListen(v: string): KeyParsed<Endpoint> {
  const s = compact(v);
  const m = /^\[([^\]]*)\]:([0-9]{1,5})$/.exec(s) ?? /^([^:\[\]]*):([0-9]{1,5})$/.exec(s);
  const usage = 'must be IPv4:port or [IPv6]:port, e.g. 127.0.0.1:9586';
  if (!m) return fail(usage);
  const bracketed = s.startsWith('[');
  const ip = canonicalIp(m[1]!);
  if (!ip || (ip.family === 6) !== bracketed) return fail(`${show(m[1]!)} is not an IP address: ${usage}`);
  if (Number(m[2]) > 65535) return fail('port must be an integer 0-65535');
  return ok({ host: ip.ip, port: Number(m[2]) });
}

const hook = (name: string) => ({
  parse: (v: string) => ok(v),
  repeatable: true,
  unsupported: `${name} commands are not run in userspace mode`,
});

export const interfaceSection: SectionSpec<InterfaceConfig> = {
  name: 'Interface',
  repeatable: false,
  required: true,
  keys: {
    PrivateKey: { parse: parseKey, secret: true },
    PrivateKeyFile: { parse: keyPath('PrivateKey'), hideValue: true, indirect: { from: 'file', inline: 'PrivateKey' } },
    PrivateKeyEnv: { parse: envName('PrivateKey'), hideValue: true, indirect: { from: 'env', inline: 'PrivateKey' } },
    ListenPort: { parse: intRange(0, 65535) },
    FwMark: { parse: parseFwMark, unsupported: 'FwMark is ignored in userspace mode (no socket mark is set)' },
    Address: { parse: parseAddresses, repeatable: true },
    MTU: { parse: intRange(68, 65535) },
    DNS: {
      parse: parseDns,
      repeatable: true,
      unsupported: 'DNS: in userspace mode these servers answer only the names wgts itself looks up (proxies, tunnels, the library), through the tunnel; the system resolver is left unchanged',
    },
    Table: { parse: parseTable, unsupported: 'Table is ignored in userspace mode (no routes are installed)' },
    PreUp: hook('PreUp'),
    PostUp: hook('PostUp'),
    PreDown: hook('PreDown'),
    PostDown: hook('PostDown'),
    SaveConfig: { parse: parseBool, unsupported: 'SaveConfig is not supported (the file is never rewritten)' },
    MaxStagedPackets: { parse: intRange(1, 65535) },
    MaxTimeWait: { parse: intRange(1, 1048576) },
    MaxReassemblyBuffers: { parse: intRange(0, 65535) },
    MetricsListen: { parse: parseListen },
    Congestion: { parse: parseCongestion },
    // wireproxy's health check keys: checked, then not acted on (docs/embedding.md).
    CheckAlive: {
      parse: parseIpList,
      unsupported: 'CheckAlive is accepted but not acted on: wgts sends no pings and serves no /readyz (wireproxy\'s --info); watch the peers with `wgts show` or MetricsListen',
    },
    CheckAliveInterval: { parse: intRange(1, 86400) },
  },
  build: buildInterface,
};

const PRIVATE_KEY_FORMS = ['PrivateKey', 'PrivateKeyFile', 'PrivateKeyEnv'];

function buildInterface(input: SectionInput, issues: Issues): InterfaceConfig | undefined {
  const src = oneSource(input, issues, PRIVATE_KEY_FORMS, 'private key');
  if (src === null) return undefined;
  if (src === undefined) {
    issues.error(input.line, 'PrivateKey', '[Interface] has no PrivateKey (required; generate one with `wg genkey`, or name a key file with PrivateKeyFile or a variable with PrivateKeyEnv)');
    return undefined;
  }
  const pk = input.one<Uint8Array>(src);
  if (!pk) return undefined; // refused: already reported
  const head = src === 'PrivateKey' ? 'PrivateKey = <redacted>' : src;
  if (isZero(pk.value)) {
    issues.error(pk.line, src, `${head}: ${src === 'PrivateKey' ? '' : 'the key '}must not be all zeros`);
    return undefined;
  }
  let pub: Uint8Array;
  try {
    pub = publicKey(pk.value);
  } catch {
    issues.error(pk.line, src, `${head}: cannot derive a public key`);
    return undefined;
  }
  const addresses: Cidr[] = [];
  const seen = new Map<string, number>();
  for (const f of input.all<Cidr[]>('Address')) {
    for (const a of f.value) {
      const k = formatCidr(a);
      const first = seen.get(k);
      if (first !== undefined) {
        issues.error(f.line, 'Address', `Address ${k} is listed twice (first at line ${first})`);
        continue;
      }
      seen.set(k, f.line);
      addresses.push(a);
    }
  }
  const dns = { servers: [] as string[], search: [] as string[] };
  for (const f of input.all<{ servers: string[]; search: string[] }>('DNS')) {
    dns.servers.push(...f.value.servers);
    dns.search.push(...f.value.search);
  }
  const interval = input.one<number>('CheckAliveInterval');
  if (interval && input.lineOf('CheckAlive') === undefined) {
    issues.error(interval.line, 'CheckAliveInterval', 'CheckAliveInterval is only valid with CheckAlive (the addresses to ping); add CheckAlive or remove this line');
    return undefined;
  }
  const hooks = (k: string): string[] => input.all<string>(k).map((f) => f.value);
  return {
    line: input.line,
    privateKey: pk.value,
    publicKey: pub,
    listenPort: input.one<number>('ListenPort')?.value,
    fwMark: input.one<number>('FwMark')?.value,
    addresses,
    mtu: input.one<number>('MTU')?.value,
    dns,
    table: input.one<RouteTable>('Table')?.value,
    preUp: hooks('PreUp'),
    postUp: hooks('PostUp'),
    preDown: hooks('PreDown'),
    postDown: hooks('PostDown'),
    saveConfig: input.one<boolean>('SaveConfig')?.value,
    maxStagedPackets: input.one<number>('MaxStagedPackets')?.value,
    maxTimeWait: input.one<number>('MaxTimeWait')?.value,
    maxReassemblyBuffers: input.one<number>('MaxReassemblyBuffers')?.value,
    metricsListen: input.one<Endpoint>('MetricsListen')?.value,
    congestion: input.one<CongestionName>('Congestion')?.value,
  };
}
