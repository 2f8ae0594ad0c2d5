// Network namespaces for interop tests, and the harness entry point (it
// re-exports the other harness modules). A Netns is created with a name unique
// to this run (wgts-LABEL-PID-N) and `lo` up; commands run inside it through
// `ip netns exec` (or `ip -n` for ip itself); daemons spawned in it are
// tracked and killed by PID; destroy() or the registry's cleanupAll() removes
// it by name. vethPair() wires two namespaces together; ping() measures reach.
import { exec, Proc, type ExecOptions, type ExecResult, type SpawnOptions } from './exec.js';
import { HARNESS_PREFIX, listNamespacesSync, trackNamespace, untrackNamespace } from './registry.js';
import { waitFor } from './wait.js';

export * from './exec.js';
export * from './interop.js';
export * from './registry.js';
export * from './wait.js';
export * from './wireguard-go.js';

let nsCounter = 0;

export class Netns {
  readonly name: string;
  private readonly procs = new Set<Proc>();
  private ifCounter = 0;
  private destroyed = false;

  private constructor(name: string) {
    this.name = name;
  }

  /**
   * Create a namespace named wgts-LABEL-PID-N (LABEL: [a-z0-9], at most 8
   * chars) and bring `lo` up.
   */
  static async create(label = 'ns'): Promise<Netns> {
    const clean = label.toLowerCase().replace(/[^a-z0-9]/g, '').slice(0, 8) || 'ns';
    const name = `${HARNESS_PREFIX}${clean}-${process.pid}-${++nsCounter}`;
    trackNamespace(name); // before creating: a crash between the two still cleans up
    await exec(['ip', 'netns', 'add', name], { check: true });
    const ns = new Netns(name);
    await ns.ip(['link', 'set', 'lo', 'up']);
    return ns;
  }

  /** Run a command inside the namespace. Does not throw on non-zero exit unless opts.check. */
  exec(cmd: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    return exec(['ip', 'netns', 'exec', this.name, ...cmd], opts);
  }

  /** exec() that throws on a non-zero exit. */
  run(cmd: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    return this.exec(cmd, { ...opts, check: true });
  }

  /** `ip -n NAME ARGS...`, throwing on failure. */
  ip(args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    return exec(['ip', '-n', this.name, ...args], { ...opts, check: true });
  }

  /**
   * Start a long-lived process inside the namespace (own process group,
   * output captured, killed by PID at destroy()/cleanupAll()). `ip netns exec`
   * execs in place, so the PID is the command's own.
   */
  spawn(cmd: readonly string[], opts: SpawnOptions = {}): Proc {
    if (this.destroyed) throw new Error(`netns ${this.name} already destroyed`);
    const p = new Proc(['ip', 'netns', 'exec', this.name, ...cmd], {
      ...opts,
      label: `${opts.label ?? cmd[0]} @${this.name}`,
    });
    this.procs.add(p);
    void p.exited.then(() => this.procs.delete(p));
    return p;
  }

  /** A fresh interface name for this namespace (BASE + counter, <= 15 chars). */
  nextIfName(base = 'veth'): string {
    const name = `${base}${this.ifCounter++}`;
    if (name.length > 15) throw new Error(`interface name too long: ${name}`);
    return name;
  }

  /** Whether `ip netns list` still shows this namespace. */
  exists(): boolean {
    return listNamespacesSync().includes(this.name);
  }

  /** Stop processes spawned here, then delete the namespace. Idempotent. */
  async destroy(): Promise<void> {
    await Promise.all([...this.procs].map((p) => p.stop(2000)));
    this.procs.clear();
    if (!this.destroyed) {
      this.destroyed = true;
      const r = await exec(['ip', 'netns', 'del', this.name]);
      if (r.code !== 0 && this.exists()) {
        throw new Error(`ip netns del ${this.name} failed: ${r.stderr.trim()}`);
      }
    }
    untrackNamespace(this.name);
  }
}

