// vitest configuration for `npm run mutate` (scripts/mutate.mjs) only: the
// test files that judge the mutants come from WGTS_MUTATE_TESTS (a comma
// separated list of compiled test files), so vitest itself runs only them.
// Stryker's `testFiles` option would narrow the run as well, but with it
// Stryker 9.6 activates static mutants (module-level values) only after the
// modules are loaded, and reports them survived without testing them
// (stryker-js issue 6144). Stryker sets the pool (one worker thread) and
// bail (the first failing test ends a mutant's run).
//
// Files run fastest first: vitest's own order is slowest first (it sorts for
// parallel workers), so with one worker and bail a mutant that a 1 s file
// kills waited for a 60 s file to pass first. The order is each file's
// duration in the dry run, the first full run Stryker makes, frozen there:
// later durations are cut short by bail and would reorder at random.
//
// Not isolated: a mutant's tests share one module graph instead of loading
// src and vitest's runtime again per test file, which took as much CPU as
// the tests themselves (18 s of overhead to 19 s of tests in the dry run of
// the fast TCP files). The worker still ends with each mutant's run (vitest
// keeps a shared worker only for files queued in the same run), so a static
// mutant (a module-level value) is evaluated fresh each time. The netstack
// tests pass this way (`npx vitest run dist/test/netstack --no-isolate`).
//
//   WGTS_MUTATE_TESTS ──> include ──> Stryker's vitest runner
//   dry run durations ──> FastFirst.sort ──> per mutant: fast files first, bail
import { relative } from 'node:path';
import { BaseSequencer } from 'vitest/node';
import { defineConfig } from 'vitest/config';

const files = (process.env.WGTS_MUTATE_TESTS ?? '').split(',').filter((f) => f.length > 0);
if (files.length === 0) throw new Error('WGTS_MUTATE_TESTS names no test file (run through scripts/mutate.mjs)');

class FastFirst extends BaseSequencer {
  /** File key -> its duration the first time vitest's results cache knew it (ms). */
  frozen = new Map();

  async sort(specs) {
    const key = (s) => `${s.project.name}:${relative(this.ctx.config.root, s.moduleId)}`;
    for (const s of specs) {
      const k = key(s);
      const known = this.ctx.cache.getFileTestResults(k);
      if (!this.frozen.has(k) && known !== undefined) this.frozen.set(k, known.duration);
    }
    // Unknown files (the dry run) keep the order of WGTS_MUTATE_TESTS.
    const rank = (s) => this.frozen.get(key(s)) ?? -1;
    return [...specs].sort((a, b) => rank(a) - rank(b));
  }
}

export default defineConfig({
  test: {
    include: files,
    exclude: ['**/node_modules/**'],
    testTimeout: 600_000,
    hookTimeout: 600_000,
    teardownTimeout: 60_000,
    watch: false,
    isolate: false,
    sequence: { sequencer: FastFirst },
  },
});
