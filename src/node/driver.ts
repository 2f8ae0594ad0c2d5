/**
 * The Node driver: the only place with clocks, timers, sockets and
 * randomness. It feeds the sans-IO device and netstack and carries out what
 * they return.
 *
 *   UDP datagram -> device.receive -> datagrams out / inner packets -> stack.input
 *   stack.poll   -> inner packets  -> device.send -> datagrams out
 *   one setTimeout armed for min(device.nextDeadline(), stack.nextDeadline())
 *
 * With crypto workers (cryptoWorkers > 0) the device defers the AEAD work of
 * transport messages: sealed and opened messages go through the CryptoPool
 * and come back, in order, to sendDatagram and device.openFinished.
 */
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { isIP } from 'node:net';
import { Device, sealPending, type Datagram, type Output, type DeviceEvent, type PendingOpen } from '../transport/device.js';
import type { Peer, Endpoint } from '../transport/peer.js';
import { endpointKey } from '../transport/peer.js';
import { parseIp } from '../ip/text.js';
import { Stack } from '../netstack/stack.js';
import type { WgConfig, PeerConfig } from '../config/types.js';
import { UdpBind } from '../host/udp-bind.js';
import type { TunDevice } from '../tun/device.js';
import { setSocketMark } from '../host/mark.js';
import { Logger } from './log.js';
import { CryptoPool } from './crypto-pool.js';
import { flushAll } from '../host/native-udp.js';
import type { MarkableSocket } from '../host/mark.js';

/** Re-resolve a hostname endpoint when the peer's last handshake is older than this (as wg's reresolve-dns). */
const RERESOLVE_AFTER = 135_000;
const RERESOLVE_EVERY = 30_000;
/** When to explain a missing first handshake. */
const FIRST_HANDSHAKE_WARN = 15_000;

export interface DriverOptions {
  config: WgConfig;
  log: Logger;
  /** Override for tests: 0 = random. Defaults to the config's ListenPort. */
  listenPort?: number;
  /** Bind the UDP socket to one address (e.g. 127.0.0.1 for the demo). Default: all, dual-stack. */
  bindAddress?: string;
  /** Sees every inner packet the device delivers, before the stack does. */
  onDeliver?: (packet: Uint8Array) => void;
  /** TUN mode: inner packets go to and come from this device instead of the userspace stack. */
  tun?: TunDevice;
  /** Hostname lookup (default: the system resolver via dns.lookup). */
  resolver?: (host: string) => Promise<string>;
  /** When to explain a missing first handshake (ms, default 15 s). */
  firstHandshakeWarnMs?: number;
  /** How often to check for stale hostname endpoints, and how stale counts (ms). Defaults 30 s and 135 s. */
  reresolve?: { everyMs: number; afterMs: number };
  /**
   * Threads for transport encryption/decryption; 0 keeps all crypto on the
   * main thread. Default: the WGTS_CRYPTO_WORKERS environment variable, else
   * defaultCryptoWorkers().
   */
  cryptoWorkers?: number;
  /** The addon's batched UDP socket when it is built (default), or false for node:dgram. */
  nativeUdp?: boolean;
}

/**
 * Crypto threads when not configured: WGTS_CRYPTO_WORKERS if set ("auto":
 * one fewer than the CPUs, at most 4), else 0. With the WebAssembly AEAD the
 * main thread spends ~3 % of its time on crypto and most of the rest in
 * send/write syscalls, which cannot move; measured in netns (bench/) a worker
 * gained at most what the noise allows and cost ~25 % more CPU per byte.
 */
export function defaultCryptoWorkers(): number {
  const env = process.env['WGTS_CRYPTO_WORKERS'];
  if (env === 'auto') return Math.max(0, Math.min(availableParallelism() - 1, 4));
  if (env !== undefined && /^\d+$/.test(env)) return Math.min(Number(env), 16);
  return 0;
}

/**
 * Test-only knob: WGTS_TEST_UNDER_LOAD_THRESHOLD=N sets the handshakes per
 * second above which the device demands cookies (0: always under load), so
 * interop tests can see a real peer complete the cookie round trip. Not a
 * config key and not documented for users.
 */
function testUnderLoadThreshold(): { underLoadThreshold?: number } {
  const env = process.env['WGTS_TEST_UNDER_LOAD_THRESHOLD'];
  return env !== undefined && /^\d+$/.test(env) ? { underLoadThreshold: Number(env) } : {};
}