export interface VethOptions {
  /** IPv4 address for a's end, CIDR ("10.1.0.1/24"); a bare address gets /24. */
  aAddr4: string;
  bAddr4: string;
  /** IPv6 (CIDR; a bare address gets /64). Added with nodad, usable at once. */
  aAddr6?: string;
  bAddr6?: string;
  aName?: string;
  bName?: string;
  mtu?: number;
}

export interface VethPair {
  a: Netns;
  b: Netns;
  aIf: string;
  bIf: string;
  /** Addresses without prefix length. */
  aAddr4: string;
  bAddr4: string;
  aAddr6?: string;
  bAddr6?: string;
}

function withPrefix(addr: string, bits: number): string {
  return addr.includes('/') ? addr : `${addr}/${bits}`;
}

function bare(addr: string): string {
  return addr.split('/')[0]!;
}

async function linkUp(ns: Netns, ifname: string): Promise<boolean> {
  const r = await ns.exec(['ip', '-o', 'link', 'show', 'dev', ifname]);
  return r.code === 0 && r.stdout.includes('LOWER_UP') && /[<,]UP[,>]/.test(r.stdout);
}

/** Create a veth between two namespaces, address both ends, bring them up. */
export async function vethPair(a: Netns, b: Netns, opts: VethOptions): Promise<VethPair> {
  if ((opts.aAddr6 === undefined) !== (opts.bAddr6 === undefined)) {
    throw new Error('vethPair: give both aAddr6 and bAddr6, or neither');
  }
  const aIf = opts.aName ?? a.nextIfName('veth');
  const bIf = opts.bName ?? b.nextIfName('veth');
  // Created inside a, peer placed straight into b: nothing touches the root namespace.
  await a.ip(['link', 'add', aIf, 'type', 'veth', 'peer', 'name', bIf, 'netns', b.name]);
  for (const [ns, ifname, v4, v6] of [
    [a, aIf, opts.aAddr4, opts.aAddr6],
    [b, bIf, opts.bAddr4, opts.bAddr6],
  ] as const) {
    await ns.ip(['addr', 'add', withPrefix(v4, 24), 'dev', ifname]);
    if (v6 !== undefined) await ns.ip(['addr', 'add', withPrefix(v6, 64), 'dev', ifname, 'nodad']);
    if (opts.mtu !== undefined) await ns.ip(['link', 'set', 'dev', ifname, 'mtu', String(opts.mtu)]);
    await ns.ip(['link', 'set', 'dev', ifname, 'up']);
  }
  await waitFor(async () => (await linkUp(a, aIf)) && (await linkUp(b, bIf)), 5000, `veth ${aIf}<->${bIf} to come up`);
  const pair: VethPair = { a, b, aIf, bIf, aAddr4: bare(opts.aAddr4), bAddr4: bare(opts.bAddr4) };
  if (opts.aAddr6 !== undefined && opts.bAddr6 !== undefined) {
    pair.aAddr6 = bare(opts.aAddr6);
    pair.bAddr6 = bare(opts.bAddr6);
  }
  return pair;
}

export interface PingResult {
  sent: number;
  received: number;
  /** Raw ping output (for failure messages). */
  output: string;
}

/**
 * `ping -c COUNT` from inside `ns` (IPv4 or IPv6 by address form). Never
 * throws on loss: check `received`.
 */
export async function ping(ns: Netns, addr: string, count = 3, opts: { waitSec?: number; intervalSec?: number } = {}): Promise<PingResult> {
  const waitSec = opts.waitSec ?? 1;
  const interval = opts.intervalSec ?? 0.2;
  const r = await ns.exec(['ping', '-n', '-q', '-c', String(count), '-i', String(interval), '-W', String(waitSec), addr], {
    timeoutMs: (count * interval + waitSec) * 1000 + 5000,
  });
  const m = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(r.stdout);
  if (!m) throw new Error(`ping ${addr} in ${ns.name}: unparseable output (exit ${r.code}): ${r.stdout}${r.stderr}`);
  return { sent: Number(m[1]), received: Number(m[2]), output: r.stdout + r.stderr };
}
