/**
 * `wgts up FILE.conf`: read a wg-quick config, refuse it whole if anything
 * is wrong, then run the device in the foreground until SIGINT/SIGTERM,
 * serving the UAPI so `wg show NAME` works.
 */
import { loadConfigFile } from '../config/load.js';
import { formatIssue } from '../config/issues.js';
import { Driver } from '../node/driver.js';
import { Logger, isLogLevel, type LogLevel } from '../node/log.js';
import { driverBackend } from '../node/uapi-backend.js';
import { startUapiServer, type UapiServer } from '../uapi/server.js';
import { encodeKey } from '../crypto/util.js';
import type { WgConfig } from '../config/types.js';
import type { NatRule } from '../nat/index.js';
import { parseShortForm, checkShortFormRules } from '../config/short-form.js';
import { NatHost, rulesOf, type CliRules } from '../node/nat-host.js';
import type { PortMapHost } from '../node/portmap-host.js';
import type { PortMapPolicy } from '../portmap/types.js';
import { driverSnapshot, startMetricsServer, type MetricsServer } from '../node/metrics.js';
import { formatEndpoint } from '../config/addr.js';
import {
  tunAvailable, hasNetAdmin, openTun, WgQuick, StateFile, systemRunner, recoverStale, assertInterfaceAbsent,
  downInterface, type TunDevice,
} from '../tun/index.js';

export const UP_USAGE = `Usage: wgts up FILE.conf [--tun | --userspace] [--interface NAME] [--log-level error|warn|info|debug]

Reads a wg-quick configuration file and runs the interface in the foreground.
Without --tun or --userspace it picks TUN mode when it can open /dev/net/tun
with CAP_NET_ADMIN, else userspace mode, and says which.
  --tun              a kernel-visible interface, set up step by step as wg-quick does
  --userspace        no TUN device, no privileges: a userspace IP stack answers
                     on the Address values
  --interface NAME   interface name (default: the file's stem, as wg-quick)
  --forward SPEC     like a [Forward] section: PROTO:LISTEN=TARGET[,Key=Value...]
                     e.g. --forward tcp:0.0.0.0:8080=10.0.0.2:8080 (repeatable)
  --expose SPEC      like an [Expose] section, e.g. --expose tcp:10.0.0.2:80=127.0.0.1:8080
SIGHUP re-reads FILE.conf and applies added or removed peers and forwards.
  --log-level LEVEL  default info`;

interface UpArgs { file: string; name?: string; level: LogLevel; mode: 'userspace' | 'tun' | 'auto'; forward: string[]; expose: string[] }

function parseArgs(argv: string[]): UpArgs | string {
  let file: string | undefined;
  let name: string | undefined;
  let level: LogLevel = 'info';
  let mode: UpArgs['mode'] = 'auto';
  const forward: string[] = [];
  const expose: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const val = (): string | undefined => argv[++i];
    if (a === '--userspace') mode = 'userspace';
    else if (a === '--tun') mode = 'tun';
    else if (a === '--interface' || a === '-i') { const v = val(); if (!v) return `${a} needs a value`; name = v; }
    else if (a.startsWith('--interface=')) name = a.slice(12);
    else if (a === '--forward' || a === '--expose') { const v = val(); if (!v) return `${a} needs a value, e.g. ${a === '--forward' ? 'tcp:0.0.0.0:8080=10.0.0.2:8080' : 'tcp:10.0.0.2:8080=127.0.0.1:8080'}`; (a === '--forward' ? forward : expose).push(v); }
    else if (a.startsWith('--forward=')) forward.push(a.slice(10));
    else if (a.startsWith('--expose=')) expose.push(a.slice(9));
    else if (a === '--log-level') { const v = val(); if (!v || !isLogLevel(v)) return `--log-level must be one of error, warn, info, debug`; level = v; }
    else if (a.startsWith('--log-level=')) { const v = a.slice(12); if (!isLogLevel(v)) return `--log-level must be one of error, warn, info, debug`; level = v; }
    else if (a.startsWith('-')) return `unknown option ${a}`;
    else if (file === undefined) file = a;
    else return `unexpected argument ${a}`;
  }
  if (!file) return 'missing FILE.conf';
  return { file, level, mode, forward, expose, ...(name !== undefined ? { name } : {}) };
}

const USERSPACE_ONLY_KEYS = new Set(['DNS', 'Table', 'FwMark', 'PreUp', 'PostUp', 'PreDown', 'PostDown']);

