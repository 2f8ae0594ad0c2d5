/**
 * The services a protocol module gets from the Stack: emitting IP packets
 * toward the tunnel, counting drops, and the stack's shared state. Protocol
 * modules depend on this interface, not on the Stack class.
 */
import type { Family } from './ip.js';

export interface Host {
  /** Queue an IP packet for the tunnel (fragmented here when larger than the MTU). */
  emit(packet: Uint8Array): void;
  /** Count a dropped packet by reason. */
  drop(reason: string): void;
  /** Next IPv4 Identification value. */
  nextIpId(): number;
  /** Token-bucket limit for ICMP errors (RFC 4443 section 2.4(f)); true when one may be sent now. */
  icmpErrorAllowed(now: number): boolean;
  /** Our address of the given family best matching `remote`, or null. */
  sourceFor(remote: Uint8Array): Uint8Array | null;
  /** True when `a` is one of our own (configured) addresses. */
  isLocal(a: Uint8Array): boolean;
  /**
   * A transparent socket or connection uses the foreign address `a` as its
   * local address: accept packets to it while held. Counted; every hold is
   * paired with one release.
   */
  holdAddress(a: Uint8Array): void;
  releaseAddress(a: Uint8Array): void;
  readonly mtu: number;
  readonly random: (n: number) => Uint8Array;
  /** Tell the driver that poll() has work (new output, or an earlier deadline). */
  wake(): void;
  /**
   * The driver is feeding a received batch and polls once at its end
   * (Stack.batching): an ACK input() asks for may wait for that poll.
   */
  readonly batching: boolean;
  /**
   * Run `fn` (user-visible events: stream data, 'message', 'connect', errors)
   * after the current input()/poll() step finished its protocol work, so user
   * code never runs in the middle of a state change.
   */
  defer(fn: () => void): void;
}

export type { Family };
