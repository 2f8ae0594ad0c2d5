/** loadConfigFile: reads a file into parseConfig, with a size bound and file-level errors. */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatIssue } from '../../src/config/index.js';
import { loadConfigFile, MAX_CONFIG_BYTES } from '../../src/config/load.js';
import { fixture, FIXTURES, KEYS } from './helpers.js';

function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'wgts-load-'));
  return fn(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

test('loads a fixture and names the interface after it', async () => {
  const r = await loadConfigFile(FIXTURES + 'phone.conf');
  assert.ok(r.ok);
  assert.equal(r.config.interfaceName, 'phone');
  assert.equal(r.config.sourceFile, FIXTURES + 'phone.conf');
});

test('errors name the path given', async () => {
  await withDir(async (dir) => {
    const p = join(dir, 'wg0.conf');
    writeFileSync(p, `[Interface]\nPrivateKey = ${KEYS.serverPriv}\nListenPort = 70000\n`, { mode: 0o600 });
    const r = await loadConfigFile(p);
    assert.equal(r.ok, false);
    if (!r.ok) assert.deepEqual(r.errors.map(formatIssue), [`${p}:3: ListenPort = 70000: must be an integer 0-65535`]);
  });
});

test('files over 1 MiB are refused before parsing', async () => {
  await withDir(async (dir) => {
    const p = join(dir, 'big.conf');
    writeFileSync(p, fixture('wg0.conf') + '#'.repeat(MAX_CONFIG_BYTES));
    const r = await loadConfigFile(p);
    assert.equal(r.ok, false);
    if (!r.ok) assert.deepEqual(r.errors.map(formatIssue), [`${p}: file is larger than 1048576 bytes; not a WireGuard config`]);
    // Exactly the limit is fine.
    const text = fixture('phone.conf');
    writeFileSync(p, text + '#'.repeat(MAX_CONFIG_BYTES - Buffer.byteLength(text)), { mode: 0o600 });
    assert.ok((await loadConfigFile(p)).ok);
  });
});

test('missing files and directories give one clear error', async () => {
  await withDir(async (dir) => {
    const missing = await loadConfigFile(join(dir, 'nope.conf'));
    assert.equal(missing.ok, false);
    if (!missing.ok) assert.deepEqual(missing.errors.map(formatIssue), [`${join(dir, 'nope.conf')}: cannot open: ENOENT`]);
    const sub = join(dir, 'd.conf');
    mkdirSync(sub);
    const d = await loadConfigFile(sub);
    assert.equal(d.ok, false);
    if (!d.ok) assert.deepEqual(d.errors.map(formatIssue), [`${sub}: not a regular file`]);
  });
});

test('a world-readable file gets the wg-quick warning', async () => {
  await withDir(async (dir) => {
    const p = join(dir, 'wg0.conf');
    writeFileSync(p, fixture('phone.conf'));
    chmodSync(p, 0o644);
    const r = await loadConfigFile(p);
    assert.ok(r.ok);
    assert.equal(formatIssue(r.config.warnings[0]!), `${p}: file is world accessible; it contains a private key (chmod 600)`);
    chmodSync(p, 0o600);
    const q = await loadConfigFile(p);
    assert.ok(q.ok);
    assert.ok(q.config.warnings.every((w) => !w.message.includes('world')));
  });
});

test('invalid UTF-8 is parsed, not thrown on', async () => {
  await withDir(async (dir) => {
    const p = join(dir, 'wg0.conf');
    writeFileSync(p, Buffer.from([0x5b, 0xff, 0xfe, 0x5d, 0x0a, 0xc3]), { mode: 0o600 });
    const r = await loadConfigFile(p);
    assert.equal(r.ok, false);
  });
});

test('interfaceName option passes through', async () => {
  const r = await loadConfigFile(FIXTURES + 'phone.conf', { interfaceName: 'wgx' });
  assert.ok(r.ok);
  assert.equal(r.config.interfaceName, 'wgx');
});
