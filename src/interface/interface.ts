/**
 * A running WireGuard interface: one object that starts, reloads and stops
 * everything a config asks for, for `wgts up`, `wgts demo` and embedders.
 * Signals, argument parsing and printing stay with the caller.
 *
 *   start(config, options)
 *     -> mode (TUN when it can be opened, else userspace; or as asked)
 *     -> a live UAPI socket of the same name: refused, nothing started
 *     -> TUN: recover stale state, open the device, wg-quick's steps around
 *        the driver's start          | userspace: the driver with its stack
 *     -> [Forward]/[Expose] rules -> [Socks5]/[http] proxies -> [PortMapping]
 *     -> UAPI socket -> metrics
 *   reload(config)  peers, rules, proxies and the port-mapping policy, in place
 *   stop()          the one teardown: metrics, port mapping, proxies, rules,
 *                   wg-quick's down steps, UAPI, driver (timers, workers, socket)
 *
 * A failed start runs the same teardown over what was started and rejects
 * with the reason, so nothing is left running and the process can exit.
 * An aborted `signal` (SIGINT/SIGTERM during start-up) does the same at the
 * next step boundary and rejects with the signal's reason.
 * Events: 'handshake', 'peer-up', 'peer-down' (a Peer), and 'stop-request'
 * (why, exit code) when the interface can no longer run (its UAPI socket was
 * deleted, the TUN device failed): the owner decides to call stop().
 */
import { EventEmitter } from 'node:events';
import type { WgConfig } from '../config/types.js';
import { formatIssue } from '../config/issues.js';
import { formatEndpoint } from '../config/addr.js';
import { encodeKey } from '../crypto/util.js';
import type { TunnelNet } from '../host/net.js';
import type { Stack } from '../netstack/stack.js';
import type { PortMapPolicy } from '../portmap/types.js';
import type { Peer } from '../transport/peer.js';
import { Driver, type DriverOptions } from '../node/driver.js';
import type { Logger } from '../node/log.js';
import { driverBackend } from '../node/uapi-backend.js';
import { NatHost, rulesOf, type CliRules } from '../node/nat-host.js';
import type { PortMapHost } from '../node/portmap-host.js';
import { driverSnapshot, startMetricsServer, type MetricsServer, type MetricsSnapshot } from '../node/metrics.js';
import { liveUapiSocket, startUapiServer, type UapiServer } from '../uapi/server.js';
import { openTun, WgQuick, StateFile, systemRunner, recoverStale, assertInterfaceAbsent, type TunDevice } from '../tun/index.js';
import { ProxySet, TunnelDialer, TunnelResolver, systemLookup, type ProxyStats } from '../proxy/index.js';
import { chooseMode, type ModeRequest } from './mode.js';
import { exposeSourceWarning } from './expose-source.js';

export type { ModeRequest } from './mode.js';

export interface InterfaceOptions {
  log: Logger;
  /** 'auto' (default): TUN when /dev/net/tun and CAP_NET_ADMIN are there, else userspace. */
  mode?: ModeRequest;
  /** Rules from outside the config (the command line's --forward/--expose). */
  rules?: CliRules;
  /** Serve the UAPI socket (default). `name` overrides the interface name; `optional` keeps running without it. */
  uapi?: false | { name?: string; optional?: boolean };
  /** Where the config came from, for messages ("choose another ListenPort in FILE"). */
  source?: string;
  /** Driver settings for tests and the demo (bind to one address, see inner packets). */
  driver?: Pick<DriverOptions, 'bindAddress' | 'onDeliver' | 'listenPort' | 'cryptoWorkers' | 'nativeUdp'>;
  /** Interrupts the start-up: it stops before the next step, undoes what it did and rejects with signal.reason. */
  signal?: AbortSignal;
}

