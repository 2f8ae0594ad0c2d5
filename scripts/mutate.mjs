// Mutation testing of the core with StrykerJS, one folder per run:
//   npm run mutate -- noise            (crypto | noise | transport | netstack | tcp)
//   npm run mutate -- tcp --summary     (score so far of a running or stopped run)
//   npm run mutate -- transport --files replay,ratelimiter --tests replay,under-load
//     narrows a run to some files of the folder (--files; `allowedips:101-250`
//     for lines 101-250 of dist/src/transport/allowedips.js) and to the test
//     files whose names contain one of the --tests words (and none of the
//     --skip words): a lower bound for those files' score (fewer tests kill
//     fewer mutants). Rerun the same --files without --tests/--skip to judge
//     what survived by the whole folder: the incremental file (named by
//     --files only) keeps the kills, so only survivors and uncovered mutants
//     run again.
// Not part of `npm test` or CI: run it before a release, or after changing a
// folder's tests. Two workers (WGTS_MUTATE_CONCURRENCY=2) at normal priority: under
// `nice -n 19` on a shared 2-core machine a run starved for hours.
//
// Stryker's vitest runner keeps one vitest instance for the whole run. Its
// dry run records which tests reach which mutant (coverageAnalysis perTest),
// so each mutant then runs only the tests that cover it, in that one process:
// milliseconds per mutant instead of a whole vitest run. Mutants are placed
// in the compiled JavaScript (dist/src/FOLDER), built once here, and the
// compiled tests (dist/test/FOLDER) import them by relative path, so neither
// a TypeScript build nor a transform runs per mutant; the report names
// dist/*.js lines, which map 1:1 to statements of src/*.ts. Incremental: a
// rerun only tests mutants whose code or tests changed
// (reports/mutation/FOLDER-incremental.json).
//
//   tsc ──> Stryker: instrument dist/src/FOLDER (all mutants, switched at run time)
//       ──> dry run of dist/test/FOLDER: per-test coverage
//       ──> per mutant: the covering tests only ──> score, reports/mutation/FOLDER.html
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Which compiled sources to mutate and which compiled test folders judge them. */
const SCOPES = {
  crypto: { mutate: ['dist/src/crypto/**/*.js'], tests: ['dist/test/crypto'] },
  noise: { mutate: ['dist/src/noise/**/*.js'], tests: ['dist/test/noise'] },
  transport: { mutate: ['dist/src/transport/**/*.js'], tests: ['dist/test/transport'] },
  // netstack without the TCP files (those are the `tcp` scope).
  netstack: { mutate: ['dist/src/netstack/**/*.js', '!dist/src/netstack/tcp*.js'], tests: ['dist/test/netstack'] },
  // The TCP files alone: the biggest part of netstack, judged by the same tests.
  tcp: { mutate: ['dist/src/netstack/tcp*.js'], tests: ['dist/test/netstack'] },
};

const scope = process.argv[2];
if (!scope || !(scope in SCOPES)) {
  console.error(`usage: npm run mutate -- <${Object.keys(SCOPES).join(' | ')}> [--files a,b] [--tests x,y]`);
  process.exit(2);
}
const { mutate: folderMutate, tests } = SCOPES[scope];
const option = (name) => {
  const i = process.argv.indexOf(name);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1].split(',').filter((w) => w.length > 0) : null;
};
const onlyFiles = option('--files');
const onlyTests = option('--tests');
const skipTests = option('--skip');
// A file may carry a line range of its compiled JavaScript, `allowedips:101-250`
// (Stryker's `file.js:from-to`), to split one slow file over several runs.
const mutate = onlyFiles
  ? onlyFiles.map((f) => folderMutate[0].replace(/\*\*\/\*\.js$|[^/]*$/, f.replace(/^([^:]+)(:\d+-\d+)?$/, '$1.js$2')))
  : folderMutate;
const part = onlyFiles || onlyTests || skipTests ? `-${(onlyFiles ?? ['all']).join('+')}` : '';

const progressFile = `reports/mutation/${scope}${part}-progress.jsonl`;
if (process.argv.includes('--summary')) {
  summarize(progressFile);
  process.exit(0);
}

// tsc itself, without npx in between.
const build = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', '.'], { stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : name.endsWith('.test.js') ? [p] : [];
  });
}
const testFiles = tests
  .flatMap(walk)
  .filter((f) => (!onlyTests || onlyTests.some((w) => f.includes(w))) && !(skipTests ?? []).some((w) => f.includes(w)))
  .sort();
if (testFiles.length === 0) {
  console.error(`no test files in ${tests.join(', ')} match --tests ${onlyTests?.join(',')} --skip ${skipTests?.join(',')}`);
  process.exit(2);
}