const now = (): number => performance.now();
/**
 * Randomness for the core, drawn from a pool refilled 4 KiB at a time: one
 * randomBytes call costs about as much as sealing a packet, and the handshake
 * and cookie paths ask for 24-32 bytes per message. Each draw is a fresh copy.
 */
const POOL_SIZE = 4096;
let pool = randomBytes(POOL_SIZE);
let poolAt = 0;
const random = (n: number): Uint8Array => {
  if (n > POOL_SIZE) return new Uint8Array(randomBytes(n));
  if (poolAt + n > POOL_SIZE) { pool = randomBytes(POOL_SIZE); poolAt = 0; }
  const out = new Uint8Array(n);
  out.set(pool.subarray(poolAt, poolAt + n));
  pool.fill(0, poolAt, poolAt + n); // a byte handed out is not kept
  poolAt += n;
  return out;
};

function humanPeer(p: Peer): string {
  return `peer ${p.label}`;
}

export class Driver {
  readonly device: Device;
  readonly stack: Stack | null;
  readonly tun: TunDevice | null;
  /** SO_MARK for the outer socket (TUN mode: wg-quick's policy routing); 0 = none. */
  fwmark = 0;
  readonly log: Logger;
  readonly bind: UdpBind;
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  private resolveTimer: NodeJS.Timeout | null = null;
  private firstHandshakeTimer: NodeJS.Timeout | null = null;
  /** Hostname endpoints from the config, by peer id, for re-resolution. */
  private readonly hostEndpoints = new Map<string, { host: string; port: number }>();
  private readonly up = new Set<string>();
  private stopped = false;
  /** Datagrams that could not be sent because of a socket error, by code. */
  readonly sendErrors = new Map<string, number>();
  /** Worker threads doing the transport AEAD, when enabled. */
  private pool: CryptoPool | null = null;

  constructor(private readonly opts: DriverOptions) {
    const cfg = opts.config;
    this.log = opts.log;
    this.device = new Device({
      privateKey: cfg.iface.privateKey,
      random,
      wallClock: () => Date.now(),
      mtu: cfg.iface.mtu ?? 1420,
      ...(cfg.iface.maxStagedPackets !== undefined ? { maxStagedPackets: cfg.iface.maxStagedPackets } : {}),
      ...testUnderLoadThreshold(),
    });
    this.tun = opts.tun ?? null;
    if (this.tun) {
      this.stack = null;
      this.tun.onPacket((p) => this.sendInner(p));
    } else {
      this.stack = new Stack({
        addresses: cfg.iface.addresses.map((a) => ({ ip: a.ip, cidr: a.cidr })),
        mtu: cfg.iface.mtu ?? 1420,
        random,
        ...(cfg.iface.maxTimeWait !== undefined ? { tcp: { maxTimeWait: cfg.iface.maxTimeWait } } : {}),
        ...(cfg.iface.maxReassemblyBuffers !== undefined ? { reassembly: { maxDatagrams: cfg.iface.maxReassemblyBuffers } } : {}),
      });
      this.stack.onWake = () => this.pump();
    }
    this.bind = new UdpBind(
      (data, from) => this.onDatagram(data, from),
      (e) => this.log.warn(`udp socket: ${e.message}`),
      (sock) => { if (this.fwmark) this.applyMark(sock); },
      {
        onDrop: (code, n) => this.countSendError(code, n),
        // One timer re-arm per received batch: nextDeadline() looks at every peer.
        onBatchEnd: () => this.schedule(),
        ...(opts.nativeUdp === false ? { native: false } : {}),
      },
    );
  }

