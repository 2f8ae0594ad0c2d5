// Cleanup registry for everything the interop harness creates: daemons (killed
// by PID / own process group), network namespaces (deleted by name), temp dirs
// and wireguard-go UAPI sockets. Tests call cleanupAll() from after() hooks;
// process exit, SIGINT and SIGTERM run a synchronous version as a backstop.
// sweepStale() removes what a crashed earlier run of this harness left behind,
// recognised by our name prefix plus the PID of a process that no longer lives.
import { execFile, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

/** Every namespace name this harness makes starts with this. */
export const HARNESS_PREFIX = 'wgts-';
/** wireguard-go keeps its UAPI socket here (shared by all namespaces). */
export const WG_SOCKET_DIR = '/var/run/wireguard';

export interface TrackedProc {
  readonly pid: number;
  readonly label: string;
  readonly stopping: boolean;
  readonly running: boolean;
  readonly exit: { code: number | null; signal: NodeJS.Signals | null } | null;
  output(): string;
  stop(graceMs?: number): Promise<unknown>;
  killSync(): void;
}

const procs = new Set<TrackedProc>();
/** Processes that exited on their own (not via stop()): reported at cleanup. */
const unexpected = new Set<TrackedProc>();
const namespaces = new Set<string>();
const paths = new Set<string>();

let hooksInstalled = false;
function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', cleanupAllSync);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      cleanupAllSync();
      // Another listener (the test runner's own) will exit; otherwise do it here.
      if (process.listenerCount(sig) === 1) process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  }
}

export function trackProc(p: TrackedProc): void {
  installHooks();
  procs.add(p);
}

export function untrackProc(p: TrackedProc): void {
  if (procs.delete(p) && !p.stopping) unexpected.add(p);
}

export function trackNamespace(name: string): void {
  installHooks();
  namespaces.add(name);
}

export function untrackNamespace(name: string): void {
  namespaces.delete(name);
}

/** A file or directory removed (recursively) at cleanup. */
export function trackPath(path: string): void {
  installHooks();
  paths.add(path);
}

export function untrackPath(path: string): void {
  paths.delete(path);
}

export function trackedNamespaces(): string[] {
  return [...namespaces];
}

export function trackedProcs(): TrackedProc[] {
  return [...procs];
}

/** Print the captured output of every tracked (and unexpectedly dead) process. */
export function dumpLogs(header: string): void {
  const all = [...procs, ...unexpected];
  if (all.length === 0) return;
  const lines = [`==== ${header}: output of ${all.length} harness process(es) ====`];
  for (const p of all) {
    const state = p.running ? 'running' : `exited code=${p.exit?.code ?? 'none'} signal=${p.exit?.signal ?? 'none'}`;
    lines.push(`---- ${p.label} (pid ${p.pid}, ${state}) ----`, p.output().trimEnd() || '(no output)');
  }
  lines.push('==== end of harness process output ====');
  process.stderr.write(lines.join('\n') + '\n');
}

async function deleteNamespace(name: string): Promise<void> {
  try {
    await execFileP('ip', ['netns', 'del', name], { timeout: 10_000 });
  } catch (err) {
    // Already gone is fine; anything else is reported.
    if (!namespaceExistsSync(name)) return;
    throw new Error(`ip netns del ${name} failed: ${(err as { stderr?: string }).stderr ?? (err as Error).message}`);
  }
}

function namespaceExistsSync(name: string): boolean {
  return listNamespacesSync().includes(name);
}

/** Names from `ip netns list` (strips the "(id: N)" suffix). */
export function listNamespacesSync(): string[] {
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) return [];
  return r.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n.length > 0);
}

/**
 * Stop every tracked process (SIGTERM, then SIGKILL), delete every tracked
 * namespace and path. Processes that died on their own get their output
 * printed. Throws one error listing every failure after trying everything.
 */