/** [Interface] keys a reload cannot apply (it applies PrivateKey, the peers, rules, proxies, userspace DNS). */
const RESTART_KEYS: Array<[string, (c: WgConfig) => unknown]> = [
  ['ListenPort', (c) => c.iface.listenPort], ['Address', (c) => c.iface.addresses], ['MTU', (c) => c.iface.mtu],
  ['MetricsListen', (c) => c.iface.metricsListen], ['FwMark', (c) => c.iface.fwMark], ['Table', (c) => c.iface.table],
  ['PreUp', (c) => c.iface.preUp], ['PostUp', (c) => c.iface.postUp], ['PreDown', (c) => c.iface.preDown],
  ['PostDown', (c) => c.iface.postDown], ['Congestion', (c) => c.iface.congestion],
  ['MaxStagedPackets', (c) => c.iface.maxStagedPackets], ['MaxTimeWait', (c) => c.iface.maxTimeWait],
  ['MaxReassemblyBuffers', (c) => c.iface.maxReassemblyBuffers],
];

/** The [Interface] keys that differ between two configs and take effect only at start (TUN mode: DNS too, set by resolvconf at up). */
export function restartOnly(before: WgConfig, after: WgConfig, mode: 'tun' | 'userspace'): string[] {
  const keys = mode === 'tun' ? [...RESTART_KEYS, ['DNS', (c: WgConfig) => c.iface.dns] as [string, (c: WgConfig) => unknown]] : RESTART_KEYS;
  return keys.filter(([, get]) => JSON.stringify(get(before)) !== JSON.stringify(get(after))).map(([key]) => key);
}

/** Interface.start refused the config before starting anything. */
export class ConfigRefused extends Error {}

/** Interface.start found another instance serving the same name, before starting anything. */
export class AlreadyRunning extends Error {}

export interface InterfaceEvents {
  handshake: [peer: Peer];
  'peer-up': [peer: Peer];
  'peer-down': [peer: Peer];
  'stop-request': [why: string, code: number];
}

/** Config warnings that only mean something in one mode: TUN mode acts on these keys. */
const USERSPACE_ONLY_KEYS = new Set(['DNS', 'Table', 'FwMark', 'PreUp', 'PostUp', 'PreDown', 'PostDown']);

export class Interface extends EventEmitter<InterfaceEvents> {
  readonly name: string;
  readonly mode: 'tun' | 'userspace';
  private driver_: Driver | null = null;
  private tun: TunDevice | null = null;
  private wq: WgQuick | null = null;
  private wqUp = false;
  private nat: NatHost | null = null;
  private portmap: PortMapHost | null = null;
  private uapi: UapiServer | null = null;
  private metrics: MetricsServer | null = null;
  private dialer_: TunnelDialer | null = null;
  private resolver_: TunnelResolver | null = null;
  private proxies: ProxySet | null = null;
  private stopping: Promise<void> | null = null;
  /** Every part of the config runs (start() resolved); /readyz answers 200 from then until stop(). */
  private started = false;

  private constructor(
    private config: WgConfig,
    mode: 'tun' | 'userspace',
    private readonly o: InterfaceOptions,
  ) {
    super();
    this.name = config.interfaceName;
    this.mode = mode;
  }

  /** Start everything `config` asks for; rejects (with nothing left running) when any part cannot start. */
  static async start(config: WgConfig, o: InterfaceOptions): Promise<Interface> {
    // Refused whole before anything starts: what only one mode can run decides the mode, or the refusal.
    const clientSourced = rulesOf(config, o.rules ?? { forward: [], expose: [] }).forward.filter((r) => r.source === 'client');
    const needsUserspace = clientSourced.length
      ? `[Forward] ${clientSourced.map((r) => `${r.protocols.join(',')}:${r.listen.port}`).join(', ')} with Source = client needs the userspace stack (a TUN-mode connection carries this host's own address)`
      : undefined;
    const choice = chooseMode(o.mode ?? 'auto', needsUserspace);
    if ('error' in choice) throw new ConfigRefused(choice.error);
    // A second instance of a running name: refused before anything (socket, listener, device) exists.
    const uapiName = o.uapi === false || o.uapi?.optional ? null : o.uapi?.name ?? config.interfaceName;
    const live = uapiName === null ? null : await liveUapiSocket(uapiName).catch(() => null);
    if (live !== null) {
      throw new AlreadyRunning(`${uapiName} is already running: ${live} answers. Stop that one first (wgts down ${uapiName}), or give this one another name with --interface NAME`);
    }
    const iface = new Interface(config, choice.mode, o);
    const log = o.log;
    for (const w of config.warnings) {
      if (choice.mode === 'tun' && w.key !== undefined && USERSPACE_ONLY_KEYS.has(w.key)) continue;
      log.warn(formatIssue(w));
    }
    const exposeWarning = exposeSourceWarning(config, rulesOf(config, o.rules ?? { forward: [], expose: [] }).expose, o.source ?? `${config.interfaceName}.conf`);
    if (exposeWarning) log.warn(exposeWarning);
    if (choice.mode === 'tun') {
      log.info(`TUN mode (${choice.why}): interface ${config.interfaceName} with the kernel's IP stack`);
    } else {
      log.info(`userspace mode (${choice.why}): no TUN device; the built-in stack answers on ${config.iface.addresses.map((a) => `${a.ip}/${a.cidr}`).join(', ') || 'no address'}`);
    }
    log.info(`public key ${encodeKey(config.iface.publicKey)}`);
    try {
      await iface.startParts();
    } catch (e) {
      await iface.stop();
      throw o.signal?.aborted ? o.signal.reason : e;
    }
    iface.started = true;
    return iface;
  }

