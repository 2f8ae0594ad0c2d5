/**
 * `wgts init`: writes a matching VPS + home config pair, or adds one client
 * (`--peer NAME`) to an existing VPS config.
 *
 *   argv -> InitArgs -> generatePair / addPeer (pure: keys from an injected
 *   random, text out, every text checked with parseConfig) -> file writes
 *   (temp file + link/rename, mode 0600, nothing written unless every
 *   target is free or --force) -> the commands to run, on stdout.
 *
 * Keys: RFC 7748 section 5 clamping (as `wg genkey`); the IPv6 prefix is an
 * RFC 4193 ULA with a random 40-bit Global ID.
 */
import { randomBytes } from 'node:crypto';
import { constants as FS, existsSync } from 'node:fs';
import { link, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { encodeKey } from '../crypto/util.js';
import { clampPrivateKey, publicKey } from '../crypto/x25519.js';
import { canonicalIp, formatEndpoint, parseEndpoint } from '../config/addr.js';
import { parseProtocols } from '../config/forward.js';
import { formatIssue } from '../config/issues.js';
import { INTERFACE_NAME, parseConfig } from '../config/parse.js';
import type { Cidr, Endpoint, WgConfig } from '../config/types.js';
import { parseIp } from '../ip/text.js';
import { invokedAs } from './invocation.js';

export type Random = (n: number) => Uint8Array;

export const DEFAULT_PORT = 51820;
export const VPS_V4 = '10.100.0.1';
export const HOME_V4 = '10.100.0.2';
export const V4_PREFIX = 24;
export const V6_PREFIX = 64;
export const KEEPALIVE = 25;

/** One `--forward PROTO/PORT[-LAST]` argument. */
export interface ForwardSpec {
  protocols: ('tcp' | 'udp')[];
  port: number;
  /** Number of ports (1, or the length of a range). */
  ports: number;
}

export interface PairOptions {
  endpoint: Endpoint;
  forwards: ForwardSpec[];
  /** Plain kernel home side: no [Expose] sections. */
  homeKernel: boolean;
  vpsFile: string;
  homeFile: string;
  /** How the printed commands run wgts (see ./invocation.ts); default "wgts". */
  prog?: string;
}

export interface PeerOptions {
  name: string;
  endpoint: Endpoint;
  /** Client AllowedIPs; default (undefined): the tunnel's subnets, the VPS's Address networks. */
  allowedIps: string | undefined;
  dns: string | undefined;
}

type Result<T> = { ok: true; value: T } | { ok: false; error: string };
const ok = <T>(value: T): Result<T> => ({ ok: true, value });
const fail = <T>(error: string): Result<T> => ({ ok: false, error });

export function parseForwardSpec(s: string): Result<ForwardSpec> {
  const m = /^([A-Za-z,+]+)\/([0-9]{1,5})(?:-([0-9]{1,5}))?$/.exec(s);
  const usage = `--forward ${JSON.stringify(s.slice(0, 40))}: use PROTO/PORT or PROTO/FIRST-LAST, e.g. tcp/8080, udp/27015, tcp,udp/6000-6010`;
  if (!m) return fail(usage);
  const protocols = parseProtocols(m[1]!);
  if (!protocols.ok) return fail(`--forward ${s}: ${protocols.error}`);
  const first = Number(m[2]);
  const last = m[3] === undefined ? first : Number(m[3]);
  if (first < 1 || last > 65535 || last < first) return fail(usage);
  return ok({ protocols: protocols.value, port: first, ports: last - first + 1 });
}

/** `HOST`, `HOST:PORT`, `[V6]:PORT` or a bare IPv6 literal; the port defaults to `port`. */
export function parseEndpointArg(s: string, port = DEFAULT_PORT): Result<Endpoint> {
  const direct = parseEndpoint(s);
  if (direct.ok) return direct;
  const v6 = canonicalIp(s.startsWith('[') && s.endsWith(']') ? s.slice(1, -1) : s);
  const withPort = parseEndpoint(v6?.family === 6 ? `[${v6.ip}]:${port}` : `${s}:${port}`);
  if (withPort.ok) return withPort;
  return fail(`--endpoint: ${direct.error} (give the VPS's public name or IP, optionally with :PORT)`);
}

function newKey(random: Random): { priv: string; pub: string } {
  const r = random(32);
  if (r.length !== 32) throw new Error('random source returned the wrong length');
  const k = clampPrivateKey(r);
  r.fill(0);
  const out = { priv: encodeKey(k), pub: encodeKey(publicKey(k)) };
  k.fill(0);
  return out;
}

/** RFC 4193 section 3.2: fd00::/8 plus a random 40-bit Global ID, subnet 0. */
function ulaPrefix(random: Random): string {
  const g = random(5);
  const hex = (i: number): string => g[i]!.toString(16).padStart(2, '0');
  return canonicalIp(`fd${hex(0)}:${hex(1)}${hex(2)}:${hex(3)}${hex(4)}::`)!.ip;
}

function hostIn(prefix: string, n: number): string {
  return canonicalIp(prefix.endsWith('::') ? `${prefix}${n.toString(16)}` : `${prefix}:${n.toString(16)}`)!.ip;
}

function ruleSpan(host: string, port: number, ports: number): string {
  const h = host.includes(':') ? `[${host}]` : host;
  return ports === 1 ? `${h}:${port}` : `${h}:${port}-${port + ports - 1}`;
}

/** Parses `text` as file `name`; the error lists every issue (never values of secrets). */
function check(name: string, text: string): Result<WgConfig> {
  const r = parseConfig(name, text);
  if (r.ok) return ok(r.config);
  return fail(`generated ${name} does not parse:\n${r.errors.map((e) => '  ' + formatIssue(e)).join('\n')}`);
}

/** The VPS and home configs of `wgts init`, checked with parseConfig. */
export function generatePair(opts: PairOptions, random: Random): Result<{ vps: string; home: string }> {
  const r = generateSet({ ...opts, endpoints: [opts.endpoint], vpsFiles: [opts.vpsFile] }, random);
  return r.ok ? ok({ vps: r.value.vps[0]!, home: r.value.home }) : r;
}

export interface SetOptions extends Omit<PairOptions, 'endpoint' | 'vpsFile'> {
  /** One VPS per endpoint, in order. */
  endpoints: Endpoint[];
  /** The VPS files' names, one per endpoint. */
  vpsFiles: string[];
}

/**
 * The tunnel host number of VPS `i`: the first is .1 (as with one VPS); the
 * others count down from .254, so clients added with --peer (counting up
 * from .3) never take an address another VPS has at home.
 */
export function vpsHostNumber(i: number): number {
  return i === 0 ? 1 : 255 - i;
}

/** VPS file names for several endpoints: vps.conf -> vps1.conf, vps2.conf, ... */
export function numberedFiles(file: string, n: number): string[] {
  if (n === 1) return [file];
  const base = file.slice(0, -'.conf'.length);
  return Array.from({ length: n }, (_, i) => `${base}${i + 1}.conf`);
}

/**
 * One home config with a [Peer] per VPS (each with its Endpoint and
 * keepalive) and one set of [Expose] sections that serves them all, plus a
 * config per VPS forwarding the same ports to the home address. Every text
 * is checked with parseConfig.
 */
export function generateSet(opts: SetOptions, random: Random): Result<{ vps: string[]; home: string }> {
  const vks = [newKey(random)];
  const hk = newKey(random);
  const ula = ulaPrefix(random);
  for (let i = 1; i < opts.endpoints.length; i++) vks.push(newKey(random));
  const home6 = hostIn(ula, 2);
  const prog = opts.prog ?? 'wgts';
  const several = opts.endpoints.length > 1;
  const home: string[] = [
    `# wgts init: the home side. Run at home: ${opts.homeKernel ? `wg-quick up ./${opts.homeFile}` : `${prog} up ${opts.homeFile}`}`,
    '[Interface]',
    `PrivateKey = ${hk.priv}`,
    `Address = ${HOME_V4}/${V4_PREFIX}, ${home6}/${V6_PREFIX}`,
  ];
  const vps = opts.endpoints.map((endpoint, i) => {
    const n = vpsHostNumber(i);
    const v4 = `${VPS_V4.slice(0, VPS_V4.lastIndexOf('.'))}.${n}`;
    const v6 = hostIn(ula, n);
    home.push(
      '',
      several ? `# VPS ${i + 1}: ${endpoint.host} (${opts.vpsFiles[i]})` : '# the VPS',
      '[Peer]',
      `PublicKey = ${vks[i]!.pub}`,
      `Endpoint = ${formatEndpoint(endpoint)}`,
      `AllowedIPs = ${v4}/32, ${v6}/128`,
      `PersistentKeepalive = ${KEEPALIVE}`,
    );
    return [
      `# wgts init: the VPS side${several ? ` (${i + 1} of ${opts.endpoints.length}: ${endpoint.host})` : ''}. Run on the VPS: ${prog} up ${opts.vpsFiles[i]}`,
      '[Interface]',
      `PrivateKey = ${vks[i]!.priv}`,
      `ListenPort = ${endpoint.port}`,
      `Address = ${v4}/${V4_PREFIX}, ${v6}/${V6_PREFIX}`,
      '',
      '# home',
      '[Peer]',
      `PublicKey = ${hk.pub}`,
      `AllowedIPs = ${HOME_V4}/32, ${home6}/128`,
    ];
  });
  for (const f of opts.forwards) {
    const proto = f.protocols.join(',');
    for (const v of vps) v.push('', '[Forward]', `Protocol = ${proto}`, `Listen = ${ruleSpan('0.0.0.0', f.port, f.ports)}`, `Target = ${ruleSpan(HOME_V4, f.port, f.ports)}`);
    if (!opts.homeKernel) {
      home.push('', '[Expose]', `Protocol = ${proto}`, `Listen = ${ruleSpan(HOME_V4, f.port, f.ports)}`, `Target = ${ruleSpan('127.0.0.1', f.port, f.ports)}`);
    }
  }
  const texts = { vps: vps.map((v) => v.join('\n') + '\n'), home: home.join('\n') + '\n' };
  for (const [i, text] of texts.vps.entries()) {
    const a = check(opts.vpsFiles[i]!, text);
    if (!a.ok) return a;
  }
  const b = check(opts.homeFile, texts.home);
  if (!b.ok) return b;
  return ok(texts);
}

// ---------------------------------------------------------------- next free address

function inCidr(ip: Uint8Array, c: Cidr): boolean {
  const net = parseIp(c.ip);
  if (!net || net.length !== ip.length) return false;
  for (let bit = 0; bit < c.cidr; bit += 8) {
    const mask = (0xff00 >> Math.min(8, c.cidr - bit)) & 0xff;
    if ((ip[bit / 8]! & mask) !== (net[bit / 8]! & mask)) return false;
  }
  return true;
}

/** The network address of `a` plus `n`, as text. */
function offset(a: Cidr, n: number): string {
  const b = parseIp(a.ip)!;
  const bits = b.length * 8;
  for (let bit = a.cidr; bit < bits; bit++) b[bit >> 3]! &= ~(0x80 >> (bit & 7));
  let carry = n;
  for (let i = b.length - 1; i >= 0 && carry > 0; i--) {
    const s = b[i]! + (carry & 0xff);
    b[i] = s & 0xff;
    carry = (carry >>> 8) + (s >> 8);
  }
  if (b.length === 4) return b.join('.');
  const words: string[] = [];
  for (let i = 0; i < 16; i += 2) words.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  return canonicalIp(words.join(':'))!.ip;
}

/**
 * The lowest host number N free in both of the VPS's subnets (its first IPv4
 * and first IPv6 Address): not the VPS's own address and not inside any
 * peer's AllowedIPs narrower than the subnet.
 */
export function nextFreeHost(cfg: WgConfig): Result<{ v4?: string; v6?: string }> {
  const nets = [4, 6].map((f) => cfg.iface.addresses.find((a) => a.family === f)).filter((a): a is Cidr => a !== undefined);
  if (nets.length === 0) return fail('the VPS config has no Address to take client addresses from');
  const used: Cidr[] = [...cfg.iface.addresses.map((a) => ({ ...a, cidr: a.family === 4 ? 32 : 128 }))];
  for (const p of cfg.peers) used.push(...p.allowedIps);
  const limit = Math.min(65535, ...nets.map((n) => (n.family === 4 ? 2 ** (32 - n.cidr) - 2 : 2 ** Math.min(30, 128 - n.cidr) - 1)));
  for (let n = 1; n <= limit; n++) {
    const cand = nets.map((net) => offset(net, n));
    const free = cand.every((ip, i) => {
      const bytes = parseIp(ip)!;
      return !used.some((u) => u.family === nets[i]!.family && u.cidr > nets[i]!.cidr && inCidr(bytes, u));
    });
    if (!free) continue;
    const out: { v4?: string; v6?: string } = {};
    nets.forEach((net, i) => (net.family === 4 ? (out.v4 = cand[i]) : (out.v6 = cand[i])));
    return ok(out);
  }
  return fail(`no free address left in ${nets.map((n) => `${offset(n, 0)}/${n.cidr}`).join(' and ')}`);
}

/**
 * Adds client `opts.name` to the VPS config text: returns the VPS text with
 * one more [Peer] appended (the original bytes unchanged before it) and the
 * client's own config. Both are checked with parseConfig.
 */
export function addPeer(
  vpsText: string,
  vpsFile: string,
  opts: PeerOptions,
  random: Random,
): Result<{ vps: string; client: string; address: string[] }> {
  if (!INTERFACE_NAME.test(opts.name)) return fail('--peer NAME must be 1-15 characters from A-Z a-z 0-9 _ = + . - (it names NAME.conf)');
  const parsed = parseConfig(vpsFile, vpsText);
  if (!parsed.ok) return fail(`${vpsFile} does not parse:\n${parsed.errors.map((e) => '  ' + formatIssue(e)).join('\n')}`);
  const cfg = parsed.config;
  const free = nextFreeHost(cfg);
  if (!free.ok) return free;
  const addrs = [free.value.v4 && `${free.value.v4}/32`, free.value.v6 && `${free.value.v6}/128`].filter((x): x is string => !!x);
  const key = newKey(random);
  // The appended lines end as the file's do (a CRLF file stays CRLF).
  const eol = /\r\n/.test(vpsText) ? '\r\n' : '\n';
  const sep = vpsText === '' || vpsText.endsWith('\n') ? '' : eol;
  const vps = `${vpsText}${sep}${[``, `# ${opts.name} (added by wgts init --peer)`, `[Peer]`, `PublicKey = ${key.pub}`, `AllowedIPs = ${addrs.join(', ')}`, ``].join(eol)}`;
  // Split tunnel by default: the tunnel's subnets (the VPS and the other peers, which a VPS routes between).
  const allowedIps = opts.allowedIps ?? [4, 6].map((f) => cfg.iface.addresses.find((x) => x.family === f)).filter((x): x is Cidr => !!x).map((n) => `${offset(n, 0)}/${n.cidr}`).join(', ');
  const client = [
    '[Interface]',
    `PrivateKey = ${key.priv}`,
    `Address = ${addrs.join(', ')}`,
    ...(opts.dns ? [`DNS = ${opts.dns}`] : []),
    '',
    '[Peer]',
    `PublicKey = ${encodeKey(cfg.iface.publicKey)}`,
    `AllowedIPs = ${allowedIps}`,
    `Endpoint = ${formatEndpoint(opts.endpoint)}`,
    `PersistentKeepalive = ${KEEPALIVE}`,
  ].join('\n') + '\n';
  const a = check(vpsFile, vps);
  if (!a.ok) return a;
  const b = check(`${opts.name}.conf`, client);
  if (!b.ok) return b;
  return ok({ vps, client, address: addrs });
}

// ---------------------------------------------------------------- file IO

/**
 * Writes `text` to `path` with mode `mode` through a temp file in the same
 * directory: rename onto it when `replace`, else link (fails with EEXIST,
 * so an existing file is never overwritten).
 */
export async function writeFileSafely(path: string, text: string | Uint8Array, replace: boolean, mode = 0o600): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, FS.O_WRONLY | FS.O_CREAT | FS.O_EXCL, mode);
  try {
    try {
      await fh.chmod(mode); // the umask may have removed bits
      await fh.writeFile(text);
      await fh.sync();
    } finally {
      await fh.close();
    }
    if (replace) await rename(tmp, path);
    else await linkOrCopy(tmp, path, text, mode);
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

/** link(2) refuses to replace; where hard links are unsupported, an O_EXCL create does the same. */
async function linkOrCopy(tmp: string, path: string, text: string | Uint8Array, mode: number): Promise<void> {
  try {
    await link(tmp, path);
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw e;
    const fh = await open(path, FS.O_WRONLY | FS.O_CREAT | FS.O_EXCL, mode);
    try {
      await fh.chmod(mode);
      await fh.writeFile(text);
      await fh.sync();
    } finally {
      await fh.close();
    }
  }
}

function existsError(paths: string[]): string | undefined {
  const taken = paths.filter((p) => existsSync(p));
  if (taken.length === 0) return undefined;
  return `${taken.join(' and ')} already exist${taken.length === 1 ? 's' : ''}; nothing was written (use --force to overwrite)`;
}

// ---------------------------------------------------------------- command line

export const INIT_HELP = `Usage: wgts init --endpoint HOST[:PORT] [--forward PROTO/PORT]... [options]
       wgts init --peer NAME [--config vps.conf] [--endpoint HOST[:PORT]] [options]

Writes a VPS config and a home config with fresh keys (mode 0600), or adds one
client (a phone, a laptop) to an existing VPS config with the next free address.

Pair options:
  --endpoint HOST[:PORT]   the VPS's public name or IP; PORT (default 51820) is its ListenPort.
                           Repeat it for several VPSes: one home config with a peer per VPS,
                           and vps1.conf, vps2.conf... each forwarding the same ports
  --forward PROTO/PORT     publish a home port on the VPS (repeatable): tcp/8080, udp/27015,
                           tcp,udp/6000-6010; the VPS forwards it to the home side, which
                           exposes 127.0.0.1:PORT
  --home-kernel            home side runs kernel WireGuard (wg-quick): no [Expose] sections
  --vps-conf FILE          name of the VPS file (default vps.conf)
  --home-conf FILE         name of the home file (default home.conf)
Peer options:
  --peer NAME              write NAME.conf and append its [Peer] to the VPS config
  --config FILE            the VPS config to extend (default DIR/vps.conf)
  --endpoint HOST[:PORT]   the VPS's public address; default: the Endpoint in --home FILE
  --home FILE              home config to take the endpoint from (default home.conf next to --config)
  --allowed-ips LIST       the client's AllowedIPs (default: the tunnel's subnets, so it
                           reaches the VPS and the other peers; its own internet stays direct)
  --full-tunnel            AllowedIPs = 0.0.0.0/0, ::/0: all the client's traffic goes to the
                           VPS, which must then pass it on: TUN mode with ip_forward and NAT,
                           or the client uses the VPS's [Socks5]/[http] proxies
  --dns LIST               DNS servers for the client
Common:
  --dir DIR                where to write (default: the current directory; for --peer, the
                           directory of --config)
  --force                  overwrite existing files

Examples:
  wgts init --endpoint vps.example.net --forward tcp/8080 --forward udp/27015
  wgts init --endpoint vps1.example.net --endpoint vps2.example.net --forward tcp/443
  wgts init --peer phone --config vps.conf --endpoint vps.example.net
  wgts qr phone.conf
`;

export interface InitArgs {
  endpoint?: string;
  /** Every --endpoint given (a pair: one VPS each; --peer takes one). */
  endpoints: string[];
  forwards: string[];
  homeKernel: boolean;
  vpsConf: string;
  homeConf: string;
  peer?: string;
  config?: string;
  home?: string;
  allowedIps?: string;
  fullTunnel?: boolean;
  dns?: string;
  dir?: string;
  force: boolean;
  help: boolean;
}

const VALUE_FLAGS = ['--endpoint', '--forward', '--vps-conf', '--home-conf', '--peer', '--config', '--home', '--allowed-ips', '--dns', '--dir'] as const;

export function parseInitArgs(argv: string[]): Result<InitArgs> {
  const a: InitArgs = { endpoints: [], forwards: [], homeKernel: false, vpsConf: 'vps.conf', homeConf: 'home.conf', force: false, help: false };
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i]!;
    let value: string | undefined;
    const eq = arg.indexOf('=');
    if (arg.startsWith('--') && eq > 0) {
      value = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    if (arg === '--help' || arg === '-h') { a.help = true; continue; }
    if (arg === '--force' || arg === '--home-kernel' || arg === '--full-tunnel') {
      if (value !== undefined) return fail(`${arg} takes no value`);
      if (arg === '--force') a.force = true;
      else if (arg === '--full-tunnel') a.fullTunnel = true;
      else a.homeKernel = true;
      continue;
    }
    if (!(VALUE_FLAGS as readonly string[]).includes(arg)) {
      return fail(`unknown option ${/^--?[A-Za-z-]{1,30}$/.test(arg) ? arg : '(not shown)'}; see wgts init --help`);
    }
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) return fail(`${arg} needs a value`);
    }
    switch (arg as (typeof VALUE_FLAGS)[number]) {
      case '--endpoint': a.endpoint ??= value; a.endpoints.push(value); break;
      case '--forward': a.forwards.push(value); break;
      case '--vps-conf': a.vpsConf = value; break;
      case '--home-conf': a.homeConf = value; break;
      case '--peer': a.peer = value; break;
      case '--config': a.config = value; break;
      case '--home': a.home = value; break;
      case '--allowed-ips': a.allowedIps = value; break;
      case '--dns': a.dns = value; break;
      case '--dir': a.dir = value; break;
    }
  }
  return ok(a);
}

