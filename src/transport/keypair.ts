/**
 * Session keypairs and the previous/current/next slots of a peer
 * (whitepaper 5.4.6; wireguard-go keypair.go / Linux noise.c).
 *
 * The initiator's new keypair becomes "current" at once. The responder's
 * stays "next" until the first transport message from the initiator arrives
 * under it (key confirmation), and only then rotates into "current"; this is
 * the initiator swap.
 */
import { ReplayFilter } from './replay.js';

export class Keypair {
  /** Next counter to send with; sending stops at SEND_REJECT_AFTER_MESSAGES (constants.ts), below 2^53. */
  sendCounter = 0;
  readonly replay = new ReplayFilter();
  /** Set by wipe(): crypto deferred to the caller must not run under this keypair any more. */
  wiped = false;
  constructor(
    readonly sendKey: Uint8Array,
    readonly recvKey: Uint8Array,
    readonly isInitiator: boolean,
    readonly created: number,
    readonly localIndex: number,
    readonly remoteIndex: number,
  ) {}

  wipe(): void {
    this.wiped = true;
    this.sendKey.fill(0);
    this.recvKey.fill(0);
  }
}

export class Keypairs {
  previous: Keypair | null = null;
  current: Keypair | null = null;
  next: Keypair | null = null;

  /**
   * Install a freshly derived keypair; returns the keypairs that dropped out
   * (their indices must be freed and keys wiped by the caller).
   */
  install(kp: Keypair): Keypair[] {
    const dropped: Keypair[] = [];
    if (kp.isInitiator) {
      if (this.next) {
        // We were mid-way through being the responder: that unconfirmed "next"
        // becomes "previous" (it may still receive), the old current goes.
        if (this.current) dropped.push(this.current);
        if (this.previous) dropped.push(this.previous);
        this.previous = this.next;
        this.next = null;
      } else {
        if (this.previous) dropped.push(this.previous);
        this.previous = this.current;
      }
      this.current = kp;
    } else {
      if (this.next) dropped.push(this.next);
      if (this.previous) dropped.push(this.previous);
      this.previous = null;
      this.next = kp;
    }
    return dropped;
  }

  /**
   * Called after a transport message authenticated under kp. When kp is the
   * unconfirmed "next", rotate it into "current" and return what dropped out;
   * returns null when nothing changed.
   */
  confirm(kp: Keypair): Keypair[] | null {
    if (this.next !== kp) return null;
    const dropped: Keypair[] = [];
    if (this.previous) dropped.push(this.previous);
    this.previous = this.current;
    this.current = kp;
    this.next = null;
    return dropped;
  }

  /** Remove and return every keypair. */
  clear(): Keypair[] {
    const all = [this.previous, this.current, this.next].filter((k): k is Keypair => k !== null);
    this.previous = this.current = this.next = null;
    return all;
  }
}
