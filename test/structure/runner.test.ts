// Every suite runs under vitest (scripts/run-tests.mjs): a file still written
// for node:test would be collected as "no test found" and fail, so say early
// and clearly which file and what to change.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : name.endsWith('.ts') ? [p] : [];
  });
}

test('no test or bench file imports node:test (the suites run on vitest)', () => {
  const offenders = [...walk(join(ROOT, 'test')), ...walk(join(ROOT, 'bench'))].filter((f) =>
    /from ['"]node:test['"]/.test(readFileSync(f, 'utf8')),
  );
  assert.deepEqual(
    offenders.map((f) => f.slice(ROOT.length)),
    [],
    "import test/describe/it/beforeAll/afterAll from 'vitest'; node:test's t.after is t.onTestFinished, before/after are beforeAll/afterAll, t.diagnostic is console.log",
  );
});
