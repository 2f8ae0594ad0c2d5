/**
 * How the wg-quick steps reach the system: a CommandRunner. The real one
 * (systemRunner) spawns programs without a shell, hooks through `bash -c` as
 * wg-quick's `(eval "$hook")`, and reads files; tests inject a recording
 * runner instead. Every method resolves; a failing command is a non-zero code.
 */
import { accessSync, constants, lstatSync, readFileSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CommandRunner {
  /** Run argv (no shell). `input` goes to stdin. Never rejects for a non-zero exit. */
  run(argv: readonly string[], input?: string): Promise<RunResult>;
  /** One PreUp/PostUp/PreDown/PostDown line, already %i-substituted, through bash. */
  hook(line: string): Promise<RunResult>;
  /** Absolute path of `program` on PATH, or null (bash's `type -p`). */
  which(program: string): Promise<string | null>;
  /** File contents, or null when it cannot be read. */
  readFile(path: string): Promise<string | null>;
  /** Write a file (used for /proc/sys when `sysctl` is missing). Rejects on failure. */
  writeFile(path: string, data: string): Promise<void>;
  /** Whether `path` is a symbolic link. */
  isSymlink(path: string): Promise<boolean>;
}

export interface SystemRunnerOptions {
  /** Per command; the child is killed after it. Default 30 s (hooks may do real work). */
  timeoutMs?: number;
  /** Where hook output goes; default: passed through to this process's stdout/stderr, as wg-quick. */
  hookOutput?: 'inherit' | 'capture';
}

async function spawnCollect(argv: readonly string[], input: string | undefined, timeoutMs: number, how: { inherit: boolean; ownGroup: boolean }): Promise<RunResult> {
  const { inherit, ownGroup } = how;
  // Loaded on first use: userspace mode never runs a command, and node:child_process is ~0.8 MB resident.
  const { spawn } = await import('node:child_process');
  return new Promise((resolve) => {
    let child;
    try {
      child = spawn(argv[0]!, argv.slice(1), {
        stdio: [input === undefined ? 'ignore' : 'pipe', inherit ? 'inherit' : 'pipe', inherit ? 'inherit' : 'pipe'],
        env: { ...process.env, LC_ALL: 'C' },
        // A step (`ip`, `nft`) runs in its own process group: a Ctrl-C in the
        // terminal reaches only wgts, which finishes the step and then stops
        // cleanly, instead of the step dying half-done. Hooks stay in ours, as
        // wg-quick's do, so Ctrl-C still ends a hook that hangs.
        detached: ownGroup,
      });
    } catch (e) {
      resolve({ code: 127, stdout: '', stderr: `${argv[0]}: ${(e as Error).message}` });
      return;
    }
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    if (input !== undefined) {
      child.stdin!.on('error', () => { /* exited before reading: the code tells */ });
      child.stdin!.end(input);
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    let done = false;
    const finish = (code: number, extra = ''): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') + extra });
    };
    child.on('error', (e) => finish(127, `${argv[0]}: ${e.message}`));
    child.on('close', (code, signal) => finish(code ?? 128, signal ? `killed by ${signal}${signal === 'SIGKILL' ? ` (timeout ${timeoutMs} ms?)` : ''}` : ''));
  });
}

function whichSync(program: string): string | null {
  if (program.includes('/')) return program;
  for (const dir of (process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, program);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return null;
}

export function systemRunner(opts: SystemRunnerOptions = {}): CommandRunner {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const inheritHooks = (opts.hookOutput ?? 'inherit') === 'inherit';
  return {
    run: (argv, input) => spawnCollect(argv, input, timeoutMs, { inherit: false, ownGroup: true }),
    hook: (line) => {
      const shell = whichSync('bash') ?? '/bin/sh';
      return spawnCollect([shell, '-c', line], undefined, timeoutMs, { inherit: inheritHooks, ownGroup: false });
    },
    which: async (program) => whichSync(program),
    readFile: async (path) => {
      try {
        return readFileSync(path, 'utf8');
      } catch {
        return null;
      }
    },
    writeFile: async (path, data) => writeFileSync(path, data),
    isSymlink: async (path) => {
      try {
        return lstatSync(path).isSymbolicLink();
      } catch {
        return false;
      }
    },
  };
}
