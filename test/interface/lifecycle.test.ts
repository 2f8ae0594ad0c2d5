/**
 * The Interface object's life cycle, each scenario in a child process that
 * never calls process.exit (lifecycle-child.ts): the child must exit by
 * itself, which proves stop() and a refused start leave no timer, socket or
 * worker behind. The pair scenario also checks the peer events, stats() and
 * reload(); the refused one that a start that fails half-way releases what
 * it had started (its UDP port binds again).
 */
import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CHILD = fileURLToPath(new URL('./lifecycle-child.js', import.meta.url));

function run(scenario: string): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [CHILD, scenario], { encoding: 'utf8', timeout: 20_000, killSignal: 'SIGKILL' });
  return { status: r.status, out: `${r.stdout}\n--- stderr\n${r.stderr}` };
}

describe('Interface life cycle', { timeout: 60_000 }, () => {
  it('two interfaces handshake, report events and stats, reload, stop, and the process exits by itself', () => {
    const r = run('pair');
    assert.equal(r.status, 0, `the child did not exit by itself (killed after 20 s?):\n${r.out}`);
    for (const line of ['b handshake', 'b peer-up', 'a handshake', 'a peer-up', 'stats lc-b peers=1 handshake=true', 'net the tunnel (userspace stack)', 'reloaded peers=0', 'STOPPED']) {
      assert.ok(r.out.includes(line), `missing "${line}" in:\n${r.out}`);
    }
  });

  it('a start refused half-way (a [Forward] port in use) rejects, releases its UDP port, and the process exits by itself', () => {
    const r = run('refused');
    assert.equal(r.status, 0, `the child did not exit by itself:\n${r.out}`);
    assert.match(r.out, /REFUSED cannot start .*EADDRINUSE/);
    assert.ok(r.out.includes('UDP PORT FREE'), r.out);
    assert.ok(!r.out.includes('STARTED'), r.out);
  });
});
