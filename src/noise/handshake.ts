/**
 * The Noise_IKpsk2 handshake of WireGuard (whitepaper section 5.4.2-5.4.5).
 *
 * Initiator: createInitiation -> (send type 1) ... (receive type 2) -> consumeResponse -> keys.
 * Responder: consumeInitiation -> createResponse -> (send type 2) + keys.
 * Each function is pure: randomness (ephemeral scalars) and the TAI64N
 * timestamp come in as bytes, state goes out as plain objects the caller keeps
 * per peer. MACs are not touched here (cookie.ts); replay and flood checks on
 * the timestamp are the caller's. Every failure returns null, nothing throws
 * on network input. Each derivation line carries the whitepaper's pseudocode.
 * Cost: 4 X25519 operations per side (ss is precomputed per peer): the
 * ephemeral key's import, where OpenSSL derives its public half (about one
 * DH), and three DHs. A peer's static key is imported into OpenSSL once
 * (PrivateKey.dhCached); the remote ephemeral once per handshake for its two
 * DHs (PublicKey, kept in ResponderState between the responder's two calls).
 * The KDFs run in TypeScript (blake2s.ts) and the short AEADs in
 * WebAssembly (chachapoly-wasm.ts; chachapoly-small.ts without SIMD), both
 * cheaper than node:crypto's per-call object set-up at these sizes.
 */
import { hash, kdf1, kdf2, kdf3 } from '../crypto/blake2s.js';
import { openSmall, sealSmall } from '../crypto/chachapoly-small.js';
import { wasmOpen, wasmSealInto } from '../crypto/chachapoly-wasm.js';
import { PrivateKey, PublicKey, clampPrivateKey } from '../crypto/x25519.js';
import { CONSTRUCTION, IDENTIFIER } from './constants.js';
import { parseInitiation, parseResponse, serializeInitiation, serializeResponse, TAG_LEN, TIMESTAMP_LEN } from './messages.js';

export interface LocalIdentity {
  privateKey: PrivateKey;
  publicKey: Uint8Array;
}

export interface PeerCrypto {
  remoteStatic: Uint8Array;
  /** 32 zero bytes when the peer has no preshared key. */
  presharedKey: Uint8Array;
  /** DH(S_priv_local, S_pub_remote), precomputed; null if low order: the peer can't handshake. */
  staticStatic: Uint8Array | null;
}

export interface InitiatorState {
  localIndex: number;
  chainKey: Uint8Array;
  hash: Uint8Array;
  ephemeral: PrivateKey;
}

export interface ResponderState {
  remoteIndex: number;
  chainKey: Uint8Array;
  hash: Uint8Array;
  remoteEphemeral: Uint8Array;
  /**
   * remoteEphemeral as consumeInitiation imported it into OpenSSL;
   * createResponse imports the bytes again when this is absent or was
   * imported from other bytes.
   */
  remoteEphemeralKey?: PublicKey;
  /** The decrypted TAI64N timestamp, for the caller's replay check. */
  timestamp: Uint8Array;
}

export interface SessionKeys {
  sendKey: Uint8Array;
  recvKey: Uint8Array;
}

const EMPTY = new Uint8Array(0);
/** Every handshake AEAD uses counter 0: a nonce of 12 zero bytes. */
const NONCE0 = new Uint8Array(12);
const enc = new TextEncoder();

// C := HASH(CONSTRUCTION)
const INITIAL_CHAIN_KEY = hash(enc.encode(CONSTRUCTION));
// H := HASH(C || IDENTIFIER)
const INITIAL_HASH = hash(INITIAL_CHAIN_KEY, enc.encode(IDENTIFIER));

/**
 * Build the PeerCrypto for a remote static key (and optional 32-byte PSK).
 * Without a local identity yet (no private key), staticStatic is null and
 * handshakes with this peer cannot start until one is set.
 */
export function makePeerCrypto(local: LocalIdentity | null, remoteStatic: Uint8Array, presharedKey?: Uint8Array | null): PeerCrypto {
  return {
    remoteStatic: Uint8Array.from(remoteStatic),
    presharedKey: presharedKey ? Uint8Array.from(presharedKey) : new Uint8Array(32),
    staticStatic: local ? local.privateKey.dh(remoteStatic) : null,
  };
}

