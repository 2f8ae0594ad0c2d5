// Small async helpers for the interop harness: sleep, polling with a clear
// timeout message, and picking a free UDP port on a local address.
import { createSocket } from 'node:dgram';

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export class WaitTimeoutError extends Error {
  constructor(what: string, timeoutMs: number, last: unknown) {
    const detail = last === undefined ? '' : `; last: ${last instanceof Error ? last.message : String(last)}`;
    super(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    this.name = 'WaitTimeoutError';
  }
}

export interface WaitOptions {
  /** Poll interval in ms. Default 50. */
  intervalMs?: number;
}

/**
 * Poll `cond` until it returns a truthy value (returned) or timeoutMs passes.
 * A throw from `cond` counts as "not yet" and its message is shown on timeout.
 */
export async function waitFor<T>(
  cond: () => T | Promise<T>,
  timeoutMs: number,
  what: string,
  opts: WaitOptions = {},
): Promise<NonNullable<T>> {
  const interval = opts.intervalMs ?? 50;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await cond();
      if (v) return v as NonNullable<T>;
      last = undefined;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) throw new WaitTimeoutError(what, timeoutMs, last);
    await sleep(Math.min(interval, Math.max(1, deadline - Date.now())));
  }
}

/** A UDP port that was free on `address` a moment ago (bind to 0, read, close). */
export function freeUdpPort(address = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const sock = createSocket(address.includes(':') ? 'udp6' : 'udp4');
    sock.once('error', reject);
    sock.bind(0, address, () => {
      const { port } = sock.address();
      sock.close(() => resolve(port));
    });
  });
}
