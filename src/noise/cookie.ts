/**
 * mac1, mac2 and cookie replies (whitepaper sections 5.3 and 5.4.4, 5.4.7).
 *
 * Initiator side, one CookieGenerator per peer: addMacs() stamps mac1 (keyed
 * by the peer's public key) on every outgoing type 1/2 message and mac2 while
 * it holds a cookie younger than COOKIE_REFRESH_TIME; consumeReply() decrypts a
 * type-3 reply against the last mac1 it sent and keeps the cookie.
 * Responder side, one CookieChecker per device: checkMac1() on every incoming
 * handshake message; under load, checkMac2() against the cookie for the sender's
 * address, else createReply() answers with a cookie sealed under our public key.
 * Timing follows wireguard-go: a secret or cookie counts while now - set <= 120 s.
 * Addresses are opaque bytes chosen by the caller (e.g. IP bytes || port).
 * The fixed keys (mac1 keys, the secret Rm) are KeyedMacs: their key block is
 * compressed once, not per message.
 */
import { hash, KeyedMac, mac, MAC_LEN } from '../crypto/blake2s.js';
import { xopen, xseal } from '../crypto/xaead.js';
import { equalConstantTime } from '../crypto/util.js';
import { COOKIE_REFRESH_TIME, LABEL_COOKIE, LABEL_MAC1, MESSAGE_INITIATION, MESSAGE_RESPONSE } from './constants.js';
import { COOKIE_NONCE_LEN, messageType, parseCookieReply, readU32LE, serializeCookieReply } from './messages.js';

const enc = new TextEncoder();
const MAC1_LABEL = enc.encode(LABEL_MAC1);
const COOKIE_LABEL = enc.encode(LABEL_COOKIE);
const SECRET_LEN = 32;

/** Offsets of mac1 and mac2 in a type 1 or 2 message: they are its last 32 bytes. */
function macOffsets(message: Uint8Array): { smac1: number; smac2: number } | null {
  const t = messageType(message);
  if (t !== MESSAGE_INITIATION && t !== MESSAGE_RESPONSE) return null;
  const smac2 = message.length - MAC_LEN;
  return { smac1: smac2 - MAC_LEN, smac2 };
}

function fresh(setAt: number | null, now: number): boolean {
  return setAt !== null && now - setAt <= COOKIE_REFRESH_TIME;
}

/** The responder side: verifies MACs and issues cookies. One per device. */
export class CookieChecker {
  private mac1!: KeyedMac;
  private cookieKey!: Uint8Array;
  /** MAC keyed by the secret Rm; null until the first cookie reply. */
  private secret: KeyedMac | null = null;
  private secretSetAt: number | null = null;
  private readonly cookie = new Uint8Array(MAC_LEN);

  constructor(localPublic: Uint8Array, private readonly random: (n: number) => Uint8Array) {
    this.setLocalPublic(localPublic);
  }

  /** The private key can change via UAPI; this also invalidates the cookie secret. */
  setLocalPublic(pub: Uint8Array): void {
    // mac1 key := HASH(LABEL_MAC1 || Sm'_pub)
    this.mac1 = new KeyedMac(hash(MAC1_LABEL, pub));
    // cookie key := HASH(LABEL_COOKIE || Sm_pub)
    this.cookieKey = hash(COOKIE_LABEL, pub);
    this.secret?.wipe();
    this.secret = null;
    this.secretSetAt = null;
  }

  /** True if a type 1 or 2 message carries a valid mac1; false for any other buffer. */
  checkMac1(message: Uint8Array): boolean {
    const o = macOffsets(message);
    if (o === null) return false;
    // msg.mac1 := MAC(HASH(LABEL_MAC1 || Sm'_pub), msg_α)
    return this.mac1.verify(message, 0, o.smac1, message, o.smac1);
  }

  /** True if mac2 is valid for the cookie this device would give `source` now. */
  checkMac2(message: Uint8Array, source: Uint8Array, now: number): boolean {
    const o = macOffsets(message);
    if (o === null || this.secret === null || !fresh(this.secretSetAt, now)) return false;
    // A sender without a cookie leaves mac2 zero: skip two MACs (flood path).
    let any = 0;
    for (let i = o.smac2; i < message.length; i++) any |= message[i]!;
    if (any === 0) return false;
    // τ := MAC(Rm, Am)
    this.secret.macInto(source, 0, source.length, this.cookie, 0);
    // msg.mac2 := MAC(τ, msg_β)
    const expected = mac(this.cookie, message.subarray(0, o.smac2));
    this.cookie.fill(0);
    return equalConstantTime(expected, message.subarray(o.smac2));
  }

