/**
 * The sans-IO WireGuard device. Every call takes `now` (monotonic ms) and
 * returns an Output: datagrams to send, inner packets to deliver, events to
 * log. The caller arms one timer for `nextDeadline()` and calls `tick(now)`.
 *
 * Send path (send):
 *   1. route the inner packet by destination through AllowedIPs
 *   2. stage it on the peer (bounded queue)
 *   3. with a usable current keypair: pad, take a counter, seal, emit;
 *      otherwise start a handshake and keep the packets staged
 *   4. timers: data sent, authenticated packet sent; rekey if the key is old
 *
 * Receive path (receive):
 *   1. classify by type and exact length; anything else is a counted drop
 *   2. handshake messages: MAC1, then under load MAC2 (else a cookie reply)
 *      and a per-source rate limit; consume; respond or complete the session
 *   3. transport: index -> keypair, replay pre-check, open, replay mark,
 *      key confirmation (initiator swap), roaming, AllowedIPs source check
 *
 * Deferred crypto (a driver with crypto worker threads): with `deferCrypto`
 * set, transport datagrams leave here framed but unsealed (Datagram.seal says
 * with what); receiveDeferred stops a transport message before its open and
 * returns it, and openFinished takes it up again after the open. The caller
 * keeps each direction in order; everything else is the same code path.
 */
import { PrivateKey } from '../crypto/x25519.js';
import { TAG_LEN } from '../crypto/aead.js';
import { tai64n, tai64nAfter } from '../crypto/tai64n.js';
import { equalConstantTime } from '../crypto/util.js';
import {
  createInitiation, consumeInitiation, createResponse, consumeResponse, makePeerCrypto,
  wipeInitiatorState, wipePeerCrypto, wipeResponderState, type LocalIdentity,
} from '../noise/handshake.js';
import { CookieChecker } from '../noise/cookie.js';
import { messageType } from '../noise/messages.js';
import { AllowedIPs } from './allowedips.js';
import {
  HANDSHAKE_INITIATION_RATE, KEEPALIVE_TIMEOUT, MAX_STAGED_PACKETS, MAX_TIMER_HANDSHAKES,
  REJECT_AFTER_TIME,
  REKEY_AFTER_TIME, SEND_REJECT_AFTER_MESSAGES, SEND_REKEY_AFTER_MESSAGES, REKEY_ON_RECEIVE_AFTER, REKEY_TIMEOUT,
  UNDER_LOAD_AFTER_TIME, UNDER_LOAD_HANDSHAKES,
} from './constants.js';
import { MESSAGE_COOKIE_REPLY, MESSAGE_INITIATION, MESSAGE_TRANSPORT, TRANSPORT_HEADER_SIZE } from '../noise/constants.js';
import { Keypair } from './keypair.js';
import { innerPacketLength, isMulticast, openPayload, packetDestination, packetSource, paddedLength, sealFrame, writeTransportHeader } from './packet.js';
import { Peer, sameEndpoint, type Endpoint } from './peer.js';
import { RateLimiter } from './ratelimiter.js';
import * as T from './timers.js';

export type { Endpoint } from './peer.js';
export { Peer } from './peer.js';

/**
 * A transport message whose seal was left to the caller (Device.deferCrypto):
 * `data` is header | padded plaintext | 16 bytes for the tag. See sealPending.
 */
export interface PendingSeal { readonly keypair: Keypair; readonly counter: number }
export interface Datagram { data: Uint8Array; to: Endpoint; seal?: PendingSeal | undefined }

/**
 * A transport message that passed every check short of decryption
 * (receiveDeferred). Open data[16..] under keypair.recvKey and `counter`,
 * then hand the plaintext (or null) to Device.openFinished.
 */
export interface PendingOpen {
  readonly keypair: Keypair;
  readonly peer: Peer;
  readonly counter: bigint;
  readonly data: Uint8Array;
  readonly from: Endpoint;
}

/**
 * Seal a deferred datagram in place. false: its keypair was wiped since
 * (the session ended), so it must not be sent; the caller drops it.
 */
export function sealPending(d: Datagram): boolean {
  const job = d.seal;
  if (!job) return true;
  if (job.keypair.wiped) return false;
  sealFrame(job.keypair.sendKey, job.counter, d.data);
  d.seal = undefined;
  return true;
}
export interface DeliveredPacket { packet: Uint8Array; peer: Peer }

