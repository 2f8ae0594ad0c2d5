/**
 * Runs the [PortMapping] service of a running interface (port mapping for
 * peers: NAT-PMP, PCP, UPnP IGD): the
 * driver side of the sans-IO front-ends in src/portmap.
 *
 *   tunnel UDP 5351 (our IPv4 Addresses) --byte 0 = 0--> handleNatPmp
 *                                        --otherwise--> handlePcp
 *   tunnel UDP 239.255.255.250:1900 (userspace stack) -> handleSsdp -> reply
 *   tunnel TCP Address:UpnpHttpPort -> serveHttpConnection -> IGD handler
 *   any lease change -> NatHost.refreshDynamic(): every live lease is a
 *   forward rule ListenAddress:externalPort -> internalAddress:internalPort;
 *   a lease whose public port cannot be bound is removed and its request
 *   answered with the protocol's failure code.
 *   one unref'd timer at the table's next expiry.
 *
 * Requests are handled one at a time (a promise chain), so the lease a
 * failure belongs to is always the current request's.
 */
import { networkInterfaces } from 'node:os';
import { createHash } from 'node:crypto';
import { DEFAULTS, units, type NatRule, type NetSocket, type NetUdpSocket, type TunnelNet } from '../nat/index.js';
import { parseIp } from '../ip/text.js';
import { encodeKey } from '../crypto/util.js';
import { LeaseTable } from '../portmap/leases.js';
import { handleNatPmp } from '../portmap/natpmp.js';
import { handlePcp } from '../portmap/pcp.js';
import { handleSsdp } from '../portmap/upnp/ssdp.js';
import { serveHttpConnection } from '../portmap/upnp/http.js';
import { createIgdHandler } from '../portmap/upnp/igd.js';
import { uuidFromBytes } from '../portmap/upnp/igd-devices.js';
import type { Lease, PortMapContext, PortMapPolicy } from '../portmap/types.js';
import type { Driver } from './driver.js';
import type { Logger } from './log.js';
import type { NatHost } from './nat-host.js';

export const PORTMAP_UDP_PORT = 5351;
const SSDP_GROUP = '239.255.255.250';
const SSDP_PORT = 1900;
/** Slow or stalled HTTP clients are cut after this (from accept, not reset by data: a slowloris gains nothing). */
export const HTTP_IDLE_MS = 10_000;
/** Open IGD HTTP connections in all, and from one tunnel address (so one peer cannot hold them all). */
export const MAX_HTTP_CONNECTIONS = 32;
export const MAX_HTTP_PER_SOURCE = 8;

/** What the IGD's HTTP port did with hostile or broken clients (`wgts show`/UAPI stats as upnp_http.*). */
interface HttpCounters {
  accepted: number;
  refused_busy: number;
  refused_per_source: number;
  timed_out: number;
  /** Requests refused before the handler, by HTTP status (400, 411, 413, 431, 501, 505) or 500 for a handler that threw. */
  rejected: Map<number, number>;
  /** Error responses of the IGD handler, by status (404, 405, and 500 for SOAP faults: malformed or refused actions). */
  errors: Map<number, number>;
}

const bump = (m: Map<number, number>, status: number): void => void m.set(status, (m.get(status) ?? 0) + 1);

/** The lease as a [Forward]-style rule: public listen port -> the requester's tunnel address. */
export function leaseRule(l: Lease, listenAddress: string): NatRule {
  return {
    kind: 'forward',
    protocols: [l.protocol],
    listen: { host: listenAddress, port: l.externalPort },
    target: { host: l.internalAddress, port: l.internalPort },
    ports: 1,
    source: 'tunnel',
    proxyProtocol: 'off',
    maxConnections: DEFAULTS.maxConnections,
    idleTimeout: DEFAULTS.idleTimeout,
    udpTimeout: DEFAULTS.udpTimeout,
    maxSessions: DEFAULTS.maxSessions,
  };
}

/** The external address to report: configured, else a specific IPv4 ListenAddress, else the host's first public-looking IPv4. */
export function resolveExternalAddress(policy: PortMapPolicy): string {
  if (policy.externalAddress) return policy.externalAddress;
  if (!policy.listenAddress.includes(':') && policy.listenAddress !== '0.0.0.0') return policy.listenAddress;
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '0.0.0.0';
}

