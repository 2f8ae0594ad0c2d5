/**
 * Every refusal: exact `file:line: message` text, all errors collected in
 * one pass, and no PrivateKey/PresharedKey value in any message.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { formatIssue, MAX_ERRORS, parseConfig, type ParseOptions } from '../../src/config/index.js';
import { KEYS } from './helpers.js';

/** The formatted errors for a text; fails if the text parses. */
function errors(text: string, file = 'wg0.conf', opts: ParseOptions = {}): string[] {
  const r = parseConfig(file, text, opts);
  assert.equal(r.ok, false, `expected errors for:\n${text}`);
  const out = r.ok ? [] : r.errors.map(formatIssue);
  for (const e of out) {
    for (const secret of [KEYS.serverPriv, KEYS.psk1, KEYS.psk2]) assert.ok(!e.includes(secret), `secret leaked: ${e}`);
  }
  return out;
}

const IFACE = `[Interface]\nPrivateKey = ${KEYS.serverPriv}`; // lines 1-2
const PEER = `[Peer]\nPublicKey = ${KEYS.laptopPub}`;

/** Interface lines 1-2, then `iface` lines from line 3, then a peer, then `peer` lines. */
function conf(iface: string[], peer: string[] = []): string {
  return [IFACE, ...iface, PEER, ...peer].join('\n');
}

