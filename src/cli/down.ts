/**
 * `wgts down NAME`: stops a running wgts for NAME, in either mode, and says
 * what it did.
 *
 *   TUN state file for NAME?  -> SIGTERM its owner, which undoes what it set
 *                                up (or, after a crash, undo it here)
 *   else NAME.sock in socketDirs() (the UAPI socket of a userspace wgts):
 *     nobody accepts on it   -> stale: remove it
 *     a live server          -> remove NAME.sock: a running wgts stops when its
 *                                socket is deleted (as wireguard-go does; the
 *                                same for any mode), then wait for the serving
 *                                process (found by the socket's inode in
 *                                /proc/net/unix and /proc/PID/fd) to exit
 *   neither                  -> not running (exit 1)
 *
 * Removing the socket rather than signalling a pid works across network
 * namespaces and needs no pid file; /proc only lets it wait and report.
 */
import { lstatSync, readdirSync, readFileSync, readlinkSync, unlinkSync } from 'node:fs';
import { StateFile, systemRunner, downInterface } from '../tun/index.js';
import { isLive, socketDirs } from '../uapi/server.js';
import { socketPath } from '../uapi/paths.js';

export const DOWN_USAGE = `Usage: wgts down NAME

Stops the wgts running NAME and says what it did. TUN mode: it removes the
interface and the routes, rules and firewall entries it set up (and cleans up
after a crashed wgts). Userspace mode: it deletes NAME's UAPI socket, which
makes that wgts shut down (as wireguard-go does), and waits for it to exit.

Example:
  sudo wgts down wg0     # TUN mode, or a userspace wgts run by root
  wgts down home         # a userspace wgts run by this user`;

/** How long a userspace wgts may take to exit once its socket is gone. */
const EXIT_WAIT_MS = 15_000;

export type UserspaceDown =
  | { kind: 'none'; dirs: string[] }
  | { kind: 'stale'; path: string }
  | { kind: 'stopped'; path: string; pids: number[] }
  | { kind: 'removed'; path: string };

/** PIDs (among those this user may inspect) holding the listening unix socket bound at `path`. */
export function socketServerPids(path: string): number[] {
  let table: string;
  try {
    table = readFileSync('/proc/net/unix', 'utf8');
  } catch {
    return [];
  }
  const inodes = new Set<string>();
  for (const line of table.split('\n').slice(1)) {
    // Num RefCount Protocol Flags Type St Inode Path; Flags 00010000 = __SO_ACCEPTCON (listening).
    const f = line.trim().split(/\s+/);
    if (f.length >= 8 && f.slice(7).join(' ') === path && (parseInt(f[3]!, 16) & 0x10000) !== 0) inodes.add(`socket:[${f[6]}]`);
  }
  if (inodes.size === 0) return [];
  const pids: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${p}/fd`);
    } catch {
      continue; // another user's process, or gone
    }
    for (const fd of fds) {
      try {
        if (inodes.has(readlinkSync(`/proc/${p}/fd/${fd}`))) { pids.push(Number(p)); break; }
      } catch {
        /* closed meanwhile */
      }
    }
  }
  return pids;
}

/** Whether `pid` still runs: an exited process its parent has not reaped yet (a zombie, state Z) has stopped. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Stops the userspace wgts serving NAME.sock in one of `dirs` (see the file comment). */
export async function downUserspace(name: string, dirs: string[] = socketDirs(), waitMs = EXIT_WAIT_MS): Promise<UserspaceDown> {
  for (const dir of dirs) {
    const path = socketPath(dir, name);
    try {
      if (!lstatSync(path).isSocket()) continue;
    } catch {
      continue;
    }
    const pids = socketServerPids(path);
    const live = pids.length > 0 || (await isLive(path));
    try {
      unlinkSync(path);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? String(e);
      throw new Error(`cannot remove ${path} (${code}): run wgts down as the user who started that wgts, or as root`);
    }
    if (!live) return { kind: 'stale', path };
    if (pids.length === 0) return { kind: 'removed', path };
    const deadline = Date.now() + waitMs;
    while (pids.some(alive)) {
      if (Date.now() > deadline) throw new Error(`removed ${path}, but pid ${pids.filter(alive).join(', ')} did not exit within ${waitMs / 1000} s`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return { kind: 'stopped', path, pids };
  }
  return { kind: 'none', dirs };
}

export async function runDown(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) { console.log(DOWN_USAGE); return 0; }
  if (argv.length !== 1) { process.stderr.write(DOWN_USAGE + '\n'); return 1; }
  const name = argv[0]!.replace(/\.conf$/, '').replace(/^.*\//, '');
  const say = (line: string): void => void process.stdout.write(`wgts down: ${line}\n`);
  try {
    const state = StateFile.forInterface(name);
    const r = await downInterface({ runner: systemRunner(), log: (line) => process.stderr.write(line + '\n'), state });
    if (r.kind === 'stopped') {
      say(`stopped ${name} (TUN mode, pid ${r.pid}); it removed its interface and the routes, rules and firewall entries it had set up`);
      return 0;
    }
    if (r.kind === 'recovered') {
      say(`${name}'s wgts (pid ${r.pid}) had exited without cleaning up; removed what it had set up${r.errors.length ? ` (${r.errors.length} step(s) failed, see above)` : ''}`);
      return r.errors.length ? 1 : 0;
    }
    const u = await downUserspace(name);
    switch (u.kind) {
      case 'stopped':
        say(`stopped ${name} (userspace mode, pid ${u.pids.join(', ')}) by removing its UAPI socket ${u.path}`);
        return 0;
      case 'removed':
        say(`removed ${name}'s UAPI socket ${u.path}; the wgts serving it shuts down when it sees that (it is not among the processes this user can see here, so its exit was not awaited)`);
        return 0;
      case 'stale':
        say(`${name} was not running; removed the stale UAPI socket ${u.path} a stopped wgts had left`);
        return 0;
      case 'none':
        process.stderr.write(`wgts down: ${name} is not running here: no TUN state file (${state.path}) and no UAPI socket ${name}.sock in ${u.dirs.join(', ')}\n`);
        return 1;
    }
  } catch (e) {
    process.stderr.write(`wgts down: ${(e as Error).message}\n`);
    return 1;
  }
}