/** Static [Forward] listen ports, which leases must never take. */
function reservedPorts(rules: readonly NatRule[]): Array<{ protocol: 'tcp' | 'udp'; port: number }> {
  const out: Array<{ protocol: 'tcp' | 'udp'; port: number }> = [];
  for (const r of rules) for (const protocol of r.protocols) for (let i = 0; i < r.ports; i++) out.push({ protocol, port: r.listen.port + i });
  return out;
}

export class PortMapHost {
  private table: LeaseTable;
  private policy: PortMapPolicy;
  private externalAddress: string;
  private readonly epochStart = performance.now();
  private readonly sockets: NetUdpSocket[] = [];
  private readonly listeners: Array<{ close(): void }> = [];
  private readonly http = new Set<NetSocket>();
  private readonly httpPerSource = new Map<string, number>();
  private readonly httpCounters: HttpCounters = { accepted: 0, refused_busy: 0, refused_per_source: 0, timed_out: 0, rejected: new Map(), errors: new Map() };
  private chain: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly uuid: string;
  readonly tunnelAddress: string;

  constructor(
    private readonly driver: Driver,
    private readonly nat: NatHost,
    private readonly tunnel: TunnelNet,
    policy: PortMapPolicy,
    private readonly log: Logger,
    iface: { addresses: ReadonlyArray<{ ip: string; family: 4 | 6 }>; publicKey: Uint8Array },
  ) {
    // A stable device UUID across restarts: clients cache descriptions by it.
    this.uuid = uuidFromBytes(createHash('sha256').update('wgts upnp device').update(iface.publicKey).digest());
    const v4 = iface.addresses.find((a) => a.family === 4);
    if (!v4) throw new Error('[PortMapping] needs an IPv4 Address in [Interface]');
    this.tunnelAddress = v4.ip;
    this.policy = policy;
    this.externalAddress = resolveExternalAddress(policy);
    this.table = new LeaseTable(policy);
    this.table.setReserved(reservedPorts(nat.staticForwards()));
    nat.dynamic = () => this.table.list().map((l) => leaseRule(l, this.policy.listenAddress));
  }

  private ctx(): PortMapContext {
    return {
      store: this.table,
      externalAddress: this.externalAddress,
      peerOf: (address) => this.peerOf(address),
      epochStart: this.epochStart,
    };
  }

  /** The peer whose AllowedIPs hold `address` (cryptokey routing already checked the packet's source). */
  private peerOf(address: string): string | null {
    const ip = parseIp(address.replace(/^::ffff:(?=\d+\.)/i, ''));
    if (!ip) return null;
    const peer = this.driver.device.allowedIps.lookup(ip);
    return peer ? encodeKey(peer.publicKey) : null;
  }

