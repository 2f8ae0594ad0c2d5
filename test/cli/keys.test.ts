/**
 * `wgts genkey|genpsk|pubkey` against wg(8): spawns dist/src/cli/main.js and
 * /usr/bin/wg on the same inputs and compares exit codes and output.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { genkey, genpsk, pubkey, KEY_FORMAT_ERROR, TRAILING_ERROR } from '../../src/cli/keys.js';
import { skipUnlessPresent } from '../harness/interop.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const WG = ['/usr/bin/wg', '/usr/local/bin/wg'].find((p) => existsSync(p));
const noWg = skipUnlessPresent(!WG && 'wg (wireguard-tools) is not installed');

interface Run { status: number | null; stdout: string; stderr: string }

function wgts(args: string[], input?: Uint8Array | string): Run {
  const r = spawnSync(process.execPath, [MAIN, ...args], { input: input ?? '', encoding: 'latin1', timeout: 20_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function wg(args: string[], input?: Uint8Array | string): Run {
  const r = spawnSync(WG!, args, { input: input ?? '', encoding: 'latin1', timeout: 20_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const KEY_LINE = /^[A-Za-z0-9+/]{43}=\n$/;

test('genkey/genpsk print 44 base64 chars and a newline, like wg', { skip: noWg }, () => {
  for (const cmd of ['genkey', 'genpsk']) {
    const a = wgts([cmd]);
    const b = wg([cmd]);
    assert.equal(a.status, 0);
    assert.equal(b.status, 0);
    assert.match(a.stdout, KEY_LINE);
    assert.match(b.stdout, KEY_LINE);
    assert.equal(a.stdout.length, 45);
    assert.notEqual(wgts([cmd]).stdout, a.stdout, 'fresh randomness each run');
  }
});

test('wg pubkey of `wgts genkey` equals `wgts pubkey`, and vice versa', { skip: noWg }, () => {
  for (let i = 0; i < 8; i++) {
    const ours = wgts(['genkey']).stdout;
    const theirs = wg(['genkey']).stdout;
    const psk = wgts(['genpsk']).stdout; // unclamped: both sides clamp inside X25519
    for (const key of [ours, theirs, psk]) {
      const a = wgts(['pubkey'], key);
      const b = wg(['pubkey'], key);
      assert.equal(a.status, 0, a.stderr);
      assert.equal(b.status, 0);
      assert.match(a.stdout, KEY_LINE);
      assert.equal(a.stdout, b.stdout);
    }
  }
});

test('keys.pubkey agrees with wg pubkey on many keys (pure function, wg spawned)', { skip: noWg }, () => {
  let seed = 1;
  const rand = (n: number): Uint8Array => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      out[i] = seed >>> 24;
    }
    return out;
  };
  for (let i = 0; i < 100; i++) {
    const key = i % 2 ? genkey(rand) : genpsk(rand);
    const r = pubkey(new TextEncoder().encode(key));
    assert.ok(r.ok);
    assert.equal(r.line, wg(['pubkey'], key).stdout, `key #${i}`);
  }
});

test('genkey clamps, genpsk does not (as wg)', () => {
  const ones = (n: number) => new Uint8Array(n).fill(0xff);
  const k = Buffer.from(genkey(ones).trim(), 'base64');
  assert.equal(k[0], 0xf8);
  assert.equal(k[31], 0x7f);
  const p = Buffer.from(genpsk(ones).trim(), 'base64');
  assert.ok(p.every((b) => b === 0xff));
  const zero = Buffer.from(genkey((n) => new Uint8Array(n)).trim(), 'base64');
  assert.equal(zero[31], 0x40);
  assert.throws(() => genkey(() => new Uint8Array(31)));
  // the real command clamps too
  for (let i = 0; i < 5; i++) {
    const g = Buffer.from(wgts(['genkey']).stdout.trim(), 'base64');
    assert.equal(g[0]! & 7, 0);
    assert.equal(g[31]! & 0xc0, 0x40);
  }
});

const GOOD = 'YPbOmkXnpnoBE0Kxlo5ZW5E8zjyDHvpqABnRrUmhB1c=';
const GOOD_WITH_SLASH_PLUS = '+/b4SrjCRL87Wm6vGXcz5LKW09M3JbCOlQDuqi7VXnQ=';

/** Inputs and what wg does with them (checked against wg in the next test). */
const CASES: Array<{ name: string; input: string; ok: boolean; error?: string }> = [
  { name: 'with newline', input: GOOD + '\n', ok: true },
  { name: 'without newline', input: GOOD, ok: true },
  { name: 'base64 + and /', input: GOOD_WITH_SLASH_PLUS + '\n', ok: true },
  { name: 'blank lines after', input: GOOD + '\n\n\n', ok: true },
  { name: 'CRLF', input: GOOD + '\r\n', ok: true },
  { name: 'all whitespace kinds after', input: GOOD + ' \t\v\f\r\n ', ok: true },
  { name: 'NUL bytes after', input: GOOD + '\0\0\n', ok: true },
  { name: 'leading space', input: ' ' + GOOD + '\n', ok: false, error: TRAILING_ERROR },
  { name: 'leading newline', input: '\n' + GOOD, ok: false, error: TRAILING_ERROR },
  { name: 'empty', input: '', ok: false, error: KEY_FORMAT_ERROR },
  { name: 'just a newline', input: '\n', ok: false, error: KEY_FORMAT_ERROR },
  { name: 'one char short', input: GOOD.slice(0, 43), ok: false, error: KEY_FORMAT_ERROR },
  { name: 'one char short, newline', input: GOOD.slice(0, 43) + '\n', ok: false, error: KEY_FORMAT_ERROR },
  { name: 'one char long', input: GOOD + 'A\n', ok: false, error: TRAILING_ERROR },
  { name: 'second line', input: GOOD + '\nfoo\n', ok: false, error: TRAILING_ERROR },
  { name: 'two keys', input: GOOD + '\n' + GOOD + '\n', ok: false, error: TRAILING_ERROR },
  { name: 'bad character', input: GOOD.slice(0, 10) + '*' + GOOD.slice(11) + '\n', ok: false, error: KEY_FORMAT_ERROR },
  { name: 'base64url alphabet', input: GOOD_WITH_SLASH_PLUS.replace('+', '-').replace('/', '_') + '\n', ok: false, error: KEY_FORMAT_ERROR },
  { name: 'no padding', input: GOOD.slice(0, 43) + 'A\n', ok: false, error: KEY_FORMAT_ERROR },
  { name: 'non-zero pad bits', input: GOOD.slice(0, 42) + 'd=\n', ok: false, error: KEY_FORMAT_ERROR },
  { name: 'NUL inside the key', input: GOOD.slice(0, 20) + '\0' + GOOD.slice(21) + '\n', ok: false, error: KEY_FORMAT_ERROR },
  { name: 'non-ASCII byte', input: GOOD.slice(0, 20) + '\xe9' + GOOD.slice(21) + '\n', ok: false, error: KEY_FORMAT_ERROR },
  { name: 'hex key', input: '60f6ce9a45e7a67a011342b1968e595b913cce3c831efa6a0019d1ad49a10757\n', ok: false, error: TRAILING_ERROR },
];

