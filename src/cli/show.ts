/**
 * `wgts show [NAME|interfaces] [--json]` and `wgts set NAME ...`: clients of
 * the UAPI socket of a running wgts (or wireguard-go), in every directory
 * wgts may serve from. Output follows wg(8); the private key is never shown.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { uapiClient } from '../uapi/client.js';
import { parseGetResponse, serializeSet } from '../uapi/client-codec.js';
import { parseAddrPort } from '../uapi/netip.js';
import { socketDirs } from '../uapi/paths.js';
import type { UapiDeviceView, UapiEndpoint, UapiPeerOp, UapiSetRequest } from '../uapi/types.js';
import { publicKey } from '../crypto/x25519.js';
import { decodeKey, encodeKey } from '../crypto/util.js';
import { parseCidr, formatIp } from '../ip/text.js';

/** Every interface with a socket in one of our directories: name -> path (first directory wins). */
export async function findInterfaces(): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  for (const dir of socketDirs()) {
    let names: string[];
    try { names = await readdir(dir); } catch { continue; }
    for (const n of names.sort()) {
      if (!n.endsWith('.sock')) continue;
      const name = n.slice(0, -5);
      if (!found.has(name)) found.set(name, join(dir, n));
    }
  }
  return found;
}

async function socketFor(name: string): Promise<string | null> {
  for (const dir of socketDirs()) {
    const p = join(dir, `${name}.sock`);
    if (existsSync(p)) return p;
  }
  return null;
}

export async function getView(path: string): Promise<UapiDeviceView> {
  const text = await uapiClient(path, 'get=1\n\n');
  const r = parseGetResponse(text);
  if (!r.ok) throw new Error(`bad response from ${path}: ${r.reason}`);
  return r.view;
}