export type DeviceEvent =
  | { type: 'handshake-initiated'; peer: Peer; retry: boolean }
  | { type: 'handshake-complete'; peer: Peer; role: 'initiator' | 'responder' }
  | { type: 'handshake-gave-up'; peer: Peer }
  | { type: 'endpoint-changed'; peer: Peer; endpoint: Endpoint }
  | { type: 'keys-zeroed'; peer: Peer }
  | { type: 'cookie-sent'; to: Endpoint };

export interface Output {
  datagrams: Datagram[];
  packets: DeliveredPacket[];
  events: DeviceEvent[];
}

/** Why a datagram or packet was dropped. Every drop is counted under one of these. */
export type DropReason =
  | 'malformed' | 'unknown-type' | 'bad-mac1' | 'rate-limited' | 'handshake-failed'
  | 'unknown-peer' | 'stale-timestamp' | 'initiation-flood' | 'unknown-index' | 'unexpected-response'
  | 'bad-cookie' | 'replay' | 'expired-keypair' | 'decrypt-failed' | 'bad-inner-packet'
  | 'source-not-allowed' | 'no-route' | 'no-endpoint' | 'staged-overflow' | 'no-private-key'
  | 'handshake-gave-up'
  /** A multicast or broadcast packet no peer's AllowedIPs take: the host's own link chatter (IPv6 router solicitations, MLD reports), normal on a TUN, not a fault. */
  | 'multicast';

export interface DeviceOptions {
  privateKey?: Uint8Array | null;
  /** Cryptographically random bytes. The core draws no randomness of its own. */
  random: (n: number) => Uint8Array;
  /** Wall-clock ms since the Unix epoch, used only for TAI64N timestamps. */
  wallClock: () => number;
  /** Inner MTU, for padding. Default 1420. */
  mtu?: number;
  maxStagedPackets?: number;
  /** Handshake messages per second above which the device demands cookies. */
  underLoadThreshold?: number;
  /** The initiator re-keys once a keypair's send counter passes this (default SEND_REKEY_AFTER_MESSAGES; tests lower it to rekey quickly). */
  rekeyAfterMessages?: number;
}

export interface PeerOptions {
  publicKey: Uint8Array;
  presharedKey?: Uint8Array | null;
  endpoint?: Endpoint | null;
  allowedIps?: Array<{ ip: Uint8Array; cidr: number }>;
  persistentKeepalive?: number;
}

interface IndexEntry { peer: Peer; keypair: Keypair | null }

const ZERO_KEY = new Uint8Array(32);

function emptyOutput(): Output {
  return { datagrams: [], packets: [], events: [] };
}

const utf8 = new TextEncoder();

/** The address bytes MAC2 and cookies are bound to (only ever compared with our own encoding). */
function sourceBytes(e: Endpoint): Uint8Array {
  return utf8.encode(`${e.address}|${e.port}`);
}

export class Device {
  private identity: LocalIdentity | null = null;
  private readonly peers = new Map<string, Peer>();
  readonly allowedIps = new AllowedIPs<Peer>();
  private readonly indices = new Map<number, IndexEntry>();
  private readonly checker: CookieChecker;
  /** Handshake messages with a valid MAC2 under load, per source address (IPv6 per /64). */
  private readonly limiter = new RateLimiter();
  private readonly random: (n: number) => Uint8Array;
  private readonly wallClock: () => number;
  /** Inner MTU for padding; TUN mode sets it once wg-quick's MTU rule has run. */
  mtu: number;
  private readonly maxStaged: number;
  private readonly underLoadThreshold: number;
  private readonly rekeyAfterMessages: number;
  private loadWindowStart = -Infinity;
  private loadWindowCount = 0;
  private underLoadUntil = -Infinity;
  /** Drops by reason. */
  readonly drops = new Map<DropReason, number>();
  /** Leave the AEAD work of transport messages to the caller (see the module doc). */
  deferCrypto = false;

