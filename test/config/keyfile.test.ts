/**
 * Keys kept out of the config (issue 9): [Interface] PrivateKeyFile and
 * PrivateKeyEnv, [Peer] PresharedKeyFile. loadConfigFile reads them; the
 * parser alone refuses them. Every accepted form, every refusal with its
 * exact `file:line:` message, and no key material in any message.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeKey, encodeKey } from '../../src/crypto/util.js';
import { clampPrivateKey } from '../../src/crypto/x25519.js';
import { formatIssue, parseConfig, type ParseResult, type SecretRef, type WgConfig } from '../../src/config/index.js';
import { loadConfigFile, MAX_KEY_FILE_BYTES, type LoadOptions } from '../../src/config/load.js';
import { haveWg, KEYS, wgPubkey } from './helpers.js';

const genkey = (): string => encodeKey(clampPrivateKey(randomBytes(32)));

function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'wgts-keyfile-'));
  return fn(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

/** Writes `dir/wg0.conf` (mode 0600 unless given) and returns its path. */
function writeConf(dir: string, lines: string[], mode = 0o600): string {
  const p = join(dir, 'wg0.conf');
  writeFileSync(p, lines.join('\n') + '\n');
  chmodSync(p, mode);
  return p;
}

function writeKey(path: string, text: string | Buffer, mode = 0o600): string {
  writeFileSync(path, text);
  chmodSync(path, mode);
  return path;
}

/** Every message of a result, formatted; asserts none holds any of `secrets` (nor a long piece of one). */
function messages(r: ParseResult, secrets: string[]): string[] {
  const all = (r.ok ? r.config.warnings : [...r.errors, ...r.warnings]).map(formatIssue);
  for (const m of all) {
    for (const s of secrets) {
      assert.ok(!m.includes(s), `secret in: ${m}`);
      assert.ok(!m.includes(s.slice(0, 16)), `part of a secret in: ${m}`);
    }
  }
  return all;
}

function mustLoad(r: ParseResult): WgConfig {
  if (!r.ok) assert.fail(r.errors.map(formatIssue).join('\n'));
  return r.config;
}

async function loadErrors(path: string, secrets: string[], opts: LoadOptions = {}): Promise<string[]> {
  const r = await loadConfigFile(path, opts);
  messages(r, secrets);
  assert.equal(r.ok, false, 'expected the file to be refused');
  return r.ok ? [] : r.errors.map(formatIssue);
}

const PEER = ['[Peer]', `PublicKey = ${KEYS.laptopPub}`, 'AllowedIPs = 10.0.0.2/32'];

// ---------------------------------------------------------------- accepted

test('PrivateKeyFile: an absolute path to a `wg genkey > FILE` file gives the same keys as PrivateKey', async () => {
  await withDir(async (dir) => {
    const priv = genkey();
    const keyPath = writeKey(join(dir, 'private.key'), priv + '\n');
    const cfg = mustLoad(await loadConfigFile(writeConf(dir, ['[Interface]', `PrivateKeyFile = ${keyPath}`, 'ListenPort = 51820', ...PEER])));
    const inline = mustLoad(parseConfig('wg0.conf', ['[Interface]', `PrivateKey = ${priv}`, 'ListenPort = 51820', ...PEER].join('\n')));
    assert.deepEqual(cfg.iface.privateKey, decodeKey(priv));
    assert.deepEqual(cfg.iface.publicKey, inline.iface.publicKey);
    if (haveWg) assert.equal(encodeKey(cfg.iface.publicKey), wgPubkey(priv));
    assert.equal(cfg.iface.listenPort, 51820);
    assert.deepEqual(cfg.warnings, []);
  });
});