function plural(n: number, unit: string): string {
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

/** "1 minute, 3 seconds", as wg(8) prints durations. */
export function formatAgo(seconds: number): string {
  if (seconds <= 0) return 'Now';
  const parts: string[] = [];
  const units: Array<[number, string]> = [[365 * 86400, 'year'], [86400, 'day'], [3600, 'hour'], [60, 'minute'], [1, 'second']];
  let left = Math.floor(seconds);
  for (const [size, name] of units) {
    const n = Math.floor(left / size);
    left -= n * size;
    if (n) parts.push(plural(n, name));
  }
  return parts.join(', ') + ' ago';
}

/** Bytes as wg(8) prints them. */
export function formatBytes(b: number): string {
  if (b < 1024) return `${b} B`;
  if (b < 1024 ** 2) return `${(b / 1024).toFixed(2)} KiB`;
  if (b < 1024 ** 3) return `${(b / 1024 ** 2).toFixed(2)} MiB`;
  if (b < 1024 ** 4) return `${(b / 1024 ** 3).toFixed(2)} GiB`;
  return `${(b / 1024 ** 4).toFixed(2)} TiB`;
}

function endpointText(e: UapiEndpoint): string {
  const a = formatIp(e.ip) + (e.zone ? `%${e.zone}` : '');
  return e.ip.length === 16 ? `[${a}]:${e.port}` : `${a}:${e.port}`;
}

/** The wgts-only counters (`stats=1`); empty for a wireguard-go socket, which hangs up on it. */
export async function getStats(path: string): Promise<Array<[string, string]>> {
  try {
    const text = await uapiClient(path, 'stats=1\n\n', { timeoutMs: 2000 });
    const out: Array<[string, string]> = [];
    for (const line of text.split('\n')) {
      if (line === '' || line.startsWith('errno=')) continue;
      const eq = line.indexOf('=');
      if (eq > 0) out.push([line.slice(0, eq), line.slice(eq + 1)]);
    }
    return out;
  } catch {
    return [];
  }
}

interface TargetView { target: string; weight: number; state: string; reason: string; lastChange: number; active: number; total: number }

/** `    target 10.0.0.2:8080 (weight 2): down, changed 3 minutes ago (3 failed checks ...), 0 active, 12 total` */
function targetLine(x: TargetView, nowMs: number): string {
  const w = x.weight !== 1 ? ` (weight ${x.weight})` : '';
  const reason = String(x.reason).replace(/[\x00-\x1f\x7f]/g, '?');
  const ago = formatAgo((nowMs - x.lastChange) / 1000).replace(/^Now$/, 'just now');
  return `    target ${x.target}${w}: ${x.state}, changed ${ago} (${reason}), ${x.active} active, ${x.total} total`;
}

function statsLines(stats: Array<[string, string]>, nowMs: number): string[] {
  // 'multicast': the host's own link chatter no peer takes (IPv6 router solicitations, MLD) is normal on a TUN, not a drop to worry about.
  const drops = stats.filter(([k]) => k.startsWith('drop.') && k !== 'drop.multicast').map(([k, v]) => `${k.slice(5)} ${v}`);
  const multicast = stats.find(([k]) => k === 'drop.multicast')?.[1];
  const errs = stats.filter(([k]) => k.startsWith('send_error.')).map(([k, v]) => `${k.slice(11)} ${v}`);
  const lines: string[] = [];
  for (const [k, v] of stats) {
    if (!k.startsWith('nat.')) continue;
    try {
      const u = JSON.parse(v) as { kind: string; protocol: string; rule: string; state: string; active: number; total: number; bytesToTarget: number; bytesFromTarget: number; refused: Record<string, number>; targets?: TargetView[] };
      const refused = Object.values(u.refused ?? {}).reduce((a, b) => a + b, 0);
      lines.push(`  ${u.rule}: ${u.active} active${u.protocol === 'udp' ? ' sessions' : ''}, ${u.total} total, ${formatBytes(u.bytesToTarget)} to target, ${formatBytes(u.bytesFromTarget)} back${refused ? `, ${refused} refused` : ''}${u.state === 'draining' ? ' (draining)' : ''}`);
      const targets = u.targets ?? [];
      if (targets.length > 1 || targets.some((x) => x.state !== 'up')) lines.push(...targets.map((x) => targetLine(x, nowMs)));
    } catch { /* a newer wgts: skip what we cannot read */ }
  }
  for (const [k, v] of stats) {
    if (!k.startsWith('proxy.')) continue;
    try {
      const p = JSON.parse(v) as { kind: string; listen: string; target?: string; active: number; total: number; bytesIn: number; bytesOut: number; refused: Record<string, number> };
      const refused = Object.values(p.refused ?? {}).reduce((a, b) => a + b, 0);
      const name = PROXY_NAMES[p.kind] ?? p.kind;
      lines.push(`  ${name} ${p.listen}${p.target ? ` -> ${p.target}` : ''}: ${p.active} active, ${p.total} total, ${formatBytes(p.bytesOut)} into the tunnel, ${formatBytes(p.bytesIn)} back${refused ? `, ${refused} refused` : ''}`);
    } catch { /* a newer wgts: skip what we cannot read */ }
  }
  for (const [k, v] of stats) {
    if (!k.startsWith('portmap.')) continue;
    try {
      const m = JSON.parse(v) as { protocol: string; externalPort: number; internal: string; origin: string; description: string; expiresIn: number };
      lines.push(`  port mapping: ${m.protocol} ${m.externalPort} -> ${m.internal} (${m.origin}${m.description ? ` "${m.description.replace(/[\x00-\x1f\x7f]/g, '?')}"` : ''}, expires in ${m.expiresIn} s)`);
    } catch { /* a newer wgts: skip what we cannot read */ }
  }
  const http = new Map(stats.filter(([k]) => k.startsWith('upnp_http.')).map(([k, v]) => [k.slice(10), Number(v)]));
  if (http.size) {
    const refused = [...http].filter(([k]) => k.startsWith('refused_') || k.startsWith('rejected_') || k.startsWith('error_')).map(([k, n]) => `${k} ${n}`);
    lines.push(`  upnp http: ${http.get('open') ?? 0} open, ${http.get('accepted') ?? 0} accepted, ${http.get('timed_out') ?? 0} timed out${refused.length ? `; ${refused.join(', ')}` : ''}`);
  }
  if (drops.length) lines.push(`  dropped: ${drops.join(', ')}`);
  if (multicast) lines.push(`  not sent: multicast ${multicast} (the host's own multicast, e.g. IPv6 router solicitations; no peer takes it, as with kernel WireGuard)`);
  if (errs.length) lines.push(`  send errors: ${errs.join(', ')}`);
  return lines;
}

const PROXY_NAMES: Record<string, string> = {
  socks5: 'socks5 proxy', http: 'http proxy', 'tcp-client': 'tcp client tunnel', 'tcp-server': 'tcp server tunnel', udp: 'udp proxy tunnel', stdio: 'stdio tunnel',
};

export function renderView(name: string, v: UapiDeviceView, nowMs = Date.now(), stats: Array<[string, string]> = []): string {
  const lines = [`interface: ${name}`];
  if (v.privateKey) {
    lines.push(`  public key: ${encodeKey(publicKey(v.privateKey))}`);
    lines.push('  private key: (hidden)');
  }
  if (v.listenPort) lines.push(`  listening port: ${v.listenPort}`);
  if (v.fwmark) lines.push(`  fwmark: 0x${v.fwmark.toString(16)}`);
  const cc = stats.find(([k]) => k === 'tcp.congestion');
  if (cc) lines.push(`  tcp congestion control: ${cc[1]}`);
  lines.push(...statsLines(stats, nowMs));
  const peers = [...v.peers].sort((a, b) => b.lastHandshakeWallMs - a.lastHandshakeWallMs);
  for (const p of peers) {
    lines.push('', `peer: ${encodeKey(p.publicKey)}`);
    if (p.presharedKey) lines.push('  preshared key: (hidden)');
    if (p.endpoint) lines.push(`  endpoint: ${endpointText(p.endpoint)}`);
    lines.push(`  allowed ips: ${p.allowedIps.length ? p.allowedIps.map((a) => `${formatIp(a.ip)}/${a.cidr}`).join(', ') : '(none)'}`);
    if (p.lastHandshakeWallMs) lines.push(`  latest handshake: ${formatAgo((nowMs - p.lastHandshakeWallMs) / 1000)}`);
    if (p.rxBytes || p.txBytes) lines.push(`  transfer: ${formatBytes(p.rxBytes)} received, ${formatBytes(p.txBytes)} sent`);
    if (p.persistentKeepalive) lines.push(`  persistent keepalive: every ${plural(p.persistentKeepalive, 'second')}`);
  }
  return lines.join('\n') + '\n';
}

/** JSON for scripts: keys in base64, the private key never included. */
export function viewJson(name: string, v: UapiDeviceView, stats: Array<[string, string]> = []): unknown {
  return {
    interface: name,
    drops: Object.fromEntries(stats.filter(([k]) => k.startsWith('drop.')).map(([k, val]) => [k.slice(5), Number(val)])),
    forwards: stats.filter(([k]) => k.startsWith('nat.')).map(([, val]) => { try { return JSON.parse(val) as unknown; } catch { return null; } }),
    proxies: stats.filter(([k]) => k.startsWith('proxy.')).map(([, val]) => { try { return JSON.parse(val) as unknown; } catch { return null; } }),
    portMappings: stats.filter(([k]) => k.startsWith('portmap.')).map(([, val]) => { try { return JSON.parse(val) as unknown; } catch { return null; } }),
    publicKey: v.privateKey ? encodeKey(publicKey(v.privateKey)) : null,
    listenPort: v.listenPort,
    fwmark: v.fwmark,
    ...(stats.some(([k]) => k === 'tcp.congestion') ? { congestion: stats.find(([k]) => k === 'tcp.congestion')![1] } : {}),
    peers: v.peers.map((p) => ({
      publicKey: encodeKey(p.publicKey),
      presharedKey: p.presharedKey ? '(hidden)' : null,
      endpoint: p.endpoint ? endpointText(p.endpoint) : null,
      allowedIps: p.allowedIps.map((a) => `${formatIp(a.ip)}/${a.cidr}`),
      latestHandshake: p.lastHandshakeWallMs ? Math.floor(p.lastHandshakeWallMs / 1000) : 0,
      rxBytes: p.rxBytes,
      txBytes: p.txBytes,
      persistentKeepalive: p.persistentKeepalive,
    })),
  };
}

export const SHOW_USAGE = `Usage: wgts show [NAME | interfaces] [--json]

Examples:
  wgts show                 # every running interface, like wg show
  wgts show wg0 --json      # peers, forwards and drops by reason, for scripts
  wgts show interfaces`;

export async function runShow(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  const args = argv.filter((a) => a !== '--json');
  if (args.includes('--help') || args.includes('-h')) { console.log(SHOW_USAGE); return 0; }
  if (args.length > 1 || args.some((a) => a.startsWith('-'))) {
    const opt = args.find((a) => a.startsWith('-'));
    const extra = args[1] !== undefined && /^[a-z-]{1,32}$/.test(args[1]) ? args[1] : '(not shown)';
    const why = opt ? `unknown option ${opt}`
      : `wgts show takes one NAME; "${extra}" is not supported (for wg's fields use \`wg show ${args[0]} ${extra}\`, for scripts \`wgts show ${args[0]} --json\`)`;
    process.stderr.write(`wgts show: ${why}\n${SHOW_USAGE}\n`);
    return 1;
  }
  const all = await findInterfaces();
  if (args[0] === 'interfaces') {
    if (json) console.log(JSON.stringify([...all.keys()]));
    else if (all.size) console.log([...all.keys()].join(' '));
    return 0;
  }
  let targets: Array<[string, string]>;
  if (args[0] !== undefined) {
    const path = await socketFor(args[0]);
    if (!path) {
      process.stderr.write(`wgts show: no interface named ${args[0]} (looked for ${args[0]}.sock in ${socketDirs().join(', ')}). Is "wgts up" running?\n`);
      return 1;
    }
    targets = [[args[0], path]];
  } else {
    targets = [...all.entries()];
    if (targets.length === 0) {
      if (json) console.log('[]');
      else process.stderr.write(`wgts show: no running interfaces (looked in ${socketDirs().join(', ')})\n`);
      return json ? 0 : 1;
    }
  }
  const out: unknown[] = [];
  let status = 0;
  const unreadable: Array<[string, string]> = [];
  const stale: string[] = [];
  for (const [name, path] of targets) {
    try {
      const v = await getView(path);
      const stats = await getStats(path);
      if (json) out.push(viewJson(name, v, stats));
      else process.stdout.write((out.length++ ? '\n' : '') + renderView(name, v, Date.now(), stats));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // Another user's interface (root's, in /var/run/wireguard): not a fault of this one, so one note for all of them.
      if ((code === 'EACCES' || code === 'EPERM') && args[0] === undefined) { unreadable.push([name, path]); continue; }
      // A socket nobody serves: left by a wgts that was killed.
      if (code === 'ECONNREFUSED' && args[0] === undefined) { stale.push(name); continue; }
      process.stderr.write(`wgts show: ${name}: ${(e as Error).message}${code === 'EACCES' || code === 'EPERM' ? ` (${path} belongs to another user: run as that user or root)` : ''}\n`);
      status = 1;
    }
  }
  if (unreadable.length) process.stderr.write(`wgts show: skipped ${unreadable.map(([n]) => n).join(', ')}: ${unreadableNote(unreadable)}\n`);
  if (stale.length) process.stderr.write(`wgts show: skipped ${stale.join(', ')}: nothing answers on ${stale.length === 1 ? 'its socket' : 'their sockets'} (left by a wgts that was killed; \`wgts down NAME\` removes one)\n`);
  if ((unreadable.length || stale.length) && out.length === 0) status = 1;
  if (json) console.log(JSON.stringify(args[0] !== undefined ? out[0] ?? null : out, null, 2));
  return status;
}

/** Why some sockets were skipped: they belong to another user (typically root's interfaces), and how to see them. */
function unreadableNote(skipped: Array<[string, string]>): string {
  const dirs = [...new Set(skipped.map(([, p]) => p.slice(0, p.lastIndexOf('/'))))];
  return `this user (uid ${process.getuid?.() ?? '?'}) may not open their sockets in ${dirs.join(', ')}; run as their owner or root (sudo wgts show) to see them`;
}

export const SET_USAGE = `Usage: wgts set NAME [listen-port PORT] [fwmark MARK] [private-key FILE]
                 [peer PUBKEY [remove] [preshared-key FILE] [endpoint HOST:PORT]
                  [persistent-keepalive SECONDS|off] [allowed-ips IP/CIDR[,IP/CIDR...]] ]...

Examples:
  wgts set wg0 listen-port 51821
  wgts set wg0 peer PUBKEY allowed-ips 10.0.0.2/32,fd00::2/128 endpoint 203.0.113.5:51820
  wgts set wg0 peer PUBKEY remove`;

async function readKeyFile(path: string, what: string): Promise<Uint8Array | null> {
  const text = (await readFile(path, 'utf8')).trim();
  if (text === '') return null;
  const k = decodeKey(text);
  if (!k) throw new Error(`${what} in ${path} is not a base64 WireGuard key`);
  return k;
}

/** An `endpoint` argument: IPv4:port or [IPv6]:port (Go netip.ParseAddrPort, as the UAPI reads it), port 1-65535. */
function parseEndpointArg(s: string): UapiEndpoint | null {
  const ap = parseAddrPort(s);
  if (ap === null || ap.port < 1) return null;
  return { ip: ap.addr.bytes, zone: ap.addr.zone, port: ap.port };
}

/** Translate wg(8) "set" arguments into a UAPI request. Throws with a user-facing message. */
export async function parseSetArgs(args: string[]): Promise<UapiSetRequest> {
  const req: UapiSetRequest = { replacePeers: false, peers: [] };
  let peer: UapiPeerOp | null = null;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const val = (): string => {
      const v = args[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (!peer && a === 'listen-port') {
      const v = val(); const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`listen-port ${v}: must be 0-65535`);
      req.listenPort = n;
    } else if (!peer && a === 'fwmark') {
      const v = val(); const n = v === 'off' ? 0 : Number(v);
      if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`fwmark ${v}: must be a 32-bit number or off`);
      req.fwmark = n;
    } else if (!peer && a === 'private-key') {
      req.privateKey = await readKeyFile(val(), 'private key');
    } else if (a === 'peer') {
      const v = val();
      const k = decodeKey(v);
      if (!k) throw new Error('peer: the public key is not a base64 WireGuard key');
      peer = { publicKey: k, remove: false, updateOnly: false, replaceAllowedIps: false, addAllowedIps: [] };
      req.peers.push(peer);
    } else if (peer && a === 'remove') {
      peer.remove = true;
    } else if (peer && a === 'preshared-key') {
      peer.presharedKey = await readKeyFile(val(), 'preshared key');
    } else if (peer && a === 'endpoint') {
      const v = val();
      const e = parseEndpointArg(v);
      if (!e) throw new Error(`endpoint ${v}: expected HOST:PORT or [IPv6]:PORT (an IP address)`);
      peer.endpoint = e;
    } else if (peer && a === 'persistent-keepalive') {
      const v = val(); const n = v === 'off' ? 0 : Number(v);
      if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`persistent-keepalive ${v}: must be 0-65535 or off`);
      peer.persistentKeepalive = n;
    } else if (peer && a === 'allowed-ips') {
      peer.replaceAllowedIps = true;
      for (const item of val().split(',').map((s) => s.trim()).filter(Boolean)) {
        const c = parseCidr(item);
        if (!c) throw new Error(`allowed-ips: ${item} is not IP/CIDR`);
        peer.addAllowedIps.push({ ip: c.ip, cidr: c.cidr });
      }
    } else {
      throw new Error(`unexpected argument ${JSON.stringify(a.length > 40 ? a.slice(0, 40) + '…' : a)}`);
    }
  }
  return req;
}

export async function runSet(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv.includes('--help') || argv.includes('-h')) {
    (argv.length ? console.log : (s: string) => process.stderr.write(s + '\n'))(SET_USAGE);
    return argv.length ? 0 : 1;
  }
  const [name, ...rest] = argv;
  const path = await socketFor(name!);
  if (!path) {
    process.stderr.write(`wgts set: no interface named ${name} (looked in ${socketDirs().join(', ')})\n`);
    return 1;
  }
  let req: UapiSetRequest;
  try {
    req = await parseSetArgs(rest);
  } catch (e) {
    process.stderr.write(`wgts set: ${(e as Error).message}\n${SET_USAGE}\n`);
    return 1;
  }
  const resp = await uapiClient(path, serializeSet(req));
  const m = /errno=(-?\d+)/.exec(resp);
  const errno = m ? Number(m[1]) : -1;
  if (errno !== 0) {
    process.stderr.write(`wgts set: ${name} refused the change (errno ${Math.abs(errno)})\n`);
    return 1;
  }
  return 0;
}
