// Mutation testing of the core with StrykerJS, one folder per run:
//   npm run mutate -- noise            (crypto | noise | transport | netstack | tcp)
//   npm run mutate -- transport --files replay,ratelimiter --tests replay,under-load
//     narrows a run to some files of the folder, judged by the test files whose
//     names contain one of the --tests words: a lower bound for those files'
//     score (fewer tests kill fewer mutants), in minutes instead of hours.
// Not part of `npm test` or CI: run it before a release, or after changing a
// folder's tests. Stryker's command runner runs the folder's compiled test
// files with vitest (one process, files in turn, stop at the first failure)
// once per mutant. Mutants are placed in
// the compiled JavaScript (dist/src/FOLDER), built once here, so no mutant
// needs a TypeScript build; the report names dist/*.js lines, which map 1:1
// to statements of src/*.ts. Incremental: a rerun only tests mutants whose
// code or tests changed (reports/mutation/FOLDER-incremental.json).
//
//   tsc ──> Stryker (sandbox copy, mutants switched by env) ──> vitest run dist/test/FOLDER ──> score, reports/mutation/FOLDER.html
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

/** Which compiled sources to mutate and which compiled test files judge them. */
const SCOPES = {
  crypto: { mutate: ['dist/src/crypto/**/*.js'], tests: ['dist/test/crypto'] },
  noise: { mutate: ['dist/src/noise/**/*.js'], tests: ['dist/test/noise'] },
  transport: { mutate: ['dist/src/transport/**/*.js'], tests: ['dist/test/transport'] },
  netstack: { mutate: ['dist/src/netstack/**/*.js'], tests: ['dist/test/netstack'] },
  // The TCP files alone: the biggest part of netstack, judged by the same tests.
  tcp: { mutate: ['dist/src/netstack/tcp*.js'], tests: ['dist/test/netstack'] },
};

const scope = process.argv[2];
if (!scope || !(scope in SCOPES)) {
  console.error(`usage: npm run mutate -- <${Object.keys(SCOPES).join(' | ')}>`);
  process.exit(2);
}
const { mutate: folderMutate, tests } = SCOPES[scope];
const option = (name) => {
  const i = process.argv.indexOf(name);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1].split(',').filter((w) => w.length > 0) : null;
};
const onlyFiles = option('--files');
const onlyTests = option('--tests');
const mutate = onlyFiles ? onlyFiles.map((f) => folderMutate[0].replace(/[^/]*$/, `${f}.js`)) : folderMutate;
const part = onlyFiles || onlyTests ? `-${(onlyFiles ?? ['all']).join('+')}` : '';

const build = spawnSync('npx', ['tsc', '-p', '.'], { stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);

const testFiles = tests.flatMap((dir) => readdirSync(dir).filter((f) => f.endsWith('.test.js')).map((f) => join(dir, f)))
  .filter((f) => !onlyTests || onlyTests.some((w) => f.includes(w))).sort();
if (testFiles.length === 0) {
  console.error(`no test files in ${tests.join(', ')} match --tests ${onlyTests?.join(',')}`);
  process.exit(2);
}

const { Stryker } = await import('@stryker-mutator/core');
const stryker = new Stryker({
  testRunner: 'command',
  // One vitest process for the folder; a failing test exits non-zero and kills the mutant.
  commandRunner: { command: `node node_modules/vitest/vitest.mjs run --config vitest.config.mjs --no-file-parallelism --bail=1 --reporter=dot ${testFiles.join(' ')}` },
  coverageAnalysis: 'off', // the command runner cannot report per-test coverage
  mutate,
  // The sandbox needs the compiled code, the native addon and package.json; not the rest.
  ignorePatterns: ['/bench', '/docs', '/src', '/reports', '/.stryker-tmp', '*.map'],
  incremental: true,
  incrementalFile: `reports/mutation/${scope}${part}-incremental.json`,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: `reports/mutation/${scope}${part}.html` },
  jsonReporter: { fileName: `reports/mutation/${scope}${part}.json` },
  clearTextReporter: { allowColor: false, logTests: false, reportScoreTable: true, reportMutants: true },
  // Two cores, shared: one test process at a time.
  concurrency: Number(process.env.WGTS_MUTATE_CONCURRENCY ?? 1),
  timeoutMS: 30_000,
  timeoutFactor: 2,
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
});
const results = await stryker.runMutationTest();

const count = (s) => results.filter((r) => r.status === s).length;
const killed = count('Killed') + count('Timeout');
const survived = count('Survived') + count('NoCoverage');
const valid = killed + survived;
const score = valid === 0 ? 0 : (100 * killed) / valid;
console.log(`\nmutation score for ${scope}${part}${onlyTests ? ` (tests: ${testFiles.join(' ')})` : ''}: ${score.toFixed(1)} % (${killed} killed or timed out, ${survived} survived, of ${valid}; ${count('CompileError') + count('RuntimeError')} invalid, ${count('Ignored')} ignored)`);