function confName(flag: string, name: string): Result<string> {
  if (name.includes('/') || !name.endsWith('.conf') || !INTERFACE_NAME.test(name.slice(0, -5))) {
    return fail(`${flag} ${JSON.stringify(name.slice(0, 40))}: must be NAME.conf (no directory; NAME is 1-15 of A-Z a-z 0-9 _ = + . -, it names the interface)`);
  }
  return ok(name);
}

const random: Random = (n) => new Uint8Array(randomBytes(n));

/** `wgts init ...`; returns the exit code. Writes only under --dir (or the --config directory). */
export async function runInit(
  argv: string[],
  out: (s: string) => void = (s) => process.stdout.write(s),
  err: (s: string) => void = (s) => process.stderr.write(s),
  prog: string = invokedAs(),
): Promise<number> {
  const parsed = parseInitArgs(argv);
  if (!parsed.ok) {
    err(`wgts init: ${parsed.error}\n`);
    return 1;
  }
  const a = parsed.value;
  if (a.help) {
    out(INIT_HELP);
    return 0;
  }
  const r = a.peer !== undefined ? await initPeer(a, out, prog) : await initPair(a, out, prog, err);
  if (r !== undefined) {
    err(`wgts init: ${r}\n`);
    return 1;
  }
  return 0;
}