/** Build a type-1 message (148 bytes) with mac1/mac2 left zero (cookie.ts fills them). */
export function createInitiation(
  local: LocalIdentity,
  peer: PeerCrypto,
  ephemeralRandom32: Uint8Array,
  timestamp12: Uint8Array,
  localIndex: number,
): { message: Uint8Array; state: InitiatorState } | null {
  checkIndex(localIndex);
  if (peer.staticStatic === null || timestamp12.length !== TIMESTAMP_LEN) return null;

  // Ci := HASH(CONSTRUCTION); Hi := HASH(Ci || IDENTIFIER)
  let c = INITIAL_CHAIN_KEY;
  // Hi := HASH(Hi || Sr_pub)
  let h = hash(INITIAL_HASH, peer.remoteStatic);

  // (Ei_priv, Ei_pub) := DH-GENERATE()
  const ephemeral = new PrivateKey(clampPrivateKey(ephemeralRandom32));
  const unencryptedEphemeral = ephemeral.publicKey;
  // Ci := KDF1(Ci, Ei_pub)
  c = kdf1(c, unencryptedEphemeral);
  // Hi := HASH(Hi || msg.unencrypted_ephemeral)
  h = hash(h, unencryptedEphemeral);

  const es = ephemeral.dhCached(peer.remoteStatic);
  if (es === null) {
    ephemeral.wipe();
    c.fill(0);
    return null;
  }
  // (Ci, κ) := KDF2(Ci, DH(Ei_priv, Sr_pub))
  let [c2, key] = kdf2(c, es);
  c.fill(0);
  c = c2;
  es.fill(0);
  // msg.encrypted_static := AEAD(κ, 0, Si_pub, Hi)
  const encryptedStatic = seal0(key, local.publicKey, h);
  key.fill(0);
  // Hi := HASH(Hi || msg.encrypted_static)
  h = hash(h, encryptedStatic);

  // (Ci, κ) := KDF2(Ci, DH(Si_priv, Sr_pub))
  [c2, key] = kdf2(c, peer.staticStatic);
  c.fill(0);
  c = c2;
  // msg.encrypted_timestamp := AEAD(κ, 0, TIMESTAMP(), Hi)
  const encryptedTimestamp = seal0(key, timestamp12, h);
  key.fill(0);
  // Hi := HASH(Hi || msg.encrypted_timestamp)
  h = hash(h, encryptedTimestamp);

  const message = serializeInitiation(localIndex, unencryptedEphemeral, encryptedStatic, encryptedTimestamp);
  return { message, state: { localIndex, chainKey: c, hash: h, ephemeral } };
}

/**
 * Consume a type-1 message (MACs already checked by the caller). lookup maps
 * the decrypted static key to that peer's crypto, or undefined if unknown.
 * Returns null on any failure (bad length/type, decrypt failure, unknown peer,
 * low-order keys). It does NOT check timestamp replay or flood rate: it
 * returns the timestamp so the caller (the peer) can.
 */
export function consumeInitiation<P>(
  local: LocalIdentity,
  message: Uint8Array,
  lookup: (remoteStatic: Uint8Array) => { peer: P; crypto: PeerCrypto } | undefined,
): { peer: P; state: ResponderState } | null {
  const msg = parseInitiation(message);
  if (msg === null) return null;
  const remoteEphemeral = new Uint8Array(msg.unencryptedEphemeral);

  // Hr := HASH(HASH(HASH(CONSTRUCTION) || IDENTIFIER) || Sr_pub)
  let h = hash(INITIAL_HASH, local.publicKey);
  // Cr := KDF1(HASH(CONSTRUCTION), Ei_pub)
  let c = kdf1(INITIAL_CHAIN_KEY, remoteEphemeral);
  // Hr := HASH(Hr || msg.unencrypted_ephemeral)
  h = hash(h, remoteEphemeral);

  const remoteEphemeralKey = new PublicKey(remoteEphemeral);
  const se = local.privateKey.dhWith(remoteEphemeralKey);
  if (se === null) return null;
  // (Cr, κ) := KDF2(Cr, DH(Sr_priv, Ei_pub))
  let [c2, key] = kdf2(c, se);
  c.fill(0);
  c = c2;
  se.fill(0);
  // Si_pub := AEAD-OPEN(κ, 0, msg.encrypted_static, Hr)
  const remoteStatic = open0(key, msg.encryptedStatic, h);
  key.fill(0);
  if (remoteStatic === null) { c.fill(0); return null; }
  // Hr := HASH(Hr || msg.encrypted_static)
  h = hash(h, msg.encryptedStatic);

  const found = lookup(remoteStatic);
  if (found === undefined || found.crypto.staticStatic === null) { c.fill(0); return null; }

  // (Cr, κ) := KDF2(Cr, DH(Sr_priv, Si_pub))
  [c2, key] = kdf2(c, found.crypto.staticStatic);
  c.fill(0);
  c = c2;
  // TIMESTAMP := AEAD-OPEN(κ, 0, msg.encrypted_timestamp, Hr)
  const ts = open0(key, msg.encryptedTimestamp, h);
  key.fill(0);
  if (ts === null || ts.length !== TIMESTAMP_LEN) { c.fill(0); h.fill(0); return null; }
  // Hr := HASH(Hr || msg.encrypted_timestamp)
  h = hash(h, msg.encryptedTimestamp);

  return {
    peer: found.peer,
    state: { remoteIndex: msg.senderIndex, chainKey: c, hash: h, remoteEphemeral, remoteEphemeralKey, timestamp: ts },
  };
}

