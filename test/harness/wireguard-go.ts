// wireguard-go as an interop peer. start() runs `wireguard-go -f IFACE` inside a
// Netns (tracked, output captured) and waits for its UAPI socket; setconf() /
// setPeer() configure it with `wg`, secrets passing only through 0600 files in
// a private temp dir (never argv, never logs); addAddress()/up()/addRoute() use
// `ip`; show() parses `wg show IFACE dump` (the private key column is dropped).
// Interface names are unique machine-wide because the UAPI socket directory
// is shared by all namespaces.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { exec, type Proc } from './exec.js';
import { trackPath, untrackPath, WG_SOCKET_DIR } from './registry.js';
import { waitFor } from './wait.js';
import type { Netns } from './netns.js';

/** A key pair whose private half never shows up in console.log / JSON. */
export class WgKeyPair {
  readonly #privateKey: string;
  readonly publicKey: string;
  constructor(privateKey: string, publicKey: string) {
    this.#privateKey = privateKey;
    this.publicKey = publicKey;
  }
  get privateKey(): string {
    return this.#privateKey;
  }
  toJSON(): { publicKey: string } {
    return { publicKey: this.publicKey };
  }
  [inspect.custom](): string {
    return `WgKeyPair { publicKey: '${this.publicKey}', privateKey: <redacted> }`;
  }
}

const KEY_RE = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

/** `wg genkey` + `wg pubkey` (key fed on stdin). */
export async function genKeyPair(): Promise<WgKeyPair> {
  const priv = (await exec(['wg', 'genkey'], { check: true })).stdout.trim();
  if (!KEY_RE.test(priv)) throw new Error('wg genkey printed something that is not a key');
  const pub = (await exec(['wg', 'pubkey'], { check: true, input: priv + '\n' })).stdout.trim();
  if (!KEY_RE.test(pub)) throw new Error('wg pubkey printed something that is not a key');
  return new WgKeyPair(priv, pub);
}

/** `wg genpsk`. Keep it out of logs. */
export async function genPresharedKey(): Promise<string> {
  const psk = (await exec(['wg', 'genpsk'], { check: true })).stdout.trim();
  if (!KEY_RE.test(psk)) throw new Error('wg genpsk printed something that is not a key');
  return psk;
}

let secretDir: string | null = null;
let secretCounter = 0;

/** Write `content` to a fresh 0600 file in a private 0700 dir, run fn(path), delete it. */
export async function withSecretFile<T>(content: string, fn: (path: string) => Promise<T>): Promise<T> {
  if (secretDir === null || !existsSync(secretDir)) {
    secretDir = mkdtempSync(join(tmpdir(), 'wgts-harness-'));
    trackPath(secretDir);
  }
  const path = join(secretDir, `secret-${process.pid}-${++secretCounter}`);
  writeFileSync(path, content, { mode: 0o600, flag: 'wx' });
  try {
    return await fn(path);
  } finally {
    rmSync(path, { force: true });
  }
}

export interface WgPeerConfig {
  publicKey: string;
  presharedKey?: string;
  /** "host:port" or "[v6]:port"; see formatEndpoint(). */
  endpoint?: string;
  allowedIps?: readonly string[];
  persistentKeepalive?: number;
}

export interface WgInterfaceConfig {
  privateKey: string;
  listenPort?: number;
  fwmark?: number;
  peers?: readonly WgPeerConfig[];
}

export function formatEndpoint(addr: string, port: number): string {
  return addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
}

/** The `wg setconf` file format. Contains secrets: only ever write it to a 0600 file. */
export function renderWgConfig(cfg: WgInterfaceConfig): string {
  const lines = ['[Interface]', `PrivateKey = ${cfg.privateKey}`];
  if (cfg.listenPort !== undefined) lines.push(`ListenPort = ${cfg.listenPort}`);
  if (cfg.fwmark !== undefined) lines.push(`FwMark = ${cfg.fwmark}`);
  for (const p of cfg.peers ?? []) {
    lines.push('', '[Peer]', `PublicKey = ${p.publicKey}`);
    if (p.presharedKey !== undefined) lines.push(`PresharedKey = ${p.presharedKey}`);
    if (p.endpoint !== undefined) lines.push(`Endpoint = ${p.endpoint}`);
    if (p.allowedIps !== undefined && p.allowedIps.length > 0) lines.push(`AllowedIPs = ${p.allowedIps.join(', ')}`);
    if (p.persistentKeepalive !== undefined) lines.push(`PersistentKeepalive = ${p.persistentKeepalive}`);
  }
  return lines.join('\n') + '\n';
}

