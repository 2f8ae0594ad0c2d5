/**
 * A peer: its static key, preshared key, endpoint, keypairs, handshake
 * bookkeeping, staged packets and timers. Behaviour lives in device.ts;
 * this file holds state and the small pure decisions about it.
 */
import type { PeerCrypto, InitiatorState } from '../noise/handshake.js';
import { CookieGenerator } from '../noise/cookie.js';
import { toHex } from '../crypto/util.js';
import { Keypairs } from './keypair.js';
import { newTimerState, type TimerState } from './timers.js';

/**
 * Where a peer is: its address and UDP port, and, once learnt from a
 * datagram it sent, `local`: our address it sent to (with "%ifindex" for a
 * link-local IPv6 one), so replies leave from the address the peer expects
 * (sticky source, as the kernel and wireguard-go keep it). An endpoint set
 * by configuration has none: the kernel chooses.
 */
export interface Endpoint { address: string; port: number; local?: string }

export function endpointKey(e: Endpoint): string {
  return e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}

export function sameEndpoint(a: Endpoint | null, b: Endpoint | null): boolean {
  return a === b || (a !== null && b !== null && a.port === b.port && a.address === b.address && a.local === b.local);
}

export class Peer {
  readonly publicKey: Uint8Array;
  readonly id: string; // hex of the public key: a stable identifier that is not secret
  crypto: PeerCrypto;
  endpoint: Endpoint | null = null;
  /** Seconds; 0 = off. */
  persistentKeepalive = 0;
  readonly keypairs = new Keypairs();
  readonly timers: TimerState = newTimerState();
  readonly cookie: CookieGenerator;
  /** Our pending initiation, if any, and its index. */
  initiation: { state: InitiatorState; localIndex: number } | null = null;
  /** When we last sent an initiation or a response (rate limit for new initiations). */
  lastSentHandshake = -Infinity;
  /** Greatest TAI64N seen in an accepted initiation from this peer (replay protection). */
  latestTimestamp: Uint8Array | null = null;
  /** When we last accepted an initiation from this peer (flood protection). */
  lastInitiationConsumed = -Infinity;
  /** Inner packets waiting for a session; bounded by the device. */
  staged: Uint8Array[] = [];
  rxBytes = 0;
  txBytes = 0;
  /** Monotonic ms of the last completed handshake, or null. */
  lastHandshake: number | null = null;
  /** Authenticated packets from this peer whose inner source is outside its AllowedIPs, and the last such source. */
  sourceNotAllowed = 0;
  lastDisallowedSource: Uint8Array | null = null;

  constructor(publicKey: Uint8Array, crypto: PeerCrypto) {
    this.publicKey = Uint8Array.from(publicKey);
    this.id = toHex(publicKey);
    this.crypto = crypto;
    this.cookie = new CookieGenerator(this.publicKey);
  }

  /** A short, non-secret label for logs: the first 8 base64 characters of the public key. */
  get label(): string {
    return Buffer.from(this.publicKey).toString('base64').slice(0, 8) + '…';
  }
}
