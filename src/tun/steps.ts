/**
 * Running one wg-quick step: `cmd` prints `[#] argv...` to the log exactly as
 * wg-quick's cmd() does (echo "[#] $*") and runs it, throwing StepError on a
 * non-zero exit (wg-quick runs under `set -e`); `query` runs silently (the
 * lookups wg-quick does in $(...)); `hook` prints and runs a hook line.
 * Given an AbortSignal (a start-up being interrupted), `cmd` and `hook`
 * throw its reason instead of starting another change; the teardown's
 * Steps get none, so undoing always runs to the end.
 */
import type { CommandRunner, RunResult } from './runner.js';

export class StepError extends Error {
  constructor(readonly command: string, readonly result: RunResult) {
    const why = result.stderr.trim().split('\n').filter(Boolean).slice(-3).join('; ');
    super(`\`${command}' failed with exit code ${result.code}${why ? `: ${why}` : ''}`);
    this.name = 'StepError';
  }
}

export class Steps {
  constructor(readonly runner: CommandRunner, readonly log: (line: string) => void, readonly signal?: AbortSignal) {}

  async cmd(argv: readonly string[], input?: string): Promise<RunResult> {
    this.signal?.throwIfAborted();
    const line = argv.join(' ');
    this.log(`[#] ${line}`);
    const r = await this.runner.run(argv, input);
    if (r.code !== 0) throw new StepError(line, r);
    return r;
  }

  /** A lookup: not logged, failures are an empty answer (wg-quick's `2>/dev/null || true`). */
  async query(argv: readonly string[]): Promise<string> {
    const r = await this.runner.run(argv);
    return r.code === 0 ? r.stdout : '';
  }

  async hook(line: string): Promise<void> {
    this.signal?.throwIfAborted();
    this.log(`[#] ${line}`);
    const r = await this.runner.hook(line);
    if (r.code !== 0) throw new StepError(line, r);
  }

  warn(msg: string): void {
    this.log(`[!] ${msg}`);
  }
}
