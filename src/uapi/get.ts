/**
 * The `get=1` response: UapiDeviceView -> text, line for line what
 * wireguard-go's IpcGetOperation (device/uapi.go) writes, then `errno=0` and
 * the blank line that ends every response (wireguard.com/xplatform).
 * Device lines are omitted when zero/unset; every peer gets all its lines.
 */
import type { UapiDeviceView, UapiEndpoint, UapiPeerView, UapiPrefix } from './types.js';
import { formatAddr } from './netip.js';
import { maskPrefix } from '../ip/text.js';
import { keyToHex, ZERO_KEY_HEX } from './hexkey.js';

/** Non-negative integer in plain decimal (never exponent notation). */
function dec(n: number): string {
  if (!Number.isFinite(n) || n <= 0) return '0';
  return BigInt(Math.floor(n)).toString();
}

function isZeroKey(k: Uint8Array | null): boolean {
  if (k === null) return true;
  let acc = 0;
  for (let i = 0; i < k.length; i++) acc |= k[i]!;
  return acc === 0;
}

/** Go's AddrPort.String: IPv6 in brackets. */
export function formatEndpoint(ep: UapiEndpoint): string {
  const s = formatAddr(ep.ip, ep.zone);
  return ep.ip.length === 16 ? `[${s}]:${ep.port}` : `${s}:${ep.port}`;
}

/** Go's Prefix.String of a masked trie entry. */
export function formatPrefix(p: UapiPrefix): string {
  return `${formatAddr(maskPrefix(p.ip, p.cidr))}/${p.cidr}`;
}

function peerLines(p: UapiPeerView, out: string[]): void {
  out.push(`public_key=${keyToHex(p.publicKey)}`);
  out.push(`preshared_key=${isZeroKey(p.presharedKey) ? ZERO_KEY_HEX : keyToHex(p.presharedKey!)}`);
  out.push('protocol_version=1');
  if (p.endpoint !== null) out.push(`endpoint=${formatEndpoint(p.endpoint)}`);
  const ms = Number.isFinite(p.lastHandshakeWallMs) && p.lastHandshakeWallMs > 0 ? p.lastHandshakeWallMs : 0;
  const sec = Math.floor(ms / 1000);
  const nsec = Math.min(999_999_999, Math.floor((ms - sec * 1000) * 1_000_000));
  out.push(`last_handshake_time_sec=${dec(sec)}`);
  out.push(`last_handshake_time_nsec=${dec(nsec)}`);
  out.push(`tx_bytes=${dec(p.txBytes)}`);
  out.push(`rx_bytes=${dec(p.rxBytes)}`);
  out.push(`persistent_keepalive_interval=${dec(p.persistentKeepalive)}`);
  for (const ip of p.allowedIps) out.push(`allowed_ip=${formatPrefix(ip)}`);
}

/** Full response to `get=1`, including the trailing `errno=0\n\n`. */
export function serializeGet(view: UapiDeviceView): string {
  const out: string[] = [];
  if (!isZeroKey(view.privateKey)) out.push(`private_key=${keyToHex(view.privateKey!)}`);
  if (view.listenPort > 0) out.push(`listen_port=${dec(view.listenPort)}`);
  if (view.fwmark > 0) out.push(`fwmark=${dec(view.fwmark)}`);
  for (const p of view.peers) peerLines(p, out);
  out.push('errno=0', '', '');
  return out.join('\n');
}