async function initPair(a: InitArgs, out: (s: string) => void, prog: string, err: (s: string) => void = () => {}): Promise<string | undefined> {
  if (a.endpoint === undefined) return '--endpoint HOST[:PORT] is required (the public name or IP of the VPS); see wgts init --help';
  for (const [flag, v] of [['--config', a.config], ['--home', a.home], ['--allowed-ips', a.allowedIps], ['--full-tunnel', a.fullTunnel], ['--dns', a.dns]] as const) {
    if (v !== undefined) return `${flag} applies only with --peer NAME`;
  }
  const eps: Endpoint[] = [];
  for (const e of a.endpoints) {
    const ep = parseEndpointArg(e);
    if (!ep.ok) return ep.error;
    if (eps.some((x) => x.host === ep.value.host && x.port === ep.value.port)) return `--endpoint ${formatEndpoint(ep.value)} is given twice`;
    eps.push(ep.value);
  }
  const forwards: ForwardSpec[] = [];
  for (const f of a.forwards) {
    const r = parseForwardSpec(f);
    if (!r.ok) return r.error;
    forwards.push(r.value);
  }
  const vn = confName('--vps-conf', a.vpsConf);
  if (!vn.ok) return vn.error;
  const hn = confName('--home-conf', a.homeConf);
  if (!hn.ok) return hn.error;
  if (vn.value === hn.value) return '--vps-conf and --home-conf must differ';
  const vpsFiles = numberedFiles(vn.value, eps.length);
  if (vpsFiles.includes(hn.value)) return `--home-conf ${hn.value} is also the name of a VPS file; choose another`;
  const set = generateSet({ endpoints: eps, forwards, homeKernel: a.homeKernel, vpsFiles, homeFile: hn.value, prog }, random);
  if (!set.ok) return set.error;
  const dir = a.dir ?? '.';
  const vpsPaths = vpsFiles.map((f) => join(dir, f));
  const homePath = join(dir, hn.value);
  if (!a.force) {
    const e = existsError([...vpsPaths, homePath]);
    if (e) return e;
  }
  const written: string[] = [];
  for (const [path, text] of [...vpsPaths.map((p, i) => [p, set.value.vps[i]!] as const), [homePath, set.value.home] as const]) {
    try {
      await writeFileSafely(path, text, a.force);
      written.push(path);
    } catch (e) {
      if (!a.force) for (const w of written) await unlink(w).catch(() => undefined);
      return `cannot write ${path}: ${errText(e)}${a.force && written.length ? ` (${written.join(' and ')} written)` : '; nothing was written'}`;
    }
  }
  const fw = forwards.map((f) => `${f.protocols.join(',')}/${f.port}${f.ports > 1 ? `-${f.port + f.ports - 1}` : ''}`);
  const privileged = privilegedForwardWarning(forwards, vpsFiles, prog);
  if (privileged) err(privileged);
  if (eps.length > 1) {
    out(severalText(eps, vpsFiles, vpsPaths, homePath, hn.value, fw, a.homeKernel, forwards, prog));
    return undefined;
  }
  const ep = { value: eps[0]! };
  const vpsPath = vpsPaths[0]!;
  const host = formatEndpoint(ep.value);
  out(
    `Wrote ${vpsPath} and ${homePath} (mode 0600; they hold private keys).\n\n` +
      `1. On the VPS (${ep.value.host}): copy ${vn.value} there, allow ${firewallPorts(ep.value.port, forwards)} in its firewall, and run\n` +
      `     ${prog} up ${vn.value}\n` +
      `2. At home: run\n` +
      `     ${a.homeKernel ? `sudo wg-quick up ./${hn.value}` : `${prog} up ${hn.value}`}\n\n` +
      (fw.length
        ? `Then ${fw.join(', ')} on ${ep.value.host} reach${fw.length === 1 ? 'es' : ''} ${a.homeKernel ? `${HOME_V4} (the home tunnel address)` : '127.0.0.1 at home'} on the same port${fw.length === 1 ? '' : 's'}.\n`
        : `The tunnel addresses are ${VPS_V4} (VPS) and ${HOME_V4} (home); add --forward PROTO/PORT to publish ports.\n`) +
      `Add a phone: ${prog} init --peer phone --config ${vpsPath} --endpoint ${host}\n`,
  );
  return undefined;
}

