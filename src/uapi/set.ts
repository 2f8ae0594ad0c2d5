/**
 * The `set=1` request body: lines -> UapiSetRequest. SetParser takes one line
 * at a time (so the connection never buffers a whole request as text) and
 * stops at the first bad line with wireguard-go's errno for it
 * (device/uapi.go IpcSetOperation, handleDeviceLine, handlePeerLine).
 * Device keys are accepted until the first `public_key=`; after that every
 * line belongs to the current peer. Nothing is applied here: the finished
 * request goes to the backend in one piece. Reasons never quote values.
 */
import type { UapiPeerOp, UapiPrefix, UapiSetRequest } from './types.js';
import { UAPI_EINVAL, UAPI_EPROTO } from './errno.js';
import { parseAddrPort, parsePrefix, parseUintDec } from './netip.js';
import { maskPrefix } from '../ip/text.js';
import { keyFromHex } from './hexkey.js';

export interface SetError {
  errno: number;
  reason: string;
}

export type ParseSetResult = { ok: true; req: UapiSetRequest } | { ok: false; errno: number; reason: string };

/** Key names are quoted in reasons only when they look like a key name (never like key material). */
function quoteKey(key: string): string {
  return /^[a-z_]{1,32}$/.test(key) ? `"${key}"` : '(unprintable key)';
}

function isZero(k: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < k.length; i++) acc |= k[i]!;
  return acc === 0;
}

/** RFC 7748 section 5 clamping, as wireguard-go's NoisePrivateKey.FromMaybeZeroHex does. */
function clamp(k: Uint8Array): Uint8Array {
  k[0]! &= 248;
  k[31]! &= 127;
  k[31]! |= 64;
  return k;
}

function invalid(reason: string): SetError {
  return { errno: UAPI_EINVAL, reason };
}

function newPeerOp(publicKey: Uint8Array): UapiPeerOp {
  return { publicKey, remove: false, updateOnly: false, replaceAllowedIps: false, addAllowedIps: [] };
}

export class SetParser {
  private readonly req: UapiSetRequest = { replacePeers: false, peers: [] };
  private peer: UapiPeerOp | null = null;
  /** Lines after `remove=true` still get validated but change nothing (wireguard-go's dummy peer). */
  private removed = false;

  /** Feed one line (without its '\n'; a trailing '\r' is dropped like bufio.ScanLines). */
  line(raw: string): SetError | null {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const eq = line.indexOf('=');
    if (eq === -1) return { errno: UAPI_EPROTO, reason: 'line without "="' };
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    if (key === 'public_key') {
      const pk = keyFromHex(value);
      if (pk === null) return invalid('public_key is not 64 hex digits');
      this.peer = newPeerOp(pk);
      this.removed = false;
      this.req.peers.push(this.peer);
      return null;
    }
    return this.peer === null ? this.deviceLine(key, value) : this.peerLine(this.peer, key, value);
  }

  /** The request so far (call once the blank line, or end of input, is reached). */
  finish(): UapiSetRequest {
    return this.req;
  }

  private deviceLine(key: string, value: string): SetError | null {
    switch (key) {
      case 'private_key': {
        const k = keyFromHex(value);
        if (k === null) return invalid('private_key is not 64 hex digits');
        this.req.privateKey = isZero(k) ? null : clamp(k);
        return null;
      }
      case 'listen_port': {
        const port = parseUintDec(value, 0xffff);
        if (port === null) return invalid('listen_port is not an integer in 0..65535');
        this.req.listenPort = port;
        return null;
      }
      case 'fwmark': {
        const mark = parseUintDec(value, 0xffffffff);
        if (mark === null) return invalid('fwmark is not an integer in 0..4294967295');
        this.req.fwmark = mark === 0 ? null : mark;
        return null;
      }
      case 'replace_peers':
        if (value !== 'true') return invalid('replace_peers must be "true"');
        this.req.replacePeers = true;
        return null;
      default:
        return invalid(`unknown device key ${quoteKey(key)}`);
    }
  }

  private peerLine(peer: UapiPeerOp, key: string, value: string): SetError | null {
    switch (key) {
      case 'update_only':
        if (value !== 'true') return invalid('update_only must be "true"');
        if (!this.removed) peer.updateOnly = true;
        return null;
      case 'remove':
        if (value !== 'true') return invalid('remove must be "true"');
        if (!this.removed) {
          // Earlier lines of this section no longer matter: the peer goes away.
          peer.remove = true;
          peer.updateOnly = false;
          delete peer.presharedKey;
          delete peer.endpoint;
          delete peer.persistentKeepalive;
          peer.replaceAllowedIps = false;
          peer.addAllowedIps = [];
          this.removed = true;
        }
        return null;
      case 'preshared_key': {
        const k = keyFromHex(value);
        if (k === null) return invalid('preshared_key is not 64 hex digits');
        if (!this.removed) peer.presharedKey = isZero(k) ? null : k;
        return null;
      }
      case 'endpoint': {
        const ap = parseAddrPort(value);
        if (ap === null) return invalid('endpoint is not IPv4:port or [IPv6]:port');
        if (!this.removed) peer.endpoint = { ip: ap.addr.bytes, zone: ap.addr.zone, port: ap.port };
        return null;
      }
      case 'persistent_keepalive_interval': {
        const secs = parseUintDec(value, 0xffff);
        if (secs === null) return invalid('persistent_keepalive_interval is not an integer in 0..65535');
        if (!this.removed) peer.persistentKeepalive = secs;
        return null;
      }
      case 'replace_allowed_ips':
        if (value !== 'true') return invalid('replace_allowed_ips must be "true"');
        if (!this.removed) {
          peer.replaceAllowedIps = true;
          peer.addAllowedIps = [];
        }
        return null;
      case 'allowed_ip': {
        const p = parsePrefix(value);
        if (p === null) return invalid('allowed_ip is not a valid IP/CIDR prefix');
        if (!this.removed) {
          const entry: UapiPrefix = { ip: maskPrefix(p.addr.bytes, p.bits), cidr: p.bits };
          peer.addAllowedIps.push(entry);
        }
        return null;
      }
      case 'protocol_version':
        if (value !== '1') return invalid('protocol_version must be 1');
        return null;
      default:
        return invalid(`unknown peer key ${quoteKey(key)}`);
    }
  }
}

/**
 * Parse a set body (the lines after `set=1`). It ends at the first blank line
 * or at the end of the string; anything after the blank line is ignored.
 */
export function parseSet(body: string): ParseSetResult {
  const parser = new SetParser();
  let start = 0;
  while (start <= body.length) {
    let nl = body.indexOf('\n', start);
    if (nl === -1) nl = body.length;
    const line = body.slice(start, nl);
    start = nl + 1;
    if (line === '' || line === '\r') break; // blank line (or end of input) ends the request
    const err = parser.line(line);
    if (err !== null) return { ok: false, errno: err.errno, reason: err.reason };
  }
  return { ok: true, req: parser.finish() };
}
