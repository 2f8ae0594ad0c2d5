/**
 * node:dgram helpers for the sockets opened without the addon (the outer
 * WireGuard socket, the forwarder's host-side sockets): bind-or-close as one
 * promise, and a name lookup that answers IP literals at once.
 */
import type { BindOptions, Socket as DgramSocket } from 'node:dgram';

/**
 * dgram's name lookup for addresses that are already IP literals: answer at
 * once (the default defers every send through dns.lookup and a nextTick).
 */
export function literalLookup(address: string, family: unknown, cb: (err: Error | null, address: string, family: number) => void): void {
  cb(null, address, typeof family === 'number' ? family : address.includes(':') ? 6 : 4);
}

/** Bind a dgram socket: resolves with it once bound; on a bind error closes it and rejects. */
export function bindDgram(s: DgramSocket, opts: BindOptions): Promise<DgramSocket> {
  return new Promise((resolve, reject) => {
    const fail = (e: Error): void => {
      s.close();
      reject(e);
    };
    s.once('error', fail);
    s.bind(opts, () => {
      s.off('error', fail);
      resolve(s);
    });
  });
}
