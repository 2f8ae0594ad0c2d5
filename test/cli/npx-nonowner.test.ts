/**
 * `npx wgts ...` by a user who does not own the checkout (issue 19: uid 65534
 * against a root-owned tree). npm links the checkout into that user's npx
 * cache and chmods its bin through the link, which fails with EPERM and npm's
 * unrelated advice to chown the cache. scripts/prepare.mjs stops first and
 * says why and what runs instead; the project's .npmrc (foreground-scripts)
 * lets that message reach the terminal. As root: a root-owned copy of the
 * checkout's package files, run as uid/gid 65534 with a fresh HOME, offline.
 */
import { it, afterAll } from 'vitest';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chownSync, cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { skipUnlessPresent } from '../harness/interop.js';

const NOBODY = 65534;
const skip = skipUnlessPresent(process.getuid?.() !== 0 && 'root (to run npx as uid 65534 against a root-owned checkout)');
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

it('npx wgts as a non-owner says why it cannot run and what does, and that command works', { skip, timeout: 120_000 }, () => {
  const top = mkdtempSync(join(tmpdir(), 'wgts-npx-'));
  dirs.push(top);
  chmodSync(top, 0o755);
  const co = join(top, 'checkout');
  mkdirSync(co);
  for (const f of ['package.json', '.npmrc', 'scripts', 'dist'].filter((f) => existsSync(resolve(f)))) cpSync(resolve(f), join(co, f), { recursive: true });
  symlinkSync(resolve('node_modules'), join(co, 'node_modules'));
  const home = join(top, 'home');
  mkdirSync(home);
  chownSync(home, NOBODY, NOBODY);
  const env = { PATH: process.env.PATH, HOME: home, npm_config_update_notifier: 'false', npm_config_offline: 'true', npm_config_audit: 'false', npm_config_fund: 'false' };
  const asNobody = (cmd: string, argv: string[]) =>
    spawnSync(cmd, argv, { cwd: co, env, uid: NOBODY, gid: NOBODY, encoding: 'utf8', timeout: 90_000 });

  const r = asNobody('npx', ['wgts', '--help']);
  const out = `${r.stdout}\n${r.stderr}`;
  assert.doesNotMatch(out, /npm error code EPERM|syscall chmod/, out);
  assert.notEqual(r.status, 0, out);
  const main = join(co, 'dist/src/cli/main.js');
  assert.ok(out.includes(`\`npx wgts\` cannot run from ${co} as uid ${NOBODY}: the checkout belongs to uid 0`), out);
  assert.ok(out.includes(`Instead run it directly: ${main} ARGS`), out);

  const direct = asNobody(main, ['--help']);
  assert.equal(direct.status, 0, direct.stderr);
  assert.match(direct.stdout, /^Usage: wgts/m);
});
