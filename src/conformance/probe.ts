/**
 * The conformance checker's side of the wire: one UDP socket facing the peer
 * under test, and a hand-driven WireGuard initiator built from the sans-IO
 * core (src/noise for the handshake and MACs, src/transport for transport
 * framing), so a check can craft any message - a stale timestamp, a bad
 * mac1, a replayed counter - which a Device would refuse to send.
 *
 *   check -> Probe.initiation() -> send -> recv(type 2) -> Probe.completeHandshake()
 *         -> Session.seal(inner, counter) -> send -> recv(type 4) -> Session.open()
 *
 * Every datagram received is kept in order with its arrival time; recv()
 * takes the first one matching a predicate, so nothing a check did not ask
 * for is lost to the next check.
 */
import { UdpBind } from '../host/udp-bind.js';
import type { Endpoint } from '../transport/peer.js';
import { PrivateKey } from '../crypto/x25519.js';
import { tai64n } from '../crypto/tai64n.js';
import {
  CookieGenerator, consumeResponse, createInitiation, makePeerCrypto, messageType,
  type InitiatorState, type LocalIdentity, type PeerCrypto,
} from '../noise/index.js';
import { openPayload, sealFrame, writeTransportHeader } from '../transport/packet.js';
import { MESSAGE_TRANSPORT, PADDING_MULTIPLE, TRANSPORT_HEADER_SIZE } from '../noise/constants.js';

const TAG_LEN = 16;

export interface Received {
  data: Uint8Array;
  at: number;
}

export interface ProbeOptions {
  peer: Endpoint;
  peerPublicKey: Uint8Array;
  privateKey: Uint8Array;
  presharedKey?: Uint8Array | null;
  random: (n: number) => Uint8Array;
  /** Monotonic ms (the driver's clock); wall time comes from Date.now for TAI64N. */
  now: () => number;
}

/** A transport session established by a handshake we initiated. */
export class Session {
  sendCounter = 0;
  constructor(
    readonly localIndex: number,
    readonly remoteIndex: number,
    private readonly sendKey: Uint8Array,
    private readonly recvKey: Uint8Array,
  ) {}

  /** A type-4 message carrying `inner` padded to 16, under `counter` (default: the next one). */
  seal(inner: Uint8Array, counter = this.sendCounter++): Uint8Array {
    const padded = inner.length === 0 ? 0 : Math.ceil(inner.length / PADDING_MULTIPLE) * PADDING_MULTIPLE;
    const msg = new Uint8Array(TRANSPORT_HEADER_SIZE + padded + TAG_LEN);
    writeTransportHeader(msg, this.remoteIndex, counter);
    msg.set(inner, TRANSPORT_HEADER_SIZE);
    sealFrame(this.sendKey, counter, msg);
    return msg;
  }

  /** The padded plaintext of a type-4 message for this session, or null (wrong index, bad tag). */
  open(msg: Uint8Array): { counter: bigint; plain: Uint8Array } | null {
    if (messageType(msg) !== MESSAGE_TRANSPORT) return null;
    const dv = new DataView(msg.buffer, msg.byteOffset, msg.length);
    if (dv.getUint32(4, true) !== this.localIndex) return null;
    const counter = dv.getBigUint64(8, true);
    const plain = openPayload(this.recvKey, counter, msg.subarray(TRANSPORT_HEADER_SIZE));
    return plain ? { counter, plain: Uint8Array.from(plain) } : null;
  }
}

export interface PendingInitiation {
  message: Uint8Array;
  state: InitiatorState;
  localIndex: number;
  cookies: CookieGenerator;
}

export class Probe {
  private readonly bind: UdpBind;
  private readonly inbox: Received[] = [];
  private waiters: Array<() => void> = [];
  readonly local: LocalIdentity;
  readonly peerCrypto: PeerCrypto;
  /** One cookie generator for the peer: keeps the last mac1 and any cookie. */
  readonly cookies: CookieGenerator;
  private lastWall = 0;
  /** When we last sent an initiation (monotonic ms). */
  private lastInitiation = -Infinity;

