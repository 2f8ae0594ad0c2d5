/**
 * The README's first command is `npm ci && npx wgts demo`: the package's bin
 * must be an executable file after a build, and `npx wgts` must run it. In a
 * fresh clone tsc writes it 0644 (npm links the bin before `prepare` builds
 * it); scripts/bin-executable.mjs marks it, and `npm test` builds the same way.
 */
import { it } from 'vitest';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { resolve } from 'node:path';

const pkg = JSON.parse(readFileSync(resolve('package.json'), 'utf8')) as { bin: Record<string, string> };

it('every bin in package.json is executable and starts with a node shebang', () => {
  for (const [name, rel] of Object.entries(pkg.bin)) {
    const file = resolve(rel);
    assert.doesNotThrow(() => accessSync(file, constants.X_OK), `${name} -> ${rel} is not executable`);
    assert.match(readFileSync(file, 'utf8').split('\n')[0]!, /^#!\/usr\/bin\/env node$/, `${name}: shebang`);
  }
});

it('`npx --no-install wgts --help` runs the local build', () => {
  const r = spawnSync('npx', ['--no-install', 'wgts', '--help'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /^Usage: wgts/m);
});
