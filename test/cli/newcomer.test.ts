/**
 * CLI gaps a newcomer hit (issue 19 bugs 9 and 15): `wgts --version`,
 * `wgts help CMD` as `wgts CMD --help`, `wgts show NAME dump` saying why it
 * is refused, `up`'s usage line listing --forward/--expose, and `wgts up
 * NAME` meaning /etc/wireguard/NAME.conf as for wg-quick.
 */
import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { configPath } from '../../src/cli/up.js';

const CLI = resolve('dist/src/cli/main.js');
const wgts = (argv: string[]) => spawnSync(process.execPath, [CLI, ...argv], { encoding: 'utf8', timeout: 20_000 });

describe('newcomer CLI gaps', () => {
  it('wgts --version and wgts version print the package version', () => {
    const version = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;
    for (const argv of [['--version'], ['version'], ['-V']]) {
      const r = wgts(argv);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, `wgts ${version}\n`);
    }
  });

  it('wgts help up prints what wgts up --help prints', () => {
    const a = wgts(['help', 'up']);
    const b = wgts(['up', '--help']);
    assert.equal(a.status, 0);
    assert.equal(a.stdout, b.stdout);
    assert.match(a.stdout, /^Usage: wgts up /);
  });

  it("up's usage line lists --forward and --expose", () => {
    const first = wgts(['up', '--help']).stdout.split('\n')[0]!;
    assert.match(first, /--forward SPEC/);
    assert.match(first, /--expose SPEC/);
  });

  it('wgts show NAME dump says why it is refused', () => {
    const r = wgts(['show', 'wg0', 'dump']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /"dump" is not supported \(for wg's fields use `wg show wg0 dump`/);
  });

  it('wgts up NAME reads /etc/wireguard/NAME.conf unless NAME is a file here', () => {
    assert.equal(configPath('wg0', () => false), '/etc/wireguard/wg0.conf');
    assert.equal(configPath('wg0', (p) => p === 'wg0'), 'wg0');
    assert.equal(configPath('vps.conf', () => false), 'vps.conf');
    assert.equal(configPath('./wg0', () => false), './wg0');
    const r = wgts(['up', 'wgts-no-such-if']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /\/etc\/wireguard\/wgts-no-such-if\.conf/);
  });
});