const cases: [string, string, string[]][] = [
  ['port out of range', conf(['ListenPort = 70000']), ['wg0.conf:3: ListenPort = 70000: must be an integer 0-65535']],
  ['port not a number', conf(['ListenPort = http']), ['wg0.conf:3: ListenPort = http: must be an integer 0-65535']],
  ['port empty', conf(['ListenPort =']), ['wg0.conf:3: ListenPort = "": must be an integer 0-65535']],
  ['MTU too small', conf(['MTU = 10']), ['wg0.conf:3: MTU = 10: must be an integer 68-65535']],
  [
    'FwMark too big',
    conf(['FwMark = 0x1ffffffff']),
    ['wg0.conf:3: FwMark = 0x1ffffffff: must be "off", or a number 0-4294967295 (decimal or 0x hex)'],
  ],
  ['FwMark word', conf(['FwMark = on']), ['wg0.conf:3: FwMark = on: must be "off", or a number 0-4294967295 (decimal or 0x hex)']],
  ['Table junk', conf(['Table = my table']), ['wg0.conf:3: Table = my table: must be "off", "auto", a table number or a table name']],
  ['SaveConfig not a bool', conf(['SaveConfig = yes']), ['wg0.conf:3: SaveConfig = yes: must be "true" or "false"']],
  ['Address bad IPv4', conf(['Address = 10.0.0.1/24, 10.0.0.300/24']), ['wg0.conf:3: Address = 10.0.0.1/24, 10.0.0.300/24: 10.0.0.300/24: not a valid IPv4 address']],
  ['Address bad prefix', conf(['Address = 10.0.0.1/33']), ['wg0.conf:3: Address = 10.0.0.1/33: 10.0.0.1/33: prefix length must be an integer 0-32']],
  ['Address bad IPv6 prefix', conf(['Address = fd00::1/129']), ['wg0.conf:3: Address = fd00::1/129: fd00::1/129: prefix length must be an integer 0-128']],
  ['Address bad IPv6', conf(['Address = fd00:::1/64']), ['wg0.conf:3: Address = fd00:::1/64: fd00:::1/64: not a valid IPv6 address']],
  ['Address with zone', conf(['Address = fe80::1%eth0/64']), ['wg0.conf:3: Address = fe80::1%eth0/64: fe80::1%eth0/64: not a valid IPv6 address']],
  ['Address twice', conf(['Address = 10.0.0.1/24', 'Address = 10.0.0.1/24']), ['wg0.conf:4: Address 10.0.0.1/24 is listed twice (first at line 3)']],
  ['DNS bad IP', conf(['DNS = 1.1.1.300']), ['wg0.conf:3: DNS = 1.1.1.300: 1.1.1.300: not a valid IP address']],
  ['DNS bad domain', conf(['DNS = bad!domain']), ['wg0.conf:3: DNS = bad!domain: bad!domain: neither an IP address nor a search domain']],
  ['ListenPort twice', conf(['ListenPort = 1', 'ListenPort = 2']), ['wg0.conf:4: ListenPort is given again (first at line 3); it may appear only once']],
  ['PrivateKey twice', conf([`PrivateKey = ${KEYS.serverPriv}`]), ['wg0.conf:3: PrivateKey is given again (first at line 2); it may appear only once']],
  [
    'bad value then a second one',
    conf(['ListenPort = x', 'ListenPort = 1']),
    ['wg0.conf:3: ListenPort = x: must be an integer 0-65535', 'wg0.conf:4: ListenPort is given again (first at line 3); it may appear only once'],
  ],
  ['misspelt key', conf(['ListnPort = 1']), ['wg0.conf:3: unknown key "ListnPort" in [Interface] (did you mean ListenPort?)']],
  [
    'unknown key, nothing close',
    conf(['Colour = blue']),
    [
      'wg0.conf:3: unknown key "Colour" in [Interface] (valid keys: PrivateKey, PrivateKeyFile, PrivateKeyEnv, ListenPort, FwMark, Address, MTU, DNS, Table, PreUp, PostUp, PreDown, PostDown, SaveConfig, MaxStagedPackets, MaxTimeWait, MaxReassemblyBuffers, MetricsListen, Congestion, CheckAlive, CheckAliveInterval)',
    ],
  ],
  ['peer key in interface', conf(['Endpoint = 1.2.3.4:5']), ['wg0.conf:3: Endpoint belongs in [Peer], not in [Interface]']],
  ['interface key in peer', conf([], ['ListenPort = 5']), ['wg0.conf:5: ListenPort belongs in [Interface], not in [Peer]']],
  ['PublicKey bad', conf([], ['[Peer]', 'PublicKey = abc']), ['wg0.conf:6: PublicKey: not a valid key: must be 44 characters of base64 ending in "=" (got 3 characters)']],
  [
    'PublicKey not canonical base64',
    conf([], ['[Peer]', 'PublicKey = pW0b727iQWJ/RXu43XaN43jDS9hIvGJW1UE5gqR4UwF=']),
    ['wg0.conf:6: PublicKey: not a valid key: must be 44 characters of base64 ending in "="'],
  ],
  ['peer without PublicKey', conf([], ['[Peer]', 'AllowedIPs = 10.0.0.0/8']), ['wg0.conf:5: [Peer] has no PublicKey (required)']],
  ['duplicate peer', conf([], ['[Peer]', `PublicKey = ${KEYS.laptopPub}`]), ['wg0.conf:6: PublicKey is the same as the peer at line 3; each peer needs its own key']],
  ['own key as peer', conf([], ['[Peer]', `PublicKey = ${KEYS.serverPub}`]), ["wg0.conf:6: PublicKey is this interface's own public key (derived from PrivateKey)"]],
  [
    'low-order peer key',
    conf([], ['[Peer]', `PublicKey = ${'A'.repeat(43)}=`]),
    ['wg0.conf:6: PublicKey is a low-order point; a handshake with it can never succeed'],
  ],
  ['Endpoint no port', conf([], ['Endpoint = vpn.example.com']), ['wg0.conf:5: Endpoint = vpn.example.com: missing port; use host:port, 1.2.3.4:port or [ipv6]:port']],
  ['Endpoint bare IPv6', conf([], ['Endpoint = 2001:db8::1:51820']), ['wg0.conf:5: Endpoint = 2001:db8::1:51820: an IPv6 endpoint needs brackets: [addr]:port']],
  ['Endpoint unclosed bracket', conf([], ['Endpoint = [2001:db8::1:51820']), ['wg0.conf:5: Endpoint = [2001:db8::1:51820: missing "]" after the IPv6 address; use [addr]:port']],
  ['Endpoint bracketed IPv4', conf([], ['Endpoint = [1.2.3.4]:5']), ['wg0.conf:5: Endpoint = [1.2.3.4]:5: the address inside [...] must be an IPv6 address']],
  ['Endpoint port 0', conf([], ['Endpoint = 1.2.3.4:0']), ['wg0.conf:5: Endpoint = 1.2.3.4:0: port must be an integer 1-65535']],
  ['Endpoint port name', conf([], ['Endpoint = 1.2.3.4:wireguard']), ['wg0.conf:5: Endpoint = 1.2.3.4:wireguard: port must be an integer 1-65535']],
  ['Endpoint bad IPv4', conf([], ['Endpoint = 1.2.3:51820']), ['wg0.conf:5: Endpoint = 1.2.3:51820: host is not a valid IPv4 address']],
  ['Endpoint bad host', conf([], ['Endpoint = exa mple$.com:1']), ['wg0.conf:5: Endpoint = exa mple$.com:1: host is neither an IP address nor a valid DNS name']],
  ['Endpoint twice', conf([], ['Endpoint = a.b:1', 'Endpoint = a.b:2']), ['wg0.conf:6: Endpoint is given again (first at line 5); it may appear only once']],
  ['AllowedIPs stray comma', conf([], ['AllowedIPs = 10.0.0.0/8,']), ['wg0.conf:5: AllowedIPs = 10.0.0.0/8,: empty entry (stray comma?)']],
  ['AllowedIPs +prefix', conf([], ['AllowedIPs = +10.0.0.0/8']), ['wg0.conf:5: AllowedIPs = +10.0.0.0/8: +10.0.0.0/8: "+"/"-" prefixes are only for `wg set`']],
  ['AllowedIPs bad prefix', conf([], ['AllowedIPs = ::/200']), ['wg0.conf:5: AllowedIPs = ::/200: ::/200: prefix length must be an integer 0-128']],
  ['AllowedIPs negative prefix', conf([], ['AllowedIPs = 10.0.0.0/-1']), ['wg0.conf:5: AllowedIPs = 10.0.0.0/-1: 10.0.0.0/-1: prefix length must be an integer 0-32']],
  [
    'keepalive too big',
    conf([], ['PersistentKeepalive = 65536']),
    ['wg0.conf:5: PersistentKeepalive = 65536: must be "off" or an integer 0-65535 (seconds)'],
  ],
  ['keepalive negative', conf([], ['PersistentKeepalive = -1']), ['wg0.conf:5: PersistentKeepalive = -1: must be "off" or an integer 0-65535 (seconds)']],
  ['no section', `ListenPort = 1\n${IFACE}`, ['wg0.conf:1: ListenPort is outside any section; put it under [Interface] or [Peer] (the only top-level key is WGConfig = path)']],
  ['unknown section', conf(['[Frobnicate]', 'Listen = 1', 'Whatever = 2']), ['wg0.conf:3: unknown section [Frobnicate] (known sections: [Interface], [Peer], [Forward], [Expose], [PortMapping], [Socks5], [http], [TCPClientTunnel], [TCPServerTunnel], [UDPProxyTunnel], [STDIOTunnel])']],
  ['misspelt section', conf(['[Peeer]', 'X = 1']), ['wg0.conf:3: unknown section [Peeer] (did you mean [Peer]?)']],
  ['unterminated header', conf(['[Peer']), ['wg0.conf:3: section header must look like [Name]']],
  ['empty header', conf(['[]']), ['wg0.conf:3: section header must look like [Name]']],
  ['line without =', conf(['just some words']), ['wg0.conf:3: expected "Key = value" or a [Section] header']],
  ['control characters', conf(['ListenPort = 1\u0000']), ['wg0.conf:3: line contains control characters (binary data?)']],
  ['key with symbols', conf(['List$nPort = 1']), ['wg0.conf:3: not a "Key = value" line: the key name has unexpected characters or is too long']],
  ['two interfaces', `${IFACE}\n${IFACE}\nListenPort = x`, ['wg0.conf:3: [Interface] appears again (first at line 1); only one is allowed', 'wg0.conf:5: ListenPort = x: must be an integer 0-65535']],
  ['no interface', PEER, ['wg0.conf: no [Interface] section (exactly one is required)']],
  ['empty file', '', ['wg0.conf: no [Interface] section (exactly one is required)']],
  ['interface without key', '[Interface]\nListenPort = 1', ['wg0.conf:1: [Interface] has no PrivateKey (required; generate one with `wg genkey`, or name a key file with PrivateKeyFile or a variable with PrivateKeyEnv)']],
  ['all-zero private key', `[Interface]\nPrivateKey = ${'A'.repeat(43)}=`, ['wg0.conf:2: PrivateKey = <redacted>: must not be all zeros']],
];