  /** The driver: the device, its UDP socket, the stack in userspace mode. */
  get driver(): Driver {
    return this.driver_!;
  }

  /** The userspace IP stack (userspace mode), for sockets through the tunnel; null in TUN mode. */
  get stack(): Stack | null {
    return this.driver_?.stack ?? null;
  }

  /** Sockets into the tunnel: the userspace stack, or kernel sockets in TUN mode. */
  get net(): TunnelNet {
    return this.nat!.tunnel;
  }

  /**
   * TCP connections into the tunnel by address or name; in userspace mode an
   * address no peer's AllowedIPs cover fails at once with EHOSTUNREACH.
   */
  get dialer(): TunnelDialer {
    this.dialer_ ??= new TunnelDialer(this.net, {
      ...(this.mode === 'userspace' ? { routed: (ip: Uint8Array) => this.driver.device.allowedIps.lookup(ip) !== undefined } : {}),
      resolve: (name) => this.lookup(name),
    });
    return this.dialer_;
  }

  /**
   * A name to addresses: through the tunnel to the `DNS =` servers (search
   * domains applied), or the system resolver when the config names none.
   */
  lookup(name: string, family: 0 | 4 | 6 = 0): Promise<string[]> {
    const r = this.resolver;
    return r ? r.lookup(name, family) : systemLookup(name, family);
  }

  /** The resolver for the config's `DNS =` servers; null when there are none. */
  get resolver(): TunnelResolver | null {
    const dns = this.config.iface.dns;
    if (dns.servers.length === 0) return null;
    this.resolver_ ??= new TunnelResolver(this.net, { servers: dns.servers, search: dns.search });
    return this.resolver_;
  }

  /** The [Socks5]/[http] proxies' counters. */
  proxyStats(): ProxyStats[] {
    return this.proxies?.stats() ?? [];
  }

  /** Our addresses inside the tunnel (the config's Address values). */
  get addresses(): string[] {
    return this.config.iface.addresses.map((a) => a.ip);
  }

  /** The UAPI socket's path, or null when none is served. */
  get uapiPath(): string | null {
    return this.uapi?.path ?? null;
  }

  /** Peers, drops, send errors and forwarder counters, as the metrics endpoint reports them. */
  stats(): MetricsSnapshot {
    return { ...driverSnapshot(this.name, this.driver, this.nat), proxies: this.proxyStats() };
  }

