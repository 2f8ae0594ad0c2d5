/**
 * Constants of the WireGuard handshake and wire format: the Noise protocol
 * name, identifier and MAC labels (whitepaper 5.4), the message types and
 * sizes (5.4.2-5.4.7), and the cookie lifetime (6.1). The transport imports
 * them from here, so the arrow runs transport -> noise only.
 */

// ---- Spec constants (whitepaper 6.1) ----
export const COOKIE_REFRESH_TIME = 120_000;

// ---- Spec constants (whitepaper 5.4) ----
export const CONSTRUCTION = 'Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s';
export const IDENTIFIER = 'WireGuard v1 zx2c4 Jason@zx2c4.com';
export const LABEL_MAC1 = 'mac1----';
export const LABEL_COOKIE = 'cookie--';

// ---- Wire format ----
export const MESSAGE_INITIATION = 1;
export const MESSAGE_RESPONSE = 2;
export const MESSAGE_COOKIE_REPLY = 3;
export const MESSAGE_TRANSPORT = 4;
export const INITIATION_SIZE = 148;
export const RESPONSE_SIZE = 92;
export const COOKIE_REPLY_SIZE = 64;
export const TRANSPORT_HEADER_SIZE = 16;
export const TRANSPORT_MIN_SIZE = 32; // header + empty payload + tag (keepalive)
export const PADDING_MULTIPLE = 16;