test('PrivateKeyFile: a relative path is relative to the config file, not the working directory', async () => {
  await withDir(async (dir) => {
    const priv = genkey();
    mkdirSync(join(dir, 'keys'));
    // Trailing whitespace of any kind is allowed after the key, as wg(8) allows it.
    writeKey(join(dir, 'keys', 'wg0.key'), `${priv} \t\r\n\n`);
    assert.notEqual(process.cwd(), dir);
    const cfg = mustLoad(await loadConfigFile(writeConf(dir, ['[Interface]', 'PrivateKeyFile = keys/wg0.key'])));
    assert.equal(encodeKey(cfg.iface.privateKey), priv);
    // The same with "./" and with no trailing newline at all.
    writeKey(join(dir, 'keys', 'wg0.key'), priv);
    const again = mustLoad(await loadConfigFile(writeConf(dir, ['[Interface]', 'privatekeyfile = ./keys/wg0.key'])));
    assert.equal(encodeKey(again.iface.privateKey), priv);
  });
});

test('PrivateKeyEnv: the key comes from the given environment, or process.env by default', async () => {
  await withDir(async (dir) => {
    const priv = genkey();
    const p = writeConf(dir, ['[Interface]', 'PrivateKeyEnv = WGTS_TEST_KEY', ...PEER]);
    const cfg = mustLoad(await loadConfigFile(p, { env: { WGTS_TEST_KEY: `${priv}\n` } }));
    assert.equal(encodeKey(cfg.iface.privateKey), priv);
    if (haveWg) assert.equal(encodeKey(cfg.iface.publicKey), wgPubkey(priv));
    // An injected env is the only one consulted.
    process.env['WGTS_TEST_KEY'] = priv;
    try {
      const fromProcess = mustLoad(await loadConfigFile(p));
      assert.equal(encodeKey(fromProcess.iface.privateKey), priv);
      assert.deepEqual(await loadErrors(p, [priv], { env: {} }), [`${p}:2: PrivateKeyEnv = WGTS_TEST_KEY: environment variable WGTS_TEST_KEY is not set`]);
    } finally {
      delete process.env['WGTS_TEST_KEY'];
    }
  });
});

test('PresharedKeyFile: read like a private key file, per peer', async () => {
  await withDir(async (dir) => {
    const psk = encodeKey(randomBytes(32));
    writeKey(join(dir, 'laptop.psk'), psk + '\n');
    const p = writeConf(dir, [
      '[Interface]',
      `PrivateKey = ${KEYS.serverPriv}`,
      ...PEER,
      'PresharedKeyFile = laptop.psk',
      '[Peer]',
      `PublicKey = ${KEYS.phonePub}`,
      `PresharedKey = ${KEYS.psk1}`,
    ]);
    const cfg = mustLoad(await loadConfigFile(p));
    assert.equal(encodeKey(cfg.peers[0]!.presharedKey!), psk);
    assert.equal(encodeKey(cfg.peers[1]!.presharedKey!), KEYS.psk1);
  });
});

test('several keys from files and the environment in one config', async () => {
  await withDir(async (dir) => {
    const priv = genkey();
    const psk = encodeKey(randomBytes(32));
    writeKey(join(dir, 'shared.psk'), psk + '\n');
    const p = writeConf(dir, [
      '[Interface]',
      'PrivateKeyEnv = WG_PRIVATE',
      ...PEER,
      'PresharedKeyFile = shared.psk',
      '[Peer]',
      `PublicKey = ${KEYS.phonePub}`,
      `PresharedKeyFile = ${join(dir, 'shared.psk')}`,
    ]);
    const cfg = mustLoad(await loadConfigFile(p, { env: { WG_PRIVATE: priv } }));
    assert.equal(encodeKey(cfg.iface.privateKey), priv);
    assert.deepEqual(cfg.peers.map((x) => encodeKey(x.presharedKey!)), [psk, psk]);
  });
});