  constructor(opts: DeviceOptions) {
    this.random = opts.random;
    this.wallClock = opts.wallClock;
    this.mtu = opts.mtu ?? 1420;
    this.maxStaged = opts.maxStagedPackets ?? MAX_STAGED_PACKETS;
    this.underLoadThreshold = opts.underLoadThreshold ?? UNDER_LOAD_HANDSHAKES;
    this.rekeyAfterMessages = Math.min(opts.rekeyAfterMessages ?? SEND_REKEY_AFTER_MESSAGES, SEND_REKEY_AFTER_MESSAGES);
    this.checker = new CookieChecker(ZERO_KEY, this.random);
    if (opts.privateKey) this.setPrivateKey(opts.privateKey);
  }

  // ---------------------------------------------------------------- config

  get publicKey(): Uint8Array | null {
    return this.identity ? this.identity.publicKey : null;
  }

  /** The raw private key (for UAPI get only; never log it). */
  get privateKey(): Uint8Array | null {
    return this.identity ? this.identity.privateKey.raw : null;
  }

  /**
   * Change the static private key. Sessions made under the old key are
   * dropped, and a peer whose public key equals our new one is removed.
   */
  setPrivateKey(raw: Uint8Array | null): void {
    if (this.identity && raw && equalConstantTime(this.identity.privateKey.raw, raw)) return;
    if (this.identity) this.identity.privateKey.wipe();
    if (!raw) {
      this.identity = null;
    } else {
      const pk = new PrivateKey(raw);
      this.identity = { privateKey: pk, publicKey: pk.publicKey };
      this.checker.setLocalPublic(pk.publicKey);
      const self = this.peers.get(Buffer.from(pk.publicKey).toString('hex'));
      if (self) this.removePeer(self.publicKey);
    }
    for (const peer of this.peers.values()) {
      const old = peer.crypto;
      peer.crypto = makePeerCrypto(this.identity, peer.publicKey, old.presharedKey);
      wipePeerCrypto(old);
      this.clearSessions(peer);
    }
  }

  getPeer(publicKey: Uint8Array): Peer | undefined {
    return this.peers.get(Buffer.from(publicKey).toString('hex'));
  }

  listPeers(): Peer[] {
    return [...this.peers.values()];
  }

  /** Add a peer, or update the given fields of an existing one. */
  upsertPeer(opts: PeerOptions, now: number): { peer: Peer | null; output: Output } {
    const out = emptyOutput();
    if (opts.publicKey.length !== 32) throw new RangeError('peer public key must be 32 bytes');
    if (this.identity && equalConstantTime(opts.publicKey, this.identity.publicKey)) {
      // wireguard-go silently ignores a peer with our own public key.
      return { peer: null, output: out };
    }
    let peer = this.getPeer(opts.publicKey);
    if (!peer) {
      peer = new Peer(opts.publicKey, makePeerCrypto(this.identity, opts.publicKey, opts.presharedKey));
      this.peers.set(peer.id, peer);
    } else if (opts.presharedKey !== undefined) {
      this.setPresharedKey(peer, opts.presharedKey);
    }
    if (opts.endpoint !== undefined) peer.endpoint = opts.endpoint;
    if (opts.allowedIps) for (const a of opts.allowedIps) this.allowedIps.insert(a.ip, a.cidr, peer);
    if (opts.persistentKeepalive !== undefined) this.mergeOutput(out, this.setPersistentKeepalive(peer, opts.persistentKeepalive, now));
    return { peer, output: out };
  }

  setPresharedKey(peer: Peer, psk: Uint8Array | null): void {
    const old = peer.crypto.presharedKey;
    peer.crypto = { ...peer.crypto, presharedKey: psk ? Uint8Array.from(psk) : new Uint8Array(32) };
    old.fill(0);
  }

  /** Set PersistentKeepalive (seconds). Turning it on sends one keepalive at once. */
  setPersistentKeepalive(peer: Peer, seconds: number, now: number): Output {
    const out = emptyOutput();
    const old = peer.persistentKeepalive;
    peer.persistentKeepalive = seconds;
    if (seconds === 0) peer.timers.persistentKeepalive = null;
    if (old === 0 && seconds > 0 && this.identity) this.sendKeepalive(peer, now, out);
    return out;
  }

  removePeer(publicKey: Uint8Array): boolean {
    const peer = this.getPeer(publicKey);
    if (!peer) return false;
    this.clearSessions(peer);
    wipePeerCrypto(peer.crypto);
    this.allowedIps.removeValue(peer);
    peer.staged = [];
    this.peers.delete(peer.id);
    return true;
  }

