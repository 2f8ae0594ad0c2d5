/**
 * Helpers for interface tests on loopback: a config from text, the
 * [Interface]/[Peer] text of a test interface, and loopback ports.
 */
import { createServer, type Server } from 'node:net';
import { parseConfig } from '../../src/config/parse.js';
import { publicKey } from '../../src/crypto/x25519.js';
import { encodeKey } from '../../src/crypto/util.js';

export function conf(name: string, text: string) {
  const r = parseConfig(`${name}.conf`, text, { interfaceName: name });
  if (!r.ok) throw new Error(r.errors.map((e) => e.message).join('; '));
  return r.config;
}

export interface PeerText {
  /** The peer's private key (its public key is derived). */
  key: Uint8Array;
  allowedIps: string;
  /** A UDP port on 127.0.0.1 (with PersistentKeepalive = 1). */
  endpointPort?: number;
}

/** `[Interface]` (ListenPort 0 when no peer has an endpoint) and one `[Peer]` per peer, then `extra` sections. */
export function wgText(key: Uint8Array, address: string, peers: PeerText[], extra = ''): string {
  const l = ['[Interface]', `PrivateKey = ${encodeKey(key)}`];
  if (peers.every((p) => p.endpointPort === undefined)) l.push('ListenPort = 0');
  l.push(`Address = ${address}`);
  for (const p of peers) {
    l.push('', '[Peer]', `PublicKey = ${encodeKey(publicKey(p.key))}`);
    if (p.endpointPort !== undefined) l.push(`Endpoint = 127.0.0.1:${p.endpointPort}`);
    l.push(`AllowedIPs = ${p.allowedIps}`);
    if (p.endpointPort !== undefined) l.push('PersistentKeepalive = 1');
  }
  return `${l.join('\n')}\n${extra ? `\n${extra}` : ''}`;
}

/** Listen on an ephemeral 127.0.0.1 port; resolves to it. */
export function listenLoopback(server: Server): Promise<number> {
  return new Promise((res) => server.listen(0, '127.0.0.1', () => res((server.address() as { port: number }).port)));
}

/** A 127.0.0.1 TCP port nobody holds right now. */
export async function freeLoopbackPort(): Promise<number> {
  const s = createServer();
  const port = await listenLoopback(s);
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