test('the pure parser hands each reference to ParseOptions.secrets and uses what it answers', () => {
  const priv = genkey();
  const seen: SecretRef[] = [];
  const text = ['[Interface]', 'PrivateKeyFile = /etc/wireguard/wg0.key', ...PEER, 'PresharedKeyFile = psk'].join('\n');
  const r = parseConfig('wg0.conf', text, {
    secrets: (ref) => {
      seen.push(ref);
      return ref.kind === 'file' && ref.ref === 'psk' ? { ok: true, text: KEYS.psk2, where: 'the psk' } : { ok: true, text: priv, where: 'the key' };
    },
  });
  const cfg = mustLoad(r);
  assert.deepEqual(seen, [
    { key: 'PrivateKeyFile', kind: 'file', ref: '/etc/wireguard/wg0.key', line: 2 },
    { key: 'PresharedKeyFile', kind: 'file', ref: 'psk', line: 6 },
  ]);
  assert.equal(encodeKey(cfg.iface.privateKey), priv);
  assert.equal(encodeKey(cfg.peers[0]!.presharedKey!), KEYS.psk2);
});

// ---------------------------------------------------------------- warnings

test('a key file readable by group or others gets a warning with the chmod fix', async () => {
  await withDir(async (dir) => {
    const priv = genkey();
    const keyPath = writeKey(join(dir, 'wg0.key'), priv + '\n', 0o640);
    const psk = encodeKey(randomBytes(32));
    const pskPath = writeKey(join(dir, 'peer.psk'), psk + '\n', 0o604);
    const p = writeConf(dir, ['[Interface]', 'PrivateKeyFile = wg0.key', ...PEER, 'PresharedKeyFile = peer.psk']);
    const r = await loadConfigFile(p);
    assert.ok(r.ok);
    assert.deepEqual(messages(r, [priv, psk]), [
      `${p}:2: PrivateKeyFile = wg0.key: ${keyPath} is readable by group or others; it holds a private key (chmod 600 ${keyPath})`,
      `${p}:6: PresharedKeyFile = peer.psk: ${pskPath} is readable by group or others; it holds a preshared key (chmod 600 ${pskPath})`,
    ]);
    assert.deepEqual(r.config.warnings.map((w) => w.key), ['PrivateKeyFile', 'PresharedKeyFile']);
    // 0600 and 0400 (and owner-only execute or write bits) are quiet.
    for (const mode of [0o600, 0o400, 0o700]) {
      chmodSync(keyPath, mode);
      chmodSync(pskPath, mode);
      const q = await loadConfigFile(p);
      assert.ok(q.ok);
      assert.deepEqual(q.config.warnings, [], `mode ${mode.toString(8)}`);
    }
  });
});

test('a world-readable config warns only when it holds a key inline', async () => {
  await withDir(async (dir) => {
    writeKey(join(dir, 'wg0.key'), genkey() + '\n');
    const named = await loadConfigFile(writeConf(dir, ['[Interface]', 'PrivateKeyFile = wg0.key', ...PEER], 0o644));
    assert.ok(named.ok);
    assert.deepEqual(named.config.warnings, []);
    const p = writeConf(dir, ['[Interface]', 'PrivateKeyFile = wg0.key', ...PEER, `PresharedKey = ${KEYS.psk1}`], 0o644);
    const psk = await loadConfigFile(p);
    assert.ok(psk.ok);
    assert.deepEqual(messages(psk, [KEYS.psk1]), [`${p}: file is world accessible; it contains a preshared key (chmod 600)`]);
    const q = writeConf(dir, ['[Interface]', `PrivateKey = ${KEYS.serverPriv}`, ...PEER], 0o604);
    const inline = await loadConfigFile(q);
    assert.ok(inline.ok);
    assert.deepEqual(messages(inline, [KEYS.serverPriv]), [`${q}: file is world accessible; it contains a private key (chmod 600)`]);
  });
});

// ---------------------------------------------------------------- refused