  private async startParts(): Promise<void> {
    const cfg = this.config;
    const log = this.o.log;
    const checkpoint = (): void => this.o.signal?.throwIfAborted();
    checkpoint();
    if (this.mode === 'tun') await this.openTun();
    checkpoint();
    const driver = new Driver({
      config: cfg, log, ...(this.tun ? { tun: this.tun } : {}), ...this.o.driver,
      onPeerEvent: (e) => this.emit(e.type, e.peer),
    });
    this.driver_ = driver;
    if (this.tun && cfg.iface.fwMark) driver.setFwmark(cfg.iface.fwMark); // userspace mode warns instead
    try {
      if (this.wq) {
        const r = await this.wq.up(() => this.startDriver(driver));
        this.wqUp = true;
        driver.device.mtu = r.mtu;
        if (r.fwmark !== null) driver.setFwmark(r.fwmark);
      } else {
        await this.startDriver(driver);
      }
    } catch (e) {
      checkpoint();
      throw new Error(`cannot start: ${(e as Error).message}`);
    }
    checkpoint();

    const nat = new NatHost(driver, log, cfg.iface.addresses);
    this.nat = nat;
    const applied = await nat.apply(rulesOf(cfg, this.cliRules()));
    if (applied.failed.length) throw new Error(applied.failed.map((f) => `cannot start ${f}`).join('\n'));
    for (const r of applied.added) log.info(`started ${r}`);
    checkpoint();

    this.proxies = new ProxySet(this.dialer, log, {
      net: this.net,
      addresses: () => this.addresses,
      onStdioDone: (why) => this.emit('stop-request', why, 0),
    });
    const proxyFailed = await this.proxies.apply(cfg);
    if (proxyFailed.length) throw new Error(proxyFailed.map((f) => `cannot start the ${f}`).join('\n'));

    checkpoint();
    const policy = cfg.extensions['PortMapping']?.[0] as PortMapPolicy | undefined;
    if (policy) {
      // Loaded only for a [PortMapping] section: the NAT-PMP/PCP/UPnP code is most of a megabyte resident.
      const { PortMapHost, PORTMAP_UDP_PORT } = await import('../node/portmap-host.js');
      try {
        this.portmap = new PortMapHost(driver, nat, nat.tunnel, policy, log, cfg.iface);
        await this.portmap.start();
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        throw new Error(`cannot start [PortMapping]: ${code === 'EADDRINUSE' ? `a port it needs (${PORTMAP_UDP_PORT}/udp or UpnpHttpPort ${policy.upnpHttpPort}/tcp) is in use on the tunnel address` : (e as Error).message}`);
      }
    }

    checkpoint();
    if (this.o.uapi !== false) await this.startUapi(this.o.uapi ?? {});
    checkpoint();
    const ml = cfg.iface.metricsListen;
    if (ml) {
      try {
        this.metrics = await startMetricsServer(ml, () => this.stats(), () => (this.stopping ? 'shutting down' : this.started ? null : 'starting'));
        log.info(`metrics on http://${formatEndpoint(this.metrics.address)}/metrics (health: /healthz, probes: /livez, /readyz)`);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        const why = code === 'EADDRINUSE' ? `${formatEndpoint(ml)} is in use: choose another MetricsListen`
          : code === 'EADDRNOTAVAIL' ? `${ml.host} is not an address of this host: fix MetricsListen`
          : (e as Error).message;
        throw new Error(`cannot start the metrics server: ${why}`);
      }
    }
    this.tun?.onError((e) => this.emit('stop-request', `TUN device error ${e.code ?? e.message}`, 1));
  }

  /** TUN mode: take over from a crashed run, then create the device; wg-quick's steps come with the driver. */
  private async openTun(): Promise<void> {
    const cfg = this.config;
    const state = StateFile.forInterface(cfg.interfaceName);
    const runner = systemRunner();
    const wqLog = (line: string): void => void process.stderr.write(line + '\n');
    try {
      const rec = await recoverStale({ runner, log: wqLog, state });
      if (rec.kind === 'running') throw new Error(`wgts is already running ${cfg.interfaceName} (pid ${rec.pid}); stop it with: wgts down ${cfg.interfaceName}`);
      await assertInterfaceAbsent(cfg.interfaceName, runner);
      this.tun = await openTun(cfg.interfaceName, cfg.iface.mtu !== undefined ? { mtu: cfg.iface.mtu } : {});
    } catch (e) {
      const msg = (e as Error).message;
      throw new Error(msg.startsWith('wgts is already running') ? msg : `cannot create interface ${cfg.interfaceName}: ${msg}`);
    }
    this.wq = new WgQuick({
      name: cfg.interfaceName,
      iface: cfg.iface,
      allowedIps: cfg.peers.flatMap((p) => p.allowedIps),
      runner,
      log: wqLog,
      // wg-quick's steps call back into the driver, which exists by the time they run.
      setFwmark: (m) => this.driver_?.setFwmark(m),
      endpoints: () => this.driver_?.endpointAddresses() ?? [],
      state,
      ...(this.o.signal ? { signal: this.o.signal } : {}),
    });
  }