  async start(): Promise<void> {
    const s = this.policy.services;
    const where: string[] = [];
    if (s.natpmp || s.pcp) {
      const sock = await this.tunnel.udpSocket({ family: 4, address: this.tunnelAddress, port: PORTMAP_UDP_PORT });
      sock.on('error', (e) => this.log.debug(`portmap: UDP ${PORTMAP_UDP_PORT}: ${e.message}`));
      sock.on('message', (msg, rinfo) => this.queue(() => this.onPmpDatagram(sock, msg, rinfo)));
      this.sockets.push(sock);
      where.push(`${[s.natpmp && 'NAT-PMP', s.pcp && 'PCP'].filter(Boolean).join('/')} on ${this.tunnelAddress}:${PORTMAP_UDP_PORT}`);
    }
    if (s.upnp) {
      const base = `http://${this.tunnelAddress}:${this.policy.upnpHttpPort}`;
      const handler = createIgdHandler({
        ctx: () => this.ctx(),
        uuid: this.uuid,
        baseUrl: base,
        now: () => performance.now(),
        onChange: () => this.queue(async () => { await this.refresh('upnp'); }),
      });
      const l = await this.tunnel.listenTcp({ host: this.tunnelAddress, port: this.policy.upnpHttpPort }, (sock) => this.onHttp(sock, handler));
      this.listeners.push(l);
      where.push(`UPnP IGD at ${base}/rootDesc.xml`);
      {
        // SSDP: the userspace stack binds the group address itself; on a
        // kernel TUN the socket joins the group on the tunnel interface.
        try {
          const group = this.tunnel.udpGroup
            ? await this.tunnel.udpGroup({ group: SSDP_GROUP, port: SSDP_PORT, interfaceAddress: this.tunnelAddress })
            : await this.tunnel.udpSocket({ family: 4, address: SSDP_GROUP, port: SSDP_PORT });
          group.on('error', () => {});
          // Replies leave unicast from our tunnel address (the stack picks it for a group-bound socket).
          group.on('message', (msg, rinfo) => {
            for (const r of handleSsdp(msg, rinfo, { location: `${base}/rootDesc.xml`, uuid: this.uuid })) group.send(r, rinfo.port, rinfo.address);
          });
          this.sockets.push(group);
          where.push(`SSDP on ${SSDP_GROUP}:${SSDP_PORT}`);
        } catch (e) {
          this.log.warn(`portmap: SSDP discovery unavailable (${(e as Error).message}); clients need upnpc -u ${base}/rootDesc.xml`);
        }
      }
    }
    this.log.info(`portmap: ${where.join('; ')}; external address ${this.externalAddress}`);
  }

  private queue(fn: () => Promise<void> | void): void {
    const run = this.chain.then(fn);
    this.chain = run.catch((e) => this.log.warn(`portmap: ${(e as Error).message}`));
  }

  private async onPmpDatagram(sock: NetUdpSocket, msg: Uint8Array, rinfo: { address: string; port: number }): Promise<void> {
    if (this.closed || msg.length === 0) return;
    const now = performance.now();
    const isNatPmp = msg[0] === 0;
    if (isNatPmp ? !this.policy.services.natpmp : !this.policy.services.pcp) return;
    const before = new Set(this.table.list());
    const r = isNatPmp ? handleNatPmp(msg, rinfo, this.ctx(), now) : handlePcp(msg, rinfo, this.ctx(), now);
    let reply = r.reply;
    if (r.changed) {
      const failed = await this.refresh(isNatPmp ? 'natpmp' : 'pcp', before);
      if (failed && reply && reply.length >= 4) {
        // The new lease's public port could not be bound: answer the
        // protocol's network-failure code instead of success.
        reply = Uint8Array.from(reply);
        if (isNatPmp) { reply[2] = 0; reply[3] = 3; } else reply[3] = 7;
      }
    }
    if (reply && !this.closed) sock.send(reply, rinfo.port, rinfo.address);
  }

  private onHttp(sock: NetSocket, handler: ReturnType<typeof createIgdHandler>): void {
    const c = this.httpCounters;
    const source = sock.remoteAddress ?? '';
    const fromSource = this.httpPerSource.get(source) ?? 0;
    if (this.closed || this.http.size >= MAX_HTTP_CONNECTIONS || fromSource >= MAX_HTTP_PER_SOURCE) {
      if (!this.closed) {
        if (this.http.size >= MAX_HTTP_CONNECTIONS) c.refused_busy++;
        else c.refused_per_source++;
      }
      sock.destroy();
      return;
    }
    c.accepted++;
    this.http.add(sock);
    this.httpPerSource.set(source, fromSource + 1);
    const idle = setTimeout(() => { c.timed_out++; sock.destroy(); }, HTTP_IDLE_MS);
    idle.unref();
    sock.on('close', () => {
      clearTimeout(idle);
      if (!this.http.delete(sock)) return;
      const n = (this.httpPerSource.get(source) ?? 1) - 1;
      if (n > 0) this.httpPerSource.set(source, n);
      else this.httpPerSource.delete(source);
    });
    sock.on('error', () => {});
    serveHttpConnection(sock, (req, remote) => {
      const res = handler(req, remote);
      if (res.status >= 400) bump(c.errors, res.status);
      return res;
    }, { onReject: (status) => bump(c.rejected, status) });
    sock.resume();
  }

