/**
 * close() leaves nothing behind: a child process that starts two tunnels,
 * uses them (leaving a server, sockets and a fetch connection open) and
 * closes them exits by itself within a few seconds (test/lib/exit-child.ts).
 */
import { it } from 'vitest';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

it('a process that closes its tunnels exits on its own', { timeout: 60_000 }, async (t) => {
  const child = spawn(process.execPath, [resolve('dist/test/lib/exit-child.js')], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  let closedAt = 0;
  child.stdout.on('data', () => {
    if (!closedAt && out.includes('closed\n')) closedAt = Date.now();
  });
  const code = await new Promise<number | null>((res) => {
    const limit = setTimeout(() => res(-1), 45_000);
    child.once('exit', (c) => {
      clearTimeout(limit);
      res(c);
    });
  });
  assert.equal(code, 0, `child did not exit by itself with status 0:\n${out}`);
  assert.ok(closedAt > 0, out);
  assert.ok(Date.now() - closedAt < 5_000, `exited ${Date.now() - closedAt} ms after close()`);
});
