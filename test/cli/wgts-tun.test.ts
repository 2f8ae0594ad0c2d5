/**
 * `wgts-tun`'s command line without creating anything: the usage line for
 * what wireguard-go would not take either (no name, extra words, an
 * unknown flag, a name Linux refuses), and --version. What it does with a
 * valid name needs root and namespaces: test/interop/wgts-tun.test.ts.
 */
import { it } from 'vitest';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../src/cli/wgts-tun.js', import.meta.url));
const run = (args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, WG_TUN_FD: '', WG_UAPI_FD: '' } });

for (const args of [[], ['-f'], ['--foreground'], ['wg0', 'extra'], ['-x', 'wg0'], ['-f', 'wg0', 'extra'], ['has/slash'], ['sixteen-bytes-xx']]) {
  it(`usage error for ${JSON.stringify(args)}: exit 1, the usage line on stderr, nothing created`, () => {
    const r = run(args);
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.stderr, 'Usage: wgts-tun [-f/--foreground] INTERFACE-NAME\n');
    assert.equal(r.stdout, '');
  });
}

it('--version says what it is', () => {
  const r = run(['--version']);
  assert.equal(r.status, 0);
  assert.match(r.stdout, /^wgts-tun \(wgts\)/);
});