for (const [name, text, want] of cases) {
  test(`refused: ${name}`, () => {
    assert.deepEqual(errors(text), want);
  });
}

test('refused: bad PrivateKey and PresharedKey values are never echoed', () => {
  const almost = KEYS.serverPriv.slice(0, 40); // a truncated paste
  const got = errors(`[Interface]\nPrivateKey = ${almost}\n${PEER}\nPresharedKey = ${KEYS.psk1}x`);
  assert.deepEqual(got, [
    'wg0.conf:2: PrivateKey = <redacted>: not a valid key: must be 44 characters of base64 ending in "=" (got 40 characters)',
    'wg0.conf:5: PresharedKey = <redacted>: not a valid key: must be 44 characters of base64 ending in "=" (got 45 characters)',
  ]);
  for (const e of got) assert.ok(!e.includes(almost));
});

test('refused: a secret pasted under another key is scrubbed from that error too', () => {
  const got = errors(conf([], ['[Peer]', `Endpoint = ${KEYS.serverPriv}`, `PublicKey = ${KEYS.phonePub}`]));
  assert.deepEqual(got, ['wg0.conf:6: Endpoint = <redacted>: missing port; use host:port, 1.2.3.4:port or [ipv6]:port']);
});

test('refused: all errors are collected in line order, not just the first', () => {
  const text = [
    '[Interface]', // 1
    `PrivateKey = ${KEYS.serverPriv}`,
    'ListenPort = 70000', // 3
    'PrivatKey = x', // 4
    'MTU = 1', // 5
    '[Peer]', // 6: no PublicKey
    'AllowedIPs = 10.0.0.0/33', // 7
    '[Peer]',
    `PublicKey = ${KEYS.laptopPub}`,
    'Endpoint = nowhere', // 10
  ].join('\n');
  assert.deepEqual(errors(text), [
    'wg0.conf:3: ListenPort = 70000: must be an integer 0-65535',
    'wg0.conf:4: unknown key "PrivatKey" in [Interface] (did you mean PrivateKey?)',
    'wg0.conf:5: MTU = 1: must be an integer 68-65535',
    'wg0.conf:7: AllowedIPs = 10.0.0.0/33: 10.0.0.0/33: prefix length must be an integer 0-32',
    'wg0.conf:10: Endpoint = nowhere: missing port; use host:port, 1.2.3.4:port or [ipv6]:port',
    'wg0.conf:6: [Peer] has no PublicKey (required)',
  ]);
});