export async function cleanupAll(): Promise<void> {
  const errors: string[] = [];
  if (unexpected.size > 0) dumpLogs('processes that exited unexpectedly');
  unexpected.clear();
  await Promise.all(
    [...procs].map(async (p) => {
      try {
        await p.stop(2000);
      } catch (err) {
        errors.push(`stop ${p.label} (pid ${p.pid}): ${(err as Error).message}`);
      }
      procs.delete(p);
    }),
  );
  for (const name of [...namespaces]) {
    try {
      await deleteNamespace(name);
      namespaces.delete(name);
    } catch (err) {
      errors.push((err as Error).message);
    }
  }
  for (const path of [...paths]) {
    try {
      rmSync(path, { recursive: true, force: true });
      paths.delete(path);
    } catch (err) {
      errors.push(`rm ${path}: ${(err as Error).message}`);
    }
  }
  if (errors.length > 0) throw new Error(`harness cleanup failed:\n  ${errors.join('\n  ')}`);
}

/** Synchronous last-resort cleanup for exit/signal handlers. */
export function cleanupAllSync(): void {
  for (const p of procs) p.killSync();
  procs.clear();
  for (const name of namespaces) spawnSync('ip', ['netns', 'del', name], { timeout: 5000 });
  namespaces.clear();
  for (const path of paths) {
    try {
      rmSync(path, { recursive: true, force: true });
    } catch {
      /* best effort */
    }
  }
  paths.clear();
}

/** Whether a process with this PID exists and is not a zombie awaiting its reaper. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    // /proc/PID/stat: "pid (comm) STATE ..."; comm may contain spaces or ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return true; // no procfs: trust kill(0)
  }
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Our namespace names: PREFIX[label-]PID-N. Returns the owner PID or null. */
export function namespaceOwner(name: string, prefix = HARNESS_PREFIX): number | null {
  const m = new RegExp(`^${escapeRe(prefix)}(?:[a-z0-9]+-)?(\\d+)-(\\d+)$`).exec(name);
  return m ? Number(m[1]) : null;
}

/** Our wireguard-go interface names: wgts<pid base36>-N. Returns the owner PID or null. */
export function ifaceOwner(iface: string): number | null {
  const m = /^wgts([0-9a-z]+)-(\d+)$/.exec(iface);
  return m ? parseInt(m[1]!, 36) : null;
}

function isStale(owner: number | null, isOurs: boolean): boolean {
  if (owner === null) return false;
  if (owner === process.pid) return !isOurs;
  return !pidAlive(owner);
}

/**
 * Remove namespaces (and the processes inside them, by PID) and wireguard-go
 * sockets left by a crashed earlier run of this harness. Only names with our
 * prefix whose owner PID is dead are touched, so a concurrent live run is safe.
 * Returns what was removed.
 */
export async function sweepStale(prefix = HARNESS_PREFIX): Promise<string[]> {
  const removed: string[] = [];
  for (const name of listNamespacesSync()) {
    if (!isStale(namespaceOwner(name, prefix), namespaces.has(name))) continue;
    const pids = spawnSync('ip', ['netns', 'pids', name], { encoding: 'utf8', timeout: 5000 });
    for (const line of (pids.stdout ?? '').split('\n')) {
      const pid = Number(line.trim());
      if (Number.isInteger(pid) && pid > 1 && pid !== process.pid) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
    await deleteNamespace(name);
    removed.push(`netns ${name}`);
  }
  let sockets: string[] = [];
  try {
    sockets = readdirSync(WG_SOCKET_DIR);
  } catch {
    /* no directory: nothing stale */
  }
  for (const file of sockets) {
    const m = /^(.+)\.sock$/.exec(file);
    if (!m) continue;
    const iface = m[1]!;
    if (!isStale(ifaceOwner(iface), paths.has(`${WG_SOCKET_DIR}/${file}`))) continue;
    try {
      unlinkSync(`${WG_SOCKET_DIR}/${file}`);
      removed.push(`socket ${file}`);
    } catch {
      /* raced with its owner */
    }
  }
  return removed;
}