export interface WgDumpInterface {
  /** Whether a private key is set (the key itself is never kept). */
  hasPrivateKey: boolean;
  publicKey: string | null;
  listenPort: number;
  fwmark: number | null;
}

export interface WgDumpPeer {
  publicKey: string;
  hasPresharedKey: boolean;
  endpoint: string | null;
  allowedIps: string[];
  /** Unix seconds of the last handshake; 0 = never. */
  latestHandshake: number;
  rxBytes: number;
  txBytes: number;
  persistentKeepalive: number | null;
}

export interface WgDump {
  iface: WgDumpInterface;
  peers: WgDumpPeer[];
}

const none = (s: string): string | null => (s === '(none)' ? null : s);

function int(s: string, what: string): number {
  const n = Number(s);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`wg dump: bad ${what}: ${JSON.stringify(s)}`);
  return n;
}

/**
 * Parse `wg show IFACE dump`: first line interface (private-key public-key
 * listen-port fwmark), then one line per peer (public-key preshared-key
 * endpoint allowed-ips latest-handshake transfer-rx transfer-tx
 * persistent-keepalive), tab-separated. Errors never quote the first column.
 */
export function parseWgDump(text: string): WgDump {
  const lines = text.split('\n').filter((l) => l.length > 0);
  if (lines.length === 0) throw new Error('wg dump: empty');
  const f = lines[0]!.split('\t');
  if (f.length !== 4) throw new Error(`wg dump: interface line has ${f.length} fields, want 4`);
  const iface: WgDumpInterface = {
    hasPrivateKey: f[0] !== '(none)',
    publicKey: none(f[1]!),
    listenPort: int(f[2]!, 'listen-port'),
    fwmark: f[3] === 'off' ? null : int(f[3]!, 'fwmark'),
  };
  const peers = lines.slice(1).map((line, i): WgDumpPeer => {
    const p = line.split('\t');
    if (p.length !== 8) throw new Error(`wg dump: peer line ${i + 1} has ${p.length} fields, want 8`);
    const allowed = none(p[3]!);
    return {
      publicKey: p[0]!,
      hasPresharedKey: p[1] !== '(none)',
      endpoint: none(p[2]!),
      allowedIps: allowed === null ? [] : allowed.split(','),
      latestHandshake: int(p[4]!, 'latest-handshake'),
      rxBytes: int(p[5]!, 'transfer-rx'),
      txBytes: int(p[6]!, 'transfer-tx'),
      persistentKeepalive: p[7] === 'off' ? null : int(p[7]!, 'persistent-keepalive'),
    };
  });
  return { iface, peers };
}

/** `wg show IFACE dump` inside ns, parsed (works for any UAPI-speaking daemon). */
export async function wgShow(ns: Netns, iface: string): Promise<WgDump> {
  const r = await ns.exec(['wg', 'show', iface, 'dump']);
  if (r.code !== 0) throw new Error(`wg show ${iface} dump in ${ns.name} failed (exit ${r.code}): ${r.stderr.trim()}`);
  return parseWgDump(r.stdout);
}

let ifCounter = 0;

/** wgts<pid base36>-N: unique across namespaces, at most 15 chars. */
export function uniqueWgIfName(): string {
  const name = `wgts${process.pid.toString(36)}-${++ifCounter}`;
  if (name.length > 15) throw new Error(`interface name too long: ${name}`);
  return name;
}

export interface WireguardGoOptions {
  iface?: string;
  /** LOG_LEVEL for wireguard-go: verbose (default), error or silent. */
  logLevel?: 'verbose' | 'error' | 'silent';
  readyTimeoutMs?: number;
  binary?: string;
}

export class WireguardGo {
  readonly ns: Netns;
  readonly iface: string;
  readonly proc: Proc;
  readonly socketPath: string;

  private constructor(ns: Netns, iface: string, proc: Proc, socketPath: string) {
    this.ns = ns;
    this.iface = iface;
    this.proc = proc;
    this.socketPath = socketPath;
  }

