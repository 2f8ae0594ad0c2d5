/**
 * wg-quick(8) `up` for a TUN interface wgts already created, step by step as
 * wireguard-tools src/wg-quick/linux.bash cmd_up does it, each command logged
 * as `[#] ...`:
 *
 *   PreUp hooks -> set_config (the caller's callback: start the device)
 *   -> ip address add (each Address) -> ip link set mtu M up (M as set_mtu_up)
 *   -> resolvconf -a (DNS) -> a route per AllowedIPs prefix (add_route; for /0
 *   add_default: fwmark, policy rules, table route, firewall) -> PostUp hooks
 *
 * What each step changes is recorded in the state file before it runs, so
 * down() (or recovery after a crash) undoes exactly that; a failed up undoes
 * itself (wg-quick's `trap del_if`) and rethrows.
 */
import type { Cidr, InterfaceConfig } from '../config/types.js';
import type { TunDevice } from './tun-device.js';
import { addDefaultFirewall } from './firewall.js';
import {
  FIRST_DEFAULT_TABLE, cidrText, endpointForMtu, familyFlag, linkMtu, mtuFromCandidates,
  resolvconfInput, resolvconfPrefix, routeMtuOrDev, routeOrder, substituteHook,
} from './plan.js';
import type { CommandRunner } from './runner.js';
import type { StateFile, TunState } from './state.js';
import { Steps } from './steps.js';
import { teardown } from './teardown.js';

export type WgQuickInterface = Pick<
  InterfaceConfig,
  'addresses' | 'mtu' | 'dns' | 'table' | 'fwMark' | 'preUp' | 'postUp' | 'preDown' | 'postDown'
>;

export interface WgQuickOptions {
  /** The interface name (the TUN's). */
  name: string;
  iface: WgQuickInterface;
  /** Every peer's AllowedIPs (what `wg show NAME allowed-ips` lists). */
  allowedIps: readonly Pick<Cidr, 'ip' | 'cidr'>[];
  runner: CommandRunner;
  /** Receives each `[#] command` and `[!] warning` line (wg-quick prints them to stderr). */
  log: (line: string) => void;
  /**
   * wg-quick's `wg set NAME fwmark N` (add_default picked table N as the mark):
   * the driver must mark its outer UDP socket(s) with N (setSocketMark) and
   * report N as the fwmark over UAPI.
   */
  setFwmark: (mark: number) => void;
  /** The peers' current endpoint IPs (`wg show NAME endpoints`), read when the MTU is computed. */
  endpoints: () => readonly string[];
  /** Where the record of changes goes; null keeps it in memory only (tests). */
  state: StateFile | null;
  /** Aborted when the start-up is interrupted (a signal): up() stops before its next step and undoes the ones done. */
  signal?: AbortSignal;
}

export interface UpResult {
  /** The MTU set on the interface (the Device must pad to it). */
  mtu: number;
  /** The fwmark in force after up: the config's FwMark, add_default's table, or null. */
  fwmark: number | null;
}

/** cmd_up's first check: `ip link show dev NAME` must fail. */
export async function assertInterfaceAbsent(name: string, runner: CommandRunner): Promise<void> {
  const r = await runner.run(['ip', 'link', 'show', 'dev', name]);
  if (r.code === 0 && r.stdout.trim() !== '') throw new Error(`\`${name}' already exists`);
}

export class WgQuick {
  private readonly steps: Steps;
  private readonly s: TunState;
  private fwmark: number | null;

  constructor(private readonly o: WgQuickOptions) {
    this.steps = new Steps(o.runner, o.log, o.signal);
    const sub = (l: readonly string[]) => l.map((h) => substituteHook(h, o.name));
    const fields = { preDown: sub(o.iface.preDown), postDown: sub(o.iface.postDown) };
    this.s = o.state ? o.state.fresh(fields) : {
      version: 1, name: o.name, pid: process.pid, pidStart: '', netns: '', hooks: false,
      ...fields, dns: null, rules: [], firewall: [], fwmark: null,
    };
    this.fwmark = o.iface.fwMark ? o.iface.fwMark : null;
  }

  /** What has been recorded so far (a copy). */
  get record(): TunState {
    return structuredClone(this.s);
  }

  private save(): void {
    this.o.state?.write(this.s);
  }

  /**
   * Bring the interface up. `setConfig` runs where wg-quick runs `wg addconf`
   * (after PreUp, before the addresses): start the driver there, so the
   * endpoints are resolved when the MTU is computed.
   */
  async up(setConfig?: () => Promise<void>): Promise<UpResult> {
    const name = this.o.name;
    this.save();
    try {
      await this.hooks(this.o.iface.preUp);
      if (setConfig) await setConfig();
      for (const a of this.o.iface.addresses) {
        const p = cidrText(a);
        await this.steps.cmd(['ip', familyFlag(p), 'address', 'add', p, 'dev', name]);
      }
      const mtu = await this.setMtuUp();
      await this.setDns();
      for (const p of routeOrder(this.o.allowedIps)) await this.addRoute(p);
      await this.hooks(this.o.iface.postUp);
      return { mtu, fwmark: this.fwmark };
    } catch (e) {
      await teardown(this.s, this.o, { hooks: false, link: 'skip' });
      throw e;
    }
  }

