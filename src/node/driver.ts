/**
 * The Node driver: the only place with clocks, timers, sockets and
 * randomness. It feeds the sans-IO device and netstack and carries out what
 * they return.
 *
 *   UDP datagram -> device.receive -> datagrams out / inner packets -> stack.input
 *                   (userspace mode: a packet for another peer's AllowedIPs
 *                   goes back out to that peer, as a kernel hub routes it)
 *   stack.poll   -> inner packets  -> device.send -> datagrams out
 *   one setTimeout armed for min(device.nextDeadline(), stack.nextDeadline())
 *
 * Every entry point (a datagram, a TUN packet, the timer, a stack wake-up,
 * a control-plane change) ends its turn with settle(): emit what the core
 * returned, pump the stack, hand queued crypto to the workers, arm the
 * timer, and, outside a received batch, flush the batched UDP socket.
 * Peer events are told by event-log.ts, hostname endpoints are looked up by
 * endpoints.ts, randomness comes from random-pool.ts.
 *
 * With crypto workers (cryptoWorkers > 0) the device defers the AEAD work of
 * transport messages: sealed and opened messages go through the CryptoPool
 * and come back, in order, to sendDatagram and device.openFinished.
 */
import { availableParallelism } from 'node:os';
import { isIP } from 'node:net';
import { Device, sealPending, type Datagram, type DeliveredPacket, type Output, type PendingOpen } from '../transport/device.js';
import { decrementHopLimit, packetDestination } from '../transport/packet.js';
import type { Peer, Endpoint } from '../transport/peer.js';
import { endpointKey } from '../transport/peer.js';
import { parseIp } from '../ip/text.js';
import { Stack } from '../netstack/stack.js';
import type { WgConfig, PeerConfig } from '../config/types.js';
import { UdpBind } from '../host/udp-bind.js';
import type { TunDevice } from '../tun/tun-device.js';
import { setSocketMark } from '../host/mark.js';
import { Logger } from './log.js';
import { EventLog, peerName, type PeerEvent } from './event-log.js';
import { DropLog } from './drop-log.js';
import { encodeKey } from '../crypto/util.js';
import { EndpointResolver } from './endpoints.js';
import { random } from './random-pool.js';
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
  /** Peer handshakes and up/down transitions, as the log tells them. */
  onPeerEvent?: (e: PeerEvent) => void;
  /** When to explain a missing first handshake (ms, default 15 s). */
  firstHandshakeWarnMs?: number;
  /** How often drop counters are checked for DropLog's lines (default 5 s; tests shorten it). */
  dropLogCheckMs?: number;
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

/**
 * Test-only knob: WGTS_TEST_REKEY_AFTER_MESSAGES=N makes the initiator re-key
 * once a session has sent N messages (normally 2^49, never reached), so a
 * fault test can run a transfer across several rekeys in seconds instead of
 * REKEY_AFTER_TIME (120 s) each. Not a config key and not documented for users.
 */
function testRekeyAfterMessages(): { rekeyAfterMessages?: number } {
  const env = process.env['WGTS_TEST_REKEY_AFTER_MESSAGES'];
  return env !== undefined && /^\d+$/.test(env) ? { rekeyAfterMessages: Number(env) } : {};
}

