// Gate for interop suites. canRunInterop() probes the machine once (root, a
// namespace can really be added, /dev/net/tun, the binaries on PATH);
// interopSuite() wraps vitest's describe so a suite either runs with
// sweep/cleanup/log-dump hooks installed, or is skipped loudly (stderr line +
// a skipped test carrying the reason), or fails when WGTS_INTEROP=required.
// skipUnlessPresent() and skipOrFail() do the same for a single test.
import { describe, it, beforeAll, afterAll, afterEach, test, type TestContext } from 'vitest';
import { spawnSync } from 'node:child_process';
import { accessSync, closeSync, constants, openSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { cleanupAll, dumpLogs, HARNESS_PREFIX, sweepStale } from './registry.js';

export type InteropMode = 'required' | 'optional';
export type InteropStatus = { ok: true } | { ok: false; why: string };

/** WGTS_INTEROP=required (or 1/true) makes missing prerequisites a failure. */
export function interopMode(): InteropMode {
  const v = (process.env.WGTS_INTEROP ?? '').trim().toLowerCase();
  return v === 'required' || v === '1' || v === 'true' ? 'required' : 'optional';
}

/** Absolute path of an executable on PATH, or null. */
export function which(bin: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, bin);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return null;
}

export const INTEROP_BINARIES = ['ip', 'wireguard-go', 'wg'] as const;

let cached: InteropStatus | null = null;
const cachedExtra = new Map<string, InteropStatus>();

function probe(): InteropStatus {
  if (process.platform !== 'linux') return { ok: false, why: `platform is ${process.platform}, not linux` };
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    return { ok: false, why: `not running as root (uid ${process.getuid?.() ?? 'unknown'})` };
  }
  for (const bin of INTEROP_BINARIES) {
    if (!which(bin)) return { ok: false, why: `\`${bin}\` not found on PATH` };
  }
  try {
    closeSync(openSync('/dev/net/tun', 'r+'));
  } catch (err) {
    return { ok: false, why: `/dev/net/tun not usable: ${(err as Error).message}` };
  }
  // Listing is not enough (works without CAP_SYS_ADMIN): really add one.
  const name = `${HARNESS_PREFIX}probe-${process.pid}-0`;
  const add = spawnSync('ip', ['netns', 'add', name], { encoding: 'utf8', timeout: 10_000 });
  if (add.status !== 0) {
    return { ok: false, why: `\`ip netns add\` failed: ${(add.stderr || add.error?.message || '').trim()}` };
  }
  const del = spawnSync('ip', ['netns', 'del', name], { encoding: 'utf8', timeout: 10_000 });
  if (del.status !== 0) {
    return { ok: false, why: `\`ip netns del\` failed: ${(del.stderr || del.error?.message || '').trim()}` };
  }
  return { ok: true };
}

/**
 * Whether interop tests can run here. `extraBinaries` (e.g. ['ping']) are
 * checked on top of ip, wireguard-go and wg. Probed once per process.
 */
export function canRunInterop(extraBinaries: readonly string[] = []): InteropStatus {
  cached ??= probe();
  if (!cached.ok) return cached;
  for (const bin of extraBinaries) {
    let s = cachedExtra.get(bin);
    if (!s) {
      s = which(bin) ? { ok: true } : { ok: false, why: `\`${bin}\` not found on PATH` };
      cachedExtra.set(bin, s);
    }
    if (!s.ok) return s;
  }
  return cached;
}

export interface InteropSuiteOptions {
  /** Per-test timeout in ms inside the suite (vitest describe option). */
  timeout?: number;
  /** Binaries needed beyond ip, wireguard-go, wg. */
  needs?: readonly string[];
  /** A further prerequisite the suite probed itself (e.g. kernelGuestStatus()). */
  also?: InteropStatus;
}

/**
 * describe() for interop suites. When the machine can't run them: in optional
 * mode print `SKIP interop: <why>` to stderr and register one skipped test with
 * the reason; in required mode register one failing test. When it can: sweep
 * stale leftovers before, print daemon output after a failed test, and
 * clean up everything after the suite.
 */
export function interopSuite(name: string, fn: () => void): void;
export function interopSuite(name: string, opts: InteropSuiteOptions, fn: () => void): void;
export function interopSuite(
  name: string,
  optsOrFn: InteropSuiteOptions | (() => void),
  maybeFn?: () => void,
): void {
  const opts = typeof optsOrFn === 'function' ? {} : optsOrFn;
  const fn = typeof optsOrFn === 'function' ? optsOrFn : maybeFn!;
  const base = canRunInterop(opts.needs ?? []);
  const status = base.ok && opts.also ? opts.also : base;
  if (!status.ok) {
    const why = status.why;
    if (interopMode() === 'required') {
      describe(name, () => {
        it('interop prerequisites (WGTS_INTEROP=required)', () => {
          throw new Error(`interop tests are required (WGTS_INTEROP=required) but cannot run: ${why}`);
        });
      });
    } else {
      process.stderr.write(`SKIP interop: ${why} (suite "${name}"; set WGTS_INTEROP=required to make this fail)\n`);
      describe(name, () => {
        it.skip(`interop prerequisites: ${why}`, () => {});
      });
    }
    return;
  }
  describe(name, opts.timeout !== undefined ? { timeout: opts.timeout } : {}, () => {
    beforeAll(async () => {
      const removed = await sweepStale();
      if (removed.length > 0) process.stderr.write(`harness: swept stale leftovers: ${removed.join(', ')}\n`);
    });
    afterEach((t) => {
      if (t.task.result?.state === 'fail') dumpLogs(`test "${t.task.name}" failed`);
    });
    afterAll(cleanupAll);
    fn();
  });
}

const reportedMissing = new Set<string>();

/**
 * The `skip` option of a test that needs something this machine may lack
 * (`why` says what; empty means present: the test runs). When it is missing:
 * in optional mode print `SKIP <why>` to stderr and skip; under
 * WGTS_INTEROP=required register one failing test naming it (once per reason
 * and file) and skip the dependent test, which could not run anyway.
 */
export function skipUnlessPresent(why: string | null | undefined | false): boolean {
  if (!why) return false;
  const first = !reportedMissing.has(why);
  reportedMissing.add(why);
  if (interopMode() === 'required') {
    if (first) {
      test(`prerequisite: ${why} (WGTS_INTEROP=required)`, () => {
        throw new Error(`a prerequisite is missing and WGTS_INTEROP=required: ${why}`);
      });
    }
    return true;
  }
  if (first) process.stderr.write(`SKIP: ${why} (set WGTS_INTEROP=required to make this fail)\n`);
  return true;
}

/** Inside a running test: skip it loudly when something is missing, or fail under WGTS_INTEROP=required. */
export function skipOrFail(t: TestContext, why: string): void {
  if (interopMode() === 'required') throw new Error(`a prerequisite is missing and WGTS_INTEROP=required: ${why}`);
  process.stderr.write(`SKIP: ${why} (test "${t.task.name}"; set WGTS_INTEROP=required to make this fail)\n`);
  t.skip(why);
}

/** Whether the kernel has IPv6 loopback at all: /proc/net/if_inet6 lists ::1. */
export function hasIpv6Loopback(): boolean {
  try {
    return readFileSync('/proc/net/if_inet6', 'utf8').split('\n').some((l) => l.startsWith('00000000000000000000000000000001 '));
  } catch {
    return false;
  }
}