  async start(): Promise<void> {
    const cfg = this.opts.config;
    const port = await this.bind.open(this.opts.listenPort ?? cfg.iface.listenPort ?? 0, this.opts.bindAddress);
    this.log.info(`listening on UDP port ${port} (${this.bind.kind === 'dgram' ? 'node:dgram' : `batched: ${this.bind.kind}`})`);
    await this.startPool(this.opts.cryptoWorkers ?? defaultCryptoWorkers());
    for (const pc of cfg.peers) await this.addConfigPeer(pc);
    for (const p of this.device.listPeers()) {
      this.log.info(p.endpoint
        ? `${humanPeer(p)}: waiting for the first handshake with ${endpointKey(p.endpoint)}`
        : `${humanPeer(p)}: no Endpoint; waiting for it to connect`);
    }
    // Say what is still missing if the first handshake takes long.
    const warnAfter = this.opts.firstHandshakeWarnMs ?? FIRST_HANDSHAKE_WARN;
    this.firstHandshakeTimer = setTimeout(() => {
      for (const p of this.device.listPeers()) {
        if (p.lastHandshake !== null) continue;
        this.log.warn(p.endpoint
          ? `${humanPeer(p)}: no handshake after ${warnAfter / 1000} s with ${endpointKey(p.endpoint)}: is that UDP port reachable, and do both sides have each other's PublicKey (and the same PresharedKey)?`
          : `${humanPeer(p)}: no handshake after ${warnAfter / 1000} s; it has no Endpoint here, so it must connect to our port ${this.bind.port}`);
      }
    }, warnAfter);
    this.firstHandshakeTimer.unref();
    this.resolveTimer = setInterval(() => void this.reresolve(), this.opts.reresolve?.everyMs ?? RERESOLVE_EVERY);
    this.resolveTimer.unref();
    this.schedule();
  }

  /** The crypto worker pool's counters, or null when crypto runs on the main thread only. */
  get cryptoPool(): { workers: number; offloaded: number; inline: number } | null {
    const p = this.pool;
    return p ? { workers: p.workers, offloaded: p.offloaded, inline: p.inline } : null;
  }

  private async startPool(workers: number): Promise<void> {
    if (workers <= 0) return;
    try {
      this.pool = await CryptoPool.create(workers, {
        onSealed: (d, ok) => {
          if (ok) this.sendDatagram(d.data, d.to);
          else this.countSendError('session-ended');
        },
        onOpened: (job, plain) => this.opened(job, plain),
        onDrained: () => {
          if (this.stopped) return;
          this.pumpStack(now());
          this.pool?.flush();
          this.schedule();
        },
      });
      this.device.deferCrypto = true;
      this.log.debug(`transport crypto on ${workers} worker thread${workers === 1 ? '' : 's'}`);
    } catch (e) {
      this.log.warn(`crypto worker threads unavailable (${(e as Error).message}); encrypting on the main thread`);
    }
  }

  private async addConfigPeer(pc: PeerConfig): Promise<void> {
    let endpoint: Endpoint | null = null;
    if (pc.endpoint) {
      if (isIP(pc.endpoint.host)) endpoint = { address: pc.endpoint.host, port: pc.endpoint.port };
      else endpoint = await this.resolve(pc.endpoint.host, pc.endpoint.port);
    }
    const peer = this.applyPeerConfig(pc, endpoint);
    if (peer && pc.endpoint && !isIP(pc.endpoint.host)) this.hostEndpoints.set(peer.id, pc.endpoint);
  }

  /**
   * Apply one [Peer] of a config: keys, AllowedIPs (replacing the peer's old
   * set), PersistentKeepalive; `endpoint` undefined keeps the current (maybe
   * roamed) one. Returns null for a peer with our own public key.
   */
  applyPeerConfig(pc: PeerConfig, endpoint: Endpoint | null | undefined): Peer | null {
    const t = now();
    const dev = this.device;
    const { peer, output } = dev.upsertPeer({
      publicKey: pc.publicKey,
      presharedKey: pc.presharedKey ?? null,
      ...(endpoint !== undefined ? { endpoint } : {}),
    }, t);
    this.handle(output);
    if (!peer) return null;
    dev.allowedIps.removeValue(peer);
    for (const a of pc.allowedIps) dev.allowedIps.insert(parseIp(a.ip)!, a.cidr, peer);
    this.handle(dev.setPersistentKeepalive(peer, pc.persistentKeepalive, t));
    return peer;
  }

  /**
   * Reload: take the config's private key and peers. Peers not in it are
   * removed; the others are updated in place, so their sessions survive.
   * Hostname endpoints are not looked up again here (the re-resolution timer
   * does that); an IP endpoint in the file replaces the current one.
   */
  reconfigurePeers(cfg: WgConfig): void {
    const dev = this.device;
    dev.setPrivateKey(cfg.iface.privateKey);
    const wanted = new Set(cfg.peers.map((p) => Buffer.from(p.publicKey).toString('hex')));
    for (const p of dev.listPeers()) {
      if (!wanted.has(p.id)) { dev.removePeer(p.publicKey); this.log.info(`${humanPeer(p)}: removed`); }
    }
    for (const pc of cfg.peers) {
      const existed = dev.getPeer(pc.publicKey) !== undefined;
      const ep = pc.endpoint && isIP(pc.endpoint.host) ? { address: pc.endpoint.host, port: pc.endpoint.port } : undefined;
      const peer = this.applyPeerConfig(pc, ep);
      if (peer && !existed) this.log.info(`${humanPeer(peer)}: added`);
    }
    this.schedule();
  }

