// A Stryker reporter for `npm run mutate` (scripts/mutate.mjs): appends each
// mutant's result to reports/mutation/SCOPE-progress.jsonl as soon as it is
// known. Stryker writes its own reports only at the end, so a long run that
// is stopped part way would otherwise leave nothing; from this file
// scripts/mutate-summary.mjs gives the score of what was measured.
//
//   Stryker ──onMutationTestingPlanReady──> {"planned": N}
//           ──onMutantTested (each)──────> {"id", "file", "line", "mutator", "replacement", "status", "testsCompleted"}
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { PluginKind, declareClassPlugin } from '@stryker-mutator/api/plugin';

const file = process.env.WGTS_MUTATE_PROGRESS;

class ProgressReporter {
  onMutationTestingPlanReady({ mutantPlans }) {
    if (!file) return;
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, `${JSON.stringify({ planned: mutantPlans.length, started: new Date().toISOString() })}\n`);
  }

  onMutantTested(r) {
    if (!file) return;
    appendFileSync(file, `${JSON.stringify({
      id: r.id, file: r.fileName, line: r.location.start.line, mutator: r.mutatorName,
      replacement: r.replacement, status: r.status, testsCompleted: r.testsCompleted, at: new Date().toISOString(),
    })}\n`);
  }
}

export const strykerPlugins = [declareClassPlugin(PluginKind.Reporter, 'wgts-progress', ProgressReporter)];
