/**
 * `wgts show` as a normal user beside root's interfaces, and a fresh TUN's
 * multicast (issue 19 bug 14): interfaces it may not open are skipped with
 * one note and it exits 0 having shown its own; the host's own multicast
 * that no peer takes is shown apart from drops. As root: one `wgts up` as
 * root, one as uid 65534 (its sockets in a private XDG_RUNTIME_DIR), and
 * `wgts show` run as uid 65534.
 */
import { describe, it, afterAll } from 'vitest';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { waitForOutput } from '../harness/wait.js';
import { clampPrivateKey } from '../../src/crypto/x25519.js';
import { encodeKey } from '../../src/crypto/util.js';
import { renderView } from '../../src/cli/show.js';
import { skipUnlessPresent } from '../harness/interop.js';

const CLI = resolve('dist/src/cli/main.js');
const NOBODY = 65534;
const dirs: string[] = [];
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('wgts show beside interfaces of another user', { timeout: 60_000 }, () => {
  const skip = skipUnlessPresent(process.getuid?.() !== 0 && 'root (to run wgts up as root and wgts show as uid 65534)');
  it('skips root\'s interface with one note and exits 0 after showing its own', { skip }, async () => {
    const top = mkdtempSync(join(tmpdir(), 'wgts-showo-'));
    dirs.push(top);
    chmodSync(top, 0o755);
    const run = join(top, 'run');
    mkdirSync(run, { mode: 0o700 });
    chownSync(run, NOBODY, NOBODY);
    const env = { PATH: process.env.PATH ?? '', XDG_RUNTIME_DIR: run };
    const up = (name: string, nobody: boolean): Promise<string> => {
      const file = join(top, `${name}.conf`);
      writeFileSync(file, `[Interface]\nPrivateKey = ${encodeKey(clampPrivateKey(randomBytes(32)))}\nListenPort = 0\n`, { mode: 0o600 });
      if (nobody) chownSync(file, NOBODY, NOBODY);
      const child = spawn(process.execPath, [CLI, 'up', file, '--userspace'], nobody ? { uid: NOBODY, gid: NOBODY, env } : {});
      children.push(child);
      return waitForOutput(child, /UAPI socket (\S+)/, 15_000);
    };
    const tag = process.pid % 10000;
    const rootName = `wgtsor${tag}`;
    const mine = `wgtson${tag}`;
    assert.match(await up(rootName, false), new RegExp(`UAPI socket /var/run/wireguard/${rootName}\\.sock`));
    assert.match(await up(mine, true), new RegExp(`UAPI socket ${run}/wgts/${mine}\\.sock`));

    const r = spawnSync(process.execPath, [CLI, 'show'], { uid: NOBODY, gid: NOBODY, env, encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^interface: ${mine}$`, 'm'));
    assert.doesNotMatch(r.stderr, /connect EACCES/);
    const notes = r.stderr.split('\n').filter((l) => l.includes(rootName));
    assert.equal(notes.length, 1, r.stderr);
    assert.match(notes[0]!, new RegExp(`^wgts show: skipped .*\\b${rootName}\\b.*: this user \\(uid ${NOBODY}\\) may not open their sockets in /var/run/wireguard; run as their owner or root \\(sudo wgts show\\) to see them$`));

    // Asked by name, it is an error that says why.
    const named = spawnSync(process.execPath, [CLI, 'show', rootName], { uid: NOBODY, gid: NOBODY, env, encoding: 'utf8', timeout: 20_000 });
    assert.equal(named.status, 1);
    assert.match(named.stderr, /belongs to another user: run as that user or root/);
  });
});

describe('wgts show: the host\'s own multicast', () => {
  it('is not listed among drops', () => {
    const view = { privateKey: null, listenPort: 51820, fwmark: 0, peers: [] };
    const text = renderView('wg0', view, 0, [['drop.multicast', '5']]);
    assert.doesNotMatch(text, /dropped:/);
    assert.match(text, /\n  not sent: multicast 5 \(the host's own multicast, e\.g\. IPv6 router solicitations; no peer takes it, as with kernel WireGuard\)\n/);
    assert.match(renderView('wg0', view, 0, [['drop.multicast', '5'], ['drop.no-route', '1']]), /\n  dropped: no-route 1\n/);
  });
});