const now = (): number => performance.now();
/** How often the drop counters are looked at for DropLog (its lines are at most one per cause per minute). */
const DROP_LOG_CHECK_MS = 5000;
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
  private firstHandshakeTimer: NodeJS.Timeout | null = null;
  private dropLogTimer: NodeJS.Timeout | null = null;
  private readonly events: EventLog;
  private readonly endpoints: EndpointResolver;
  private stopped = false;
  /** Datagrams that could not be sent because of a socket error, by code. */
  readonly sendErrors = new Map<string, number>();
  /** Worker threads doing the transport AEAD, when enabled. */
  private pool: CryptoPool | null = null;

  constructor(private readonly opts: DriverOptions) {
    const cfg = opts.config;
    this.log = opts.log;
    this.device = new Device({
      // An empty key is no key: wgts-tun starts so and takes one over UAPI.
      privateKey: cfg.iface.privateKey.length > 0 ? cfg.iface.privateKey : null,
      random,
      wallClock: () => Date.now(),
      mtu: cfg.iface.mtu ?? 1420,
      ...(cfg.iface.maxStagedPackets !== undefined ? { maxStagedPackets: cfg.iface.maxStagedPackets } : {}),
      ...testUnderLoadThreshold(),
      ...testRekeyAfterMessages(),
    });
    this.events = new EventLog(this.log, opts.onPeerEvent);
    this.endpoints = new EndpointResolver({
      device: this.device,
      log: this.log,
      ...(opts.resolver ? { lookup: opts.resolver } : {}),
      everyMs: opts.reresolve?.everyMs ?? RERESOLVE_EVERY,
      afterMs: opts.reresolve?.afterMs ?? RERESOLVE_AFTER,
      // Packets staged while the old address was dead go out now.
      onChanged: () => this.settle(this.device.tick(now()), now()),
      now,
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
        tcp: {
          ...(cfg.iface.maxTimeWait !== undefined ? { maxTimeWait: cfg.iface.maxTimeWait } : {}),
          ...(cfg.iface.congestion !== undefined ? { congestion: cfg.iface.congestion } : {}),
        },
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
        // The stack is polled once per batch, so one ACK answers the batch's segments of a connection.
        onBatchEnd: () => (this.stack ? this.settle(null, now()) : this.schedule()),
        onSourceGone: (local) => {
          const n = this.device.clearEndpointSource(local);
          this.log.info(`local address ${local} is gone: ${n} peer${n === 1 ? '' : 's'} answered from the kernel's choice until they send again`);
        },
        ...(opts.nativeUdp === false ? { native: false } : {}),
      },
    );
  }

  async start(): Promise<void> {
    const cfg = this.opts.config;
    const port = await this.bind.open(this.opts.listenPort ?? cfg.iface.listenPort ?? 0, this.opts.bindAddress);
    this.log.info(`listening on UDP port ${port} (${this.bind.kind === 'dgram'
      ? 'node:dgram, which cannot see the address a datagram was sent to: replies leave from the kernel\'s choice of source address, not the one each peer used'
      : `batched: ${this.bind.kind}`})`);
    await this.startPool(this.opts.cryptoWorkers ?? defaultCryptoWorkers());
    for (const pc of cfg.peers) await this.addConfigPeer(pc);
    for (const p of this.device.listPeers()) {
      const name = this.endpoints.unresolved(p);
      this.log.info(p.endpoint
        ? `${peerName(p)}: waiting for the first handshake with ${endpointKey(p.endpoint)}`
        : name !== undefined ? `${peerName(p)}: waiting for its Endpoint ${name} to resolve`
        : `${peerName(p)}: no Endpoint; waiting for it to connect`);
    }
    // Say what is still missing if the first handshake takes long.
    const warnAfter = this.opts.firstHandshakeWarnMs ?? FIRST_HANDSHAKE_WARN;
    this.firstHandshakeTimer = setTimeout(() => {
      for (const p of this.device.listPeers()) {
        if (p.lastHandshake !== null) continue;
        const name = this.endpoints.unresolved(p);
        this.log.warn(p.endpoint
          ? `${peerName(p)}: no handshake after ${warnAfter / 1000} s with ${endpointKey(p.endpoint)}: is that UDP port reachable, and do both sides have each other's PublicKey (and the same PresharedKey)?`
          : name !== undefined
            ? `${peerName(p)}: no handshake after ${warnAfter / 1000} s: its Endpoint name ${name} does not resolve, so there is no address to send to; ` +
              `check the name (and this host's DNS). wgts keeps retrying every ${this.endpoints.retryMs / 1000} s, and the peer can still connect to our port ${this.bind.port}`
            : `${peerName(p)}: no handshake after ${warnAfter / 1000} s; it has no Endpoint here, so it must connect to our port ${this.bind.port}`);
      }
    }, warnAfter);
    this.firstHandshakeTimer.unref();
    // Drop counters explained in the log, one line per cause per minute (drop-log.ts).
    const drops = new DropLog(this.log, () => { const k = this.device.publicKey; return k ? encodeKey(k) : '(none)'; });
    this.dropLogTimer = setInterval(() => drops.check(this.device.drops, this.device.listPeers(), now()), this.opts.dropLogCheckMs ?? DROP_LOG_CHECK_MS);
    this.dropLogTimer.unref();
    this.endpoints.start();
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
          this.settle(null, now());
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
      else endpoint = await this.endpoints.resolve(pc.endpoint.host, pc.endpoint.port);
    }
    const peer = this.applyPeerConfig(pc, endpoint);
    if (peer && pc.endpoint && !isIP(pc.endpoint.host)) this.endpoints.track(peer, pc.endpoint);
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
      if (!wanted.has(p.id)) { dev.removePeer(p.publicKey); this.log.info(`${peerName(p)}: removed`); }
    }
    for (const pc of cfg.peers) {
      const existed = dev.getPeer(pc.publicKey) !== undefined;
      const ep = pc.endpoint && isIP(pc.endpoint.host) ? { address: pc.endpoint.host, port: pc.endpoint.port } : undefined;
      const peer = this.applyPeerConfig(pc, ep);
      if (peer && !existed) this.log.info(`${peerName(peer)}: added`);
    }
    this.schedule();
  }

  /**
   * Move the outer socket to UDP `port` (a UAPI listen_port=). On a bind
   * error the old port is bound again; both outcomes are logged.
   */
  async setListenPort(port: number): Promise<void> {
    const old = this.bind.port;
    try {
      await this.bind.close();
      await this.bind.open(port, this.opts.bindAddress);
      this.log.info(`listen port changed to ${this.bind.port}`);
    } catch (e) {
      this.log.error(`cannot bind UDP port ${port}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; keeping ${old}`);
      await this.bind.open(old, this.opts.bindAddress).catch(() => this.log.error('cannot rebind the old port either'));
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
    this.endpoints.forget(peer);
  }

  private onDatagram(data: Uint8Array, from: Endpoint): void {
    if (this.stopped) return;
    const pool = this.pool;
    const t = now();
    if (!pool) {
      this.settle(this.device.receive(data, from, t), t);
    } else {
      const out: Output = { datagrams: [], packets: [], events: [] };
      const job = this.device.receiveDeferred(data, from, t, out);
      if (job) pool.open(job);
      this.settle(out, t);
    }
  }

  /** A transport message back from the crypto workers; the pool's onDrained settles the turn. */
  private opened(job: PendingOpen, plain: Uint8Array | null): void {
    if (this.stopped) return;
    const t = now();
    const out: Output = { datagrams: [], packets: [], events: [] };
    this.device.openFinished(job, plain, t, out);
    this.emit(out, t);
  }

  /** Carry out what the core asked for, until nothing is left. */
  handle(out: Output): void {
    this.settle(out, now());
  }

  /**
   * The end of every turn: send, log and deliver `out`, pump the stack until
   * it is quiet, hand queued crypto to the workers, then arm the timer.
   * Inside a received batch the stack's pump and the timer wait for the
   * batch's end (onBatchEnd): one poll answers all its segments. `flushUdp`: hand the batched datagrams to the kernel now
   * (the timer and stack wake-ups, which no received batch will follow);
   * otherwise the batch's end or the event-loop turn flushes them.
   */
  private settle(out: Output | null, t: number, flushUdp = false): void {
    if (out) this.emit(out, t);
    if (this.stack && !this.bind.batching) {
      this.stack.batching = false;
      this.pumpStack(t);
    }
    this.pool?.flush();
    if (this.bind.batching) return;
    this.schedule();
    if (flushUdp) flushAll();
  }

  /** Send, log and deliver one Output (the stack is pumped by the caller). */
  private emit(out: Output, t: number): void {
    for (const d of out.datagrams) this.transmit(d);
    for (const e of out.events) this.events.record(e);
    if (out.packets.length === 0) return;
    if (this.opts.onDeliver) for (const p of out.packets) this.opts.onDeliver(p.packet);
    if (this.tun) {
      for (const p of out.packets) this.tun.write(p.packet);
    } else if (this.stack) {
      this.stack.batching = this.bind.batching;
      for (const p of out.packets) if (!this.routeToPeer(p, t)) this.stack.input(p.packet, t);
    }
  }

  /**
   * Userspace mode's router: a packet from one peer whose inner destination
   * is not ours but lies in another peer's AllowedIPs is sent on to that
   * peer (cryptokey routing on the destination; the sender's source was
   * already checked against its own AllowedIPs, and the receiver checks it
   * against ours). The TTL/hop limit falls by one; at 1 the packet is the
   * stack's (dropped). False: the packet is for the stack.
   */
  private routeToPeer(p: DeliveredPacket, t: number): boolean {
    const dst = packetDestination(p.packet);
    if (!dst || this.stack!.accepts(dst)) return false;
    const to = this.device.allowedIps.lookup(dst);
    if (!to || to === p.peer || !decrementHopLimit(p.packet)) return false;
    const o = this.device.send(p.packet, t);
    for (const d of o.datagrams) this.transmit(d);
    for (const e of o.events) this.events.record(e);
    return true;
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
    const t = now();
    this.settle(this.device.send(packet, t), t);
  }

  private pumpStack(t: number): void {
    if (!this.stack) return;
    for (let rounds = 0; rounds < 64; rounds++) {
      const pkts = this.stack.poll(t);
      if (pkts.length === 0) return;
      for (const p of pkts) {
        const o = this.device.send(p, t);
        for (const d of o.datagrams) this.transmit(d);
        for (const e of o.events) this.events.record(e);
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
      this.settle(null, now(), true);
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
    this.settle(this.device.tick(t), t, true);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.endpoints.stop();
    if (this.firstHandshakeTimer) clearTimeout(this.firstHandshakeTimer);
    if (this.dropLogTimer) clearInterval(this.dropLogTimer);
    if (this.pool) {
      this.device.deferCrypto = false;
      await this.pool.close();
      this.pool = null;
    }
    await this.bind.close();
  }
}
