// Small async helpers for the interop harness: sleep, polling with a
// clear timeout message, and waiting for a child's output. (No "free port" probe: a probed port may be taken
// before it is bound again; bind port 0 and read the port instead.)

import type { ChildProcess } from 'node:child_process';

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

/** Resolves with a child's stdout+stderr so far once it matches `re`; rejects on timeout or exit, with the output. */
export function waitForOutput(child: ChildProcess, re: RegExp, ms: number): Promise<string> {
  return new Promise((res, rej) => {
    let buf = '';
    const t = setTimeout(() => rej(new Error(`timeout waiting for ${re}; output:\n${buf}`)), ms);
    const on = (d: Buffer) => {
      buf += d.toString();
      if (re.test(buf)) { clearTimeout(t); res(buf); }
    };
    child.stdout!.on('data', on);
    child.stderr!.on('data', on);
    child.once('exit', (code) => { clearTimeout(t); rej(new Error(`exited ${code}: ${buf}`)); });
  });
}