  constructor(readonly opts: ProbeOptions) {
    const privateKey = new PrivateKey(Uint8Array.from(opts.privateKey));
    this.local = { privateKey, publicKey: privateKey.publicKey };
    this.peerCrypto = makePeerCrypto(this.local, opts.peerPublicKey, opts.presharedKey ?? null);
    this.cookies = new CookieGenerator(opts.peerPublicKey);
    this.bind = new UdpBind(
      (data, from) => {
        if (from.address !== opts.peer.address && from.address !== `::ffff:${opts.peer.address}`) return;
        if (from.port !== opts.peer.port) return;
        this.inbox.push({ data: Uint8Array.from(data), at: opts.now() });
        for (const w of this.waiters.splice(0)) w();
      },
      () => {},
      () => {},
      { native: false },
    );
  }

  async open(): Promise<void> {
    await this.bind.open(0, this.opts.peer.address.includes(':') ? '::' : '0.0.0.0');
  }

  async close(): Promise<void> {
    await this.bind.close();
  }

  send(data: Uint8Array): void {
    if (data[0] === 1) this.lastInitiation = this.opts.now();
    this.bind.send(data, this.opts.peer);
  }

  /**
   * Wait until `ms` have passed since our last initiation: responders drop an
   * initiation that follows the previous one from the same peer within 20 ms
   * (the Linux and Go flood limit), and a check must not trip it by accident.
   */
  async spaceInitiations(ms = 60): Promise<void> {
    const wait = this.lastInitiation + ms - this.opts.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }

  /** Forget everything received so far. */
  drain(): void {
    this.inbox.length = 0;
  }

  /** All datagrams received so far (not consumed). */
  received(): readonly Received[] {
    return this.inbox;
  }

  /** The first datagram matching `pred` (removed from the inbox), or null after timeoutMs. */
  async recv(pred: (d: Uint8Array) => boolean, timeoutMs: number): Promise<Uint8Array | null> {
    const deadline = this.opts.now() + timeoutMs;
    for (;;) {
      const i = this.inbox.findIndex((r) => pred(r.data));
      if (i >= 0) return this.inbox.splice(i, 1)[0]!.data;
      const left = deadline - this.opts.now();
      if (left <= 0) return null;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
  }

  /** A TAI64N timestamp strictly later than any this probe made before. */
  freshTimestamp(): Uint8Array {
    // TAI64N is whitened to 2^24 ns (~17 ms); step past the last one.
    this.lastWall = Math.max(Date.now(), this.lastWall + 20);
    return tai64n(this.lastWall);
  }

  /** A valid initiation (mac1 set, mac2 from a held cookie) with a fresh index, or the given timestamp. */
  initiation(opts: { timestamp?: Uint8Array } = {}): PendingInitiation {
    const localIndex = new DataView(this.opts.random(4).buffer).getUint32(0, true);
    const made = createInitiation(this.local, this.peerCrypto, this.opts.random(32), opts.timestamp ?? this.freshTimestamp(), localIndex);
    if (!made) throw new Error('cannot build an initiation for this peer key (low-order point?)');
    this.cookies.addMacs(made.message, this.opts.now());
    return { message: made.message, state: made.state, localIndex, cookies: this.cookies };
  }

  /** Session keys from a response to `init`, or null when it does not verify. */
  completeHandshake(init: PendingInitiation, response: Uint8Array): Session | null {
    const r = consumeResponse(this.local, this.peerCrypto, init.state, response);
    return r ? new Session(init.localIndex, r.remoteIndex, r.keys.sendKey, r.keys.recvKey) : null;
  }
}

/** Hex of the first `n` bytes, for FAIL reports. */
export function hexHead(b: Uint8Array | null, n = 32): string {
  if (!b) return '(nothing)';
  return `${b.length} bytes: ${Buffer.from(b.subarray(0, n)).toString('hex')}${b.length > n ? '...' : ''}`;
}