  /** cmd_down: PreDown, rules, `ip link delete` (then `tun.close()`), DNS, firewall, PostDown. */
  async down(tun?: TunDevice): Promise<Error[]> {
    return teardown(this.s, this.o, { hooks: true, link: 'delete', ...(tun ? { tun } : {}) });
  }

  private async hooks(lines: readonly string[]): Promise<void> {
    for (const h of lines) {
      if (!this.s.hooks) {
        this.s.hooks = true;
        this.save();
      }
      await this.steps.hook(substituteHook(h, this.o.name));
    }
  }

  /** set_mtu_up: the MTU given, else the smallest route MTU towards the endpoints (or the default route) minus 80. */
  private async setMtuUp(): Promise<number> {
    const name = this.o.name;
    let mtu = this.o.iface.mtu;
    if (mtu === undefined) {
      const found: number[] = [];
      const fromRoute = async (output: string): Promise<void> => {
        const r = routeMtuOrDev(output);
        if (!r) return;
        if ('mtu' in r) found.push(r.mtu);
        else {
          const m = linkMtu(await this.steps.query(['ip', 'link', 'show', 'dev', r.dev]));
          if (m !== null) found.push(m);
        }
      };
      for (const ep of this.o.endpoints()) {
        const a = endpointForMtu(ep);
        if (a) await fromRoute(await this.steps.query(['ip', 'route', 'get', a]));
      }
      if (found.length === 0) await fromRoute((await this.steps.query(['ip', 'route', 'show', 'default'])).split('\n')[0] ?? '');
      mtu = mtuFromCandidates(found);
    }
    await this.steps.cmd(['ip', 'link', 'set', 'mtu', String(mtu), 'up', 'dev', name]);
    return mtu;
  }

  /** set_dns: only when DNS servers are given, and only through resolvconf. */
  private async setDns(): Promise<void> {
    const { servers, search } = this.o.iface.dns;
    if (servers.length === 0) return;
    const rc = await this.o.runner.which('resolvconf');
    if (!rc) {
      this.steps.warn(`Warning: DNS = ${servers.join(', ')} not applied: resolvconf is not installed (install resolvconf or openresolv, or systemd-resolved's resolvconf)`);
      return;
    }
    const prefix = resolvconfPrefix(await this.o.runner.readFile('/etc/resolvconf/interface-order'), await this.o.runner.isSymlink(rc));
    this.s.dns = prefix + this.o.name;
    this.save();
    await this.steps.cmd(['resolvconf', '-a', this.s.dns, '-m', '0', '-x'], resolvconfInput(servers, search));
  }

  /** add_route: Table=off adds nothing; Table=N puts every prefix in N; /0 goes to add_default; else main unless already routed. */
  private async addRoute(prefix: string): Promise<void> {
    const name = this.o.name;
    const proto = familyFlag(prefix);
    const table = this.o.iface.table;
    if (table?.kind === 'off') return;
    if (table && table.kind !== 'auto') {
      const t = table.kind === 'id' ? String(table.id) : table.name;
      await this.steps.cmd(['ip', proto, 'route', 'add', prefix, 'dev', name, 'table', t]);
    } else if (prefix.endsWith('/0')) {
      await this.addDefault(prefix);
    } else {
      const existing = await this.steps.query(['ip', proto, 'route', 'show', 'dev', name, 'match', prefix]);
      if (existing.trim() === '') await this.steps.cmd(['ip', proto, 'route', 'add', prefix, 'dev', name]);
    }
  }

  /** add_default: table = fwmark (picked from 51820 up if unset), policy rules, the default route in that table, firewall. */
  private async addDefault(prefix: string): Promise<void> {
    const name = this.o.name;
    if (this.fwmark === null) {
      let t = FIRST_DEFAULT_TABLE;
      while (
        (await this.steps.query(['ip', '-4', 'route', 'show', 'table', String(t)])).trim() !== '' ||
        (await this.steps.query(['ip', '-6', 'route', 'show', 'table', String(t)])).trim() !== ''
      ) t++;
      this.o.log(`[#] wg set ${name} fwmark ${t}`);
      this.o.setFwmark(t);
      this.fwmark = t;
      this.s.fwmark = t;
      this.save();
    }
    const table = this.fwmark;
    const family = prefix.includes(':') ? 6 : 4;
    const proto = familyFlag(prefix);
    const rec = { family, table, suppress: false } as TunState['rules'][number];
    this.s.rules.push(rec);
    this.save();
    await this.steps.cmd(['ip', proto, 'rule', 'add', 'not', 'fwmark', String(table), 'table', String(table)]);
    rec.suppress = true;
    this.save();
    await this.steps.cmd(['ip', proto, 'rule', 'add', 'table', 'main', 'suppress_prefixlength', '0']);
    await this.steps.cmd(['ip', proto, 'route', 'add', prefix, 'dev', name, 'table', String(table)]);
    await addDefaultFirewall(this.steps, name, family, table, (tool) => {
      this.s.firewall.push(tool);
      this.save();
    });
  }
}
