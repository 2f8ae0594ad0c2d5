/**
 * The per-peer timers of WireGuard (whitepaper 6; Linux timers.c), kept as
 * deadlines in monotonic ms instead of armed callbacks. `Device.tick(now)`
 * fires those that are due; `nextDeadline()` is the earliest of them.
 *
 * - retransmitHandshake: REKEY_TIMEOUT + jitter after an initiation is sent
 *   with no response; resend, or give up after MAX_TIMER_HANDSHAKES retries.
 * - sendKeepalive: KEEPALIVE_TIMEOUT after data was received and nothing was
 *   sent back; sends an empty (keepalive) transport message.
 * - newHandshake: KEEPALIVE_TIMEOUT + REKEY_TIMEOUT (+ jitter) after data
 *   was sent and nothing at all was received; starts a new handshake.
 * - zeroKeyMaterial: 3 x REJECT_AFTER_TIME after a session was derived with
 *   no newer one; wipes every keypair and the handshake state.
 * - persistentKeepalive: every PersistentKeepalive seconds after any
 *   authenticated packet went either way; sends a keepalive.
 *
 * The hooks below only move deadlines; the device performs the sends.
 */
import {
  KEEPALIVE_TIMEOUT, REJECT_AFTER_TIME, REKEY_TIMEOUT, REKEY_TIMEOUT_JITTER_MAX,
} from './constants.js';

export interface TimerState {
  retransmitHandshake: number | null;
  sendKeepalive: number | null;
  newHandshake: number | null;
  zeroKeyMaterial: number | null;
  persistentKeepalive: number | null;
  /** A keepalive fired while data kept arriving: re-arm once more. */
  needAnotherKeepalive: boolean;
  handshakeAttempts: number;
  /** The initiator asked for a new handshake because its session nears expiry on receive. */
  sentLastMinuteHandshake: boolean;
}

export function newTimerState(): TimerState {
  return {
    retransmitHandshake: null, sendKeepalive: null, newHandshake: null, zeroKeyMaterial: null,
    persistentKeepalive: null, needAnotherKeepalive: false, handshakeAttempts: 0, sentLastMinuteHandshake: false,
  };
}

/** Should be called after an authenticated data packet is sent (not a keepalive). */
export function onDataSent(t: TimerState, now: number, jitter: number): void {
  if (t.newHandshake === null) t.newHandshake = now + KEEPALIVE_TIMEOUT + REKEY_TIMEOUT + jitter;
}

/** Should be called after an authenticated data packet is received (not a keepalive). */
export function onDataReceived(t: TimerState, now: number): void {
  if (t.sendKeepalive === null) t.sendKeepalive = now + KEEPALIVE_TIMEOUT;
  else t.needAnotherKeepalive = true;
}

/** Should be called after any authenticated packet is sent: keepalive, data or handshake. */
export function onAnyAuthenticatedPacketSent(t: TimerState): void {
  t.sendKeepalive = null;
}

/** Should be called after any authenticated packet is received: keepalive, data or handshake. */
export function onAnyAuthenticatedPacketReceived(t: TimerState): void {
  t.newHandshake = null;
}

/** Should be called after a handshake initiation message is sent. */
export function onHandshakeInitiated(t: TimerState, now: number, jitter: number): void {
  t.retransmitHandshake = now + REKEY_TIMEOUT + jitter;
}

/**
 * Should be called after a handshake response is received and processed, or
 * when the first data message confirms a session we responded to.
 */
export function onHandshakeComplete(t: TimerState): void {
  t.retransmitHandshake = null;
  t.handshakeAttempts = 0;
  t.sentLastMinuteHandshake = false;
}

/** Should be called after a new session is derived (either role). */
export function onSessionDerived(t: TimerState, now: number): void {
  t.zeroKeyMaterial = now + REJECT_AFTER_TIME * 3;
}

/** Should be called after any authenticated packet goes either way (persistent keepalive). */
export function onAnyAuthenticatedPacketTraversal(t: TimerState, now: number, persistentKeepaliveSec: number): void {
  if (persistentKeepaliveSec > 0) t.persistentKeepalive = now + persistentKeepaliveSec * 1000;
}

/** Uniform jitter in [0, REKEY_TIMEOUT_JITTER_MAX) ms from two random bytes. */
export function jitterFrom(random2: Uint8Array): number {
  return ((random2[0]! << 8) | random2[1]!) % REKEY_TIMEOUT_JITTER_MAX;
}

/** The earliest armed deadline, or Infinity. */
export function earliest(t: TimerState): number {
  // Unrolled: the driver asks after every packet, so no array per call.
  let m = Infinity;
  if (t.retransmitHandshake !== null && t.retransmitHandshake < m) m = t.retransmitHandshake;
  if (t.sendKeepalive !== null && t.sendKeepalive < m) m = t.sendKeepalive;
  if (t.newHandshake !== null && t.newHandshake < m) m = t.newHandshake;
  if (t.zeroKeyMaterial !== null && t.zeroKeyMaterial < m) m = t.zeroKeyMaterial;
  if (t.persistentKeepalive !== null && t.persistentKeepalive < m) m = t.persistentKeepalive;
  return m;
}