test('refused: structured errors carry file, line and canonical key', () => {
  const r = parseConfig('/etc/wireguard/wg0.conf', conf(['listenport = 70000']));
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.deepEqual(r.errors, [
    { file: '/etc/wireguard/wg0.conf', line: 3, key: 'ListenPort', message: 'ListenPort = 70000: must be an integer 0-65535' },
  ]);
});

test('refused: warnings are still returned alongside errors', () => {
  const r = parseConfig('wg0.conf', conf(['DNS = 1.1.1.1', 'MTU = 0']));
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.deepEqual(r.warnings.map((w) => [w.line, w.key]), [[3, 'DNS']]);
});

test('refused: error flood is capped with a count', () => {
  const text = `${IFACE}\n` + 'garbage\n'.repeat(MAX_ERRORS + 400);
  const got = errors(text);
  assert.equal(got.length, MAX_ERRORS + 1);
  assert.equal(got[0], 'wg0.conf:3: expected "Key = value" or a [Section] header');
  assert.equal(got[MAX_ERRORS], 'wg0.conf: 400 more errors not shown');
});

test('refused: values are escaped and cut in messages', () => {
  const got = errors(conf([`Table = \u202eevil${'x'.repeat(100)}`]));
  assert.equal(got.length, 1);
  assert.ok(got[0]!.startsWith('wg0.conf:3: Table = \\u202eevilxxx'), got[0]);
  assert.ok(got[0]!.includes('…: must be'), got[0]);
  assert.ok(!got[0]!.includes('\u202e'));
});

test('interface names from the file name are checked like wg-quick does', () => {
  const ok = conf([]);
  assert.deepEqual(errors(ok, '/etc/wireguard/my-home-vpn-tunnel.conf'), [
    '/etc/wireguard/my-home-vpn-tunnel.conf: interface name my-home-vpn-tunnel (from the file name) is not valid: must be 1-15 characters from A-Z a-z 0-9 _ = + . -; rename the file or give the interface name explicitly',
  ]);
  assert.deepEqual(errors(ok, 'wg 0.conf'), [
    'wg 0.conf: interface name wg 0 (from the file name) is not valid: must be 1-15 characters from A-Z a-z 0-9 _ = + . -; rename the file or give the interface name explicitly',
  ]);
  assert.deepEqual(errors(ok, '.conf'), [
    '.conf: interface name "" (from the file name) is not valid: must be 1-15 characters from A-Z a-z 0-9 _ = + . -; rename the file or give the interface name explicitly',
  ]);
  assert.deepEqual(errors(ok, 'wg0.txt'), [
    'wg0.txt: cannot name the interface after this file: the file name must be NAME.conf (or give the interface name explicitly)',
  ]);
  assert.deepEqual(errors(ok, 'wg0.conf', { interfaceName: 'tun/0' }), [
    'wg0.conf: interface name tun/0 is not valid: must be 1-15 characters from A-Z a-z 0-9 _ = + . -',
  ]);
});
