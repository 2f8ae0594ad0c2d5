/**
 * Wire layouts of the four WireGuard messages (whitepaper section 5.4.2-5.4.7).
 *
 * Bytes in -> messageType() checks type byte, reserved zeros and exact length
 * -> parse*() returns field views (subarrays sharing the input's memory, no copy).
 * Fields out -> serialize*() writes a fresh buffer with both MACs left zero
 * (cookie.ts fills them). Integers on the wire are little-endian u32 (indices)
 * and u64 (transport counter). The type is one byte followed by three reserved
 * zero bytes; wireguard-go reads the four as one LE u32, so nonzero reserved
 * bytes make the message unknown there and here.
 * Field names follow the crypto state of each field, as the Linux module does.
 */
import {
  COOKIE_REPLY_SIZE,
  INITIATION_SIZE,
  MESSAGE_COOKIE_REPLY,
  MESSAGE_INITIATION,
  MESSAGE_RESPONSE,
  MESSAGE_TRANSPORT,
  RESPONSE_SIZE,
  TRANSPORT_MIN_SIZE,
} from './constants.js';

export const KEY_LEN = 32;
export const TAG_LEN = 16;
export const MAC_LEN = 16;
export const TIMESTAMP_LEN = 12;
export const COOKIE_NONCE_LEN = 24;

/** Handshake initiation, type 1, 148 bytes. */
export const InitiationLayout = {
  type: 0,
  sender: 4,
  unencryptedEphemeral: 8, // 32
  encryptedStatic: 40, // 32 + 16
  encryptedTimestamp: 88, // 12 + 16
  mac1: 116, // 16
  mac2: 132, // 16
  size: INITIATION_SIZE,
} as const;

/** Handshake response, type 2, 92 bytes. */
export const ResponseLayout = {
  type: 0,
  sender: 4,
  receiver: 8,
  unencryptedEphemeral: 12, // 32
  encryptedNothing: 44, // 0 + 16
  mac1: 60, // 16
  mac2: 76, // 16
  size: RESPONSE_SIZE,
} as const;

/** Cookie reply, type 3, 64 bytes. */
export const CookieReplyLayout = {
  type: 0,
  receiver: 4,
  nonce: 8, // 24
  encryptedCookie: 32, // 16 + 16
  size: COOKIE_REPLY_SIZE,
} as const;

/** Transport data, type 4, 32 bytes or more. */
export const TransportLayout = {
  type: 0,
  receiver: 4,
  counter: 8, // u64 LE
  encryptedEncapsulatedPacket: 16, // padded packet + 16-byte tag
  minSize: TRANSPORT_MIN_SIZE,
} as const;

export function readU32LE(b: Uint8Array, off: number): number {
  return (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24)) >>> 0;
}

export function writeU32LE(b: Uint8Array, off: number, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff) throw new RangeError('index must be a u32');
  b[off] = v & 0xff;
  b[off + 1] = (v >>> 8) & 0xff;
  b[off + 2] = (v >>> 16) & 0xff;
  b[off + 3] = (v >>> 24) & 0xff;
}

/**
 * The message type (1-4) when the header is well formed and the length fits:
 * exactly 148 / 92 / 64 bytes for types 1 / 2 / 3, at least 32 for type 4.
 * null for anything else (short, reserved bytes nonzero, unknown type, bad size).
 */
export function messageType(buf: Uint8Array): number | null {
  if (buf.length < 4 || buf[1] !== 0 || buf[2] !== 0 || buf[3] !== 0) return null;
  switch (buf[0]) {
    case MESSAGE_INITIATION:
      return buf.length === INITIATION_SIZE ? MESSAGE_INITIATION : null;
    case MESSAGE_RESPONSE:
      return buf.length === RESPONSE_SIZE ? MESSAGE_RESPONSE : null;
    case MESSAGE_COOKIE_REPLY:
      return buf.length === COOKIE_REPLY_SIZE ? MESSAGE_COOKIE_REPLY : null;
    case MESSAGE_TRANSPORT:
      return buf.length >= TRANSPORT_MIN_SIZE ? MESSAGE_TRANSPORT : null;
    default:
      return null;
  }
}

/**
 * The receiver index a message is addressed to, for index-table lookups:
 * offset 8 for a response (type 2), offset 4 for a cookie reply (3) or
 * transport message (4). -1 when messageType() rejects the buffer or the
 * type carries no receiver (an initiation is found by its static key instead).
 */
export function peekReceiverIndex(message: Uint8Array): number {
  switch (messageType(message)) {
    case MESSAGE_RESPONSE:
      return readU32LE(message, ResponseLayout.receiver);
    case MESSAGE_COOKIE_REPLY:
      return readU32LE(message, CookieReplyLayout.receiver);
    case MESSAGE_TRANSPORT:
      return readU32LE(message, TransportLayout.receiver);
    default:
      return -1;
  }
}

