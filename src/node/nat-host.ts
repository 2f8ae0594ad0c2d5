/**
 * Runs the [Forward] and [Expose] rules of a running interface: builds the
 * Forwarder and Exposer over the right tunnel (the userspace stack, or the
 * kernel in TUN mode), applies file + command-line rules, re-applies them on
 * reload, and reports their counters for `wgts show`. [Forward] targets are
 * judged by their peer's handshake too (peerFresh).
 *
 * In userspace mode a peer's packet to our own tunnel address, or to this
 * host's public address (a full-tunnel phone), on a [Forward] port reaches
 * that forward's target too, as it would through a kernel hub's DNAT: each
 * [Forward] also listens in the stack on our tunnel addresses of its family
 * and on the host addresses it listens on (every non-loopback one for a
 * wildcard; loopback never, so a 127.0.0.1-only forward stays local). These
 * "via the tunnel" copies are logged but not counted as started rules; one
 * that cannot listen is a warning.
 *
 *   [Forward] rules -> Forwarder (host sockets)      -> targets in the tunnel
 *                   -> via-tunnel copies (the stack)  -> the same targets
 *   [Expose] rules  -> Exposer (the stack)            -> services on this host
 */
import { Forwarder, Exposer, KernelNet, RuleSet, StackNet, type ApplyResult, type NatRule, type TunnelNet, type UnitStats } from '../nat/index.js';
import type { WgConfig } from '../config/types.js';
import { networkInterfaces } from 'node:os';
import { parseIp } from '../ip/text.js';
import { REJECT_AFTER_TIME } from '../transport/constants.js';
import type { Driver } from './driver.js';
import type { Logger } from './log.js';

export interface CliRules { forward: NatRule[]; expose: NatRule[] }

export function rulesOf(cfg: WgConfig, cli: CliRules): { forward: NatRule[]; expose: NatRule[] } {
  return {
    forward: [...((cfg.extensions['Forward'] ?? []) as NatRule[]), ...cli.forward],
    expose: [...((cfg.extensions['Expose'] ?? []) as NatRule[]), ...cli.expose],
  };
}

export class NatHost {
  readonly forwarder: Forwarder;
  readonly exposer: Exposer;
  /** Userspace mode: the [Forward] rules again, listening on our tunnel addresses in the stack. */
  private readonly viaTunnel: RuleSet | null;
  /** The tunnel side the rules connect into (also used by the port-mapping service). */
  readonly tunnel: TunnelNet;
  /** Forward rules made at run time (port-mapping leases), applied after the static ones. */
  dynamic: () => NatRule[] = () => [];
  private staticRules: { forward: NatRule[]; expose: NatRule[] } = { forward: [], expose: [] };

  /**
   * `addresses`: our tunnel addresses (the config's Address values), where peers reach the forwards in userspace mode.
   * `hostAddresses`: this host's addresses a wildcard [Forward] listens on (default: os.networkInterfaces()).
   */
  constructor(
    driver: Driver,
    private readonly log: Logger,
    private readonly addresses: ReadonlyArray<{ ip: string; family: 4 | 6 }> = [],
    private readonly hostAddresses: () => ReadonlyArray<{ ip: string; family: 4 | 6 }> = localAddresses,
  ) {
    const tunnel = driver.stack ? new StackNet(driver.stack) : new KernelNet('the tunnel (kernel)');
    this.tunnel = tunnel;
    const natLog = { info: (m: string) => log.info(m), warn: (m: string) => log.warn(m), debug: (m: string) => log.debug(m) };
    // A [Forward] target counts as down while the peer routing to it has no handshake younger
    // than REJECT_AFTER_TIME (180 s): no session could carry a connection to it.
    const peerFresh = (host: string): boolean | null => {
      const ip = parseIp(host);
      const peer = ip ? driver.device.allowedIps.lookup(ip) : undefined;
      if (!peer) return null;
      return peer.lastHandshake !== null && performance.now() - peer.lastHandshake < REJECT_AFTER_TIME;
    };
    this.forwarder = new Forwarder({ tunnel, log: natLog, peerFresh });
    this.exposer = new Exposer({ tunnel, log: natLog });
    // The copies listen transparently: a host address is not one of the stack's own.
    const via = driver.stack ? new StackNet(driver.stack, { transparentListen: true }) : null;
    this.viaTunnel = via ? new RuleSet('forward', via, via, { log: natLog, peerFresh }) : null;
  }