  /**
   * Re-applies the lease forwards. Leases whose port could not be bound
   * are removed; returns true when one of them was new (not in `before`).
   */
  private async refresh(why: string, before: Set<Lease> = new Set(this.table.list())): Promise<boolean> {
    const res = await this.nat.refreshDynamic();
    let newFailed = false;
    if (res.failed.length) {
      const failed = new Map(res.failed.map((f) => [f.rule, f.error]));
      for (const l of this.table.list()) {
        const text = units(leaseRule(l, this.policy.listenAddress))[0]!.text;
        const error = failed.get(text);
        if (error === undefined) continue;
        this.table.removeExternal(l.protocol, l.externalPort);
        if (!before.has(l)) newFailed = true;
        this.log.warn(`portmap: ${why}: cannot open public ${l.protocol} port ${l.externalPort} for ${l.internalAddress}:${l.internalPort}: ${error}`);
      }
      // A unit that failed to start is not running, so dropping its lease
      // needs no second apply.
    }
    for (const t of res.added) this.log.info(`portmap: ${why}: mapped ${t.replace(/^forward /, '').replace(/,Source=.*$/, '')}`);
    for (const t of res.removed) this.log.info(`portmap: unmapped ${t.replace(/^forward /, '').replace(/,Source=.*$/, '')}`);
    this.arm();
    return newFailed;
  }

  private arm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.closed) return;
    const next = this.table.nextDeadline();
    if (!Number.isFinite(next)) return;
    const delay = Math.max(0, Math.min(next - performance.now(), 2 ** 31 - 1));
    this.timer = setTimeout(() => this.queue(() => this.onExpiry()), delay + 5);
    this.timer.unref();
  }

  private async onExpiry(): Promise<void> {
    const gone = this.table.expire(performance.now());
    for (const l of gone) this.log.info(`portmap: lease expired: ${l.protocol} ${l.externalPort} -> ${l.internalAddress}:${l.internalPort} (${l.origin})`);
    await this.refresh('expiry');
  }

  /** SIGHUP: the new policy; leases it no longer permits are dropped, the rest survive. */
  reload(policy: PortMapPolicy): void {
    this.queue(async () => {
      this.policy = policy;
      this.externalAddress = resolveExternalAddress(policy);
      for (const l of this.table.setPolicy(policy, performance.now())) {
        this.log.info(`portmap: reload: dropped ${l.protocol} ${l.externalPort} -> ${l.internalAddress}:${l.internalPort}, no longer allowed`);
      }
      this.table.setReserved(reservedPorts(this.nat.staticForwards()));
      await this.refresh('reload');
    });
  }

  /** For `wgts show`: one entry per live lease, then the IGD HTTP port's counters. */
  stats(now = performance.now()): Array<[string, string]> {
    const c = this.httpCounters;
    const http: Array<[string, string]> = this.policy.services.upnp ? [
      ['upnp_http.open', String(this.http.size)],
      ['upnp_http.accepted', String(c.accepted)],
      ['upnp_http.refused_busy', String(c.refused_busy)],
      ['upnp_http.refused_per_source', String(c.refused_per_source)],
      ['upnp_http.timed_out', String(c.timed_out)],
      ...[...c.rejected].sort(([a], [b]) => a - b).map(([status, n]): [string, string] => [`upnp_http.rejected_${status}`, String(n)]),
      ...[...c.errors].sort(([a], [b]) => a - b).map(([status, n]): [string, string] => [`upnp_http.error_${status}`, String(n)]),
    ] : [];
    return [...this.leaseStats(now), ...http];
  }

  private leaseStats(now: number): Array<[string, string]> {
    return this.table.list().map((l, i): [string, string] => [`portmap.${i}`, JSON.stringify({
      protocol: l.protocol,
      externalPort: l.externalPort,
      internal: `${l.internalAddress}:${l.internalPort}`,
      peer: l.peer,
      origin: l.origin,
      description: l.description,
      expiresIn: Math.max(0, Math.round((l.expiresAt - now) / 1000)),
    })]);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await this.chain.catch(() => {});
    for (const s of this.sockets) s.close();
    for (const l of this.listeners) l.close();
    for (const s of this.http) s.destroy();
    this.nat.dynamic = () => [];
  }
}
