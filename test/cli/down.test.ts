/**
 * `wgts down NAME` stops a userspace-mode `wgts up` (issue 19 bug 7): it
 * deletes NAME's UAPI socket, waits for that wgts to exit and says what it
 * did; a stale socket is removed and said so; nothing running is exit 1
 * naming where it looked. Runs the built CLI on loopback (ListenPort 0).
 */
import { describe, it, afterAll } from 'vitest';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { waitForOutput } from '../harness/wait.js';
import { clampPrivateKey } from '../../src/crypto/x25519.js';
import { encodeKey } from '../../src/crypto/util.js';
import { socketServerPids } from '../../src/cli/down.js';

const CLI = resolve('dist/src/cli/main.js');
const dirs: string[] = [];
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM'); // SIGTERM: a wgts removes its socket
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'wgts-down-'));
  dirs.push(d);
  return d;
}
const down = (name: string, env: NodeJS.ProcessEnv = process.env) => spawnSync(process.execPath, [CLI, 'down', name], { encoding: 'utf8', timeout: 30_000, env });

describe('wgts down NAME', { timeout: 60_000 }, () => {
  it('stops a running userspace wgts through its UAPI socket and says so', async () => {
    const d = tmp();
    const name = `wgtsdn${process.pid % 10000}`;
    const file = join(d, `${name}.conf`);
    writeFileSync(file, `[Interface]\nPrivateKey = ${encodeKey(clampPrivateKey(randomBytes(32)))}\nListenPort = 0\nAddress = 10.87.0.1/24\n`, { mode: 0o600 });
    const child = spawn(process.execPath, [CLI, 'up', file, '--userspace']);
    children.push(child);
    const exited = new Promise<number | null>((r) => child.once('exit', r));
    const log = await waitForOutput(child, /UAPI socket (\S+)/, 15_000);
    const sock = /UAPI socket (\S+)/.exec(log)![1]!;
    assert.deepEqual(socketServerPids(sock), [child.pid], 'the listening socket is found in /proc as the child\'s');

    const r = down(name);
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    assert.equal(r.stdout, `wgts down: stopped ${name} (userspace mode, pid ${child.pid}) by removing its UAPI socket ${sock}\n`);
    // It shut down cleanly (down waited for that: see socketServerPids/alive in down.ts).
    assert.equal(await exited, 0);
    assert.ok(!existsSync(sock));

    const again = down(name);
    assert.equal(again.status, 1);
    assert.match(again.stderr, new RegExp(`${name} is not running here: no TUN state file \\(.+\\) and no UAPI socket ${name}\\.sock in /var/run/wireguard`));
  });

  it('removes a stale socket a killed wgts left, and says it was not running', async () => {
    const d = tmp();
    const name = `wgtsds${process.pid % 10000}`;
    mkdirSync(join(d, 'wgts'));
    const sock = join(d, 'wgts', `${name}.sock`);
    // A process that binds the socket and is killed: the file stays, nobody listens.
    const holder = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(sock)}, () => console.log('bound'))`]);
    children.push(holder);
    await waitForOutput(holder, /bound/, 10_000);
    holder.kill('SIGKILL');
    await new Promise((r) => holder.once('exit', r));
    assert.ok(existsSync(sock));

    const r = down(name, { ...process.env, XDG_RUNTIME_DIR: d });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `wgts down: ${name} was not running; removed the stale UAPI socket ${sock} a stopped wgts had left\n`);
    assert.ok(!existsSync(sock));
  });
});
