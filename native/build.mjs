// Builds the optional TUN addon (native/tun.c -> native/build/Release/wgts_tun.node).
// Run by `npm ci`/`npm install` as the package's install script, or by hand:
// `node native/build.mjs`. Holds the TUN device and the batched UDP sockets
// (native/udp.c). It never fails the install: whatever happens it
// exits 0, writes native/build/status.json ({ ok, why }) for tunAvailable(),
// and the full compiler output to native/build.log. Tries node-gyp (npm's
// bundled copy, against local Node headers when present so nothing is
// downloaded), then a direct `cc -shared` of the C files.
// An addon already built from the same sources for this Node ABI, that
// loads, is kept (npm runs this script again whenever the checkout is
// linked, e.g. by each user's first `npx wgts`); WGTS_REBUILD_NATIVE=1 forces
// a build. Run as root in a tree someone else owns (`sudo npx`), it hands
// what it wrote back to that owner.
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync, appendFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Whatever goes wrong here must not fail `npm ci`: report and exit 0.
process.on('uncaughtException', (e) => {
  process.stdout.write(`wgts: TUN addon not built: unexpected error in native/build.mjs: ${e && e.message}. Userspace mode works.\n`);
  process.exit(0);
});

const here = dirname(fileURLToPath(import.meta.url));
const buildDir = join(here, 'build');
const out = join(buildDir, 'Release', 'wgts_tun.node');
const logFile = join(here, 'build.log');
const TIMEOUT_MS = 180_000;

function log(text) {
  appendFileSync(logFile, text.endsWith('\n') ? text : text + '\n');
}

const SOURCES = ['tun.c', 'udp.c', 'napi_util.h', 'binding.gyp', 'build.mjs'].map((f) => join(here, f));
const statusFile = join(buildDir, 'status.json');

/** The addon in place was built by this script from these sources for this Node ABI, and loads. */
function upToDate() {
  try {
    const s = JSON.parse(readFileSync(statusFile, 'utf8'));
    if (!s.ok || s.modules !== process.versions.modules) return false;
    const built = statSync(out).mtimeMs;
    if (SOURCES.some((f) => statSync(f).mtimeMs > built)) return false;
    createRequire(import.meta.url)(out);
    return true;
  } catch {
    return false;
  }
}

/** As root in a tree owned by someone else, give what this script wrote back to that owner. */
function handBack() {
  const owner = statSync(here);
  if (process.getuid?.() !== 0 || owner.uid === 0) return;
  const give = (p) => {
    if (!existsSync(p)) return;
    chownSync(p, owner.uid, owner.gid);
    if (statSync(p).isDirectory()) for (const e of readdirSync(p)) give(join(p, e));
  };
  give(buildDir);
  give(logFile);
}

function finish(ok, why) {
  try {
    mkdirSync(buildDir, { recursive: true });
    writeFileSync(statusFile, JSON.stringify({ ok, why, node: process.version, modules: process.versions.modules, date: new Date().toISOString() }) + '\n');
    handBack();
  } catch {
    /* read-only tree: tunAvailable() still reports the missing file */
  }
  if (ok) process.stdout.write(`wgts: TUN addon built (${out})\n`);
  else process.stdout.write(`wgts: TUN addon not built: ${why}. Userspace mode works; \`wgts up --tun\` will say why. Details: ${logFile}\n`);
  process.exit(0);
}

function run(argv, cwd) {
  log(`$ ${argv.join(' ')}`);
  const r = spawnSync(argv[0], argv.slice(1), { cwd, encoding: 'utf8', timeout: TIMEOUT_MS, env: process.env });
  log((r.stdout ?? '') + (r.stderr ?? ''));
  if (r.error) return `${argv[0]}: ${r.error.message}`;
  if (r.status !== 0) return `${argv[0] === process.execPath ? 'node-gyp' : argv[0]} exited with ${r.status ?? r.signal}`;
  return null;
}

/** A Node install prefix that has the headers (so node-gyp downloads nothing). */
function localNodeDir() {
  if (process.env.npm_config_nodedir) return process.env.npm_config_nodedir;
  const prefix = dirname(dirname(process.execPath));
  return existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? prefix : null;
}

function findNodeGyp() {
  const cands = [];
  if (process.env.npm_config_node_gyp) cands.push(process.env.npm_config_node_gyp);
  try {
    cands.push(createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    /* not installed as a package */
  }
  const prefix = dirname(dirname(process.execPath));
  cands.push(join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  return cands.find((p) => existsSync(p)) ?? null;
}

if (process.env.WGTS_REBUILD_NATIVE !== '1' && upToDate()) {
  process.stdout.write(`wgts: TUN addon already built (${out})\n`);
  process.exit(0);
}
try {
  writeFileSync(logFile, `wgts TUN addon build, node ${process.version}, ${new Date().toISOString()}\n`);
  // A failed build must not leave an earlier run's "ok" behind.
  rmSync(statusFile, { force: true });
  if (existsSync(buildDir)) rmSync(buildDir, { recursive: true });
} catch (e) {
  process.stdout.write(`wgts: TUN addon not built: ${e.code === 'EACCES' || e.code === 'EPERM'
    ? `${here} or its build/ is not writable by this user (uid ${process.getuid?.()}; left by a \`sudo\` run?): remove ${buildDir} as its owner and run \`node ${join(here, 'build.mjs')}\` again`
    : e.message}. Userspace mode works.\n`);
  process.exit(0);
}
if (process.platform !== 'linux') finish(false, `TUN mode is Linux-only (this is ${process.platform})`);
if (process.env.WGTS_SKIP_NATIVE === '1') finish(false, 'skipped because WGTS_SKIP_NATIVE=1');

const reasons = [];
const gyp = findNodeGyp();
const nodedir = localNodeDir();
if (gyp) {
  const argv = [process.execPath, gyp, 'rebuild'];
  if (nodedir) argv.push(`--nodedir=${nodedir}`);
  const err = run(argv, here);
  if (!err && existsSync(out)) finish(true, null);
  reasons.push(err ?? 'node-gyp produced no wgts_tun.node');
} else {
  reasons.push('node-gyp not found');
}

// Fallback: the two C files, no libraries to link (N-API symbols resolve against the node binary at load).
const include = nodedir ? join(nodedir, 'include', 'node') : null;
if (include && existsSync(join(include, 'node_api.h'))) {
  rmSync(join(buildDir, 'Release'), { recursive: true, force: true });
  mkdirSync(join(buildDir, 'Release'), { recursive: true });
  const cc = process.env.CC || 'cc';
  const err = run([cc, '-shared', '-fPIC', '-O2', '-DNAPI_VERSION=8', '-DNODE_GYP_MODULE_NAME=wgts_tun', `-I${include}`, join(here, 'tun.c'), join(here, 'udp.c'), '-o', out], here);
  if (!err && existsSync(out)) finish(true, null);
  reasons.push(err ?? `${cc} produced no wgts_tun.node`);
} else {
  reasons.push('no local Node headers (include/node/node_api.h) for a direct compile');
}
finish(false, reasons.join('; '));
