// Runs every compiled test file (dist/test/**/*.test.js) with node:test.
// Files run one at a time: the interop suites create network namespaces and
// must not race each other. Extra arguments filter files by substring.
//
// Each file gets its own `node --test` process (in its own process group) and
// a time limit, WGTS_TEST_FILE_TIMEOUT seconds (default 600): a file that
// hangs (a handle left open after a failure, a stuck child) is stopped with
// SIGTERM (the harness's exit hooks then remove namespaces), SIGKILL 10 s
// later, named in a TIMEOUT line and counted as failed.
//
//   files ──> for each: spawn node --test FILE ──> exit code | timeout ──> summary, exit status
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';

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

/** Runs one file; resolves with 'pass', 'fail' or 'timeout'. */
function runFile(file) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--test', '--test-reporter=spec', file], { stdio: 'inherit', detached: true });
    current = child;
    let timedOut = false;
    let killTimer = null;
    const timer = setTimeout(() => {
      timedOut = true;
      console.error(`\nTIMEOUT ${file}: still running after ${limitSec} s; stopping it (SIGTERM, SIGKILL after ${KILL_GRACE_MS / 1000} s)`);
      signalGroup(child, 'SIGTERM');
      killTimer = setTimeout(() => signalGroup(child, 'SIGKILL'), KILL_GRACE_MS);
    }, limitSec * 1000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      // Whatever the file left behind in its group goes with it.
      signalGroup(child, 'SIGKILL');
      current = null;
      resolve(timedOut ? 'timeout' : code === 0 ? 'pass' : 'fail');
    });
  });
}

const started = Date.now();
const failed = [];
const timedOut = [];
for (const file of files) {
  const r = await runFile(file);
  if (r === 'fail') failed.push(file);
  if (r === 'timeout') timedOut.push(file);
}
const secs = ((Date.now() - started) / 1000).toFixed(1);
console.log(`\n${files.length} test files in ${secs} s: ${files.length - failed.length - timedOut.length} passed, ${failed.length} failed, ${timedOut.length} timed out`);
for (const f of failed) console.log(`  FAILED   ${f}`);
for (const f of timedOut) console.log(`  TIMEOUT  ${f} (limit ${limitSec} s, WGTS_TEST_FILE_TIMEOUT)`);
process.exit(failed.length + timedOut.length === 0 ? 0 : 1);