test('refused: a key file that is missing, a directory, a FIFO or too big names the path and the reason', async () => {
  await withDir(async (dir) => {
    const p = writeConf(dir, ['[Interface]', 'PrivateKeyFile = missing.key', ...PEER]);
    assert.deepEqual(await loadErrors(p, []), [`${p}:2: PrivateKeyFile = missing.key: ${join(dir, 'missing.key')}: cannot open: ENOENT`]);

    mkdirSync(join(dir, 'keys'));
    const d = writeConf(dir, ['[Interface]', 'PrivateKeyFile = keys', ...PEER]);
    assert.deepEqual(await loadErrors(d, []), [`${d}:2: PrivateKeyFile = keys: ${join(dir, 'keys')}: not a regular file`]);

    const fifo = join(dir, 'fifo.key');
    const mk = spawnSync('mkfifo', [fifo]);
    if (mk.status === 0) {
      // Must not block waiting for a writer.
      const f = writeConf(dir, ['[Interface]', `PrivateKeyFile = ${fifo}`, ...PEER]);
      assert.deepEqual(await loadErrors(f, []), [`${f}:2: PrivateKeyFile = ${fifo}: ${fifo}: not a regular file`]);
    }

    const priv = genkey();
    writeKey(join(dir, 'big.key'), priv + '\n' + ' '.repeat(MAX_KEY_FILE_BYTES));
    const b = writeConf(dir, ['[Interface]', 'PrivateKeyFile = big.key', ...PEER]);
    assert.deepEqual(await loadErrors(b, [priv]), [
      `${b}:2: PrivateKeyFile = big.key: ${join(dir, 'big.key')}: larger than 4096 bytes; a key file holds one base64 key`,
    ]);
    // Exactly the limit is read.
    writeKey(join(dir, 'big.key'), priv + ' '.repeat(MAX_KEY_FILE_BYTES - priv.length));
    assert.equal(encodeKey(mustLoad(await loadConfigFile(b)).iface.privateKey), priv);
  });
});

/**
 * loadConfigFile's messages for `path` as uid/gid 65534, in a child process:
 * root reads any file, so as root (CI) the unreadable-file path runs there.
 */