/**
 * Forwarded ports below 1024 need privileges on the VPS: said at init time,
 * not first as EACCES from `wgts up` there.
 */
export function privilegedForwardWarning(forwards: ForwardSpec[], vpsFiles: string[], prog: string): string | undefined {
  const low = forwards.filter((f) => f.port < 1024);
  if (!low.length) return undefined;
  const ports = low.map((f) => `${f.protocols.join(',')}/${f.port}${f.ports > 1 ? `-${f.port + f.ports - 1}` : ''}`).join(', ');
  const first = Math.min(...low.map((f) => f.port));
  return `warning: ${ports} ${low.length === 1 && low[0]!.ports === 1 ? 'is a port' : 'are ports'} below 1024: on the VPS, \`${prog} up ${vpsFiles.join('` / `' + prog + ' up ')}\` ` +
    `may listen there only as root or with the CAP_NET_BIND_SERVICE capability (systemd: AmbientCapabilities=CAP_NET_BIND_SERVICE), ` +
    `or after sysctl net.ipv4.ip_unprivileged_port_start=${first}; otherwise it stops with EACCES\n`;
}

/**
 * What the VPS firewall must let in: WireGuard's UDP port, then every
 * forwarded port by protocol, e.g. "UDP 51820 (WireGuard) and TCP 8080, UDP 27015 (forwarded)".
 */
