/**
 * serializeConfig round trips through parseConfig, and agrees with the real
 * wg-quick(8) on which keys are wg-quick-only (`wg-quick strip`).
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatIssue, parseConfig, serializeConfig, type WgConfig } from '../../src/config/index.js';
import { fixture, haveWgQuick, KEYS, WG_QUICK } from './helpers.js';
import { skipUnlessPresent } from '../harness/interop.js';

function mustParse(name: string, text: string): WgConfig {
  const r = parseConfig(name, text);
  if (!r.ok) assert.fail(r.errors.map(formatIssue).join('\n'));
  return r.config;
}

/** The config without source positions (line numbers differ after re-serializing). */
function content(c: WgConfig) {
  const { line: _l, ...iface } = c.iface;
  return {
    interfaceName: c.interfaceName,
    iface,
    peers: c.peers.map(({ line: _p, ...p }) => p),
    warningKeys: c.warnings.map((w) => w.key).sort(),
    extensions: c.extensions,
  };
}

/** Every key in use, several values each where allowed. */
const EVERYTHING = [
  '[Interface]',
  `PrivateKey = ${KEYS.serverPriv}`,
  'ListenPort = 51820',
  'FwMark = 0xca6c',
  'Address = 10.0.0.1/24, fd00::1/64',
  'Address = 192.0.2.5',
  'MTU = 1380',
  'DNS = 10.0.0.53, fd00::53, corp.example, lan',
  'Table = 51820',
  'PreUp = echo pre-up',
  'PostUp = echo up 1',
  'PostUp = echo up 2',
  'PreDown = echo pre-down',
  'PostDown = echo down',
  'SaveConfig = true',
  '[Peer]',
  `PublicKey = ${KEYS.laptopPub}`,
  `PresharedKey = ${KEYS.psk1}`,
  'AllowedIPs = 10.0.0.2/32, fd00::2/128',
  'Endpoint = [2001:db8::7]:4500',
  'PersistentKeepalive = 15',
  '[Peer]',
  `PublicKey = ${KEYS.phonePub}`,
  'Endpoint = peer.example.net:51820',
  '[Peer]',
  `PublicKey = ${KEYS.routerPub}`,
  'AllowedIPs = 192.168.0.0/16',
  'Endpoint = 198.51.100.1:1',
].join('\n');

const inputs: [string, string][] = [
  ['wg0.conf', fixture('wg0.conf')],
  ['phone.conf', fixture('phone.conf')],
  ['win0.conf', fixture('win0.conf')],
  ['all.conf', EVERYTHING],
  ['table.conf', `[Interface]\nPrivateKey = ${KEYS.cliPriv}\nTable = main\nFwMark = off\n`],
];

for (const [name, text] of inputs) {
  test(`round trip: ${name}`, () => {
    const a = mustParse(name, text);
    const out = serializeConfig(a);
    const b = mustParse(name, out);
    assert.deepEqual(content(b), content(a));
    // Serializing is a fixed point after one pass.
    assert.equal(serializeConfig(b), out);
  });
}

test('serialized form is wg-quick syntax with keys in base64', () => {
  const c = mustParse('all.conf', EVERYTHING);
  assert.equal(
    serializeConfig(c),
    [
      '[Interface]',
      `PrivateKey = ${KEYS.serverPriv}`,
      'ListenPort = 51820',
      'FwMark = 0xca6c',
      'Address = 10.0.0.1/24, fd00::1/64, 192.0.2.5/32',
      'MTU = 1380',
      'DNS = 10.0.0.53, fd00::53, corp.example, lan',
      'Table = 51820',
      'PreUp = echo pre-up',
      'PostUp = echo up 1',
      'PostUp = echo up 2',
      'PreDown = echo pre-down',
      'PostDown = echo down',
      'SaveConfig = true',
      '',
      '[Peer]',
      `PublicKey = ${KEYS.laptopPub}`,
      `PresharedKey = ${KEYS.psk1}`,
      'AllowedIPs = 10.0.0.2/32, fd00::2/128',
      'Endpoint = [2001:db8::7]:4500',
      'PersistentKeepalive = 15',
      '',
      '[Peer]',
      `PublicKey = ${KEYS.phonePub}`,
      'Endpoint = peer.example.net:51820',
      '',
      '[Peer]',
      `PublicKey = ${KEYS.routerPub}`,
      'AllowedIPs = 192.168.0.0/16',
      'Endpoint = 198.51.100.1:1',
      '',
    ].join('\n'),
  );
});

test('redactSecrets hides private and preshared keys, keeps public ones', () => {
  const out = serializeConfig(mustParse('wg0.conf', fixture('wg0.conf')), { redactSecrets: true });
  for (const s of [KEYS.serverPriv, KEYS.psk1, KEYS.psk2]) assert.ok(!out.includes(s));
  assert.ok(out.includes('PrivateKey = <redacted>'));
  assert.ok(out.includes(`PublicKey = ${KEYS.laptopPub}`));
});

/** Run the system's `wg-quick strip` on a text (written as NAME.conf in a private temp dir). */
function wgQuickStrip(name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'wgts-config-'));
  try {
    const file = join(dir, name);
    writeFileSync(file, text);
    chmodSync(file, 0o600);
    const r = spawnSync(WG_QUICK, ['strip', file], { encoding: 'utf8' });
    assert.equal(r.status, 0, `wg-quick strip failed: ${r.stderr}`);
    return r.stdout;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The wg(8) part of a config: what `wg setconf` would receive. */
function wgPart(c: WgConfig) {
  const i = c.iface;
  return {
    privateKey: i.privateKey,
    listenPort: i.listenPort,
    fwMark: i.fwMark,
    peers: c.peers.map(({ line: _l, ...p }) => p),
  };
}

const skipStrip = skipUnlessPresent(!haveWgQuick && 'needs wg-quick and root');

for (const [name, text] of inputs) {
  test(`wg-quick strip keeps exactly our wg(8) keys: ${name}`, { skip: skipStrip }, () => {
    const full = mustParse(name, text);
    const stripped = mustParse(name, wgQuickStrip(name, text));
    assert.deepEqual(wgPart(stripped), wgPart(full));
    // Nothing wg-quick-only survives strip, so the stripped file has no wg-quick fields set.
    const si = stripped.iface;
    assert.deepEqual([si.addresses, si.dns, si.mtu, si.table, si.saveConfig], [[], { servers: [], search: [] }, undefined, undefined, undefined]);
    assert.deepEqual([si.preUp, si.postUp, si.preDown, si.postDown], [[], [], [], []]);
    // Our serialized form is accepted by wg-quick and strips to the same wg(8) config.
    const again = mustParse(name, wgQuickStrip(name, serializeConfig(full)));
    assert.deepEqual(wgPart(again), wgPart(full));
  });
}

test('wg-quick strip removes the keys we treat as wg-quick-only', { skip: skipStrip }, () => {
  const kept = wgQuickStrip('all.conf', EVERYTHING)
    .split('\n')
    .map((l) => l.split('=')[0]!.trim())
    .filter((k) => k !== '' && !k.startsWith('['));
  assert.deepEqual(
    [...new Set(kept)].sort(),
    ['AllowedIPs', 'Endpoint', 'FwMark', 'ListenPort', 'PersistentKeepalive', 'PresharedKey', 'PrivateKey', 'PublicKey'],
  );
});