function loadErrorsAsNobody(path: string): string[] {
  const url = (rel: string): string => JSON.stringify(new URL(rel, import.meta.url).href);
  const script =
    `const { loadConfigFile } = await import(${url('../../src/config/load.js')});` +
    `const { formatIssue } = await import(${url('../../src/config/index.js')});` +
    `const r = await loadConfigFile(${JSON.stringify(path)});` +
    `console.log(JSON.stringify(r.ok ? r.config.warnings.map(formatIssue) : [...r.errors, ...r.warnings].map(formatIssue)));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { uid: NOBODY, gid: NOBODY, encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as string[];
}

const NOBODY = 65534;

test('refused: an unreadable key file gives EACCES (as uid 65534 when run as root)', async () => {
  await withDir(async (dir) => {
    const key = writeKey(join(dir, 'locked.key'), genkey() + '\n', 0o000);
    const p = writeConf(dir, ['[Interface]', 'PrivateKeyFile = locked.key']);
    const want = [`${p}:2: PrivateKeyFile = locked.key: ${key}: cannot open: EACCES`];
    if (process.getuid?.() !== 0) {
      assert.deepEqual(await loadErrors(p, []), want);
      return;
    }
    // The child owns the directory and the config; the key file stays mode 0000.
    for (const f of [dir, p, key]) chownSync(f, NOBODY, NOBODY);
    assert.deepEqual(loadErrorsAsNobody(p), want);
  });
});

test('refused: a key file without a valid key; its contents never appear', async () => {
  await withDir(async (dir) => {
    const priv = genkey();
    const key = join(dir, 'bad.key');
    const p = writeConf(dir, ['[Interface]', 'PrivateKeyFile = bad.key', ...PEER]);
    const valid = 'it must be 44 characters of base64 ending in "=", as `wg genkey` writes';
    // The last of 43 base64 characters carries 4 bits and 2 zero bits: B and F set a zero bit.
    const nonCanonical = priv.slice(0, 42) + (priv[42] === 'B' ? 'F' : 'B') + '=';
    const cases: [string | Buffer, string][] = [
      [priv + 'x\n', ' (found 45 characters)'], // a bad length
      [priv.slice(0, 43) + '\n', ' (found 43 characters)'], // cut short
      [nonCanonical + '\n', ''], // 44 characters, but not a key encoding
      [`${priv}\n${genkey()}\n`, ' (found 89 characters)'], // two keys
      [` ${priv}\n`, ' (found 45 characters)'], // leading whitespace
      ['', ' (found 0 characters)'], // empty
      ['\n\n', ' (found 0 characters)'],
      [`PrivateKey = ${priv}\n`, ' (found 57 characters)'], // a config line, not a key file
      [Buffer.alloc(32, 0x80), ' (found 32 characters)'], // binary: each byte decodes to U+FFFD
    ];
    for (const [content, found] of cases) {
      writeKey(key, content);
      const text = content.toString();
      const secrets = [priv, nonCanonical, ...text.split(/\s+/).filter((s) => s.length >= 16)];
      assert.deepEqual(await loadErrors(p, secrets), [`${p}:2: PrivateKeyFile = bad.key: ${key} does not hold a valid key: ${valid}${found}`], JSON.stringify(text));
    }
  });
});

test('refused: an all-zero key from a file or the environment', async () => {
  await withDir(async (dir) => {
    const zero = 'A'.repeat(43) + '=';
    writeKey(join(dir, 'zero.key'), zero + '\n');
    const p = writeConf(dir, ['[Interface]', 'PrivateKeyFile = zero.key']);
    assert.deepEqual(await loadErrors(p, []), [`${p}:2: PrivateKeyFile: the key must not be all zeros`]);
    const e = writeConf(dir, ['[Interface]', 'PrivateKeyEnv = K']);
    assert.deepEqual(await loadErrors(e, [], { env: { K: zero } }), [`${e}:2: PrivateKeyEnv: the key must not be all zeros`]);
  });
});

test('refused: PrivateKeyEnv unset, empty or not a key; the value never appears', async () => {
  await withDir(async (dir) => {
    const priv = genkey();
    const p = writeConf(dir, ['[Interface]', 'PrivateKeyEnv = WG_KEY', ...PEER]);
    assert.deepEqual(await loadErrors(p, [], { env: { OTHER: priv } }), [`${p}:2: PrivateKeyEnv = WG_KEY: environment variable WG_KEY is not set`]);
    assert.deepEqual(await loadErrors(p, [], { env: { WG_KEY: '' } }), [`${p}:2: PrivateKeyEnv = WG_KEY: environment variable WG_KEY is empty`]);
    const bad = priv.slice(1); // a paste that lost its first character
    assert.deepEqual(await loadErrors(p, [priv, bad], { env: { WG_KEY: bad } }), [
      `${p}:2: PrivateKeyEnv = WG_KEY: environment variable WG_KEY does not hold a valid key: it must be 44 characters of base64 ending in "=", as \`wg genkey\` writes (found 43 characters)`,
    ]);
    // The variable name is case-sensitive, as the environment is.
    assert.deepEqual(await loadErrors(p, [priv], { env: { wg_key: priv } }), [`${p}:2: PrivateKeyEnv = WG_KEY: environment variable WG_KEY is not set`]);
  });
});

test('refused: a key pasted where a file name or a variable name belongs is not echoed', async () => {
  await withDir(async (dir) => {
    const priv = genkey();
    const psk = encodeKey(randomBytes(32));
    const p = writeConf(dir, ['[Interface]', `PrivateKeyFile = ${priv}`, ...PEER, `PresharedKeyFile = ${psk}`]);
    assert.deepEqual(await loadErrors(p, [priv, psk]), [
      `${p}:2: PrivateKeyFile: the value is a key, not a file name; write it as PrivateKey = ... or put it in a file`,
      `${p}:6: PresharedKeyFile: the value is a key, not a file name; write it as PresharedKey = ... or put it in a file`,
    ]);
    const e = writeConf(dir, ['[Interface]', `PrivateKeyEnv = ${priv}`]);
    assert.deepEqual(await loadErrors(e, [priv]), [
      `${e}:2: PrivateKeyEnv: the value is a key, not a variable name; write it as PrivateKey = ... or put it in the environment`,
    ]);
  });
});

