// vitest runs the compiled tests (dist/test/**/*.test.js, built by `tsc`), one
// file per process started by scripts/run-tests.mjs (the namespace suites must
// not race). Timeouts are set per test/suite in the files; the per-file limit
// is WGTS_TEST_FILE_TIMEOUT in scripts/run-tests.mjs.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['dist/test/**/*.test.js'],
    exclude: ['**/node_modules/**'],
    pool: 'forks',
    testTimeout: 600_000,
    hookTimeout: 600_000,
    teardownTimeout: 60_000,
    watch: false,
  },
});
