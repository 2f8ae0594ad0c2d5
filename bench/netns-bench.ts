/**
 * Shared pieces of the namespace benches (dataplane, latency, memory):
 * `wgts up --userspace` started from a config written to a 0600 file in a
 * tracked 0700 dir, a wireguard-go pair across a veth, in-process X25519 key
 * pairs, and VmRSS read from /proc. Everything started here is tracked by the
 * test harness registry and removed by PID / name at cleanupAll().
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  canRunInterop, formatEndpoint, sleep, trackPath, vethPair, waitFor, which, Netns, WgKeyPair, WireguardGo, type Proc, type VethPair,
} from '../test/harness/netns.js';
import { cpuTicks, rssKb } from '../test/harness/procstat.js';
import { clampPrivateKey, publicKey } from '../src/crypto/x25519.js';
import { encodeKey } from '../src/crypto/util.js';

/** The built CLI next to this file (dist/bench -> dist/src/cli/main.js). */
export const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');
/**
 * RLIMIT_NOFILE given to the processes started here: the hard limit this
 * process has (raising it needs CAP_SYS_RESOURCE, which a container's root
 * may lack); prlimit lifts the soft limit to it.
 */
export const NOFILE = hardNofile();

function hardNofile(): number {
  const r = spawnSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8', timeout: 5000 });
  const v = r.stdout.trim();
  return v === 'unlimited' ? 1 << 20 : Number(v) || 1024;
}

/** Why the namespace rows cannot run here, or null when they can. */
export function netnsUnavailable(extra: readonly string[] = []): string | null {
  const ok = canRunInterop(extra);
  if (!ok.ok) return ok.why;
  for (const b of ['prlimit', ...extra]) if (!which(b)) return `\`${b}\` not found on PATH`;
  return null;
}

/**
 * X25519 key pairs, base64 as wg prints them (the private half is redacted in
 * logs). Made with the project's own X25519 rather than generateKeyPairSync,
 * which can deadlock Node 20 when a GC runs during a JWK export.
 */
export function keyPairs(n: number): WgKeyPair[] {
  const out: WgKeyPair[] = [];
  for (let i = 0; i < n; i++) {
    const priv = clampPrivateKey(new Uint8Array(randomBytes(32)));
    out.push(new WgKeyPair(encodeKey(priv), encodeKey(publicKey(priv))));
  }
  return out;
}

let counter = 0;

/** WGTS_BENCH_NODE_ARGS: extra node flags for the wgts daemons, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof". */
export function benchNodeArgs(): string[] {
  return (process.env['WGTS_BENCH_NODE_ARGS'] ?? '').split(/\s+/).filter(Boolean);
}

export interface WgtsHandle { proc: Proc; name: string }

/**
 * `wgts up FILE --userspace` in ns under prlimit (RLIMIT_NOFILE = NOFILE),
 * waiting until it serves its UAPI socket. `conf` holds a private key: it
 * only goes to a 0600 file in a 0700 dir removed at cleanup.
 */
export async function startWgts(ns: Netns, conf: string, opts: { logLevel?: string } = {}): Promise<WgtsHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'wgts-bench-'));
  trackPath(dir);
  const name = `wgb${process.pid.toString(36)}x${counter++}`.slice(0, 15);
  const file = join(dir, `${name}.conf`);
  writeFileSync(file, conf, { mode: 0o600 });
  trackPath(`/var/run/wireguard/${name}.sock`);
  const proc = ns.spawn(
    ['prlimit', `--nofile=${NOFILE}:${NOFILE}`, '--', process.execPath, ...benchNodeArgs(), CLI, 'up', file, '--userspace', '--interface', name, '--log-level', opts.logLevel ?? 'info'],
    { label: `wgts ${name}` },
  );
  await waitFor(() => {
    proc.assertRunning();
    return proc.output().includes('UAPI socket');
  }, 20_000, `wgts ${name} to serve its UAPI socket`);
  return { proc, name };
}

/** VmRSS of a process in bytes. */
export function rssBytes(pid: number): number {
  const kb = rssKb(pid);
  if (kb === 0) throw new Error(`no VmRSS for pid ${pid}`);
  return kb * 1024;
}

/** CPU seconds (user + system) a process has used (clock ticks of 1/100 s). */
export function cpuSeconds(pid: number): number {
  return cpuTicks(pid) / 100;
}