  /** A [Forward] rule per address of ours a peer can reach it at (tunnel and host addresses): same port, options and targets. */
  private tunnelCopies(forward: readonly NatRule[]): NatRule[] {
    const hosts = this.hostAddresses();
    return forward.flatMap((r) => {
      if (r.listen.port === 0) return [];
      const host = r.listen.host;
      const wildcard = host === '0.0.0.0' || host === '::';
      const families = host === '::' ? [4, 6] : host.includes(':') ? [6] : [4];
      const at = new Set(this.addresses.filter((a) => families.includes(a.family)).map((a) => a.ip));
      if (wildcard) {
        for (const a of hosts) if (families.includes(a.family) && !isLoopback(a.ip)) at.add(a.ip);
      } else if (!isLoopback(host)) {
        at.add(host);
      }
      // Without HealthCheck: the forward itself already probes these targets.
      const { health: _probed, ...rest } = r;
      return [...at].map((ip): NatRule => ({ ...rest, listen: { ...r.listen, host: ip } }));
    });
  }

  /** Apply both rule lists; returns one message per rule that could not start. */
  async apply(rules: { forward: NatRule[]; expose: NatRule[] }): Promise<{ failed: string[]; added: string[]; removed: string[] }> {
    this.staticRules = rules;
    const [f, e] = await Promise.all([this.forwarder.applyRules([...rules.forward, ...this.dynamic()]), this.exposer.applyRules(rules.expose)]);
    if (this.viaTunnel) {
      const t = await this.viaTunnel.applyRules(this.tunnelCopies(rules.forward));
      for (const x of t.failed) this.log.warn(`${x.rule}: peers cannot reach this forward at the tunnel address: ${x.error}`);
    }
    return {
      failed: [...f.failed, ...e.failed].map((x) => `${x.rule}: ${x.error}`),
      added: [...f.added, ...e.added],
      removed: [...f.removed, ...e.removed],
    };
  }

  /** The [Forward] rules from the file and the command line. */
  staticForwards(): readonly NatRule[] {
    return this.staticRules.forward;
  }

  /** Re-applies the forward rules after the dynamic ones changed; static ones are kept as they run. */
  refreshDynamic(): Promise<ApplyResult> {
    return this.forwarder.applyRules([...this.staticRules.forward, ...this.dynamic()]);
  }

  stats(): UnitStats[] {
    return [...this.forwarder.stats(), ...(this.viaTunnel?.stats() ?? []), ...this.exposer.stats()];
  }

  async close(): Promise<void> {
    await Promise.all([this.forwarder.close(), this.exposer.close(), this.viaTunnel?.close()]);
  }
}

/** 127.0.0.0/8, ::1 and ::ffff:127.x: a forward listening there is meant for this host only. */
function isLoopback(ip: string): boolean {
  const b = parseIp(ip);
  if (b === null) return false;
  if (b.length === 4) return b[0] === 127;
  const mapped = b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
  return mapped ? b[12] === 127 : b.subarray(0, 15).every((x) => x === 0) && b[15] === 1;
}

/** This host's unicast addresses (link-local IPv6 left out: it needs a zone the stack has no use for). */
function localAddresses(): Array<{ ip: string; family: 4 | 6 }> {
  return Object.values(networkInterfaces()).flatMap((list) => list ?? [])
    .filter((a) => !a.internal && !(a.family === 'IPv6' && a.scopeid !== undefined && a.scopeid !== 0))
    .map((a) => ({ ip: a.address, family: a.family === 'IPv4' ? 4 : 6 }));
}
