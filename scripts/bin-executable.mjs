// Marks the package's bin targets (package.json "bin") executable after tsc
// has written them: tsc creates files 0644, and npm links a bin before
// `prepare` builds it, so in a fresh clone `npx wgts` would find a file it
// cannot run ("Permission denied"). Run after every tsc build, it also
// stamps dist/.built, which scripts/prepare.mjs compares with the sources.
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const bins = typeof pkg.bin === 'string' ? [pkg.bin] : Object.values(pkg.bin ?? {});
for (const rel of bins) {
  const file = join(root, rel);
  chmodSync(file, statSync(file).mode | 0o111);
}
writeFileSync(join(root, 'dist', '.built'), `${new Date().toISOString()}\n`);
