/**
 * Undoing `wgts up` in wg-quick's cmd_down order: PreDown hooks, the policy
 * rules (del_if), `ip link delete`, resolvconf -d, remove_firewall, PostDown
 * hooks, then the state file. The same code serves a normal down, a failed
 * up (no hooks), and crash recovery (from the state file a dead process left;
 * its TUN vanished with its fd). Unlike wg-quick (`set -e`), a failing step
 * is logged and the rest still runs, so one bad hook cannot leave rules behind.
 */
import type { TunDevice } from './tun-device.js';
import { removeFirewall } from './firewall.js';
import type { CommandRunner } from './runner.js';
import { currentNetns, ownerAlive, type StateFile, type TunState } from './state.js';
import { Steps } from './steps.js';

export interface TeardownEnv {
  runner: CommandRunner;
  log: (line: string) => void;
  state: StateFile | null;
}

export interface TeardownOptions {
  /** Run PreDown/PostDown (a normal down; recovery when the dead process had started hooks). */
  hooks: boolean;
  /** 'delete': `ip link delete dev NAME` then close `tun`; 'skip': the link is gone already (crash) or the caller closes it. */
  link: 'delete' | 'skip';
  tun?: TunDevice;
}

const RULE_DELETE_LIMIT = 32;

function hasLookup(ruleShow: string, table: number): boolean {
  return new RegExp(`lookup ${table}(\\s|$)`, 'm').test(ruleShow);
}

/** Returns the failures (already logged); the state file is removed either way. */
export async function teardown(s: TunState, env: TeardownEnv, opts: TeardownOptions): Promise<Error[]> {
  const steps = new Steps(env.runner, env.log);
  const errors: Error[] = [];
  const attempt = async (what: string, f: () => Promise<unknown>): Promise<void> => {
    try {
      await f();
    } catch (e) {
      errors.push(e as Error);
      steps.warn(`${what}: ${(e as Error).message}; continuing`);
    }
  };
  if (opts.hooks) for (const h of s.preDown) await attempt('PreDown hook failed', () => steps.hook(h));
  // del_if order: IPv4 rules, then IPv6.
  for (const r of [...s.rules].sort((a, b) => a.family - b.family)) {
    const proto = r.family === 4 ? '-4' : '-6';
    await attempt('removing a policy rule failed', async () => {
      for (let i = 0; i < RULE_DELETE_LIMIT && hasLookup(await steps.query(['ip', proto, 'rule', 'show']), r.table); i++) {
        await steps.cmd(['ip', proto, 'rule', 'delete', 'table', String(r.table)]);
      }
      if (r.suppress && (await steps.query(['ip', proto, 'rule', 'show'])).includes('from all lookup main suppress_prefixlength 0')) {
        await steps.cmd(['ip', proto, 'rule', 'delete', 'table', 'main', 'suppress_prefixlength', '0']);
      }
    });
  }
  if (opts.link === 'delete') {
    await attempt('deleting the interface failed', async () => {
      const r = await env.runner.run(['ip', 'link', 'show', 'dev', s.name]);
      if (r.code === 0) await steps.cmd(['ip', 'link', 'delete', 'dev', s.name]);
    });
    if (opts.tun) await opts.tun.close();
  }
  if (s.dns !== null) {
    const dns = s.dns;
    await attempt('removing DNS failed', () => steps.cmd(['resolvconf', '-d', dns, '-f']));
  }
  await attempt('removing firewall rules failed', () => removeFirewall(steps, s.name));
  if (opts.hooks) for (const h of s.postDown) await attempt('PostDown hook failed', () => steps.hook(h));
  env.state?.remove();
  return errors;
}

export type RecoverResult =
  | { kind: 'none' }
  | { kind: 'running'; pid: number }
  | { kind: 'recovered'; pid: number; errors: Error[] }
  | { kind: 'foreign'; pid: number; netns: string };

/**
 * Before `wgts up NAME` (and in `wgts down NAME`): if a state file says a
 * process set NAME up and that process is gone, undo what it recorded.
 * 'running': it still lives (the caller refuses to start a second one).
 * 'foreign': it was in another network namespace; nothing can be undone from here.
 */
export async function recoverStale(env: TeardownEnv & { state: StateFile }): Promise<RecoverResult> {
  const s = env.state.read();
  if (!s) return { kind: 'none' };
  if (ownerAlive(s)) return { kind: 'running', pid: s.pid };
  const here = currentNetns();
  if (s.netns && here && s.netns !== here) return { kind: 'foreign', pid: s.pid, netns: s.netns };
  env.log(`[!] wgts for ${s.name} (pid ${s.pid}) did not shut down; undoing what it set up (${env.state.path})`);
  const errors = await teardown(s, env, { hooks: s.hooks, link: 'skip' });
  return { kind: 'recovered', pid: s.pid, errors };
}

export type DownResult = { kind: 'not-running' } | { kind: 'stopped'; pid: number } | { kind: 'recovered'; pid: number; errors: Error[] };

/**
 * `wgts down NAME`: ask the running wgts to shut down (SIGTERM; it tears down
 * itself and removes the state file), or, when it is gone, undo its leftovers.
 */
export async function downInterface(env: TeardownEnv & { state: StateFile }, timeoutMs = 15_000): Promise<DownResult> {
  const s = env.state.read();
  if (!s) return { kind: 'not-running' };
  if (ownerAlive(s) && s.pid !== process.pid) {
    process.kill(s.pid, 'SIGTERM');
    const deadline = Date.now() + timeoutMs;
    while (ownerAlive(s)) {
      if (Date.now() > deadline) throw new Error(`wgts for ${s.name} (pid ${s.pid}) did not exit within ${timeoutMs / 1000} s of SIGTERM`);
      await new Promise((r) => setTimeout(r, 50));
    }
    if (!env.state.read()) return { kind: 'stopped', pid: s.pid };
    // It died before finishing its teardown: finish it here.
  }
  const r = await recoverStale(env);
  if (r.kind === 'recovered') return r;
  if (r.kind === 'foreign') throw new Error(`${env.state.path} belongs to network namespace ${r.netns}; run \`wgts down ${s.name}\` there`);
  if (r.kind === 'running') throw new Error(`wgts for ${s.name} (pid ${r.pid}) is still running`);
  return { kind: 'not-running' };
}
