/**
 * A second userspace `wgts up` under a name that already runs is refused
 * before it starts anything: no UDP socket, no [Forward] listener, no
 * "started" line, and "nothing was started"; the first keeps running.
 */
import { describe, it, afterAll } from 'vitest';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { clampPrivateKey, publicKey } from '../../src/crypto/x25519.js';
import { encodeKey } from '../../src/crypto/util.js';
import { exec, spawnTracked, type Proc } from '../harness/exec.js';
import { waitFor } from '../harness/wait.js';

const CLI = resolve('dist/src/cli/main.js');

/** A loopback TCP port nobody holds right now. */
function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer().once('error', rej).listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

/** Can we connect to 127.0.0.1:port? */
function listening(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = createServer();
    s.once('error', () => res(true)).listen(port, '127.0.0.1', () => s.close(() => res(false)));
  });
}

describe('a second instance of a running name', { timeout: 60_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'wgts-second-'));
  let first: Proc | null = null;
  afterAll(async () => {
    await first?.stop(5000);
    rmSync(dir, { recursive: true, force: true });
  });

  it('is refused before anything starts, and the first keeps running', async () => {
    const key = () => encodeKey(clampPrivateKey(randomBytes(32)));
    const peer = encodeKey(publicKey(clampPrivateKey(randomBytes(32))));
    const conf = (port: number): string => `[Interface]\nPrivateKey = ${key()}\nAddress = 10.77.0.1/24\n\n[Peer]\nPublicKey = ${peer}\nAllowedIPs = 10.77.0.2/32\n\n` +
      `[Forward]\nListen = 127.0.0.1:${port}\nTarget = 10.77.0.2:80\n`;
    const [p1, p2] = [await freePort(), await freePort()];
    const name = `wgts2nd${process.pid % 100000}`;
    const a = join(dir, 'a.conf');
    const b = join(dir, 'b.conf');
    writeFileSync(a, conf(p1), { mode: 0o600 });
    writeFileSync(b, conf(p2), { mode: 0o600 });

    first = spawnTracked([process.execPath, CLI, 'up', a, '--userspace', '--interface', name], { label: 'first wgts' });
    const f = first;
    await waitFor(() => { f.assertRunning(); return f.output().includes('UAPI socket') && /started \S/.test(f.output()); }, 20_000, 'the first instance');

    const r = await exec([process.execPath, CLI, 'up', b, '--userspace', '--interface', name], { timeoutMs: 20_000, check: false });
    const out = r.stdout + r.stderr;
    assert.equal(r.code, 1, out);
    assert.match(out, new RegExp(`${name} is already running: .*${name}\\.sock answers\\. Stop that one first \\(wgts down ${name}\\)`), out);
    assert.match(out, /wgts up: nothing was started\n$/, out);
    assert.doesNotMatch(out, /started |listening|UAPI socket/, out);
    assert.equal(await listening(p2), false, 'the second instance never listened on its forward port');
    assert.ok(f.running, f.output());
    const sock = /UAPI socket (\S+)/.exec(f.output())![1]!;
    assert.ok(existsSync(sock), 'the first instance still has its UAPI socket');
  });
});
