/**
 * How the user ran wgts, so the commands wgts prints (`wgts init`'s next
 * steps, the headers of the files it writes) run as printed when pasted.
 *
 *   this process's script is not the wgts bin (in-process/library use) -> "wgts"
 *   run by `npx wgts` / `npm exec` (npm_lifecycle_event=npx, npm_command=exec) -> "npx wgts"
 *   a `wgts` on PATH resolves to this very script                     -> "wgts"
 *   otherwise (node dist/src/cli/main.js, ./main.js, a checkout)        -> "node /ABS/PATH/main.js"
 *     (absolute: the printed commands are run from other directories, e.g.
 *     where vps.conf was copied, where a relative path would not resolve)
 *
 * howInvoked() is pure over what it is told; invokedAs() gathers it from
 * this process (environment, argv[1], PATH, realpath).
 */
import { realpathSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Invocation {
  env: Record<string, string | undefined>;
  /** The script this process runs (process.argv[1]), absolute. */
  script: string | undefined;
  /** Whether `script` is the wgts bin. */
  isWgtsBin: boolean;
  /** Whether the `wgts` the shell finds on PATH runs this same script. */
  onPath: boolean;
}

/** The command prefix that runs wgts the way it was run now, e.g. "npx wgts". */
export function howInvoked(i: Invocation): string {
  if (!i.isWgtsBin || i.script === undefined) return 'wgts';
  if (i.env.npm_lifecycle_event === 'npx' || i.env.npm_command === 'exec') return 'npx wgts';
  if (i.onPath) return 'wgts';
  return `node ${shellQuote(i.script)}`;
}

/** A word as a POSIX shell reads it back: unchanged when plain, else single-quoted. */
export function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

function real(p: string): string | undefined {
  try {
    return realpathSync(p);
  } catch {
    return undefined;
  }
}

/** The `wgts` found first on PATH, resolved through symlinks (as the shell would run it). */
function wgtsOnPath(path: string | undefined): string | undefined {
  for (const dir of (path ?? '').split(delimiter)) {
    if (!dir) continue;
    const cand = join(dir, 'wgts');
    try {
      if (!statSync(cand).isFile()) continue;
    } catch {
      continue;
    }
    return real(cand);
  }
  return undefined;
}

/** howInvoked() for this process. */
export function invokedAs(): string {
  const script = process.argv[1] === undefined ? undefined : real(process.argv[1]);
  const bin = real(fileURLToPath(new URL('./main.js', import.meta.url)));
  const isWgtsBin = script !== undefined && script === bin;
  return howInvoked({
    env: process.env,
    script,
    isWgtsBin,
    onPath: isWgtsBin && wgtsOnPath(process.env.PATH) === script,
  });
}
