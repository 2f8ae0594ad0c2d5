/**
 * Two library tunnels in one process, joined over loopback UDP: "a"
 * (10.77.0.1, fd77::1) listens on an ephemeral port, "b" (10.77.0.2,
 * fd77::2) dials it with a keepalive so the handshake starts at once.
 * Each side routes only the other's addresses, so 10.99.0.0/16 is outside
 * every AllowedIPs.
 */
import { randomBytes } from 'node:crypto';
import { clampPrivateKey, publicKey } from '../../src/crypto/x25519.js';
import { encodeKey } from '../../src/crypto/util.js';
import { Tunnel, type TunnelOptions } from '../../src/lib/index.js';

export const A_ADDR = '10.77.0.1';
export const B_ADDR = '10.77.0.2';

export interface Pair {
  a: Tunnel;
  b: Tunnel;
  close(): Promise<void>;
}

export function pairConfigs(aPort: number | null, extraB = '', bIface = ''): { a: string; b: (port: number) => string } {
  const ka = clampPrivateKey(randomBytes(32));
  const kb = clampPrivateKey(randomBytes(32));
  return {
    a: `[Interface]
PrivateKey = ${encodeKey(ka)}
ListenPort = ${aPort ?? 0}
Address = ${A_ADDR}/24, fd77::1/64

[Peer]
PublicKey = ${encodeKey(publicKey(kb))}
AllowedIPs = ${B_ADDR}/32, fd77::2/128
`,
    b: (port) => `[Interface]
PrivateKey = ${encodeKey(kb)}
Address = ${B_ADDR}/24, fd77::2/64
${bIface}
[Peer]
PublicKey = ${encodeKey(publicKey(ka))}
Endpoint = 127.0.0.1:${port}
AllowedIPs = ${A_ADDR}/32, fd77::1/128
PersistentKeepalive = 25
${extraB}`,
  };
}

/** Start both sides; resolves once b has completed a handshake with a. `bIface`: more [Interface] lines for b. */
export async function startPair(extraB = '', bIface = '', bOptions: TunnelOptions = {}): Promise<Pair> {
  const cfg = pairConfigs(null, extraB, bIface);
  const a = await Tunnel.start(cfg.a, { name: 'liba', listenAddress: '127.0.0.1' });
  let b: Tunnel;
  try {
    b = await Tunnel.start(cfg.b(a.listenPort), { name: 'libb', listenAddress: '127.0.0.1', ...bOptions });
  } catch (e) {
    await a.close();
    throw e;
  }
  // The handshake may complete while Tunnel.start is still starting the proxies.
  if (b.stats().peers[0]?.lastHandshakeUnix == null) await new Promise<void>((resolve) => b.once('handshake', () => resolve()));
  return { a, b, close: async () => void (await Promise.all([a.close(), b.close()])) };
}