  /** Start `wireguard-go -f IFACE` in ns and wait until its TUN and UAPI socket exist. */
  static async start(ns: Netns, opts: WireguardGoOptions = {}): Promise<WireguardGo> {
    const iface = opts.iface ?? uniqueWgIfName();
    const socketPath = `${WG_SOCKET_DIR}/${iface}.sock`;
    if (existsSync(socketPath)) throw new Error(`UAPI socket ${socketPath} already exists (another daemon uses ${iface}?)`);
    trackPath(socketPath); // removed at cleanup if the daemon gets SIGKILLed
    const proc = ns.spawn([opts.binary ?? 'wireguard-go', '-f', iface], {
      label: `wireguard-go ${iface}`,
      env: {
        WG_PROCESS_FOREGROUND: '1',
        // Some Debian builds refuse to start on a kernel with the WireGuard module without this.
        WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1',
        LOG_LEVEL: opts.logLevel ?? 'verbose',
      },
    });
    const wg = new WireguardGo(ns, iface, proc, socketPath);
    const timeoutMs = opts.readyTimeoutMs ?? 5000;
    await waitFor(
      async () => {
        if (!proc.running) return true; // reported below
        if (!existsSync(socketPath)) return false;
        return (await ns.exec(['ip', 'link', 'show', 'dev', iface])).code === 0;
      },
      timeoutMs,
      `wireguard-go ${iface} in ${ns.name} to create its interface and UAPI socket`,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n--- output of ${proc.label} ---\n${proc.output()}`);
    });
    proc.assertRunning(`wireguard-go ${iface}`);
    return wg;
  }

  /** `wg setconf`: replace the whole configuration (config file 0600, deleted after). */
  async setconf(cfg: WgInterfaceConfig): Promise<void> {
    await withSecretFile(renderWgConfig(cfg), (path) => this.ns.run(['wg', 'setconf', this.iface, path]));
  }

  /** `wg set IFACE ARGS...` for non-secret settings (use setPrivateKey/setPeer for secrets). */
  async set(args: readonly string[]): Promise<void> {
    await this.ns.run(['wg', 'set', this.iface, ...args]);
  }

  async setPrivateKey(privateKey: string): Promise<void> {
    await withSecretFile(privateKey + '\n', (path) => this.ns.run(['wg', 'set', this.iface, 'private-key', path]));
  }

  async setListenPort(port: number): Promise<void> {
    await this.set(['listen-port', String(port)]);
  }

  /** Add or update one peer; allowed-ips, when given, replace the peer's list. */
  async setPeer(peer: WgPeerConfig): Promise<void> {
    const args = ['peer', peer.publicKey];
    if (peer.endpoint !== undefined) args.push('endpoint', peer.endpoint);
    if (peer.allowedIps !== undefined) args.push('allowed-ips', peer.allowedIps.join(','));
    if (peer.persistentKeepalive !== undefined) args.push('persistent-keepalive', String(peer.persistentKeepalive));
    if (peer.presharedKey === undefined) return this.set(args);
    await withSecretFile(peer.presharedKey + '\n', (path) => this.set([...args, 'preshared-key', path]));
  }

  async removePeer(publicKey: string): Promise<void> {
    await this.set(['peer', publicKey, 'remove']);
  }

  /** `ip addr add CIDR dev IFACE` (IPv6 with nodad). */
  async addAddress(cidr: string): Promise<void> {
    const extra = cidr.includes(':') ? ['nodad'] : [];
    await this.ns.ip(['addr', 'add', cidr, 'dev', this.iface, ...extra]);
  }

  async addRoute(cidr: string): Promise<void> {
    await this.ns.ip(['route', 'add', cidr, 'dev', this.iface]);
  }

  async up(mtu = 1420): Promise<void> {
    await this.ns.ip(['link', 'set', 'dev', this.iface, 'mtu', String(mtu), 'up']);
  }

  async show(): Promise<WgDump> {
    return wgShow(this.ns, this.iface);
  }

  /** Poll until the peer reports a handshake; returns that peer's dump entry. */
  async waitForHandshake(peerPublicKey: string, timeoutMs = 5000): Promise<WgDumpPeer> {
    return waitFor(
      async () => {
        this.proc.assertRunning();
        const peer = (await this.show()).peers.find((p) => p.publicKey === peerPublicKey);
        return peer && peer.latestHandshake > 0 ? peer : null;
      },
      timeoutMs,
      `a handshake with peer ${peerPublicKey} on ${this.iface}`,
    );
  }

  output(): string {
    return this.proc.output();
  }

  /** SIGTERM (wireguard-go removes TUN and socket), SIGKILL after 2 s; socket removed if left. */
  async stop(): Promise<void> {
    await this.proc.stop(2000);
    rmSync(this.socketPath, { force: true });
    untrackPath(this.socketPath);
  }
}