test('pubkey input edge cases: same exit code and output as wg pubkey', { skip: noWg }, () => {
  for (const c of CASES) {
    const input = Buffer.from(c.input, 'latin1');
    const a = wgts(['pubkey'], input);
    const b = wg(['pubkey'], input);
    assert.equal(b.status, c.ok ? 0 : 1, `wg on "${c.name}" (the case table is wrong)`);
    assert.equal(a.status, b.status, `exit code on "${c.name}": ${a.stderr}`);
    assert.equal(a.stdout, b.stdout, `stdout on "${c.name}"`);
    if (!c.ok) {
      assert.equal(a.stderr, `wgts: ${c.error}\n`, `message on "${c.name}"`);
      assert.ok(b.stderr.endsWith(`: ${c.error}\n`), `wg message on "${c.name}": ${b.stderr}`);
      assert.ok(!a.stderr.includes(GOOD.slice(0, 12)), 'error does not echo the key');
    }
  }
});

test('pubkey (pure) follows the same table', () => {
  for (const c of CASES) {
    const r = pubkey(Buffer.from(c.input, 'latin1'));
    assert.equal(r.ok, c.ok, c.name);
    if (!r.ok) assert.equal(r.error, c.error, c.name);
  }
});

test('pubkey on big inputs: megabytes of whitespace accepted, junk after the key stops early', () => {
  const spaces = Buffer.alloc(4 << 20, 0x20);
  const ok = wgts(['pubkey'], Buffer.concat([Buffer.from(GOOD + '\n'), spaces]));
  assert.equal(ok.status, 0);
  assert.match(ok.stdout, KEY_LINE);
  const bad = wgts(['pubkey'], Buffer.concat([Buffer.from(GOOD + '\nx'), spaces]));
  assert.equal(bad.status, 1);
  assert.equal(bad.stderr, `wgts: ${TRAILING_ERROR}\n`);
});

test('extra arguments are a usage error, as in wg', { skip: noWg }, () => {
  for (const cmd of ['genkey', 'genpsk', 'pubkey']) {
    const a = wgts([cmd, 'extra'], GOOD + '\n');
    const b = wg([cmd, 'extra'], GOOD + '\n');
    assert.equal(b.status, 1);
    assert.equal(a.status, 1);
    assert.equal(a.stdout, '');
    assert.equal(a.stderr, `Usage: wgts ${cmd}\n`);
  }
});

test('dispatcher: help, --help, no command, unknown command', () => {
  for (const args of [['help'], ['--help'], ['-h']]) {
    const r = wgts(args);
    assert.equal(r.status, 0, args.join(' '));
    assert.match(r.stdout, /^Usage: wgts <cmd>/);
    for (const c of ['genkey', 'genpsk', 'pubkey']) assert.match(r.stdout, new RegExp(`\\n  ${c}: `));
    assert.equal(r.stderr, '');
  }
  const none = wgts([]);
  assert.equal(none.status, 1);
  assert.equal(none.stdout, '');
  assert.match(none.stderr, /^Usage: wgts <cmd>/);
  const unknown = wgts(['frobnicate']);
  assert.equal(unknown.status, 1);
  assert.equal(unknown.stdout, '');
  assert.match(unknown.stderr, /^Invalid subcommand: `frobnicate'\nUsage: wgts <cmd>/);
  const keyLike = wgts([GOOD]);
  assert.equal(keyLike.status, 1);
  assert.ok(!keyLike.stderr.includes(GOOD), 'an unknown argument that could be a key is not echoed');
  const sub = wgts(['genkey', '--help']);
  assert.equal(sub.status, 0);
  assert.ok(sub.stdout.startsWith('Usage: wgts genkey\n'), sub.stdout);
  assert.match(sub.stdout, /Example:\n  wgts genkey \| tee privatekey \| wgts pubkey > publickey\n/);
});