  private async resolve(host: string, port: number): Promise<Endpoint | null> {
    this.log.info(`resolving endpoint ${host}...`);
    try {
      // node:dns only for hostname endpoints (it is ~0.9 MB resident).
      const address = this.opts.resolver ? await this.opts.resolver(host) : (await (await import('node:dns/promises')).lookup(host, { verbatim: true })).address;
      this.log.info(`resolved ${host} to ${address}`);
      return { address, port };
    } catch (e) {
      this.log.warn(`cannot resolve endpoint ${host}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; will retry`);
      return null;
    }
  }

  /** The dynamic-DNS case: look hostnames up again for peers that have gone quiet. */
  private async reresolve(): Promise<void> {
    for (const [id, ep] of this.hostEndpoints) {
      const peer = this.device.listPeers().find((p) => p.id === id);
      if (!peer) { this.hostEndpoints.delete(id); continue; }
      if (peer.lastHandshake !== null && now() - peer.lastHandshake < (this.opts.reresolve?.afterMs ?? RERESOLVE_AFTER)) continue;
      const e = await this.resolve(ep.host, ep.port);
      if (e && (!peer.endpoint || endpointKey(peer.endpoint) !== endpointKey(e))) {
        peer.endpoint = e;
        this.log.info(`${humanPeer(peer)}: endpoint re-resolved to ${endpointKey(e)}`);
        // Packets staged while the old address was dead go out now.
        this.handle(this.device.tick(now()));
        this.schedule();
      }
    }
  }

  /** Mark the outer socket (and every later rebind) with SO_MARK `mark`; 0 clears it. */
  setFwmark(mark: number): void {
    this.fwmark = mark;
    const sock = this.bind.socket;
    if (sock) this.applyMark(sock);
  }

  private applyMark(sock: MarkableSocket): void {
    try {
      setSocketMark(sock, this.fwmark);
    } catch (e) {
      this.log.error(`cannot set fwmark ${this.fwmark} on the UDP socket: ${(e as Error).message}`);
    }
  }

  /** The peers' current endpoint addresses (wg-quick's MTU rule reads them). */
  endpointAddresses(): string[] {
    return this.device.listPeers().flatMap((p) => (p.endpoint ? [p.endpoint.address] : []));
  }

  /** Forget the configured hostname for a peer (its endpoint was set by hand). */
  forgetHostname(peer: Peer): void {
    this.hostEndpoints.delete(peer.id);
  }

  private onDatagram(data: Uint8Array, from: Endpoint): void {
    if (this.stopped) return;
    const pool = this.pool;
    if (!pool) {
      this.handle(this.device.receive(data, from, now()));
    } else {
      const t = now();
      const out: Output = { datagrams: [], packets: [], events: [] };
      const job = this.device.receiveDeferred(data, from, t, out);
      if (job) pool.open(job);
      this.emit(out, t);
      if (this.stack && out.packets.length) this.pumpStack(t);
      pool.flush();
    }
    if (!this.bind.batching) this.schedule();
  }

  /** A transport message back from the crypto workers. */
  private opened(job: PendingOpen, plain: Uint8Array | null): void {
    if (this.stopped) return;
    const t = now();
    const out: Output = { datagrams: [], packets: [], events: [] };
    this.device.openFinished(job, plain, t, out);
    this.emit(out, t);
  }

  /** Carry out what the core asked for, until nothing is left. */
  handle(out: Output): void {
    const t = now();
    this.emit(out, t);
    if (this.stack) this.pumpStack(t);
    this.pool?.flush();
  }

  /** Send, log and deliver one Output (the stack is pumped by the caller). */
  private emit(out: Output, t: number): void {
    for (const d of out.datagrams) this.transmit(d);
    for (const e of out.events) this.logEvent(e);
    if (out.packets.length === 0) return;
    if (this.opts.onDeliver) for (const p of out.packets) this.opts.onDeliver(p.packet);
    if (this.tun) {
      for (const p of out.packets) this.tun.write(p.packet);
    } else if (this.stack) {
      for (const p of out.packets) this.stack.input(p.packet, t);
    }
  }