/** Busy CPU seconds of the whole machine so far (the cpu line of /proc/stat: user..steal less idle and iowait). */
export function machineBusySeconds(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0); // user..steal (guest is inside user)
  return (total - f[3]! - f[4]!) / 100;
}

/** The command name of a PID (to check the PID measured is the daemon itself, not a wrapper). */
export function commOf(pid: number): string {
  return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
}

/** Wait settleMs, then the median VmRSS of `samples` readings 200 ms apart. */
export async function settledRss(pid: number, settleMs = 2000, samples = 5): Promise<number> {
  await sleep(settleMs);
  const xs: number[] = [];
  for (let i = 0; i < samples; i++) {
    if (i > 0) await sleep(200);
    xs.push(rssBytes(pid));
  }
  xs.sort((a, b) => a - b);
  return xs[xs.length >> 1]!;
}

export interface Pair { a: Netns; b: Netns; link: VethPair; ka: WgKeyPair; kb: WgKeyPair }

/** Two fresh namespaces joined by a veth (outer addresses 198.18.N.1/.2) and a key pair for each side. */
export async function netnsPair(tag: string, net: number): Promise<Pair> {
  const a = await Netns.create(`${tag}a`);
  const b = await Netns.create(`${tag}b`);
  const link = await vethPair(a, b, { aAddr4: `198.18.${net}.1/24`, bAddr4: `198.18.${net}.2/24` });
  const [ka, kb] = keyPairs(2) as [WgKeyPair, WgKeyPair];
  return { a, b, link, ka, kb };
}

export const WG_PORT_A = 51830;
export const WG_PORT_B = 51831;

/** wireguard-go in `side` of the pair with tunnel address `tun4` (/24), peered with the other side. */
export async function wireguardGoSide(p: Pair, side: 'a' | 'b', tun4: string, peerTun4: string, keepalive = 0): Promise<WireguardGo> {
  const [ns, self, other, port, peerPort, peerOuter] = side === 'a'
    ? [p.a, p.ka, p.kb, WG_PORT_A, WG_PORT_B, p.link.bAddr4]
    : [p.b, p.kb, p.ka, WG_PORT_B, WG_PORT_A, p.link.aAddr4];
  const wg = await WireguardGo.start(ns, { logLevel: 'error' });
  await wg.setconf({
    privateKey: self.privateKey, listenPort: port,
    peers: [{
      publicKey: other.publicKey, endpoint: formatEndpoint(peerOuter, peerPort), allowedIps: [`${peerTun4}/32`],
      ...(keepalive > 0 ? { persistentKeepalive: keepalive } : {}),
    }],
  });
  await wg.addAddress(`${tun4}/24`);
  await wg.up();
  return wg;
}

/** A wgts [Interface] + one [Peer] config for `side` of the pair, plus extra sections. */
export function wgtsSideConf(p: Pair, side: 'a' | 'b', tun4: string, peerTun4: string, extra = '', keepalive = 0): string {
  const [self, other, port, peerPort, peerOuter] = side === 'a'
    ? [p.ka, p.kb, WG_PORT_A, WG_PORT_B, p.link.bAddr4]
    : [p.kb, p.ka, WG_PORT_B, WG_PORT_A, p.link.aAddr4];
  return [
    '[Interface]', `PrivateKey = ${self.privateKey}`, `ListenPort = ${port}`, `Address = ${tun4}/24`, '',
    '[Peer]', `PublicKey = ${other.publicKey}`, `Endpoint = ${formatEndpoint(peerOuter, peerPort)}`, `AllowedIPs = ${peerTun4}/32`,
    ...(keepalive > 0 ? [`PersistentKeepalive = ${keepalive}`] : []),
    extra ? '\n' + extra : '',
  ].join('\n') + '\n';
}

/** Median and the p-th percentile (nearest rank) of a list of numbers. */
export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  const k = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[k]!;
}

/** Runs async jobs one at a time in call order (so two searches started together alternate their probes). */
export function serialiser(): <T>(job: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(job: () => Promise<T>) => {
    const next = tail.then(job, job);
    tail = next.catch(() => undefined);
    return next;
  };
}

/** Wait for `wgts up`'s "handshake complete" log line. */
export async function wgtsHandshake(w: WgtsHandle, timeoutMs = 15_000): Promise<void> {
  await waitFor(() => {
    w.proc.assertRunning();
    return w.proc.output().includes('handshake complete');
  }, timeoutMs, `wgts ${w.name} to complete a handshake`);
}