/** Decide the mode: --tun and --userspace force it; otherwise TUN when it can be opened. */
function chooseMode(requested: UpArgs['mode']): { mode: 'tun' | 'userspace'; why: string } | { error: string } {
  if (requested === 'userspace') return { mode: 'userspace', why: '--userspace' };
  const avail = tunAvailable();
  const admin = hasNetAdmin();
  if (requested === 'tun') {
    if (!avail.ok) return { error: `--tun: TUN mode is unavailable: ${avail.why}` };
    if (admin === false) return { error: '--tun: this process lacks CAP_NET_ADMIN (run as root, or use --userspace)' };
    return { mode: 'tun', why: '--tun' };
  }
  if (!avail.ok) return { mode: 'userspace', why: `TUN unavailable: ${avail.why}` };
  if (admin === false) return { mode: 'userspace', why: 'no CAP_NET_ADMIN' };
  return { mode: 'tun', why: 'CAP_NET_ADMIN and /dev/net/tun available' };
}

export async function runUp(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) { console.log(UP_USAGE); return 0; }
  const args = parseArgs(argv);
  if (typeof args === 'string') {
    process.stderr.write(`wgts up: ${args}\n${UP_USAGE}\n`);
    return 1;
  }
  const parsed = await loadConfigFile(args.file, args.name !== undefined ? { interfaceName: args.name } : {});
  if (!parsed.ok) {
    for (const e of parsed.errors) process.stderr.write(`error: ${formatIssue(e)}\n`);
    process.stderr.write(`wgts up: ${args.file} refused; nothing was started\n`);
    return 1;
  }
  const cfg = parsed.config;
  const log = new Logger(cfg.interfaceName, args.level);
  const cli = parseCliRules(args, cfg);
  if (typeof cli === 'string') {
    process.stderr.write(cli);
    process.stderr.write(`wgts up: nothing was started\n`);
    return 1;
  }
  for (const w of cli.warnings) log.warn(w);
  const choice = chooseMode(args.mode);
  if ('error' in choice) {
    log.error(choice.error);
    return 1;
  }
  const tunMode = choice.mode === 'tun';
  for (const w of cfg.warnings) {
    if (tunMode && w.key !== undefined && USERSPACE_ONLY_KEYS.has(w.key)) continue;
    log.warn(formatIssue(w));
  }
  if (tunMode) {
    log.info(`TUN mode (${choice.why}): interface ${cfg.interfaceName} with the kernel's IP stack`);
  } else {
    log.info(`userspace mode (${choice.why}): no TUN device; the built-in stack answers on ${cfg.iface.addresses.map((a) => `${a.ip}/${a.cidr}`).join(', ') || 'no address'}`);
  }
  log.info(`public key ${encodeKey(cfg.iface.publicKey)}`);

  let tun: TunDevice | null = null;
  let wq: WgQuick | null = null;
  // wg-quick's steps call back into the driver, which exists only after the TUN is open.
  let driverRef: Driver | null = null;
  const wqLog = (line: string) => process.stderr.write(line + '\n');
  if (tunMode) {
    const state = StateFile.forInterface(cfg.interfaceName);
    const runner = systemRunner();
    try {
      const rec = await recoverStale({ runner, log: wqLog, state });
      if (rec.kind === 'running') {
        log.error(`wgts is already running ${cfg.interfaceName} (pid ${rec.pid}); stop it with: wgts down ${cfg.interfaceName}`);
        return 1;
      }
      await assertInterfaceAbsent(cfg.interfaceName, runner);
      tun = await openTun(cfg.interfaceName, cfg.iface.mtu !== undefined ? { mtu: cfg.iface.mtu } : {});
    } catch (e) {
      log.error(`cannot create interface ${cfg.interfaceName}: ${(e as Error).message}`);
      return 1;
    }
    wq = new WgQuick({
      name: cfg.interfaceName,
      iface: cfg.iface,
      allowedIps: cfg.peers.flatMap((p) => p.allowedIps),
      runner,
      log: wqLog,
      setFwmark: (m) => driverRef?.setFwmark(m),
      endpoints: () => driverRef?.endpointAddresses() ?? [],
      state,
    });
  }

  const driver = new Driver({ config: cfg, log, ...(tun ? { tun } : {}) });
  driverRef = driver;
  if (tunMode && cfg.iface.fwMark) driver.setFwmark(cfg.iface.fwMark); // userspace mode warns instead
  const startDriver = async (): Promise<void> => {
    try {
      await driver.start();
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE') throw new Error(`UDP port ${cfg.iface.listenPort} is in use: another wgts or wg-quick? Choose another ListenPort in ${args.file}`);
      if (code === 'EACCES') throw new Error(`not allowed to bind UDP port ${cfg.iface.listenPort}: choose a ListenPort above 1023 or run with privileges`);
      throw e;
    }
  };
  try {
    if (wq) {
      const r = await wq.up(startDriver);
      driver.device.mtu = r.mtu;
      if (r.fwmark !== null) driver.setFwmark(r.fwmark);
    } else {
      await startDriver();
    }
  } catch (e) {
    log.error(`cannot start: ${(e as Error).message}`);
    await driver.stop();
    return 1;
  }

  const nat = new NatHost(driver, log);
  const applied = await nat.apply(rulesOf(cfg, cli.rules));
  if (applied.failed.length) {
    for (const f of applied.failed) log.error(`cannot start ${f}`);
    await nat.close();
    if (wq) await wq.down(tun ?? undefined);
    await driver.stop();
    return 1;
  }
  for (const r of applied.added) log.info(`started ${r}`);

  let portmap: PortMapHost | null = null;
  const policy = cfg.extensions['PortMapping']?.[0] as PortMapPolicy | undefined;
  if (policy) {
    // Loaded only for a [PortMapping] section: the NAT-PMP/PCP/UPnP code is most of a megabyte resident.
    const { PortMapHost, PORTMAP_UDP_PORT } = await import('../node/portmap-host.js');
    try {
      portmap = new PortMapHost(driver, nat, nat.tunnel, policy, log, cfg.iface);
      await portmap.start();
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      log.error(`cannot start [PortMapping]: ${code === 'EADDRINUSE' ? `a port it needs (${PORTMAP_UDP_PORT}/udp or UpnpHttpPort ${policy.upnpHttpPort}/tcp) is in use on the tunnel address` : (e as Error).message}`);
      await portmap?.close();
      await nat.close();
      if (wq) await wq.down(tun ?? undefined);
      await driver.stop();
      return 1;
    }
  }

  let uapi: UapiServer | null = null;
  let metrics: MetricsServer | null = null;
  const backend = driverBackend(driver, (port) => {
    void (async () => {
      const old = driver.bind.port;
      try {
        await driver.bind.close();
        await driver.bind.open(port);
        log.info(`listen port changed to ${driver.bind.port}`);
      } catch (e) {
        log.error(`cannot bind UDP port ${port}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; keeping ${old}`);
        await driver.bind.open(old).catch(() => log.error('cannot rebind the old port either'));
      }
    })();
  }, () => [
    ...nat.stats().map((u, i): [string, string] => [`nat.${i}`, JSON.stringify(u)]),
    ...(portmap?.stats() ?? []),
  ]);
  let onSocketRemoved = (): void => {};
  // One listener per signal for the rest of the run: a signal during the rest
  // of start-up is kept and acted on once the shutdown path exists (the
  // default action would skip the clean-up). Swapping listeners instead would
  // lose a signal that libuv caught but had not yet dispatched.
  let earlySignal: NodeJS.Signals | null = null;
  let onSignal = (sig: NodeJS.Signals): void => { earlySignal ??= sig; };
  process.on('SIGINT', (sig) => onSignal(sig));
  process.on('SIGTERM', (sig) => onSignal(sig));
  const shutdown = async (): Promise<void> => {
    await metrics?.close();
    await portmap?.close();
    await nat.close();
    if (wq) for (const err of await wq.down(tun ?? undefined)) log.warn(`teardown: ${err.message}`);
    await uapi?.close();
    await driver.stop();
  };
  try {
    // As wireguard-go: deleting NAME.sock (what wg-quick down does to a userspace device) stops us.
    uapi = await startUapiServer(cfg.interfaceName, backend, { onEvent: (m) => log.debug(m), onSocketRemoved: () => onSocketRemoved() });
    log.info(`UAPI socket ${uapi.path} (use: wgts show ${cfg.interfaceName}${uapi.path.startsWith('/var/run/wireguard/') ? `, or wg show ${cfg.interfaceName}` : ''})`);
  } catch (e) {
    log.error(`${(e as Error).message}: is another wgts running as ${cfg.interfaceName}? Use --interface NAME`);
    await shutdown();
    return 1;
  }
  const ml = cfg.iface.metricsListen;
  if (ml) {
    try {
      metrics = await startMetricsServer(ml, () => driverSnapshot(cfg.interfaceName, driver, nat));
      log.info(`metrics on http://${formatEndpoint(metrics.address)}/metrics (health: /healthz)`);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const why = code === 'EADDRINUSE' ? `${formatEndpoint(ml)} is in use: choose another MetricsListen`
        : code === 'EADDRNOTAVAIL' ? `${ml.host} is not an address of this host: fix MetricsListen`
        : (e as Error).message;
      log.error(`cannot start the metrics server: ${why}`);
      await shutdown();
      return 1;
    }
  }

  return await new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (why: string, code = 0) => {
      if (stopping) return;
      stopping = true;
      log.info(`${why}: shutting down`);
      void shutdown().then(() => resolve(code));
    };
    onSignal = (sig) => {
      if (!stopping) { stop(sig); return; }
      // A second signal while shutting down: the user wants out now.
      log.warn(`${sig} again: exiting without finishing the clean-up`);
      process.exit(1);
    };
    if (earlySignal) stop(earlySignal);
    onSocketRemoved = () => stop('UAPI socket removed');
    process.on('SIGHUP', () => {
      if (stopping) return;
      void reload(args, driver, nat, cli.rules, log, portmap);
    });
    tun?.onError((e) => { if (!stopping) stop(`TUN device error ${e.code ?? e.message}`, 1); });
  });
}