export function firewallPorts(listenPort: number, forwards: ForwardSpec[]): string {
  const wg = `UDP ${listenPort} (WireGuard)`;
  const fw = forwards.flatMap((f) => f.protocols.map((p) => `${p.toUpperCase()} ${f.port}${f.ports > 1 ? `-${f.port + f.ports - 1}` : ''}`));
  return fw.length ? `${wg} and ${fw.join(', ')} (forwarded)` : wg;
}

/** What to do next, for a home and several VPSes. */
function severalText(eps: Endpoint[], files: string[], paths: string[], homePath: string, homeFile: string, fw: string[], homeKernel: boolean, forwards: ForwardSpec[], prog: string): string {
  const steps = eps.map((ep, i) => `${i + 1}. On VPS ${i + 1} (${ep.host}): copy ${files[i]} there, allow ${firewallPorts(ep.port, forwards)} in its firewall, and run\n     ${prog} up ${files[i]}\n`);
  const hosts = eps.map((e) => e.host).join(' and ');
  return (
    `Wrote ${[...paths, homePath].join(', ')} (mode 0600; they hold private keys).\n\n` +
    steps.join('') +
    `${eps.length + 1}. At home: run\n     ${homeKernel ? `sudo wg-quick up ./${homeFile}` : `${prog} up ${homeFile}`}\n   (one interface with a peer per VPS; it serves all of them at once)\n\n` +
    (fw.length
      ? `Then ${fw.join(', ')} on ${hosts} reach ${homeKernel ? `${HOME_V4} (the home tunnel address)` : '127.0.0.1 at home'} on the same port${fw.length === 1 ? '' : 's'}. ` +
        'Give one DNS name all the VPS addresses: clients that retry another address fail over when a VPS is down.\n'
      : `The home tunnel address is ${HOME_V4}; add --forward PROTO/PORT to publish ports.\n`)
  );
}