  private async startDriver(driver: Driver): Promise<void> {
    const port = this.config.iface.listenPort;
    const where = this.o.source ?? 'the config';
    try {
      await driver.start();
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE') throw new Error(`UDP port ${port} is in use: another wgts or wg-quick? Choose another ListenPort in ${where}`);
      if (code === 'EACCES') throw new Error(`not allowed to bind UDP port ${port}: choose a ListenPort above 1023 or run with privileges`);
      throw e;
    }
  }

  private async startUapi(u: { name?: string; optional?: boolean }): Promise<void> {
    const driver = this.driver;
    const name = u.name ?? this.name;
    const backend = driverBackend(driver, (port) => void driver.setListenPort(port), () => [
      ...(this.nat?.stats() ?? []).map((s, i): [string, string] => [`nat.${i}`, JSON.stringify(s)]),
      ...this.proxyStats().map((s, i): [string, string] => [`proxy.${i}`, JSON.stringify(s)]),
      ...(this.portmap?.stats() ?? []),
    ]);
    try {
      // As wireguard-go: deleting NAME.sock (what wg-quick down does to a userspace device) stops us.
      this.uapi = await startUapiServer(name, backend, {
        onEvent: (m) => this.o.log.debug(m),
        onSocketRemoved: () => this.emit('stop-request', 'UAPI socket removed', 0),
      });
      this.o.log.info(`UAPI socket ${this.uapi.path} (use: wgts show ${name}${this.uapi.path.startsWith('/var/run/wireguard/') ? `, or wg show ${name}` : ''})`);
    } catch (e) {
      if (u.optional) return;
      throw new Error(`${(e as Error).message}: is another wgts running as ${name}? Use --interface NAME`);
    }
  }

  private cliRules(): CliRules {
    return this.o.rules ?? { forward: [], expose: [] };
  }

  /**
   * Take a new config: peers added, removed or changed, [Forward]/[Expose]
   * rules and the [PortMapping] policy. Established sessions and
   * connections of unchanged peers and rules are untouched. The config must
   * be a parsed, valid one (a refused file never gets here).
   */
  async reload(config: WgConfig): Promise<void> {
    const log = this.o.log;
    const oldDns = JSON.stringify(this.config.iface.dns);
    // Named, not silently skipped: what only a restart applies (issue 19 bug 8).
    const ignored = restartOnly(this.config, config, this.mode);
    for (const key of ignored) log.warn(`reload: ${key} changed; that takes a restart (the running value is kept until then)`);
    this.config = config;
    if (JSON.stringify(config.iface.dns) !== oldDns) {
      // New servers or search domains: a new resolver (and cache) on next use.
      this.resolver_?.close();
      this.resolver_ = null;
    }
    this.driver.reconfigurePeers(config);
    const r = await this.nat!.apply(rulesOf(config, this.cliRules()));
    for (const x of r.added) log.info(`started ${x}`);
    for (const x of r.removed) log.info(`stopped ${x} (open connections finish)`);
    for (const f of r.failed) log.error(`reload: cannot start ${f}`);
    for (const f of (await this.proxies?.apply(config)) ?? []) log.error(`reload: cannot start the ${f}`);
    const policy = config.extensions['PortMapping']?.[0] as PortMapPolicy | undefined;
    if (this.portmap && policy) this.portmap.reload(policy);
    else if (this.portmap || policy) log.warn(`reload: [PortMapping] was ${policy ? 'added' : 'removed'}; that takes a restart (leases are kept until then)`);
    log.info(ignored.length ? `reload done; not applied until a restart: ${ignored.join(', ')}` : 'reload done');
  }

  /** Stop everything that was started, in reverse order; safe to call more than once. */
  stop(): Promise<void> {
    this.stopping ??= this.teardown();
    return this.stopping;
  }

  private async teardown(): Promise<void> {
    await this.metrics?.close();
    await this.portmap?.close();
    await this.proxies?.close();
    this.resolver_?.close();
    await this.nat?.close();
    if (this.wq && this.wqUp) for (const err of await this.wq.down(this.tun ?? undefined)) this.o.log.warn(`teardown: ${err.message}`);
    else await this.tun?.close(); // wg-quick's steps undid themselves; the device is still ours
    await this.uapi?.close();
    await this.driver_?.stop();
  }
}