/**
 * Build a type-2 message (92 bytes, MACs zero) and derive the responder's
 * session keys. On success the state's chain key and hash are zeroed.
 */
export function createResponse(
  local: LocalIdentity,
  peer: PeerCrypto,
  state: ResponderState,
  ephemeralRandom32: Uint8Array,
  localIndex: number,
): { message: Uint8Array; keys: SessionKeys } | null {
  checkIndex(localIndex);
  // (Er_priv, Er_pub) := DH-GENERATE()
  const ephemeral = new PrivateKey(clampPrivateKey(ephemeralRandom32));
  try {
    const unencryptedEphemeral = ephemeral.publicKey;
    // Cr := KDF1(Cr, Er_pub)
    let c = kdf1(state.chainKey, unencryptedEphemeral);
    // Hr := HASH(Hr || msg.unencrypted_ephemeral)
    let h = hash(state.hash, unencryptedEphemeral);

    const imported = state.remoteEphemeralKey;
    const ee = ephemeral.dhWith(imported?.is(state.remoteEphemeral) ? imported : new PublicKey(state.remoteEphemeral));
    if (ee === null) { c.fill(0); return null; }
    // Cr := KDF1(Cr, DH(Er_priv, Ei_pub))
    c = mixKey(c, ee);
    const es = ephemeral.dhCached(peer.remoteStatic);
    if (es === null) { c.fill(0); return null; }
    // Cr := KDF1(Cr, DH(Er_priv, Si_pub))
    c = mixKey(c, es);

    // (Cr, τ, κ) := KDF3(Cr, Q)
    const [c3, tau, key] = kdf3(c, peer.presharedKey);
    c.fill(0);
    c = c3;
    // Hr := HASH(Hr || τ)
    h = hash(h, tau);
    tau.fill(0);
    // msg.encrypted_nothing := AEAD(κ, 0, ε, Hr)
    const encryptedNothing = seal0(key, EMPTY, h);
    key.fill(0);
    // Hr := HASH(Hr || msg.encrypted_nothing)
    h = hash(h, encryptedNothing);

    const message = serializeResponse(localIndex, state.remoteIndex, unencryptedEphemeral, encryptedNothing);
    // (Tr_recv, Tr_send) := KDF2(Cr, ε)
    const [recvKey, sendKey] = kdf2(c, EMPTY);
    c.fill(0);
    h.fill(0);
    state.chainKey.fill(0);
    state.hash.fill(0);
    return { message, keys: { sendKey, recvKey } };
  } finally {
    ephemeral.wipe();
  }
}

/**
 * Consume a type-2 message (MACs checked by the caller) for a pending
 * initiation; returns the remote's index and the initiator's session keys.
 * Fails (null) when the message's receiver index is not state.localIndex.
 * A failure leaves the state untouched, so a forged response cannot end a
 * pending handshake; success zeroes its chain key, hash and ephemeral key.
 */