async function endpointFromHome(homePath: string, vps: WgConfig): Promise<Endpoint | undefined> {
  let text: string;
  try {
    text = await readFile(homePath, 'utf8');
  } catch {
    return undefined;
  }
  const r = parseConfig(homePath, text);
  if (!r.ok) return undefined;
  const pub = encodeKey(vps.iface.publicKey);
  return r.config.peers.find((p) => encodeKey(p.publicKey) === pub)?.endpoint;
}

async function initPeer(a: InitArgs, out: (s: string) => void, prog: string): Promise<string | undefined> {
  const name = a.peer!;
  if (a.forwards.length || a.homeKernel) return '--forward and --home-kernel apply to a new pair, not to --peer';
  if (a.endpoints.length > 1) return '--peer takes one --endpoint (the VPS in --config)';
  if (!INTERFACE_NAME.test(name)) return '--peer NAME must be 1-15 characters from A-Z a-z 0-9 _ = + . - (it names NAME.conf)';
  const cfgPath = a.config ?? join(a.dir ?? '.', 'vps.conf');
  let vpsText: string;
  let mode: number;
  try {
    mode = (await stat(cfgPath)).mode & 0o777;
    vpsText = await readFile(cfgPath, 'utf8');
  } catch (e) {
    return `cannot read ${cfgPath}: ${errText(e)} (give the VPS config with --config FILE)`;
  }
  const vcfg = parseConfig(basename(cfgPath), vpsText);
  if (!vcfg.ok) return `${cfgPath} does not parse:\n${vcfg.errors.map((e) => '  ' + formatIssue(e)).join('\n')}`;
  const listenPort = vcfg.config.iface.listenPort ?? DEFAULT_PORT;
  let endpoint: Endpoint | undefined;
  if (a.endpoint !== undefined) {
    const ep = parseEndpointArg(a.endpoint, listenPort);
    if (!ep.ok) return ep.error;
    endpoint = ep.value;
  } else {
    const homePath = a.home ?? join(dirname(cfgPath), 'home.conf');
    endpoint = await endpointFromHome(homePath, vcfg.config);
    if (!endpoint) return `--endpoint HOST[:PORT] is required (no Endpoint for this VPS found in ${homePath})`;
  }
  if (a.fullTunnel && a.allowedIps !== undefined) return '--full-tunnel and --allowed-ips: give one';
  const allowedIps = a.fullTunnel ? '0.0.0.0/0, ::/0' : a.allowedIps;
  const res = addPeer(vpsText, basename(cfgPath), { name, endpoint, allowedIps, dns: a.dns }, random);
  if (!res.ok) return res.error;
  const clientPath = join(a.dir ?? dirname(cfgPath), `${name}.conf`);
  if (!a.force) {
    const e = existsError([clientPath]);
    if (e) return e;
  }
  try {
    await writeFileSafely(clientPath, res.value.client, a.force);
  } catch (e) {
    return `cannot write ${clientPath}: ${errText(e)}; nothing was written`;
  }
  try {
    // The VPS file changed since we read it? Then another writer raced us: refuse rather than lose its change.
    if ((await readFile(cfgPath, 'utf8')) !== vpsText) throw new Error('it changed while we were working; run again');
    await writeFileSafely(cfgPath, res.value.vps, true, mode);
  } catch (e) {
    await unlink(clientPath).catch(() => undefined);
    return `cannot update ${cfgPath}: ${errText(e)}; nothing was written`;
  }
  out(
    `Added ${name} (${res.value.address.join(', ')}) to ${cfgPath} and wrote ${clientPath} (mode 0600).\n\n` +
      `1. On the VPS: copy the new ${basename(cfgPath)} there and reload it: kill -HUP the running wgts (or restart ${prog} up ${basename(cfgPath)})\n` +
      `2. On the phone: scan  ${prog} qr ${clientPath}  with the WireGuard app (or import ${name}.conf on a laptop)\n` +
      (a.fullTunnel
        ? `\nFull tunnel: ${name} sends all its traffic to the VPS. A userspace-mode VPS does not pass it on to the internet;\n` +
          `run the VPS in TUN mode with IP forwarding and NAT (sysctl net.ipv4.ip_forward=1 and a masquerade rule in PostUp),\n` +
          `or leave ${name} on the default split tunnel and use the VPS's [Socks5]/[http] proxies for what should leave from there.\n`
        : `\n${name} reaches the tunnel's subnets through the VPS; its own internet traffic stays direct (--full-tunnel changes that).\n`),
  );
  return undefined;
}

function errText(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : e instanceof Error ? e.message : 'unknown error';
}