/** Command-line --forward/--expose rules, checked against the config like its own sections. */
function parseCliRules(args: UpArgs, cfg: WgConfig): { rules: CliRules; warnings: string[] } | string {
  const rules: CliRules = { forward: [], expose: [] };
  const errors: string[] = [];
  const warnings: string[] = [];
  for (const kind of ['forward', 'expose'] as const) {
    const items: Array<{ rule: NatRule; arg: string }> = [];
    for (const arg of args[kind]) {
      const r = parseShortForm(kind, arg);
      warnings.push(...r.warnings);
      if (!r.ok) { errors.push(...r.errors); continue; }
      items.push({ rule: r.rule, arg });
      rules[kind].push(r.rule);
    }
    const c = checkShortFormRules(kind, items, cfg);
    errors.push(...c.errors);
    warnings.push(...c.warnings);
  }
  if (errors.length) return errors.map((e) => `error: ${e}\n`).join('');
  return { rules, warnings };
}

/**
 * SIGHUP: re-read the file; if it is valid, apply peers and forwards that were
 * added, removed or changed. Established sessions and connections of
 * unchanged peers and rules are untouched. A bad file changes nothing.
 */
async function reload(args: UpArgs, driver: Driver, nat: NatHost, cli: CliRules, log: Logger, portmap: PortMapHost | null): Promise<void> {
  log.info(`SIGHUP: reloading ${args.file}`);
  const parsed = await loadConfigFile(args.file, args.name !== undefined ? { interfaceName: args.name } : {});
  if (!parsed.ok) {
    for (const e of parsed.errors) log.error(`reload refused: ${formatIssue(e)}`);
    log.error('reload refused: the running configuration is unchanged');
    return;
  }
  const cfg = parsed.config;
  driver.reconfigurePeers(cfg);
  const r = await nat.apply(rulesOf(cfg, cli));
  for (const x of r.added) log.info(`started ${x}`);
  for (const x of r.removed) log.info(`stopped ${x} (open connections finish)`);
  for (const f of r.failed) log.error(`reload: cannot start ${f}`);
  const policy = cfg.extensions['PortMapping']?.[0] as PortMapPolicy | undefined;
  if (portmap && policy) portmap.reload(policy);
  else if (portmap || policy) log.warn(`reload: [PortMapping] was ${policy ? 'added' : 'removed'}; that takes a restart (leases are kept until then)`);
  log.info('reload done');
}

export const DOWN_USAGE = `Usage: wgts down NAME   (stops a wgts running NAME and removes what TUN mode set up, also after a crash)

Example:
  sudo wgts down wg0`;

export async function runDown(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) { console.log(DOWN_USAGE); return 0; }
  if (argv.length !== 1) { process.stderr.write(DOWN_USAGE + '\n'); return 1; }
  const name = argv[0]!.replace(/\.conf$/, '').replace(/^.*\//, '');
  const wqLog = (line: string) => process.stderr.write(line + '\n');
  try {
    const r = await downInterface({ runner: systemRunner(), log: wqLog, state: StateFile.forInterface(name) });
    if (r.kind === 'not-running') {
      // A userspace-mode wgts keeps no state file: stop it by its UAPI socket's owner.
      process.stderr.write(`wgts down: ${name} is not a TUN-mode wgts started here (no state file). For userspace mode, stop the process (Ctrl-C / SIGTERM).\n`);
      return 1;
    }
    return 0;
  } catch (e) {
    process.stderr.write(`wgts down: ${(e as Error).message}\n`);
    return 1;
  }
}