const NOT_LOADED = (what: string, inline: string) => `${what} read only when the config is loaded from its file (wgts up); here give the key as ${inline}`;

/** parseConfig-only refusals (no file IO needed): [text lines, expected messages]. */
const pure: [string, string[], string[]][] = [
  ['PrivateKeyFile empty', ['[Interface]', 'PrivateKeyFile ='], ['wg0.conf:2: PrivateKeyFile: must be the path of a file holding the key (e.g. written by `wg genkey > FILE`)']],
  [
    'PrivateKeyEnv not a name',
    ['[Interface]', 'PrivateKeyEnv = 1WG-KEY'],
    ['wg0.conf:2: PrivateKeyEnv: must be the name of an environment variable (letters, digits and _, not starting with a digit)'],
  ],
  ['PrivateKeyEnv $NAME', ['[Interface]', 'PrivateKeyEnv = $WG_KEY'], ['wg0.conf:2: PrivateKeyEnv: must be the name of an environment variable (letters, digits and _, not starting with a digit)']],
  [
    'PrivateKey and PrivateKeyFile',
    ['[Interface]', `PrivateKey = ${KEYS.serverPriv}`, 'PrivateKeyFile = /k'],
    [
      `wg0.conf:3: PrivateKeyFile = /k: ${NOT_LOADED('key files are', 'PrivateKey')}`,
      'wg0.conf:3: PrivateKeyFile gives the private key again (PrivateKey at line 2); keep exactly one of PrivateKey, PrivateKeyFile, PrivateKeyEnv',
    ],
  ],
  [
    'all three, in any order',
    ['[Interface]', 'PrivateKeyEnv = A', `PrivateKey = ${KEYS.serverPriv}`, 'PrivateKeyFile = /k'],
    [
      `wg0.conf:2: PrivateKeyEnv = A: ${NOT_LOADED('environment variables are', 'PrivateKey')}`,
      `wg0.conf:4: PrivateKeyFile = /k: ${NOT_LOADED('key files are', 'PrivateKey')}`,
      'wg0.conf:3: PrivateKey gives the private key again (PrivateKeyEnv at line 2); keep exactly one of PrivateKey, PrivateKeyFile, PrivateKeyEnv',
      'wg0.conf:4: PrivateKeyFile gives the private key again (PrivateKeyEnv at line 2); keep exactly one of PrivateKey, PrivateKeyFile, PrivateKeyEnv',
    ],
  ],
  [
    'PresharedKey and PresharedKeyFile',
    ['[Interface]', `PrivateKey = ${KEYS.serverPriv}`, '[Peer]', `PublicKey = ${KEYS.laptopPub}`, 'PresharedKeyFile = p', `PresharedKey = ${KEYS.psk1}`],
    [
      `wg0.conf:5: PresharedKeyFile = p: ${NOT_LOADED('key files are', 'PresharedKey')}`,
      'wg0.conf:6: PresharedKey gives the preshared key again (PresharedKeyFile at line 5); keep exactly one of PresharedKey, PresharedKeyFile',
    ],
  ],
  // Line errors come first, then what the references gave, then the section checks.
  ['PrivateKeyFile twice', ['[Interface]', 'PrivateKeyFile = /a', 'PrivateKeyFile = /b'], [
    'wg0.conf:3: PrivateKeyFile is given again (first at line 2); it may appear only once',
    `wg0.conf:2: PrivateKeyFile = /a: ${NOT_LOADED('key files are', 'PrivateKey')}`,
  ]],
  [
    'PresharedKeyFile in [Interface]',
    ['[Interface]', `PrivateKey = ${KEYS.serverPriv}`, 'PresharedKeyFile = /p'],
    ['wg0.conf:3: PresharedKeyFile belongs in [Peer], not in [Interface]'],
  ],
  [
    'PrivateKeyFile in [Peer]',
    ['[Interface]', `PrivateKey = ${KEYS.serverPriv}`, '[Peer]', `PublicKey = ${KEYS.laptopPub}`, 'PrivateKeyFile = /p'],
    ['wg0.conf:5: PrivateKeyFile belongs in [Interface], not in [Peer]'],
  ],
  ['misspelt', ['[Interface]', 'PrivateKeyFiel = /p'], [
    'wg0.conf:2: unknown key "PrivateKeyFiel" in [Interface] (did you mean PrivateKeyFile?)',
    'wg0.conf:1: [Interface] has no PrivateKey (required; generate one with `wg genkey`, or name a key file with PrivateKeyFile or a variable with PrivateKeyEnv)',
  ]],
];

