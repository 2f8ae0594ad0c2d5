/**
 * `wgts demo` (the README's first command): it fetches the home page through
 * the forwarded public port, and while it runs the printed URL works by hand.
 */
import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { fetchText } from '../../src/cli/demo.js';

const CLI = resolve('dist/src/cli/main.js');

describe('wgts demo', { timeout: 30_000 }, () => {
  it('--once fetches the page through the tunnel and exits 0', () => {
    const r = spawnSync(process.execPath, [CLI, 'demo', '--once'], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /GET http:\/\/127\.0\.0\.1:\d+\/ -> 200, "Hello from home"/);
    assert.match(r.stdout, /3\/3 replies/);
  });

  it('keeps running with a URL that works by hand, and stops on SIGINT', async (t) => {
    const child = spawn(process.execPath, [CLI, 'demo'], { stdio: ['ignore', 'pipe', 'pipe'] });
    t.onTestFinished(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    const url = await new Promise<string>((res, rej) => {
      const t = setTimeout(() => rej(new Error(`no URL printed: ${out}`)), 15_000);
      child.stdout.on('data', () => {
        const m = /Try it by hand:\s+curl (\S+)/.exec(out);
        if (m) { clearTimeout(t); res(m[1]!); }
      });
    });
    const page = await fetchText(url + 'by-hand');
    assert.equal(page.status, 200);
    assert.match(page.body, /You asked for \/by-hand/);
    child.kill('SIGINT');
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    assert.equal(code, 0);
  });
});
