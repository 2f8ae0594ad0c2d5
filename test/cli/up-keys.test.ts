/**
 * `wgts up` with the private key outside the config (issue 9): from
 * PrivateKeyFile and from PrivateKeyEnv the running interface has the key's
 * public key; a broken key file refuses the config with file:line and never
 * prints the file's contents; a key file others can read is warned about.
 */
import { describe, it, afterAll } from 'vitest';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { clampPrivateKey, publicKey } from '../../src/crypto/x25519.js';
import { encodeKey } from '../../src/crypto/util.js';

const CLI = resolve('dist/src/cli/main.js');

function key(): { priv: string; pub: string } {
  const k = clampPrivateKey(randomBytes(32));
  return { priv: encodeKey(k), pub: encodeKey(publicKey(k)) };
}

/** Runs `wgts up FILE --userspace` until `until` shows (then SIGTERM) or it exits; returns its output and exit code. */
function up(file: string, env: Record<string, string>, until: RegExp | null): Promise<{ out: string; code: number | null }> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, [CLI, 'up', file, '--userspace', '--interface', `wgtk${process.pid % 10000}`], {
      env: { ...process.env, ...env, XDG_RUNTIME_DIR: dirname(file) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let sent = false;
    const t = setTimeout(() => { child.kill('SIGKILL'); rej(new Error(`timeout; output:\n${out}`)); }, 15_000);
    const on = (d: Buffer) => {
      out += d.toString();
      if (until && !sent && until.test(out)) { sent = true; child.kill('SIGTERM'); }
    };
    child.stdout.on('data', on);
    child.stderr.on('data', on);
    child.once('exit', (code) => { clearTimeout(t); res({ out, code }); });
  });
}

describe('wgts up: PrivateKeyFile and PrivateKeyEnv', { timeout: 60_000 }, () => {
  const dirs: string[] = [];
  afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });
  function dir(): string {
    const d = mkdtempSync(join(tmpdir(), 'wgts-keys-'));
    dirs.push(d);
    return d;
  }
  const peer = key();
  const body = (first: string) => `[Interface]\n${first}\nListenPort = 0\nAddress = 10.77.0.1/24\n\n[Peer]\nPublicKey = ${peer.pub}\nAllowedIPs = 10.77.0.2/32\n`;

  it('runs with the key from a file (relative to the config) and logs its public key, never the key', async () => {
    const d = dir();
    const k = key();
    writeFileSync(join(d, 'wg.key'), k.priv + '\n', { mode: 0o600 });
    const file = join(d, 'wgk.conf');
    writeFileSync(file, body('PrivateKeyFile = wg.key'), { mode: 0o600 });
    const r = await up(file, {}, /UAPI socket/);
    assert.match(r.out, new RegExp(`public key ${k.pub.replace(/[+/]/g, '\\$&')}`), r.out);
    assert.ok(!r.out.includes(k.priv), 'the private key is not in the output');
    assert.doesNotMatch(r.out, /readable by group or others/);
    assert.equal(r.code, 0, r.out);
  });

  it('runs with the key from an environment variable', async () => {
    const d = dir();
    const k = key();
    const file = join(d, 'wge.conf');
    writeFileSync(file, body('PrivateKeyEnv = WGTS_TEST_KEY'), { mode: 0o600 });
    const r = await up(file, { WGTS_TEST_KEY: k.priv }, /UAPI socket/);
    assert.match(r.out, new RegExp(`public key ${k.pub.replace(/[+/]/g, '\\$&')}`), r.out);
    assert.ok(!r.out.includes(k.priv));
    assert.equal(r.code, 0, r.out);
  });

  it('a key file others can read is warned about, with the chmod fix', async () => {
    const d = dir();
    const k = key();
    writeFileSync(join(d, 'open.key'), k.priv + '\n', { mode: 0o644 });
    const file = join(d, 'wgo.conf');
    writeFileSync(file, body('PrivateKeyFile = open.key'), { mode: 0o600 });
    const r = await up(file, {}, /UAPI socket/);
    assert.match(r.out, /readable by group or others.*chmod 600/, r.out);
    assert.ok(!r.out.includes(k.priv));
  });

  it('a key file holding something else refuses the config with file:line, without its contents; an unset variable likewise', async () => {
    const d = dir();
    const k = key();
    // A key with its last characters cut: not a key, but mostly key material.
    writeFileSync(join(d, 'bad.key'), k.priv.slice(0, 40) + '\n', { mode: 0o600 });
    const file = join(d, 'wgb.conf');
    writeFileSync(file, body('PrivateKeyFile = bad.key'), { mode: 0o600 });
    const r = await up(file, {}, null);
    assert.equal(r.code, 1);
    assert.match(r.out, /wgb\.conf:2: PrivateKeyFile/, r.out);
    assert.match(r.out, /nothing was started/);
    assert.ok(!r.out.includes(k.priv.slice(0, 40)), 'the file contents are not echoed');
    const envFile = join(d, 'wgu.conf');
    writeFileSync(envFile, body('PrivateKeyEnv = WGTS_TEST_UNSET_KEY'), { mode: 0o600 });
    const e = await up(envFile, {}, null);
    assert.equal(e.code, 1);
    assert.match(e.out, /wgu\.conf:2: PrivateKeyEnv.*WGTS_TEST_UNSET_KEY/, e.out);
  });
});