for (const [name, lines, want] of pure) {
  test(`refused: ${name}`, () => {
    const r = parseConfig('wg0.conf', lines.join('\n'));
    messages(r, [KEYS.serverPriv, KEYS.psk1]);
    assert.equal(r.ok, false);
    if (!r.ok) assert.deepEqual(r.errors.map(formatIssue), want);
  });
}

test('refused: parseConfig alone cannot read key files or variables', () => {
  const r = parseConfig('wg0.conf', ['[Interface]', 'PrivateKeyFile = /etc/wireguard/wg0.key', ...PEER, 'PresharedKeyFile = psk', '[Peer]', `PublicKey = ${KEYS.phonePub}`].join('\n'));
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.deepEqual(r.errors.map(formatIssue), [
    'wg0.conf:2: PrivateKeyFile = /etc/wireguard/wg0.key: key files are read only when the config is loaded from its file (wgts up); here give the key as PrivateKey',
    'wg0.conf:6: PresharedKeyFile = psk: key files are read only when the config is loaded from its file (wgts up); here give the key as PresharedKey',
  ]);
  const e = parseConfig('wg0.conf', '[Interface]\nPrivateKeyEnv = WG_KEY\n');
  assert.equal(e.ok, false);
  if (!e.ok) {
    assert.deepEqual(e.errors.map(formatIssue), [
      'wg0.conf:2: PrivateKeyEnv = WG_KEY: environment variables are read only when the config is loaded from its file (wgts up); here give the key as PrivateKey',
    ]);
  }
});

test('refused: every failure in one pass, and nothing is loaded', async () => {
  await withDir(async (dir) => {
    const priv = genkey();
    const psk = encodeKey(randomBytes(32));
    writeKey(join(dir, 'ok.key'), priv + '\n');
    writeKey(join(dir, 'short.psk'), psk.slice(0, 30) + '\n');
    const p = writeConf(dir, [
      '[Interface]',
      'PrivateKeyFile = ok.key', // 2: fine
      'ListenPort = 70000', // 3
      '[Peer]',
      `PublicKey = ${KEYS.laptopPub}`,
      'PresharedKeyFile = short.psk', // 6
      '[Peer]',
      `PublicKey = ${KEYS.phonePub}`,
      'PresharedKeyFile = gone.psk', // 9
    ]);
    assert.deepEqual(await loadErrors(p, [priv, psk]), [
      `${p}:3: ListenPort = 70000: must be an integer 0-65535`,
      `${p}:6: PresharedKeyFile = short.psk: ${join(dir, 'short.psk')} does not hold a valid key: it must be 44 characters of base64 ending in "=", as \`wg genkey\` writes (found 30 characters)`,
      `${p}:9: PresharedKeyFile = gone.psk: ${join(dir, 'gone.psk')}: cannot open: ENOENT`,
    ]);
  });
});
