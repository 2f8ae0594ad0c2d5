// Child processes for the interop harness. `exec` runs a command to completion
// (argv array, no shell) under a hard timeout and returns its exit code and
// captured output. `spawnTracked` starts a long-lived daemon in its own process
// group, keeps the tail of its stdout/stderr for failure reports, and registers
// it with the cleanup registry so it is killed (by PID) when the run ends.
// Error messages carry the command line and stderr only, never stdout: some
// commands (`wg show dump`, `wg genkey`) print secrets on stdout.
import { spawn, type ChildProcess } from 'node:child_process';
import { trackProc, untrackProc, type TrackedProc } from './registry.js';

export interface ExecOptions {
  /** Hard limit; the child is SIGKILLed and the promise rejects. Default 10 s. */
  timeoutMs?: number;
  /** Written to stdin, which is then closed. */
  input?: string;
  /** Extra environment variables (merged over process.env). */
  env?: Record<string, string>;
  /** Reject when the exit code is not 0. Default false. */
  check?: boolean;
}

export interface ExecResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export const DEFAULT_EXEC_TIMEOUT_MS = 10_000;

export class ExecError extends Error {
  constructor(
    message: string,
    readonly cmd: readonly string[],
    readonly result: ExecResult | null,
  ) {
    super(message);
    this.name = 'ExecError';
  }
}

function describeCmd(cmd: readonly string[]): string {
  return cmd.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
}

/** Run `cmd` (argv[0] looked up on PATH) to completion. */
export function exec(cmd: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  if (cmd.length === 0) throw new Error('exec: empty command');
  const timeoutMs = opts.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS;
  return new Promise<ExecResult>((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(cmd[0]!, cmd.slice(1), {
        stdio: ['pipe', 'pipe', 'pipe'],
        env: opts.env ? { ...process.env, ...opts.env } : process.env,
      });
    } catch (err) {
      reject(new ExecError(`exec failed to start: ${describeCmd(cmd)}: ${(err as Error).message}`, cmd, null));
      return;
    }
    const out: Buffer[] = [];
    const errOut: Buffer[] = [];
    let timedOut = false;
    let settled = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => errOut.push(b));
    child.stdin!.on('error', () => {
      /* child exited before reading stdin; the exit code tells the story */
    });
    child.stdin!.end(opts.input ?? '');
    child.on('error', (err) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new ExecError(`exec failed: ${describeCmd(cmd)}: ${err.message}`, cmd, null));
    });
    child.on('close', (code, signal) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const result: ExecResult = {
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(errOut).toString('utf8'),
      };
      if (timedOut) {
        reject(new ExecError(`timed out after ${timeoutMs} ms: ${describeCmd(cmd)}\nstderr: ${result.stderr.trim()}`, cmd, result));
      } else if (opts.check && code !== 0) {
        reject(
          new ExecError(
            `exit ${code ?? signal}: ${describeCmd(cmd)}\nstderr: ${result.stderr.trim()}`,
            cmd,
            result,
          ),
        );
      } else {
        resolve(result);
      }
    });
  });
}

export interface SpawnOptions {
  /** Shown in logs and failure reports. Default: argv[0]. */
  label?: string;
  env?: Record<string, string>;
  /** Bytes of combined output kept (the tail). Default 1 MiB. */
  keepBytes?: number;
  /** Give the child a writable stdin pipe (child.stdin). Default: no stdin. */
  stdin?: boolean;
}

export interface ProcExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A long-lived child in its own process group, tracked for cleanup. */
export class Proc implements TrackedProc {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly label: string;
  readonly cmd: readonly string[];
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<ProcExit>;
  exit: ProcExit | null = null;
  /** True once stop() was asked for: an exit after that is expected. */
  stopping = false;
  private chunks: Buffer[] = [];
  private kept = 0;
  private readonly keepBytes: number;

  constructor(cmd: readonly string[], opts: SpawnOptions = {}) {
    if (cmd.length === 0) throw new Error('spawn: empty command');
    this.cmd = cmd;
    this.label = opts.label ?? cmd[0]!;
    this.keepBytes = opts.keepBytes ?? 1 << 20;
    this.child = spawn(cmd[0]!, cmd.slice(1), {
      stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      detached: true,
      env: opts.env ? { ...process.env, ...opts.env } : process.env,
    });
    this.exited = new Promise<ProcExit>((resolve) => {
      this.child.on('error', (err) => {
        this.append(Buffer.from(`[harness] spawn error: ${err.message}\n`));
        if (this.child.pid === undefined) {
          this.exit = { code: null, signal: null };
          resolve(this.exit);
        }
      });
      this.child.on('close', (code, signal) => {
        this.exit = { code, signal };
        untrackProc(this);
        resolve(this.exit);
      });
    });
    this.child.stdout!.on('data', (b: Buffer) => this.append(b));
    this.child.stderr!.on('data', (b: Buffer) => this.append(b));
    if (this.child.pid === undefined) {
      this.pid = -1;
      return;
    }
    this.pid = this.child.pid;
    trackProc(this);
  }

  private append(b: Buffer): void {
    this.chunks.push(b);
    this.kept += b.length;
    while (this.kept > this.keepBytes && this.chunks.length > 1) {
      this.kept -= this.chunks.shift()!.length;
    }
  }

  get running(): boolean {
    return this.pid > 0 && this.exit === null;
  }

  /** Combined stdout+stderr captured so far (tail, at most keepBytes). */
  output(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }

  /** Signal the whole process group we created (falls back to the PID). */
  signal(sig: NodeJS.Signals): void {
    if (!this.running) return;
    try {
      process.kill(-this.pid, sig);
    } catch {
      try {
        process.kill(this.pid, sig);
      } catch {
        /* already gone */
      }
    }
  }

  /** SIGTERM, then SIGKILL after graceMs; resolves when the process is gone. */
  async stop(graceMs = 2000): Promise<ProcExit> {
    this.stopping = true;
    if (!this.running) return this.exit ?? (await this.exited);
    this.signal('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.signal('SIGKILL');
        resolve();
      }, graceMs);
    });
    await Promise.race([this.exited, killed]);
    clearTimeout(timer);
    return await this.exited;
  }

  /** For exit/signal handlers: no awaiting possible, so SIGKILL at once. */
  killSync(): void {
    this.stopping = true;
    this.signal('SIGKILL');
  }

  /** Fail fast if the daemon already died (e.g. while waiting for readiness). */
  assertRunning(what = this.label): void {
    if (this.running) return;
    const e = this.exit;
    throw new Error(
      `${what} exited unexpectedly (code ${e?.code ?? 'none'}, signal ${e?.signal ?? 'none'})\n--- output of ${this.label} ---\n${this.output()}`,
    );
  }
}

export function spawnTracked(cmd: readonly string[], opts: SpawnOptions = {}): Proc {
  return new Proc(cmd, opts);
}
