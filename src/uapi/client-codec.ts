/**
 * The client side of the protocol, for `wgts show` / `wgts set`:
 * UapiSetRequest -> `set=1` request text (the lines wg(8)'s ipc-uapi.h writes),
 * and a `get=1` response -> UapiDeviceView, read the way wg(8) reads it
 * (unknown keys ignored, malformed values rejected, errno=N last).
 */
import { newPeerView, type UapiDeviceView, type UapiPeerView, type UapiSetRequest } from './types.js';
import { UAPI_EPROTO } from './errno.js';
import { formatEndpoint, formatPrefix } from './get.js';
import { parseAddrPort, parsePrefix, parseUintDec } from './netip.js';
import { keyFromHex, keyToHex, ZERO_KEY_HEX } from './hexkey.js';

export type ParseGetResult = { ok: true; view: UapiDeviceView } | { ok: false; errno: number; reason: string };

/** Full `set=1` request, ending with the blank line. */
export function serializeSet(req: UapiSetRequest): string {
  const out: string[] = ['set=1'];
  if (req.privateKey !== undefined) out.push(`private_key=${req.privateKey === null ? ZERO_KEY_HEX : keyToHex(req.privateKey)}`);
  if (req.listenPort !== undefined) out.push(`listen_port=${req.listenPort}`);
  if (req.fwmark !== undefined) out.push(`fwmark=${req.fwmark ?? 0}`);
  if (req.replacePeers) out.push('replace_peers=true');
  for (const p of req.peers) {
    out.push(`public_key=${keyToHex(p.publicKey)}`);
    if (p.remove) {
      out.push('remove=true');
      continue;
    }
    if (p.updateOnly) out.push('update_only=true');
    if (p.presharedKey !== undefined) out.push(`preshared_key=${p.presharedKey === null ? ZERO_KEY_HEX : keyToHex(p.presharedKey)}`);
    if (p.endpoint !== undefined) out.push(`endpoint=${formatEndpoint(p.endpoint)}`);
    if (p.persistentKeepalive !== undefined) out.push(`persistent_keepalive_interval=${p.persistentKeepalive}`);
    if (p.replaceAllowedIps) out.push('replace_allowed_ips=true');
    for (const ip of p.addAllowedIps) out.push(`allowed_ip=${formatPrefix(ip)}`);
  }
  out.push('', '');
  return out.join('\n');
}

function protoError(reason: string): ParseGetResult {
  return { ok: false, errno: UAPI_EPROTO, reason };
}

const U64_MAX = 2 ** 64 - 1;

/** Parse a complete `get=1` response (up to and including its blank line). */
export function parseGetResponse(text: string): ParseGetResult {
  const view: UapiDeviceView = { privateKey: null, listenPort: 0, fwmark: 0, peers: [] };
  let peer: UapiPeerView | null = null;
  let hsSec = 0;
  let hsNsec = 0;
  const flushHandshake = (): void => {
    if (peer) peer.lastHandshakeWallMs = hsSec * 1000 + Math.floor(hsNsec / 1e6);
  };
  let errno: number | null = null;
  for (const line of text.split('\n')) {
    if (line === '') break;
    const eq = line.indexOf('=');
    if (eq === -1) return protoError('line without "="');
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    if (key === 'errno') {
      const n = /^-?\d{1,10}$/.test(value) ? Number(value) : NaN;
      if (!Number.isFinite(n)) return protoError('bad errno value');
      errno = n;
      continue;
    }
    if (key === 'public_key') {
      const pk = keyFromHex(value);
      if (pk === null) return protoError('bad public_key');
      flushHandshake();
      hsSec = 0;
      hsNsec = 0;
      peer = newPeerView(pk);
      view.peers.push(peer);
      continue;
    }
    if (peer === null) {
      if (key === 'private_key') {
        const k = keyFromHex(value);
        if (k === null) return protoError('bad private_key');
        view.privateKey = k.every((b) => b === 0) ? null : k;
      } else if (key === 'listen_port') {
        const n = parseUintDec(value, 0xffff);
        if (n === null) return protoError('bad listen_port');
        view.listenPort = n;
      } else if (key === 'fwmark') {
        const n = parseUintDec(value, 0xffffffff);
        if (n === null) return protoError('bad fwmark');
        view.fwmark = n;
      }
      continue;
    }
    switch (key) {
      case 'preshared_key': {
        const k = keyFromHex(value);
        if (k === null) return protoError('bad preshared_key');
        peer.presharedKey = k.every((b) => b === 0) ? null : k;
        break;
      }
      case 'endpoint': {
        const ap = parseAddrPort(value);
        if (ap === null) return protoError('bad endpoint');
        peer.endpoint = { ip: ap.addr.bytes, zone: ap.addr.zone, port: ap.port };
        break;
      }
      case 'allowed_ip': {
        const p = parsePrefix(value);
        if (p === null) return protoError('bad allowed_ip');
        peer.allowedIps.push({ ip: p.addr.bytes, cidr: p.bits });
        break;
      }
      case 'persistent_keepalive_interval': {
        const n = parseUintDec(value, 0xffff);
        if (n === null) return protoError('bad persistent_keepalive_interval');
        peer.persistentKeepalive = n;
        break;
      }
      case 'last_handshake_time_sec':
      case 'last_handshake_time_nsec':
      case 'rx_bytes':
      case 'tx_bytes': {
        const n = parseUintDec(value, U64_MAX);
        if (n === null) return protoError(`bad ${key}`);
        if (key === 'last_handshake_time_sec') hsSec = n;
        else if (key === 'last_handshake_time_nsec') hsNsec = n;
        else if (key === 'rx_bytes') peer.rxBytes = n;
        else peer.txBytes = n;
        break;
      }
      default:
        break; // protocol_version and keys we do not know: ignored, as wg(8) does
    }
  }
  flushHandshake();
  if (errno === null) return protoError('response has no errno line');
  if (errno !== 0) return { ok: false, errno, reason: 'device returned an error' };
  return { ok: true, view };
}
