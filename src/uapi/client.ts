/**
 * Driver-side UAPI client: connect to NAME.sock, write one request, read until
 * the blank line that ends its response, hang up. Used by `wgts show/set`.
 */
import { connect } from 'node:net';

export interface UapiClientOptions {
  /** Give up after this long. Default 5000 ms. */
  timeoutMs?: number;
  /** Refuse responses larger than this. Default 64 MiB. */
  maxResponseBytes?: number;
}

/** Send `request` (e.g. "get=1\n\n") and resolve with the response text, blank line included. */
export function uapiClient(path: string, request: string, opts: UapiClientOptions = {}): Promise<string> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const maxBytes = opts.maxResponseBytes ?? 64 << 20;
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const sock = connect({ path });
    const finish = (err: Error | null, text?: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(text!);
    };
    const timer = setTimeout(() => finish(new Error(`uapi: no complete response from ${path} within ${timeoutMs} ms`)), timeoutMs);
    sock.on('connect', () => sock.write(request));
    sock.on('data', (b: Buffer) => {
      chunks.push(b);
      size += b.length;
      if (size > maxBytes) {
        finish(new Error(`uapi: response from ${path} exceeds ${maxBytes} bytes`));
        return;
      }
      const all = Buffer.concat(chunks, size);
      // Search only near the new bytes: the terminator may straddle two chunks.
      const end = all.indexOf('\n\n', Math.max(0, size - b.length - 1));
      if (end !== -1) finish(null, all.subarray(0, end + 2).toString('utf8'));
      else if (chunks.length > 1) chunks.splice(0, chunks.length, all);
    });
    sock.on('end', () => finish(new Error(`uapi: ${path} closed the connection without a complete response`)));
    sock.on('error', (err) => finish(err));
  });
}
