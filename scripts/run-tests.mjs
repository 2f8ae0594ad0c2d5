// Runs every compiled test file (dist/test/**/*.test.js) with vitest.
// The pure in-memory suites (PARALLEL_DIRS) run together in one vitest
// process, two files at a time. Every other file (network namespaces, real
// peers, child processes, fixed ports) runs alone: one vitest process per
// file, one file after another, so the interop suites never race each other.
// Extra arguments filter files by substring.
//
// Each vitest process runs in its own process group with a time limit,
// WGTS_TEST_FILE_TIMEOUT seconds (default 600; twice that for the parallel
// batch): a run that hangs (a handle left open after a failure, a stuck
// child) is stopped with SIGTERM (the harness's exit hooks then remove
// namespaces), SIGKILL 10 s later, named in a TIMEOUT line and counted as
// failed. Per-test counts come from vitest's JSON reporter.
//
//   files ──> batch (PARALLEL_DIRS) + one run per other file
//         ──> spawn vitest run FILES --reporter json ──> exit code | timeout
//         ──> summary: tests and files, passed / failed / skipped
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';

/** Test folders whose files touch no namespace, child process or fixed port. */
const PARALLEL_DIRS = ['crypto', 'noise', 'transport', 'netstack', 'config', 'structure'];
const VITEST = join(createRequire(import.meta.url).resolve('vitest/package.json'), '..', 'vitest.mjs');

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const filters = process.argv.slice(2);
const files = walk('dist/test').sort().filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
if (files.length === 0) {
  console.error('no test files found under dist/test');
  process.exit(1);
}
const limitSec = Number(process.env.WGTS_TEST_FILE_TIMEOUT ?? 600);
if (!(limitSec > 0)) {
  console.error(`WGTS_TEST_FILE_TIMEOUT must be a positive number of seconds, not ${process.env.WGTS_TEST_FILE_TIMEOUT}`);
  process.exit(1);
}
const KILL_GRACE_MS = 10_000;

let current = null;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    if (current) signalGroup(current, sig);
    process.exit(1);
  });
}

function signalGroup(child, sig) {
  try {
    process.kill(-child.pid, sig);
  } catch {
    /* already gone */
  }
}

const jsonDir = mkdtempSync(join(tmpdir(), 'wgts-test-report-'));
let runs = 0;
const tests = { passed: 0, failed: 0, skipped: 0 };

/** Adds one run's per-test results (vitest JSON reporter) to `tests`. */
function countTests(path) {
  try {
    const r = JSON.parse(readFileSync(path, 'utf8'));
    tests.passed += r.numPassedTests ?? 0;
    tests.failed += r.numFailedTests ?? 0;
    tests.skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  } catch {
    /* the run died before writing its report: its files count as failed */
  }
}

/** Runs vitest on some files; resolves with 'pass', 'fail' or 'timeout'. */
function runFiles(group, limitSec) {
  return new Promise((resolve) => {
    const out = join(jsonDir, `run-${runs++}.json`);
    const args = [VITEST, 'run', '--config', 'vitest.config.mjs', '--reporter=default', '--reporter=json', `--outputFile.json=${out}`, ...group];
    const child = spawn(process.execPath, args, { stdio: 'inherit', detached: true });
    current = child;
    let timedOut = false;
    let killTimer = null;
    const timer = setTimeout(() => {
      timedOut = true;
      console.error(`\nTIMEOUT ${group.join(' ')}: still running after ${limitSec} s; stopping it (SIGTERM, SIGKILL after ${KILL_GRACE_MS / 1000} s)`);
      signalGroup(child, 'SIGTERM');
      killTimer = setTimeout(() => signalGroup(child, 'SIGKILL'), KILL_GRACE_MS);
    }, limitSec * 1000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      // Whatever the file left behind in its group goes with it.
      signalGroup(child, 'SIGKILL');
      current = null;
      countTests(out);
      resolve(timedOut ? 'timeout' : code === 0 ? 'pass' : 'fail');
    });
  });
}

const inBatch = (f) => PARALLEL_DIRS.some((d) => f.startsWith(join('dist', 'test', d) + '/'));
const groups = [files.filter(inBatch), ...files.filter((f) => !inBatch(f)).map((f) => [f])].filter((g) => g.length > 0);
const started = Date.now();
const failed = [];
const timedOut = [];
for (const group of groups) {
  const r = await runFiles(group, group.length > 1 ? 2 * limitSec : limitSec);
  const label = group.length > 1 ? `${group.length} files of ${PARALLEL_DIRS.join(', ')}` : group[0];
  if (r === 'fail') failed.push(label);
  if (r === 'timeout') timedOut.push(label);
}
rmSync(jsonDir, { recursive: true, force: true });
const secs = ((Date.now() - started) / 1000).toFixed(1);
const bad = failed.length + timedOut.length;
console.log(`\n${files.length} test files in ${groups.length} vitest runs, ${secs} s; runs with failures: ${failed.length}, timed out: ${timedOut.length}`);
for (const f of failed) console.log(`  FAILED   ${f}`);
for (const f of timedOut) console.log(`  TIMEOUT  ${f} (limit ${limitSec} s, WGTS_TEST_FILE_TIMEOUT)`);
// A run that died before its report could leave failures uncounted: never print 0 failed then.
const failedTests = Math.max(tests.failed, bad > 0 && tests.failed === 0 ? bad : 0);
console.log(`${tests.passed} passed, ${failedTests} failed, ${tests.skipped} skipped`);
process.exit(bad === 0 ? 0 : 1);