  /** A datagram from the device: transport data may still need its seal (deferred crypto). */
  private transmit(d: Datagram): void {
    if (!d.seal) this.sendDatagram(d.data, d.to);
    else if (this.pool) this.pool.seal(d);
    else if (sealPending(d)) this.sendDatagram(d.data, d.to);
    else this.countSendError('session-ended');
  }

  /** Send an inner IP packet into the tunnel, as if the host had routed it there. */
  sendInner(packet: Uint8Array): void {
    const o = this.device.send(packet, now());
    this.handle(o);
    this.schedule();
  }

  private pumpStack(t: number): void {
    if (!this.stack) return;
    for (let rounds = 0; rounds < 64; rounds++) {
      const pkts = this.stack.poll(t);
      if (pkts.length === 0) return;
      for (const p of pkts) {
        const o = this.device.send(p, t);
        for (const d of o.datagrams) this.transmit(d);
        for (const e of o.events) this.logEvent(e);
      }
    }
  }

  private pumpQueued = false;

  /** Called by the stack when it has output outside a device call (a socket write): poll soon, once. */
  pump(): void {
    if (this.stopped || this.pumpQueued) return;
    this.pumpQueued = true;
    setImmediate(() => {
      this.pumpQueued = false;
      if (this.stopped) return;
      this.pumpStack(now());
      this.pool?.flush();
      this.schedule();
      flushAll();
    });
  }

  private sendDatagram(data: Uint8Array, to: Endpoint): void {
    try {
      this.bind.send(data, to);
    } catch (e) {
      this.countSendError((e as NodeJS.ErrnoException).code ?? 'error');
    }
  }

  private countSendError(code: string, n = 1): void {
    this.sendErrors.set(code, (this.sendErrors.get(code) ?? 0) + n);
  }

  private logEvent(e: DeviceEvent): void {
    switch (e.type) {
      case 'handshake-initiated':
        this.log.debug(`${humanPeer(e.peer)}: sending handshake initiation${e.retry ? ' (retry)' : ''}`);
        break;
      case 'handshake-complete':
        this.log.info(`${humanPeer(e.peer)}: handshake complete (${e.role})`);
        if (!this.up.has(e.peer.id)) {
          this.up.add(e.peer.id);
          this.log.info(`${humanPeer(e.peer)}: up`);
        }
        break;
      case 'handshake-gave-up':
        this.log.info(`${humanPeer(e.peer)}: handshake did not complete after 90 seconds, giving up`);
        if (this.up.delete(e.peer.id)) this.log.info(`${humanPeer(e.peer)}: down`);
        break;
      case 'keys-zeroed':
        this.log.debug(`${humanPeer(e.peer)}: session keys zeroed after inactivity`);
        if (this.up.delete(e.peer.id)) this.log.info(`${humanPeer(e.peer)}: down`);
        break;
      case 'endpoint-changed':
        this.log.info(`${humanPeer(e.peer)}: endpoint ${endpointKey(e.endpoint)}`);
        break;
      case 'cookie-sent':
        if (this.log.level === 'debug') this.log.debug(`under load: cookie reply to ${endpointKey(e.to)}`);
        break;
      default: {
        const never: never = e;
        void never;
      }
    }
  }

  /**
   * Arm the single timer for the earliest deadline of the device and the
   * stack. A timer already armed no later than needed is kept: when it fires
   * early, onTimer finds nothing due and re-arms. This avoids a clearTimeout/
   * setTimeout pair per packet.
   */
  schedule(): void {
    if (this.stopped) return;
    const next = Math.min(this.device.nextDeadline(), this.stack ? this.stack.nextDeadline() : Infinity);
    if (!Number.isFinite(next)) return;
    if (this.timer && this.timerAt <= next) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = next;
    const delay = Math.max(0, Math.ceil(next - now()));
    this.timer = setTimeout(() => this.onTimer(), Math.min(delay, 2 ** 31 - 1));
  }

  private onTimer(): void {
    this.timer = null;
    this.timerAt = Infinity;
    const t = now();
    this.handle(this.device.tick(t));
    this.schedule();
    flushAll();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.resolveTimer) clearInterval(this.resolveTimer);
    if (this.firstHandshakeTimer) clearTimeout(this.firstHandshakeTimer);
    if (this.pool) {
      this.device.deferCrypto = false;
      await this.pool.close();
      this.pool = null;
    }
    await this.bind.close();
  }
}
