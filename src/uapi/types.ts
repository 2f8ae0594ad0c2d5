/**
 * Types shared by the UAPI protocol (src/uapi/protocol.ts) and the device that
 * implements it. Data flow: a `get` reads a UapiDeviceView from the backend and
 * serializes it; a `set` is parsed completely into a UapiSetRequest, then handed
 * to UapiBackend.apply() in one call (wireguard.com/xplatform, "Configuration
 * Protocol"; semantics follow wireguard-go device/uapi.go).
 */

// Addresses travel in the IP text codec's binary form (src/ip/text.ts: 4 or
// 16 bytes, network order): the protocol text is parsed once where it
// arrives (set.ts, client-codec.ts) and printed once where it leaves
// (get.ts), so no module formats an address for another to parse again.

/** An IP prefix: `ip` is 4 or 16 bytes, already masked to `cidr` bits. */
export interface UapiPrefix {
  ip: Uint8Array;
  cidr: number;
}

/** A UDP endpoint: `ip` is 4 or 16 bytes; `zone` is an IPv6 scope zone ('' = none). */
export interface UapiEndpoint {
  ip: Uint8Array;
  zone: string;
  port: number;
}

export interface UapiPeerView {
  publicKey: Uint8Array;
  /** null = no preshared key (printed as 64 zeros, like wireguard-go). */
  presharedKey: Uint8Array | null;
  endpoint: UapiEndpoint | null;
  allowedIps: UapiPrefix[];
  /** Seconds, 0 = off. */
  persistentKeepalive: number;
  /** Wall-clock time of the last handshake in ms since the Unix epoch; 0 = never. */
  lastHandshakeWallMs: number;
  rxBytes: number;
  txBytes: number;
  protocolVersion: 1;
}

/** A peer as `get` shows it right after it was added: no endpoint, no traffic, no handshake. */
export function newPeerView(publicKey: Uint8Array): UapiPeerView {
  return {
    publicKey,
    presharedKey: null,
    endpoint: null,
    allowedIps: [],
    persistentKeepalive: 0,
    lastHandshakeWallMs: 0,
    rxBytes: 0,
    txBytes: 0,
    protocolVersion: 1,
  };
}

export interface UapiDeviceView {
  /** null = no private key (the line is then omitted). */
  privateKey: Uint8Array | null;
  /** The port actually bound; 0 = not bound (the line is then omitted). */
  listenPort: number;
  /** 0 = off (the line is then omitted). */
  fwmark: number;
  /** Serialized in this order. */
  peers: UapiPeerView[];
}

/**
 * One `public_key=` section of a set request. Ops must be applied in order:
 * the same key may appear in several sections (wireguard-go processes them one
 * after the other). What the backend must do, mirroring wireguard-go:
 * - If `publicKey` equals the device's own public key (after this request's
 *   private key change, if any), ignore the op entirely.
 * - `remove`: delete the peer if it exists; every other field is irrelevant.
 * - `updateOnly`: if the peer does not exist before this op, skip the op.
 * - Otherwise create the peer if needed, then: `presharedKey` (null = clear),
 *   `endpoint`, `persistentKeepalive` (seconds, 0 = off) when present;
 *   if `replaceAllowedIps`, drop all the peer's allowed IPs; then insert each
 *   `addAllowedIps` entry (an entry owned by another peer moves to this one).
 */
export interface UapiPeerOp {
  publicKey: Uint8Array;
  remove: boolean;
  updateOnly: boolean;
  presharedKey?: Uint8Array | null;
  endpoint?: UapiEndpoint;
  persistentKeepalive?: number;
  replaceAllowedIps: boolean;
  addAllowedIps: UapiPrefix[];
}

/**
 * A whole `set=1` request. Device fields are present only when the request
 * set them. Order of application: replacePeers (remove all peers), then
 * privateKey (null = clear; a non-null key is already clamped, and peers whose
 * public key equals the new device public key must be removed, as wireguard-go
 * does), listenPort (0 = pick a random port), fwmark (null = 0 = off), then the
 * peer ops in order.
 */
export interface UapiSetRequest {
  privateKey?: Uint8Array | null;
  listenPort?: number;
  fwmark?: number | null;
  replacePeers: boolean;
  peers: UapiPeerOp[];
}

/**
 * The device side. apply() must be atomic: validate everything first and change
 * nothing if it fails. errno follows wireguard-go's sign convention (negative,
 * see errno.ts: e.g. UAPI_EADDRINUSE when the port cannot be bound); a positive
 * value is negated before it is written. Neither method should throw; if one
 * does, the client gets errno=-55 (wireguard-go's "unknown" error).
 */
export interface UapiBackend {
  view(): UapiDeviceView;
  apply(req: UapiSetRequest): { errno: number };
  /** wgts extension (`stats=1`): counters wg(8) has no key for, as [key, value] pairs. Keys are [a-z0-9_.:-]+. */
  stats?(): Array<[string, string | number]>;
}
