/**
 * Timer and limit constants of the WireGuard transport. Spec constants come
 * from the whitepaper, section 6.1; implementation constants follow
 * wireguard-go and the Linux module and are kept apart below. The handshake's
 * names, labels and the wire format live with the handshake
 * (src/noise/constants.ts). All times are milliseconds (the core's clock unit).
 */

// ---- Spec constants (whitepaper 6.1) ----
export const REKEY_AFTER_MESSAGES = 2 ** 60;
export const REJECT_AFTER_MESSAGES = 2n ** 64n - 2n ** 13n - 1n;
export const REKEY_AFTER_TIME = 120_000;
export const REJECT_AFTER_TIME = 180_000;
export const REKEY_ATTEMPT_TIME = 90_000;
export const REKEY_TIMEOUT = 5_000;
export const KEEPALIVE_TIMEOUT = 10_000;
/** Initiator re-keys on receive when the current keypair is this old (REJECT - KEEPALIVE - REKEY_TIMEOUT). */
export const REKEY_ON_RECEIVE_AFTER = REJECT_AFTER_TIME - KEEPALIVE_TIMEOUT - REKEY_TIMEOUT; // 165 s

// ---- Implementation constants (wireguard-go / Linux) ----
/** Random jitter added to each handshake retransmission. */
export const REKEY_TIMEOUT_JITTER_MAX = 334; // jitter in [0, 333] ms
/** Minimum spacing between accepted initiations from one peer (1/50 s). */
export const HANDSHAKE_INITIATION_RATE = 20;
/** Max handshake attempts before give-up is REKEY_ATTEMPT_TIME / REKEY_TIMEOUT (18). */
export const MAX_TIMER_HANDSHAKES = REKEY_ATTEMPT_TIME / REKEY_TIMEOUT;
/** Replay window: 8192 bits as ring, of which 8128 are the usable window. */
export const REPLAY_RING_BITS = 8192;
/** Packets staged per peer while no session exists. */
export const MAX_STAGED_PACKETS = 128;

// ---- Implementation limits of the send counter ----
// Keypair.sendCounter is a JS number, exact only below 2^53 (counter++ stops
// at 2^53, so a nonce would repeat), and as numbers the spec's message limits
// above round to 2^60 and 2^64: neither could ever be reached by counting.
// These stand in for them, keeping the spec's shape (reject 2^13 + 1 short
// of the representable range; rekey well before). At 10^6 packets/s either
// is centuries away, but the limit must hold all the same.
/** A keypair sends no message with a counter at or above this: a new session is needed. */
export const SEND_REJECT_AFTER_MESSAGES = 2 ** 53 - 2 ** 13 - 1;
/** The initiator re-keys once its send counter has passed this. */
export const SEND_REKEY_AFTER_MESSAGES = 2 ** 49;
/** Pending handshakes above which the device is "under load" and demands cookies. */
export const UNDER_LOAD_HANDSHAKES = 64;
/** Once under load, stay so for this long after the load falls. */
export const UNDER_LOAD_AFTER_TIME = 1_000;
