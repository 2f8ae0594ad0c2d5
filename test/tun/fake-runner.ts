/**
 * A CommandRunner for unit tests: runs nothing, records every command (argv +
 * stdin) and hook line, and answers lookups from a table the test fills in
 * (key: the argv joined by spaces; a list of answers is consumed in order,
 * the last one repeating). Unknown commands succeed with empty output.
 */
import type { CommandRunner, RunResult } from '../../src/tun/runner.js';

export type Answer = string | RunResult;

export class FakeRunner implements CommandRunner {
  readonly calls: { argv: string[]; input: string | undefined }[] = [];
  readonly hooks: string[] = [];
  readonly written = new Map<string, string>();
  readonly answers = new Map<string, Answer[]>();
  readonly programs = new Set<string>(['ip', 'bash']);
  readonly files = new Map<string, string>();
  readonly symlinks = new Set<string>();
  /** Commands (joined argv) that exit 2. */
  readonly failing = new Set<string>();
  /** Hook lines that exit 1. */
  readonly failingHooks = new Set<string>();

  answer(cmd: string, ...answers: Answer[]): this {
    this.answers.set(cmd, answers);
    return this;
  }

  async run(argv: readonly string[], input?: string): Promise<RunResult> {
    this.calls.push({ argv: [...argv], input });
    const key = argv.join(' ');
    if (this.failing.has(key)) return { code: 2, stdout: '', stderr: `${argv[0]}: simulated failure\n` };
    const list = this.answers.get(key);
    if (!list || list.length === 0) return { code: 0, stdout: '', stderr: '' };
    const a = list.length > 1 ? list.shift()! : list[0]!;
    return typeof a === 'string' ? { code: 0, stdout: a, stderr: '' } : a;
  }

  async hook(line: string): Promise<RunResult> {
    this.hooks.push(line);
    return this.failingHooks.has(line) ? { code: 1, stdout: '', stderr: 'hook failed\n' } : { code: 0, stdout: '', stderr: '' };
  }

  async which(program: string): Promise<string | null> {
    return this.programs.has(program) ? `/usr/sbin/${program}` : null;
  }

  async readFile(path: string): Promise<string | null> {
    return this.files.get(path) ?? null;
  }

  async writeFile(path: string, data: string): Promise<void> {
    this.written.set(path, data);
  }

  async isSymlink(path: string): Promise<boolean> {
    return this.symlinks.has(path);
  }

  /** The stdin given to the first call whose joined argv is `cmd`. */
  inputOf(cmd: string, nth = 0): string | undefined {
    return this.calls.filter((c) => c.argv.join(' ') === cmd)[nth]?.input;
  }
}