  /**
   * A 64-byte type-3 reply to the sender of `message` (a type 1 or 2 message
   * that passed checkMac1; anything else is a caller bug and throws).
   * Draws random(32) for a new secret Rm when the old one is older than
   * COOKIE_REFRESH_TIME, then random(24) for the nonce.
   */
  createReply(message: Uint8Array, source: Uint8Array, now: number): Uint8Array {
    const o = macOffsets(message);
    if (o === null) throw new RangeError('cookie reply needs a type 1 or 2 message');
    if (this.secret === null || !fresh(this.secretSetAt, now)) {
      const r = this.random(SECRET_LEN);
      if (r.length !== SECRET_LEN) throw new RangeError('random(32) returned a wrong length');
      this.secret?.wipe();
      this.secret = new KeyedMac(r);
      this.secretSetAt = now;
    }
    // τ := MAC(Rm, Am)
    this.secret.macInto(source, 0, source.length, this.cookie, 0);
    const nonce = this.random(COOKIE_NONCE_LEN);
    // msg.encrypted_cookie := XAEAD(HASH(LABEL_COOKIE || Sm_pub), msg.nonce, τ, M)
    const encryptedCookie = xseal(this.cookieKey, nonce, this.cookie, message.subarray(o.smac1, o.smac2));
    this.cookie.fill(0);
    // msg.receiver := the sender index of the message being answered (offset 4 in types 1 and 2)
    return serializeCookieReply(readU32LE(message, 4), nonce, encryptedCookie);
  }
}

/** The initiator side: stamps MACs and keeps the peer's cookie. One per peer. */
export class CookieGenerator {
  private readonly mac1: KeyedMac;
  private readonly cookieKey: Uint8Array;
  private readonly cookie = new Uint8Array(MAC_LEN);
  private cookieSetAt: number | null = null;
  private readonly lastMac1 = new Uint8Array(MAC_LEN);
  private hasLastMac1 = false;

  constructor(remotePublic: Uint8Array) {
    // mac1 key := HASH(LABEL_MAC1 || Sm'_pub)
    this.mac1 = new KeyedMac(hash(MAC1_LABEL, remotePublic));
    // cookie key := HASH(LABEL_COOKIE || Sm'_pub)
    this.cookieKey = hash(COOKIE_LABEL, remotePublic);
  }

  /**
   * Writes mac1 into a type 1 or 2 message (in place) and remembers it for a
   * cookie reply; writes mac2 while a cookie younger than COOKIE_REFRESH_TIME
   * is held, else zeroes it. Throws on any other buffer (only our own messages come here).
   */
  addMacs(message: Uint8Array, now: number): void {
    const o = macOffsets(message);
    if (o === null) throw new RangeError('addMacs needs a type 1 or 2 message');
    // msg.mac1 := MAC(HASH(LABEL_MAC1 || Sm'_pub), msg_α)
    this.mac1.macInto(message, 0, o.smac1, message, o.smac1);
    this.lastMac1.set(message.subarray(o.smac1, o.smac2));
    this.hasLastMac1 = true;
    if (fresh(this.cookieSetAt, now)) {
      // msg.mac2 := MAC(Tm, msg_β)   (Tm: the cookie, less than 120 s old)
      message.set(mac(this.cookie, message.subarray(0, o.smac2)), o.smac2);
    } else {
      // msg.mac2 := 0^16
      message.fill(0, o.smac2);
    }
  }

  /**
   * Validates a type-3 reply against the last mac1 sent and stores its cookie.
   * False if malformed, if no message was sent yet, or if decryption fails
   * (e.g. the reply answers an older mac1). Finding the peer by the reply's
   * receiver index is the caller's job.
   */
  consumeReply(reply: Uint8Array, now: number): boolean {
    const msg = parseCookieReply(reply);
    if (msg === null || !this.hasLastMac1) return false;
    // Tm := XAEAD-OPEN(HASH(LABEL_COOKIE || Sm'_pub), msg.nonce, msg.encrypted_cookie, M)
    const cookie = xopen(this.cookieKey, msg.nonce, msg.encryptedCookie, this.lastMac1);
    if (cookie === null || cookie.length !== MAC_LEN) return false;
    this.cookie.set(cookie);
    cookie.fill(0);
    this.cookieSetAt = now;
    return true;
  }
}
