/**
 * `wgts init` prints commands that run as printed (issue 19 bug 6): the next
 * steps and the generated files' headers name wgts the way it was run
 * (`npx wgts`, `node PATH/main.js`, or `wgts` when that is on PATH), and the
 * firewall hint names every forwarded port beside WireGuard's UDP port.
 * Spawns the built CLI with a PATH that has no wgts, and through npx.
 */
import { describe, it, afterAll } from 'vitest';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { firewallPorts, parseForwardSpec } from '../../src/cli/init.js';
import { howInvoked, shellQuote } from '../../src/cli/invocation.js';

const CLI = resolve('dist/src/cli/main.js');
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'wgts-initcmd-'));
  dirs.push(d);
  return d;
}

/** PATH with node's directory (for `node` and `npx`) and nothing that provides wgts. */
const PATH_NO_WGTS = [dirname(process.execPath), '/usr/bin', '/bin'].join(':');
const sh = (cmd: string, cwd: string, path = PATH_NO_WGTS) =>
  spawnSync('/bin/sh', ['-c', cmd], { cwd, encoding: 'utf8', timeout: 60_000, env: { PATH: path, HOME: process.env.HOME } });

/** The command printed on the line after "copy vps.conf there ... and run". */
function vpsCommand(out: string): string {
  const m = /copy vps\.conf there, allow .* in its firewall, and run\n +(.+) up vps\.conf\n/.exec(out);
  assert.ok(m, out);
  return m[1]!;
}

describe('wgts init: printed commands run as printed', { timeout: 90_000 }, () => {
  it('run as `node dist/src/cli/main.js` with no wgts on PATH: prints that, and it runs', () => {
    const d = tmp();
    const r = sh(`node ${shellQuote(CLI)} init --endpoint vps.example.net --forward tcp/8080 --dir ${shellQuote(d)}`, d);
    assert.equal(r.status, 0, r.stderr);
    const prog = vpsCommand(r.stdout);
    assert.equal(prog, `node ${CLI}`);
    assert.match(r.stdout, new RegExp(`\\n +${prog.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} up home\\.conf\\n`));
    assert.match(r.stdout, /Add a phone: node \S+main\.js init --peer phone/);
    assert.equal(readFileSync(join(d, 'vps.conf'), 'utf8').split('\n')[0], `# wgts init: the VPS side. Run on the VPS: ${prog} up vps.conf`);
    assert.equal(readFileSync(join(d, 'home.conf'), 'utf8').split('\n')[0], `# wgts init: the home side. Run at home: ${prog} up home.conf`);
    // The printed prefix runs, where a bare `wgts` would be "not found".
    const v = sh(`${prog} --version`, d);
    assert.equal(v.status, 0, v.stderr);
    assert.match(v.stdout, /^wgts \d/);
  });

  it('run as `wgts` from PATH: prints plain `wgts`', () => {
    const d = tmp();
    const bin = join(d, 'bin');
    mkdirSync(bin);
    symlinkSync(CLI, join(bin, 'wgts'));
    const r = sh(`wgts init --endpoint vps.example.net --dir ${shellQuote(d)}`, d, `${bin}:${PATH_NO_WGTS}`);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(vpsCommand(r.stdout), 'wgts');
  });

  it('run through npx: prints `npx wgts`', () => {
    const d = tmp();
    // A cache of its own: npx links the checkout into <cache>/_npx, which other runs share otherwise.
    const env = { ...process.env, npm_config_cache: join(d, 'npm-cache'), npm_config_offline: 'true', npm_config_update_notifier: 'false' };
    const r = spawnSync('npx', ['--no-install', 'wgts', 'init', '--endpoint', 'vps.example.net', '--dir', d], { encoding: 'utf8', timeout: 60_000, env });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(vpsCommand(r.stdout), 'npx wgts');
    assert.match(readFileSync(join(d, 'vps.conf'), 'utf8'), /^# wgts init: the VPS side\. Run on the VPS: npx wgts up vps\.conf\n/);
  });

  it('howInvoked: library use, npx, PATH, absolute scripts, quoting', () => {
    const base = { env: {}, script: '/src/wgts/dist/src/cli/main.js', isWgtsBin: true, onPath: false };
    assert.equal(howInvoked({ ...base, isWgtsBin: false }), 'wgts');
    assert.equal(howInvoked({ ...base, env: { npm_lifecycle_event: 'npx', npm_command: 'exec' } }), 'npx wgts');
    assert.equal(howInvoked({ ...base, onPath: true }), 'wgts');
    // Absolute even inside the checkout: the commands are pasted in other directories.
    assert.equal(howInvoked(base), 'node /src/wgts/dist/src/cli/main.js');
    assert.equal(howInvoked({ ...base, script: "/my dir/it's/main.js" }), `node '/my dir/it'\\''s/main.js'`);
  });
});

describe('wgts init: the firewall hint', () => {
  it('names UDP ListenPort and every forwarded port and protocol', () => {
    const f = (s: string) => {
      const r = parseForwardSpec(s);
      assert.ok(r.ok);
      return r.value;
    };
    assert.equal(firewallPorts(51820, []), 'UDP 51820 (WireGuard)');
    assert.equal(firewallPorts(51820, [f('tcp/8080'), f('udp/27015'), f('tcp,udp/6000-6010')]), 'UDP 51820 (WireGuard) and TCP 8080, UDP 27015, TCP 6000-6010, UDP 6000-6010 (forwarded)');
  });
});
