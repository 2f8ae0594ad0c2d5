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
//   `npx wgts` by a user who does not own the checkout: npm links the checkout
//   into that user's npx cache and then chmods the bins through the link,
//   which only their owner may do (EPERM chmod, then npm's misleading advice to
//   chown the cache). Nothing in the package can make that chmod succeed, so
//   stop before it with why and the commands that do work.
import { spawnSync } from 'node:child_process';
import { accessSync, chownSync, constants, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
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

if (process.env.npm_command === 'exec') notOwnerUnderNpx();

function notOwnerUnderNpx() {
  const uid = process.getuid?.();
  if (uid === undefined || uid === 0) return;
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const main = join(root, typeof pkg.bin === 'string' ? pkg.bin : pkg.bin.wgts);
  let owner;
  try {
    owner = statSync(main).uid;
  } catch {
    owner = statSync(root).uid;
  }
  if (owner === uid) return;
  const ran = existsSync(main) ? main : `${join(root, 'dist/src/cli/main.js')} (after its owner runs \`npm ci\` there)`;
  process.stderr.write(
    `wgts: \`npx wgts\` cannot run from ${root} as uid ${uid}: the checkout belongs to uid ${owner}, and npx would\n` +
      `  link it into your npm cache and chmod its bin there, which only the owner may do (npm fails with EPERM chmod).\n` +
      `  Instead run it directly: ${ran} ARGS   (or: node ${main} ARGS)\n` +
      `  or have it installed on PATH (as root: npm install -g ${root}), or use a checkout of your own.\n`,
  );
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