  removeAllPeers(): void {
    for (const p of [...this.peers.values()]) this.removePeer(p.publicKey);
  }

  // ------------------------------------------------------------ counters

  private drop(reason: DropReason, n = 1): void {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + n);
  }

  dropCount(reason: DropReason): number {
    return this.drops.get(reason) ?? 0;
  }

  // ------------------------------------------------------------ send path

  /** An inner IP packet from the host (TUN or netstack) to encrypt and send. */
  send(packet: Uint8Array, now: number): Output {
    const out = emptyOutput();
    const dst = packetDestination(packet);
    if (!dst) { this.drop('bad-inner-packet'); return out; }
    const peer = this.allowedIps.lookup(dst);
    if (!peer) { this.drop(isMulticast(dst) ? 'multicast' : 'no-route'); return out; }
    if (!this.identity) { this.drop('no-private-key'); return out; }
    this.stage(peer, packet);
    this.sendStaged(peer, now, out);
    // The caller may reuse its buffer (a TUN read batch): a packet that has to
    // wait for a session is copied.
    if (peer.staged.length && peer.staged[peer.staged.length - 1] === packet) peer.staged[peer.staged.length - 1] = packet.slice();
    return out;
  }

  private stage(peer: Peer, packet: Uint8Array): void {
    if (peer.staged.length >= this.maxStaged) {
      peer.staged.shift();
      this.drop('staged-overflow');
    }
    peer.staged.push(packet);
  }

  private usableForSending(kp: Keypair | null, now: number): kp is Keypair {
    return kp !== null && now - kp.created < REJECT_AFTER_TIME && kp.sendCounter < SEND_REJECT_AFTER_MESSAGES;
  }

  private sendStaged(peer: Peer, now: number, out: Output): void {
    if (peer.staged.length === 0) return;
    if (!peer.endpoint) {
      this.drop('no-endpoint', peer.staged.length);
      peer.staged = [];
      return;
    }
    const kp = peer.keypairs.current;
    if (!this.usableForSending(kp, now)) {
      this.sendInitiation(peer, false, now, out);
      return;
    }
    const staged = peer.staged;
    peer.staged = [];
    let sentData = false;
    let wornOut = false;
    const to = peer.endpoint;
    for (let i = 0; i < staged.length; i++) {
      const pkt = staged[i]!;
      if (kp.sendCounter >= SEND_REJECT_AFTER_MESSAGES) {
        // The counter ran out mid-batch: the rest waits for a new session.
        peer.staged = staged.slice(i);
        wornOut = true;
        break;
      }
      const counter = kp.sendCounter++;
      const data = this.frame(kp, counter, pkt);
      if (this.deferCrypto) {
        out.datagrams.push({ data, to, seal: { keypair: kp, counter } });
      } else {
        sealFrame(kp.sendKey, counter, data);
        out.datagrams.push({ data, to });
      }
      peer.txBytes += data.length; // the datagram, as for handshake messages and as rxBytes counts
      if (pkt.length > 0) sentData = true;
    }
    if (sentData && peer.timers.newHandshake === null) T.onDataSent(peer.timers, now, this.jitter());
    T.onAnyAuthenticatedPacketTraversal(peer.timers, now, peer.persistentKeepalive);
    T.onAnyAuthenticatedPacketSent(peer.timers);
    // Keep the key fresh: the initiator re-keys when the session is old or worn;
    // a keypair that can send no more needs a new session whichever side we are.
    if (wornOut || (kp.isInitiator && (kp.sendCounter > this.rekeyAfterMessages || now - kp.created >= REKEY_AFTER_TIME))) {
      this.sendInitiation(peer, false, now, out);
    }
  }

  /**
   * header | padded plaintext | room for the tag. Drawn from Node's buffer
   * pool (a zeroed ArrayBuffer per packet costs more than the copy): every
   * byte is written here except the tag, which the seal writes. The result
   * is a view: use byteOffset/byteLength, never `.buffer` alone.
   */
  private frame(kp: Keypair, counter: number, packet: Uint8Array): Uint8Array {
    const padded = paddedLength(packet.length, this.mtu);
    const n = TRANSPORT_HEADER_SIZE + padded + TAG_LEN;
    const pooled = Buffer.allocUnsafe(n);
    const msg = new Uint8Array(pooled.buffer, pooled.byteOffset, n);
    writeTransportHeader(msg, kp.remoteIndex, counter);
    msg.set(packet, TRANSPORT_HEADER_SIZE);
    msg.fill(0, TRANSPORT_HEADER_SIZE + packet.length, n);
    return msg;
  }

  private sendKeepalive(peer: Peer, now: number, out: Output): void {
    if (peer.staged.length === 0) peer.staged.push(new Uint8Array(0));
    this.sendStaged(peer, now, out);
  }

  private jitterPool: Uint8Array = new Uint8Array(0);
  private jitterAt = 0;

  /** Timer jitter from a pool of random bytes drawn 512 at a time (one draw costs as much as a packet). */
  private jitter(): number {
    if (this.jitterAt + 2 > this.jitterPool.length) {
      this.jitterPool = this.random(512);
      this.jitterAt = 0;
    }
    const j = T.jitterFrom(this.jitterPool.subarray(this.jitterAt, this.jitterAt + 2));
    this.jitterAt += 2;
    return j;
  }

  private allocIndex(entry: IndexEntry): number {
    for (;;) {
      const b = this.random(4);
      const idx = ((b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0);
      if (!this.indices.has(idx)) {
        this.indices.set(idx, entry);
        return idx;
      }
    }
  }

  private sendInitiation(peer: Peer, isRetry: boolean, now: number, out: Output): void {
    if (!isRetry) {
      peer.timers.handshakeAttempts = 0;
      // One initiation per REKEY_TIMEOUT unless this is the retransmit timer.
      if (now - peer.lastSentHandshake < REKEY_TIMEOUT) return;
    }
    if (!this.identity || !peer.endpoint) return;
    if (peer.crypto.staticStatic === null) { this.drop('handshake-failed'); return; }
    peer.lastSentHandshake = now;
    this.dropInitiation(peer);
    const entry: IndexEntry = { peer, keypair: null };
    const localIndex = this.allocIndex(entry);
    const made = createInitiation(this.identity, peer.crypto, this.random(32), tai64n(this.wallClock()), localIndex);
    if (!made) {
      this.indices.delete(localIndex);
      this.drop('handshake-failed');
      return;
    }
    peer.initiation = { state: made.state, localIndex };
    peer.cookie.addMacs(made.message, now);
    out.datagrams.push({ data: made.message, to: peer.endpoint });
    peer.txBytes += made.message.length;
    out.events.push({ type: 'handshake-initiated', peer, retry: isRetry });
    T.onAnyAuthenticatedPacketTraversal(peer.timers, now, peer.persistentKeepalive);
    T.onAnyAuthenticatedPacketSent(peer.timers);
    T.onHandshakeInitiated(peer.timers, now, this.jitter());
  }

  // ---------------------------------------------------------- receive path

  /** A datagram from the network. Never throws; bad input is a counted drop. */
  receive(data: Uint8Array, from: Endpoint, now: number): Output {
    const out = emptyOutput();
    const job = this.receiveDeferred(data, from, now, out);
    if (job) this.openFinished(job, openPayload(job.keypair.recvKey, job.counter, data.subarray(TRANSPORT_HEADER_SIZE)), now, out);
    return out;
  }

  /**
   * receive() into `out`, except that a transport message that passes the
   * checks before decryption is returned instead of opened. Never throws.
   */
  receiveDeferred(data: Uint8Array, from: Endpoint, now: number, out: Output): PendingOpen | null {
    try {
      return this.receiveInner(data, from, now, out);
    } catch {
      // A bug, not an attack, should be the only way here; still, the
      // network must never be able to crash the process.
      this.drop('malformed');
      return null;
    }
  }

  /** The rest of the receive path for a message from receiveDeferred: `plain` is its opened payload, or null. */
  openFinished(job: PendingOpen, plain: Uint8Array | null, now: number, out: Output): void {
    try {
      this.transportOpened(job, plain, now, out);
    } catch {
      this.drop('malformed');
    }
  }

  private receiveInner(data: Uint8Array, from: Endpoint, now: number, out: Output): PendingOpen | null {
    const type = messageType(data);
    if (type === null) {
      this.drop(data.length >= 4 && data[0]! >= 1 && data[0]! <= 4 ? 'malformed' : 'unknown-type');
      return null;
    }
    if (type === MESSAGE_TRANSPORT) return this.receiveTransport(data, from, now);
    if (type === MESSAGE_COOKIE_REPLY) { this.receiveCookieReply(data, now); return null; }
    if (!this.identity) { this.drop('no-private-key'); return null; }
    // Handshake messages: MAC1, then load-dependent MAC2 and rate limiting.
    if (!this.checker.checkMac1(data)) { this.drop('bad-mac1'); return null; }
    if (this.underLoad(now)) {
      const source = sourceBytes(from);
      if (!this.checker.checkMac2(data, source, now)) {
        // Every one is answered, as Linux and wireguard-go do: a 64-byte reply
        // to a 148-byte message does not amplify, and any limit here (a table
        // of sources, a shared budget) is one a flood can fill so that a
        // legitimate peer never gets the cookie it needs to get through.
        out.datagrams.push({ data: this.checker.createReply(data, source, now), to: from });
        out.events.push({ type: 'cookie-sent', to: from });
        return null;
      }
      if (!this.limiter.allow(from.address, now)) { this.drop('rate-limited'); return null; }
    }
    if (type === MESSAGE_INITIATION) this.receiveInitiation(data, from, now, out);
    else this.receiveResponse(data, from, now, out);
    return null;
  }

  /** Counts handshake messages per second; above the threshold, cookies are demanded for a while. */
  private underLoad(now: number): boolean {
    if (now - this.loadWindowStart >= 1000) {
      this.loadWindowStart = now;
      this.loadWindowCount = 0;
    }
    this.loadWindowCount++;
    if (this.loadWindowCount > this.underLoadThreshold) this.underLoadUntil = now + UNDER_LOAD_AFTER_TIME;
    return now < this.underLoadUntil;
  }

  /** Roaming: an authenticated datagram's source, and the local address it came to, become the peer's endpoint. */
  private updateEndpoint(peer: Peer, from: Endpoint, out: Output): void {
    if (sameEndpoint(peer.endpoint, from)) return;
    peer.endpoint = from.local ? { address: from.address, port: from.port, local: from.local } : { address: from.address, port: from.port };
    out.events.push({ type: 'endpoint-changed', peer, endpoint: peer.endpoint });
  }

  /**
   * The local address `local` can no longer send (it left the host): peers
   * replying from it go back to the kernel's choice until their next
   * datagram teaches them again. Returns how many peers had it.
   */
  clearEndpointSource(local: string): number {
    let n = 0;
    for (const peer of this.peers.values()) {
      const e = peer.endpoint;
      if (e && e.local === local) {
        peer.endpoint = { address: e.address, port: e.port };
        n++;
      }
    }
    return n;
  }

  private receiveInitiation(data: Uint8Array, from: Endpoint, now: number, out: Output): void {
    const identity = this.identity!;
    const got = consumeInitiation(identity, data, (remoteStatic) => {
      const peer = this.getPeer(remoteStatic);
      return peer ? { peer, crypto: peer.crypto } : undefined;
    });
    if (!got) { this.drop('handshake-failed'); return; }
    const { peer, state } = got;
    // Replay: the timestamp must be newer than any accepted before.
    if (peer.latestTimestamp && !tai64nAfter(state.timestamp, peer.latestTimestamp)) {
      wipeResponderState(state);
      this.drop('stale-timestamp');
      return;
    }
    // Flood: at most one initiation per 1/50 s per peer.
    if (now - peer.lastInitiationConsumed < HANDSHAKE_INITIATION_RATE) {
      wipeResponderState(state);
      this.drop('initiation-flood');
      return;
    }
    peer.latestTimestamp = state.timestamp;
    peer.lastInitiationConsumed = now;
    peer.rxBytes += data.length;
    this.updateEndpoint(peer, from, out);
    T.onAnyAuthenticatedPacketTraversal(peer.timers, now, peer.persistentKeepalive);
    T.onAnyAuthenticatedPacketReceived(peer.timers);

    // Respond. The new session waits in "next" for key confirmation.
    const entry: IndexEntry = { peer, keypair: null };
    const localIndex = this.allocIndex(entry);
    const resp = createResponse(identity, peer.crypto, state, this.random(32), localIndex);
    if (!resp) {
      wipeResponderState(state);
      this.indices.delete(localIndex);
      this.drop('handshake-failed');
      return;
    }
    // A pending initiation of ours is superseded by this exchange.
    this.dropInitiation(peer);
    const kp = new Keypair(resp.keys.sendKey, resp.keys.recvKey, false, now, localIndex, state.remoteIndex);
    entry.keypair = kp;
    this.dropKeypairs(peer.keypairs.install(kp));
    peer.cookie.addMacs(resp.message, now);
    peer.lastSentHandshake = now;
    out.datagrams.push({ data: resp.message, to: peer.endpoint! });
    peer.txBytes += resp.message.length;
    T.onSessionDerived(peer.timers, now);
    T.onAnyAuthenticatedPacketTraversal(peer.timers, now, peer.persistentKeepalive);
    T.onAnyAuthenticatedPacketSent(peer.timers);
  }

  private receiveResponse(data: Uint8Array, from: Endpoint, now: number, out: Output): void {
    const receiver = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(8, true);
    const entry = this.indices.get(receiver);
    if (!entry || entry.keypair !== null) { this.drop('unknown-index'); return; }
    const peer = entry.peer;
    if (!peer.initiation || peer.initiation.localIndex !== receiver) { this.drop('unexpected-response'); return; }
    const got = consumeResponse(this.identity!, peer.crypto, peer.initiation.state, data);
    if (!got) { this.drop('handshake-failed'); return; }
    const kp = new Keypair(got.keys.sendKey, got.keys.recvKey, true, now, receiver, got.remoteIndex);
    entry.keypair = kp; // the initiation's index now names the session
    peer.initiation = null;
    this.dropKeypairs(peer.keypairs.install(kp));
    peer.rxBytes += data.length;
    peer.lastHandshake = now;
    this.updateEndpoint(peer, from, out);
    out.events.push({ type: 'handshake-complete', peer, role: 'initiator' });
    T.onSessionDerived(peer.timers, now);
    T.onHandshakeComplete(peer.timers);
    T.onAnyAuthenticatedPacketTraversal(peer.timers, now, peer.persistentKeepalive);
    T.onAnyAuthenticatedPacketReceived(peer.timers);
    // Confirm the session to the responder at once, with staged data or a keepalive.
    this.sendKeepalive(peer, now, out);
  }

  private receiveCookieReply(data: Uint8Array, now: number): void {
    const receiver = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(4, true);
    const entry = this.indices.get(receiver);
    if (!entry) { this.drop('unknown-index'); return; }
    if (!entry.peer.cookie.consumeReply(data, now)) this.drop('bad-cookie');
  }

  /** Transport checks before decryption: index -> keypair, expiry, replay pre-check. */
  private receiveTransport(data: Uint8Array, from: Endpoint, now: number): PendingOpen | null {
    const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const receiver = dv.getUint32(4, true);
    const entry = this.indices.get(receiver);
    if (!entry || entry.keypair === null) { this.drop('unknown-index'); return null; }
    const kp = entry.keypair;
    const counter = dv.getBigUint64(8, true);
    if (now - kp.created >= REJECT_AFTER_TIME) { this.drop('expired-keypair'); return null; }
    if (!kp.replay.canAccept(counter)) { this.drop('replay'); return null; }
    return { keypair: kp, peer: entry.peer, counter, data, from };
  }

  private transportOpened(job: PendingOpen, plain: Uint8Array | null, now: number, out: Output): void {
    const { keypair: kp, peer, counter, data, from } = job;
    if (!plain) { this.drop('decrypt-failed'); return; }
    // The session ended while the message was being opened (deferred crypto only).
    if (kp.wiped) { this.drop('unknown-index'); return; }
    if (!kp.replay.markReceived(counter)) { this.drop('replay'); return; }

    // Authenticated from here on.
    const rotated = peer.keypairs.confirm(kp);
    if (rotated) {
      this.dropKeypairs(rotated);
      peer.lastHandshake = now;
      out.events.push({ type: 'handshake-complete', peer, role: 'responder' });
      T.onHandshakeComplete(peer.timers);
      this.sendStaged(peer, now, out);
    }
    this.updateEndpoint(peer, from, out);
    peer.rxBytes += data.length;
    // Keep the key fresh on receive: the initiator re-keys before the session expires.
    const cur = peer.keypairs.current;
    if (cur && cur.isInitiator && !peer.timers.sentLastMinuteHandshake && now - cur.created >= REKEY_ON_RECEIVE_AFTER) {
      peer.timers.sentLastMinuteHandshake = true;
      this.sendInitiation(peer, false, now, out);
    }
    T.onAnyAuthenticatedPacketTraversal(peer.timers, now, peer.persistentKeepalive);
    T.onAnyAuthenticatedPacketReceived(peer.timers);
    if (plain.length === 0) return; // keepalive

    const len = innerPacketLength(plain);
    if (len < 0) { this.drop('bad-inner-packet'); return; }
    const packet = plain.subarray(0, len);
    const src = packetSource(packet);
    if (!src || this.allowedIps.lookup(src) !== peer) {
      this.drop('source-not-allowed');
      peer.sourceNotAllowed++;
      peer.lastDisallowedSource = src ? src.slice() : null;
      return;
    }
    T.onDataReceived(peer.timers, now);
    out.packets.push({ packet, peer });
  }

  private dropKeypairs(list: Keypair[]): void {
    for (const kp of list) {
      const e = this.indices.get(kp.localIndex);
      if (e && e.keypair === kp) this.indices.delete(kp.localIndex);
      kp.wipe();
    }
  }

  /** Forget our pending initiation: its index, and its chain key, hash and ephemeral key, zeroed. */
  private dropInitiation(peer: Peer): void {
    if (!peer.initiation) return;
    this.indices.delete(peer.initiation.localIndex);
    wipeInitiatorState(peer.initiation.state);
    peer.initiation = null;
  }

  private clearSessions(peer: Peer): void {
    this.dropKeypairs(peer.keypairs.clear());
    this.dropInitiation(peer);
    peer.timers.retransmitHandshake = null;
    peer.timers.newHandshake = null;
    peer.timers.sendKeepalive = null;
    peer.timers.zeroKeyMaterial = null;
    peer.lastSentHandshake = -Infinity;
  }

  // ---------------------------------------------------------------- timers

  /** The earliest time at which `tick` has work to do (Infinity when none). */
  nextDeadline(): number {
    let m = Infinity;
    for (const p of this.peers.values()) m = Math.min(m, T.earliest(p.timers));
    return m;
  }

  /** Fire every timer that is due at `now`. */
  tick(now: number): Output {
    const out = emptyOutput();
    for (const peer of this.peers.values()) this.tickPeer(peer, now, out);
    return out;
  }

  private tickPeer(peer: Peer, now: number, out: Output): void {
    const t = peer.timers;
    if (t.retransmitHandshake !== null && t.retransmitHandshake <= now) {
      t.retransmitHandshake = null;
      if (t.handshakeAttempts > MAX_TIMER_HANDSHAKES) {
        // Give up: drop what waits and let the keys expire.
        out.events.push({ type: 'handshake-gave-up', peer });
        t.sendKeepalive = null;
        if (peer.staged.length) this.drop('handshake-gave-up', peer.staged.length);
        peer.staged = [];
        this.dropInitiation(peer);
        if (t.zeroKeyMaterial === null) t.zeroKeyMaterial = now + REJECT_AFTER_TIME * 3;
      } else {
        t.handshakeAttempts++;
        this.sendInitiation(peer, true, now, out);
      }
    }
    if (t.sendKeepalive !== null && t.sendKeepalive <= now) {
      t.sendKeepalive = null;
      this.sendKeepalive(peer, now, out);
      if (t.needAnotherKeepalive) {
        t.needAnotherKeepalive = false;
        t.sendKeepalive = now + KEEPALIVE_TIMEOUT;
      }
    }
    if (t.newHandshake !== null && t.newHandshake <= now) {
      // Data went out and nothing came back: the session may be dead.
      t.newHandshake = null;
      this.sendInitiation(peer, false, now, out);
    }
    if (t.zeroKeyMaterial !== null && t.zeroKeyMaterial <= now) {
      t.zeroKeyMaterial = null;
      this.clearSessions(peer);
      out.events.push({ type: 'keys-zeroed', peer });
    }
    if (t.persistentKeepalive !== null && t.persistentKeepalive <= now) {
      t.persistentKeepalive = null;
      if (peer.persistentKeepalive > 0) this.sendKeepalive(peer, now, out);
    }
  }

  private mergeOutput(into: Output, from: Output): void {
    into.datagrams.push(...from.datagrams);
    into.packets.push(...from.packets);
    into.events.push(...from.events);
  }
}