export function consumeResponse(
  local: LocalIdentity,
  peer: PeerCrypto,
  state: InitiatorState,
  message: Uint8Array,
): { remoteIndex: number; keys: SessionKeys } | null {
  const msg = parseResponse(message);
  if (msg === null || msg.receiverIndex !== state.localIndex) return null;
  const remoteEphemeral = msg.unencryptedEphemeral;

  // Ci := KDF1(Ci, Er_pub)
  let c = kdf1(state.chainKey, remoteEphemeral);
  // Hi := HASH(Hi || msg.unencrypted_ephemeral)
  let h = hash(state.hash, remoteEphemeral);

  const remoteEphemeralKey = new PublicKey(remoteEphemeral);
  const ee = state.ephemeral.dhWith(remoteEphemeralKey);
  if (ee === null) { c.fill(0); return null; }
  // Ci := KDF1(Ci, DH(Ei_priv, Er_pub))
  c = mixKey(c, ee);
  const se = local.privateKey.dhWith(remoteEphemeralKey);
  if (se === null) { c.fill(0); return null; }
  // Ci := KDF1(Ci, DH(Si_priv, Er_pub))
  c = mixKey(c, se);

  // (Ci, τ, κ) := KDF3(Ci, Q)
  const [c3, tau, key] = kdf3(c, peer.presharedKey);
  c.fill(0);
  c = c3;
  // Hi := HASH(Hi || τ)
  h = hash(h, tau);
  tau.fill(0);
  // ε := AEAD-OPEN(κ, 0, msg.encrypted_nothing, Hi)
  const nothing = open0(key, msg.encryptedNothing, h);
  key.fill(0);
  if (nothing === null) {
    c.fill(0);
    h.fill(0);
    return null;
  }
  // Hi := HASH(Hi || msg.encrypted_nothing)
  h = hash(h, msg.encryptedNothing);

  // (Ti_send, Ti_recv) := KDF2(Ci, ε)
  const [sendKey, recvKey] = kdf2(c, EMPTY);
  c.fill(0);
  h.fill(0);
  state.chainKey.fill(0);
  state.hash.fill(0);
  state.ephemeral.wipe();
  return { remoteIndex: msg.senderIndex, keys: { sendKey, recvKey } };
}

/** Zero a pending initiation that will not be completed (replaced, superseded or dropped). */
export function wipeInitiatorState(state: InitiatorState): void {
  state.chainKey.fill(0);
  state.hash.fill(0);
  state.ephemeral.wipe();
}

/** Zero a consumed initiation the caller will not answer (replayed, flooding, or the response failed). */
export function wipeResponderState(state: ResponderState): void {
  state.chainKey.fill(0);
  state.hash.fill(0);
}

/** Zero a peer's preshared key and precomputed static-static DH once they are replaced or the peer is gone. */
export function wipePeerCrypto(crypto: PeerCrypto): void {
  crypto.presharedKey.fill(0);
  crypto.staticStatic?.fill(0);
}

/** Indices come from the caller's index table; anything but a u32 is a bug there. */
function checkIndex(i: number): void {
  if (!Number.isInteger(i) || i < 0 || i > 0xffff_ffff) throw new RangeError('local index must be a u32');
}

/**
 * AEAD(κ, 0, plaintext, H) in a fresh array: the WebAssembly AEAD (about
 * 0.5 µs here, 2-6x less than chachapoly-small.ts at these sizes), or
 * chachapoly-small.ts where WebAssembly SIMD is missing.
 */
function seal0(key: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
  const out = new Uint8Array(plaintext.length + TAG_LEN);
  if (wasmSealInto(key, 0, plaintext, out, 0, aad)) return out;
  return sealSmall(key, NONCE0, plaintext, aad);
}

/** AEAD-OPEN(κ, 0, sealed, H): the plaintext in a fresh array, or null; the same two paths as seal0. */
function open0(key: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array | null {
  if (sealed.length < TAG_LEN) return null;
  const out = new Uint8Array(sealed.length - TAG_LEN);
  const got = wasmOpen(key, 0, sealed, out, aad);
  if (got !== undefined) return got === null ? null : out;
  return openSmall(key, NONCE0, sealed, aad);
}

/** C := KDF1(C, dh), zeroing the old chain key and the DH result. */
function mixKey(c: Uint8Array, dh: Uint8Array): Uint8Array {
  const next = kdf1(c, dh);
  c.fill(0);
  dh.fill(0);
  return next;
}
