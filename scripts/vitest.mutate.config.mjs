// vitest configuration for `npm run mutate` (scripts/mutate.mjs) only: the
// test files that judge the mutants come from WGTS_MUTATE_TESTS (a comma
// separated list of compiled test files), so vitest itself runs only them.
// Stryker's `testFiles` option would narrow the run as well, but with it
// Stryker 9.6 activates static mutants (module-level values) only after the
// modules are loaded, and reports them survived without testing them
// (stryker-js issue 6144). Stryker sets the pool (one worker thread).
//
//   WGTS_MUTATE_TESTS ──> include ──> Stryker's vitest runner
import { defineConfig } from 'vitest/config';

const files = (process.env.WGTS_MUTATE_TESTS ?? '').split(',').filter((f) => f.length > 0);
if (files.length === 0) throw new Error('WGTS_MUTATE_TESTS names no test file (run through scripts/mutate.mjs)');

export default defineConfig({
  test: {
    include: files,
    exclude: ['**/node_modules/**'],
    testTimeout: 600_000,
    hookTimeout: 600_000,
    teardownTimeout: 60_000,
    watch: false,
  },
});