/** The sender index of an initiation or response (offset 4); -1 for other buffers. */
export function peekSenderIndex(message: Uint8Array): number {
  const t = messageType(message);
  return t === MESSAGE_INITIATION || t === MESSAGE_RESPONSE ? readU32LE(message, 4) : -1;
}

export interface InitiationFields {
  senderIndex: number;
  unencryptedEphemeral: Uint8Array;
  encryptedStatic: Uint8Array;
  encryptedTimestamp: Uint8Array;
  mac1: Uint8Array;
  mac2: Uint8Array;
}

export function parseInitiation(buf: Uint8Array): InitiationFields | null {
  if (messageType(buf) !== MESSAGE_INITIATION) return null;
  const I = InitiationLayout;
  return {
    senderIndex: readU32LE(buf, I.sender),
    unencryptedEphemeral: buf.subarray(I.unencryptedEphemeral, I.encryptedStatic),
    encryptedStatic: buf.subarray(I.encryptedStatic, I.encryptedTimestamp),
    encryptedTimestamp: buf.subarray(I.encryptedTimestamp, I.mac1),
    mac1: buf.subarray(I.mac1, I.mac2),
    mac2: buf.subarray(I.mac2, I.size),
  };
}

/** A fresh 148-byte initiation with zero MACs. */
export function serializeInitiation(senderIndex: number, unencryptedEphemeral: Uint8Array, encryptedStatic: Uint8Array, encryptedTimestamp: Uint8Array): Uint8Array {
  checkLen(unencryptedEphemeral, KEY_LEN);
  checkLen(encryptedStatic, KEY_LEN + TAG_LEN);
  checkLen(encryptedTimestamp, TIMESTAMP_LEN + TAG_LEN);
  const I = InitiationLayout;
  const b = new Uint8Array(I.size);
  b[I.type] = MESSAGE_INITIATION;
  writeU32LE(b, I.sender, senderIndex);
  b.set(unencryptedEphemeral, I.unencryptedEphemeral);
  b.set(encryptedStatic, I.encryptedStatic);
  b.set(encryptedTimestamp, I.encryptedTimestamp);
  return b;
}

export interface ResponseFields {
  senderIndex: number;
  receiverIndex: number;
  unencryptedEphemeral: Uint8Array;
  encryptedNothing: Uint8Array;
  mac1: Uint8Array;
  mac2: Uint8Array;
}

export function parseResponse(buf: Uint8Array): ResponseFields | null {
  if (messageType(buf) !== MESSAGE_RESPONSE) return null;
  const R = ResponseLayout;
  return {
    senderIndex: readU32LE(buf, R.sender),
    receiverIndex: readU32LE(buf, R.receiver),
    unencryptedEphemeral: buf.subarray(R.unencryptedEphemeral, R.encryptedNothing),
    encryptedNothing: buf.subarray(R.encryptedNothing, R.mac1),
    mac1: buf.subarray(R.mac1, R.mac2),
    mac2: buf.subarray(R.mac2, R.size),
  };
}

/** A fresh 92-byte response with zero MACs. */
export function serializeResponse(senderIndex: number, receiverIndex: number, unencryptedEphemeral: Uint8Array, encryptedNothing: Uint8Array): Uint8Array {
  checkLen(unencryptedEphemeral, KEY_LEN);
  checkLen(encryptedNothing, TAG_LEN);
  const R = ResponseLayout;
  const b = new Uint8Array(R.size);
  b[R.type] = MESSAGE_RESPONSE;
  writeU32LE(b, R.sender, senderIndex);
  writeU32LE(b, R.receiver, receiverIndex);
  b.set(unencryptedEphemeral, R.unencryptedEphemeral);
  b.set(encryptedNothing, R.encryptedNothing);
  return b;
}

export interface CookieReplyFields {
  receiverIndex: number;
  nonce: Uint8Array;
  encryptedCookie: Uint8Array;
}

export function parseCookieReply(buf: Uint8Array): CookieReplyFields | null {
  if (messageType(buf) !== MESSAGE_COOKIE_REPLY) return null;
  const C = CookieReplyLayout;
  return {
    receiverIndex: readU32LE(buf, C.receiver),
    nonce: buf.subarray(C.nonce, C.encryptedCookie),
    encryptedCookie: buf.subarray(C.encryptedCookie, C.size),
  };
}

export function serializeCookieReply(receiverIndex: number, nonce: Uint8Array, encryptedCookie: Uint8Array): Uint8Array {
  checkLen(nonce, COOKIE_NONCE_LEN);
  checkLen(encryptedCookie, MAC_LEN + TAG_LEN);
  const C = CookieReplyLayout;
  const b = new Uint8Array(C.size);
  b[C.type] = MESSAGE_COOKIE_REPLY;
  writeU32LE(b, C.receiver, receiverIndex);
  b.set(nonce, C.nonce);
  b.set(encryptedCookie, C.encryptedCookie);
  return b;
}

function checkLen(field: Uint8Array, len: number): void {
  // Only our own code builds messages, so a wrong length is a programming error.
  if (field.length !== len) throw new RangeError(`message field must be ${len} bytes`);
}