process.env.WGTS_MUTATE_TESTS = testFiles.join(',');
// Randomized comparisons (test/harness/seed.ts scaled()) run a tenth of their
// cases: each surviving mutant reruns them in instrumented code, several
// times slower, and at full size allowedips.test.ts's alone outlasted its
// time limit in the dry run. The exact tests (known answers, kernel
// selftests) run in full. Set WGTS_RANDOMIZED_SCALE=1 to judge at full size.
process.env.WGTS_RANDOMIZED_SCALE ??= '0.1';
process.env.WGTS_MUTATE_PROGRESS = progressFile;
const started = Date.now();
const { Stryker } = await import('@stryker-mutator/core');
const stryker = new Stryker({
  testRunner: 'vitest',
  plugins: ['@stryker-mutator/vitest-runner', './scripts/mutate-progress-reporter.mjs'],
  // The folder's own test files judge its mutants (vitest.mutate.config.mjs
  // reads them from WGTS_MUTATE_TESTS); `related` would instead ask vitest's
  // module graph for every test importing the mutated files.
  vitest: { configFile: 'scripts/vitest.mutate.config.mjs', related: false },
  coverageAnalysis: 'perTest',
  mutate,
  // The sandbox needs the compiled code, the native addon and package.json; not the rest.
  ignorePatterns: ['/bench', '/docs', '/src', '/reports', '/.stryker-tmp', '*.map'],
  incremental: true,
  incrementalFile: `reports/mutation/${scope}${part}-incremental.json`,
  reporters: ['clear-text', 'progress', 'html', 'json', 'wgts-progress'],
  htmlReporter: { fileName: `reports/mutation/${scope}${part}.html` },
  jsonReporter: { fileName: `reports/mutation/${scope}${part}.json` },
  clearTextReporter: { allowColor: false, logTests: false, reportScoreTable: true, reportMutants: true },
  // Two cores, shared: one vitest worker at a time unless told otherwise.
  concurrency: Number(process.env.WGTS_MUTATE_CONCURRENCY ?? 1),
  // The dry run runs the whole folder with coverage counters; on a loaded
  // machine that takes far longer than Stryker's default 5 minutes.
  dryRunTimeoutMinutes: 90,
  // A mutant's time limit is 1.5 x its covering tests' time in the dry run
  // + 5 s. Most endless loops run through the mutated code, and Stryker's
  // hit limit (100 x that mutant's hits in the dry run) stops them within
  // a second; the time limit catches the rest and mutants that make the
  // tests crawl. At 2 x + 10 s (before) each such mutant held a worker for
  // over two minutes when tcp-transfer covered it.
  timeoutMS: 5_000,
  timeoutFactor: 1.5,
  tempDirName: '.stryker-tmp', // each run makes its own sandbox-XXXX inside
  cleanTempDir: true,
});
const results = await stryker.runMutationTest();

const count = (s) => results.filter((r) => r.status === s).length;
const killed = count('Killed') + count('Timeout');
const survived = count('Survived') + count('NoCoverage');
const valid = killed + survived;
const score = valid === 0 ? 0 : (100 * killed) / valid;
// A survivor whose run completed no test was never judged (a vitest worker
// lost on the way, stryker-js issue 6213): named so it is not taken for a gap.
const unjudged = results.filter((r) => r.status === 'Survived' && r.testsCompleted === 0);
for (const r of unjudged) console.log(`not judged (0 tests completed): ${r.fileName}:${r.location.start.line} ${r.mutatorName} -> ${r.replacement}`);
const minutes = ((Date.now() - started) / 60_000).toFixed(1);
console.log(`\nmutation score for ${scope}${part}${onlyTests || skipTests ? ` (tests: ${testFiles.join(' ')})` : ''}: ${score.toFixed(1)} % (${killed} killed or timed out, ${count('Survived')} survived, ${count('NoCoverage')} not covered, of ${valid}; ${count('CompileError') + count('RuntimeError')} invalid, ${count('Ignored')} ignored${unjudged.length > 0 ? `; ${unjudged.length} survivors ran no test: rerun` : ''}) in ${minutes} min`);

/**
 * `--summary`: the score of what a run has measured so far (or measured
 * before it was stopped), per file, from the progress file that
 * scripts/mutate-progress-reporter.mjs appends to; then every survivor.
 */
function summarize(path) {
  const lines = readFileSync(path, 'utf8').split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l));
  const planned = lines.find((l) => 'planned' in l);
  const rs = lines.filter((l) => 'status' in l);
  const perFile = new Map();
  for (const r of rs) {
    const c = perFile.get(r.file) ?? { killed: 0, survived: 0, noCoverage: 0, other: 0 };
    if (r.status === 'Killed' || r.status === 'Timeout') c.killed++;
    else if (r.status === 'Survived') c.survived++;
    else if (r.status === 'NoCoverage') c.noCoverage++;
    else c.other++;
    perFile.set(r.file, c);
  }
  const pct = (c) => (c.killed + c.survived + c.noCoverage === 0 ? 0 : (100 * c.killed) / (c.killed + c.survived + c.noCoverage)).toFixed(1);
  const total = { killed: 0, survived: 0, noCoverage: 0, other: 0 };
  for (const [f, c] of [...perFile].sort()) {
    console.log(`${f}: ${pct(c)} % (${c.killed} killed or timed out, ${c.survived} survived, ${c.noCoverage} not covered, ${c.other} invalid)`);
    for (const k of Object.keys(total)) total[k] += c[k];
  }
  console.log(`all: ${pct(total)} % of ${rs.length} tested${planned ? ` (${planned.planned} planned, started ${planned.started})` : ''}`);
  for (const r of rs.filter((x) => x.status === 'Survived' || x.status === 'NoCoverage')) {
    console.log(`${r.status}${r.testsCompleted === 0 && r.status === 'Survived' ? ' (0 tests completed: not judged)' : ''} ${r.file}:${r.line} ${r.mutator} -> ${JSON.stringify(r.replacement)}`);
  }
}
