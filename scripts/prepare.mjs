// npm's `prepare` (npm ci/install in a clone, npm pack, and `npx wgts` in a
// checkout, which links the checkout into the user's npx cache and runs
// prepare there): compile with tsc only when dist/ is older than the sources.
// A built checkout is then not rebuilt on each user's first `npx wgts`, a
// user who cannot write the tree is not asked to, and when a build is needed
// but cannot happen it says why (exit 1) instead of tsc's bare exit 2.
//
//   newest mtime of src/ test/ bench/ tsconfig.json package.json
//     <= dist/.built ? done : tsc -p . -> scripts/bin-executable.mjs (chmod, stamps dist/.built)
//   (as root in a tree someone else owns: dist/ is handed back to that owner)
import { spawnSync } from 'node:child_process';
import { accessSync, chownSync, constants, existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const stamp = join(root, 'dist', '.built');
const INPUTS = ['src', 'test', 'bench', 'tsconfig.json', 'package.json'];

function newest(path) {
  let st;
  try {
    st = statSync(path);
  } catch {
    return 0;
  }
  if (!st.isDirectory()) return st.mtimeMs;
  let m = st.mtimeMs;
  for (const e of readdirSync(path)) m = Math.max(m, newest(join(path, e)));
  return m;
}

function fail(why) {
  process.stderr.write(`wgts: cannot build dist/: ${why}\n`);
  process.exit(1);
}

const built = newest(stamp);
if (built > 0 && existsSync(join(root, 'dist', 'src', 'cli', 'main.js')) && INPUTS.every((p) => newest(join(root, p)) <= built)) process.exit(0);

try {
  accessSync(root, constants.W_OK);
  accessSync(join(root, 'dist'), constants.W_OK);
} catch (e) {
  if (e.code !== 'ENOENT') fail(`${root} is not writable by this user (uid ${process.getuid?.()}); run \`npm run build\` there as its owner`);
}
let tsc;
try {
  tsc = createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc');
} catch {
  fail('TypeScript is not installed (a devDependency): run `npm ci` in the checkout first');
}
for (const argv of [[tsc, '-p', root], [join(root, 'scripts', 'bin-executable.mjs')]]) {
  const r = spawnSync(process.execPath, argv, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) fail(`\`${argv.join(' ')}\` exited with ${r.status ?? r.signal}`);
}

// `sudo npx wgts ...` in a user's checkout must not leave root-owned files the user's next build cannot replace.
const owner = statSync(root);
if (process.getuid?.() === 0 && owner.uid !== 0) {
  const give = (p) => {
    chownSync(p, owner.uid, owner.gid);
    if (statSync(p).isDirectory()) for (const e of readdirSync(p)) give(join(p, e));
  };
  give(join(root, 'dist'));
}
