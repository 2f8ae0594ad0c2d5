/** Parsing real-looking wg-quick files: every field, case, CRLF, warnings, names. */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { encodeKey } from '../../src/crypto/util.js';
import { formatIssue, parseConfig, type WgConfig } from '../../src/config/index.js';
import { fixture, haveWg, KEYS, wgPubkey } from './helpers.js';
import { skipUnlessPresent } from '../harness/interop.js';

function mustParse(name: string, text: string, opts = {}): WgConfig {
  const r = parseConfig(name, text, opts);
  if (!r.ok) assert.fail(r.errors.map(formatIssue).join('\n'));
  return r.config;
}

const cidr = (ip: string, c: number, family: 4 | 6) => ({ ip, cidr: c, family });

test('VPS server with several peers', () => {
  const c = mustParse('/etc/wireguard/wg0.conf', fixture('wg0.conf'));
  assert.equal(c.interfaceName, 'wg0');
  assert.equal(c.sourceFile, '/etc/wireguard/wg0.conf');
  const i = c.iface;
  assert.equal(i.line, 3);
  assert.equal(encodeKey(i.privateKey), KEYS.serverPriv);
  assert.equal(encodeKey(i.publicKey), KEYS.serverPub);
  assert.equal(i.listenPort, 51820);
  assert.equal(i.mtu, 1420);
  assert.equal(i.fwMark, undefined);
  assert.equal(i.table, undefined);
  assert.equal(i.saveConfig, false);
  assert.deepEqual(i.addresses, [cidr('10.8.0.1', 24, 4), cidr('fd42:42:42::1', 64, 6)]);
  assert.deepEqual(i.dns, { servers: [], search: [] });
  assert.deepEqual(i.preUp, []);
  assert.deepEqual(i.postUp, [
    'iptables -A FORWARD -i %i -j ACCEPT; iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE',
    'ip6tables -A FORWARD -i %i -j ACCEPT',
  ]);
  assert.deepEqual(i.postDown, [
    'iptables -D FORWARD -i %i -j ACCEPT; iptables -t nat -D POSTROUTING -o eth0 -j MASQUERADE',
    'ip6tables -D FORWARD -i %i -j ACCEPT',
  ]);

  assert.equal(c.peers.length, 3);
  const [laptop, phone, router] = c.peers as [WgConfig['peers'][0], WgConfig['peers'][0], WgConfig['peers'][0]];
  assert.equal(laptop.line, 14);
  assert.equal(encodeKey(laptop.publicKey), KEYS.laptopPub);
  assert.equal(encodeKey(laptop.presharedKey!), KEYS.psk1);
  assert.deepEqual(laptop.allowedIps, [cidr('10.8.0.2', 32, 4), cidr('fd42:42:42::2', 128, 6)]);
  assert.equal(laptop.endpoint, undefined);
  assert.equal(laptop.persistentKeepalive, 0);

  assert.equal(encodeKey(phone.publicKey), KEYS.phonePub);
  assert.equal(encodeKey(phone.presharedKey!), KEYS.psk2);
  // Two AllowedIPs lines accumulate in order.
  assert.deepEqual(phone.allowedIps, [cidr('10.8.0.3', 32, 4), cidr('fd42:42:42::3', 128, 6)]);

  assert.equal(encodeKey(router.publicKey), KEYS.routerPub);
  assert.equal(router.presharedKey, undefined);
  assert.deepEqual(router.endpoint, { host: '203.0.113.7', port: 51820 });
  assert.deepEqual(router.allowedIps, [cidr('10.8.0.4', 32, 4), cidr('192.168.50.0', 24, 4)]);
  assert.equal(router.persistentKeepalive, 25);

  // One warning per unsupported key, at its first line.
  assert.deepEqual(
    c.warnings.map((w) => [w.line, w.key]),
    [
      [8, 'SaveConfig'],
      [9, 'PostUp'],
      [11, 'PostDown'],
    ],
  );
  assert.deepEqual(c.extensions, { Forward: [], Expose: [], PortMapping: [], Socks5: [], http: [], TCPClientTunnel: [], TCPServerTunnel: [], UDPProxyTunnel: [], STDIOTunnel: [] });
});

test('phone client with DNS, full-tunnel AllowedIPs and a hostname endpoint', () => {
  const c = mustParse('phone.conf', fixture('phone.conf'));
  assert.equal(c.interfaceName, 'phone');
  assert.equal(encodeKey(c.iface.publicKey), KEYS.phonePub);
  assert.equal(c.iface.listenPort, undefined);
  assert.equal(c.iface.mtu, 1280);
  assert.deepEqual(c.iface.addresses, [cidr('10.8.0.3', 32, 4), cidr('fd42:42:42::3', 128, 6)]);
  assert.deepEqual(c.iface.dns, { servers: ['1.1.1.1', '2606:4700:4700::1111'], search: ['home.lan'] });
  const p = c.peers[0]!;
  assert.equal(encodeKey(p.publicKey), KEYS.serverPub);
  assert.deepEqual(p.allowedIps, [cidr('0.0.0.0', 0, 4), cidr('::', 0, 6)]);
  assert.deepEqual(p.endpoint, { host: 'vpn.example.com', port: 51820 });
  assert.equal(p.persistentKeepalive, 25);
  assert.deepEqual(
    c.warnings.map((w) => formatIssue(w)),
    ['phone.conf:5: DNS: in userspace mode these servers answer only the names wgts itself looks up (proxies, tunnels, the library), through the tunnel; the system resolver is left unchanged'],
  );
});

test('CRLF file with odd key case, spacing and trailing comments', () => {
  const text = fixture('win0.conf');
  assert.ok(text.includes('\r\n'), 'fixture must have CRLF endings');
  const c = mustParse('win0.conf', text);
  assert.equal(c.interfaceName, 'win0');
  assert.equal(encodeKey(c.iface.privateKey), KEYS.cliPriv);
  assert.equal(c.iface.listenPort, 41641);
  assert.equal(c.iface.fwMark, 0x1234);
  assert.deepEqual(c.iface.table, { kind: 'off' });
  assert.deepEqual(c.iface.addresses, [cidr('10.9.0.2', 24, 4)]);
  const p = c.peers[0]!;
  assert.deepEqual(p.endpoint, { host: '2001:db8::10', port: 51820 });
  assert.deepEqual(p.allowedIps, [cidr('10.9.0.0', 24, 4), cidr('fd00:9::', 64, 6)]);
  assert.equal(p.persistentKeepalive, 0);
  // Same text with LF endings gives the same config.
  const lf = mustParse('win0.conf', text.replace(/\r\n/g, '\n'));
  assert.deepEqual(lf, c);
});

test('every key and section name is case-insensitive', () => {
  const text = [
    '[iNtErFaCe]',
    `PRIVATEKEY = ${KEYS.serverPriv}`,
    'listenport = 1',
    'fWmArK = off',
    'ADDRESS = 10.0.0.1',
    'mtu = 1400',
    'dns = 9.9.9.9',
    'TABLE = AUTO',
    'preup = a',
    'POSTUP = b',
    'predown = c',
    'POSTDOWN = d',
    'saveconfig = TRUE',
    '[pEeR]',
    `PUBLICKEY = ${KEYS.laptopPub}`,
    `presharedkey = ${KEYS.psk1}`,
    'ENDPOINT = Example.ORG:1',
    'allowedips = 10.0.0.2',
    'PERSISTENTKEEPALIVE = OFF',
  ].join('\n');
  const c = mustParse('wg0.conf', text);
  assert.equal(c.iface.listenPort, 1);
  assert.equal(c.iface.fwMark, 0);
  assert.deepEqual(c.iface.addresses, [cidr('10.0.0.1', 32, 4)]);
  assert.equal(c.iface.mtu, 1400);
  assert.deepEqual(c.iface.dns.servers, ['9.9.9.9']);
  assert.deepEqual(c.iface.table, { kind: 'auto' });
  assert.deepEqual([c.iface.preUp, c.iface.postUp, c.iface.preDown, c.iface.postDown], [['a'], ['b'], ['c'], ['d']]);
  assert.equal(c.iface.saveConfig, true);
  assert.equal(encodeKey(c.peers[0]!.presharedKey!), KEYS.psk1);
  assert.deepEqual(c.peers[0]!.endpoint, { host: 'Example.ORG', port: 1 });
  assert.deepEqual(c.peers[0]!.allowedIps, [cidr('10.0.0.2', 32, 4)]);
});

test('whitespace and comments as wg(8) reads them', () => {
  const text = [
    '   # indented comment',
    '\t[ Interface ]   # comment after a header',
    `\tPrivateKey\t=\t${KEYS.serverPriv}\t`,
    'Address=10.0.0.1/24 fd00::1/64,10.0.0.2/24', // wg-quick splits on spaces and commas
    '',
    '[Peer]',
    `Public Key = ${KEYS.laptopPub}`, // wg strips all whitespace from a line
    'AllowedIPs = 10.1.0.0 / 16 , fd01:: / 48',
    'AllowedIPs =', // empty: no entries, as in wg
  ].join('\n');
  const c = mustParse('wg0.conf', text);
  assert.deepEqual(c.iface.addresses, [cidr('10.0.0.1', 24, 4), cidr('fd00::1', 64, 6), cidr('10.0.0.2', 24, 4)]);
  assert.equal(encodeKey(c.peers[0]!.publicKey), KEYS.laptopPub);
  assert.deepEqual(c.peers[0]!.allowedIps, [cidr('10.1.0.0', 16, 4), cidr('fd01::', 48, 6)]);
});

test('a leading UTF-8 BOM is ignored', () => {
  const c = mustParse('wg0.conf', '\ufeff' + fixture('phone.conf'));
  assert.equal(c.peers.length, 1);
});

test('a file with no peers is valid', () => {
  const c = mustParse('wg0.conf', `[Interface]\nPrivateKey = ${KEYS.serverPriv}\n`);
  assert.deepEqual(c.peers, []);
  assert.deepEqual(c.warnings, []);
});

test('AllowedIPs host bits are cleared, with a warning like wg gives', () => {
  const text = `[Interface]\nPrivateKey = ${KEYS.serverPriv}\n[Peer]\nPublicKey = ${KEYS.laptopPub}\nAllowedIPs = 10.1.2.3/8, fd00:1:2:3::9/48, 10.0.0.0/8\n`;
  const c = mustParse('wg0.conf', text);
  // 10.1.2.3/8 becomes 10.0.0.0/8 (the later duplicate 10.0.0.0/8 is dropped); a /48 keeps 3 groups.
  assert.deepEqual(c.peers[0]!.allowedIps, [cidr('10.0.0.0', 8, 4), cidr('fd00:1:2::', 48, 6)]);
  assert.deepEqual(
    c.warnings.map(formatIssue),
    [
      'wg0.conf:5: AllowedIPs 10.1.2.3/8 has host bits set; using 10.0.0.0/8 (as wg does)',
      'wg0.conf:5: AllowedIPs fd00:1:2:3::9/48 has host bits set; using fd00:1:2::/48 (as wg does)',
    ],
  );
});

test('Address keeps host bits (it is the interface address)', () => {
  const c = mustParse('wg0.conf', `[Interface]\nPrivateKey = ${KEYS.serverPriv}\nAddress = 10.1.2.3/8, FD00:0:0:0::0001/64\n`);
  assert.deepEqual(c.iface.addresses, [cidr('10.1.2.3', 8, 4), cidr('fd00::1', 64, 6)]);
});

test('the same AllowedIP on two peers warns: the later peer wins, as in wg', () => {
  const text = [
    '[Interface]',
    `PrivateKey = ${KEYS.serverPriv}`,
    '[Peer]',
    `PublicKey = ${KEYS.laptopPub}`,
    'AllowedIPs = 10.0.0.2/32',
    '[Peer]',
    `PublicKey = ${KEYS.phonePub}`,
    'AllowedIPs = 10.0.0.2/32',
  ].join('\n');
  const c = mustParse('wg0.conf', text);
  assert.deepEqual(c.warnings.map(formatIssue), [
    'wg0.conf:8: AllowedIPs 10.0.0.2/32 is also given to the peer at line 3; this later peer gets it (as in wg)',
  ]);
});

test('warnings come once per key even when the key repeats', () => {
  const text = [
    '[Interface]',
    `PrivateKey = ${KEYS.serverPriv}`,
    'DNS = 1.1.1.1',
    'DNS = 8.8.8.8, example.com',
    'PreUp = a',
    'PreUp = b',
    'PreUp = c',
    'FwMark = 51820',
    'Table = 1234',
    'PreDown = d',
  ].join('\n');
  const c = mustParse('wg0.conf', text);
  assert.deepEqual(c.iface.dns, { servers: ['1.1.1.1', '8.8.8.8'], search: ['example.com'] });
  assert.deepEqual(c.iface.preUp, ['a', 'b', 'c']);
  assert.deepEqual(c.iface.table, { kind: 'id', id: 1234 });
  assert.equal(c.iface.fwMark, 51820);
  assert.deepEqual(
    c.warnings.map((w) => [w.line, w.key]),
    [
      [3, 'DNS'],
      [5, 'PreUp'],
      [8, 'FwMark'],
      [9, 'Table'],
      [10, 'PreDown'],
    ],
  );
  for (const w of c.warnings) assert.equal(w.file, 'wg0.conf');
});

test('value forms: FwMark hex/decimal/off, Table name, keepalive bounds, bracketed endpoints', () => {
  const base = (iface: string, peer: string) =>
    `[Interface]\nPrivateKey = ${KEYS.serverPriv}\n${iface}\n[Peer]\nPublicKey = ${KEYS.laptopPub}\n${peer}\n`;
  const cases: [string, string, (c: WgConfig) => void][] = [
    ['FwMark = 0xffffffff', '', (c) => assert.equal(c.iface.fwMark, 0xffffffff)],
    ['FwMark = 4294967295', '', (c) => assert.equal(c.iface.fwMark, 4294967295)],
    ['FwMark = 0', '', (c) => assert.equal(c.iface.fwMark, 0)],
    ['Table = main', '', (c) => assert.deepEqual(c.iface.table, { kind: 'name', name: 'main' })],
    ['ListenPort = 0', '', (c) => assert.equal(c.iface.listenPort, 0)],
    ['MTU = 68', 'PersistentKeepalive = 65535', (c) => assert.equal(c.peers[0]!.persistentKeepalive, 65535)],
    ['', 'Endpoint = [fe80::1%eth0]:51820', (c) => assert.deepEqual(c.peers[0]!.endpoint, { host: 'fe80::1%eth0', port: 51820 })],
    ['', 'Endpoint = [2001:DB8:0::1]:1', (c) => assert.deepEqual(c.peers[0]!.endpoint, { host: '2001:db8::1', port: 1 })],
    ['', 'Endpoint = wg.example.com.:65535', (c) => assert.deepEqual(c.peers[0]!.endpoint, { host: 'wg.example.com.', port: 65535 })],
    ['', 'AllowedIPs = ::ffff:10.0.0.1/128', (c) => assert.deepEqual(c.peers[0]!.allowedIps, [cidr('::ffff:10.0.0.1', 128, 6)])],
  ];
  for (const [i, p, check] of cases) check(mustParse('wg0.conf', base(i, p)));
});

test('interface name: file stem, explicit override', () => {
  const text = fixture('phone.conf');
  assert.equal(mustParse('/etc/wireguard/wg-home_1.conf', text).interfaceName, 'wg-home_1');
  assert.equal(mustParse('a=b+c.d-e_f.conf', text).interfaceName, 'a=b+c.d-e_f');
  assert.equal(mustParse('123456789012345.conf', text).interfaceName, '123456789012345');
  // An override lifts the file-name rule entirely.
  assert.equal(mustParse('/tmp/my very long file name.txt', text, { interfaceName: 'tun7' }).interfaceName, 'tun7');
});

test('derived public keys match `wg pubkey`', { skip: skipUnlessPresent(!haveWg && 'wg (wireguard-tools) is not installed') }, () => {
  for (const [name, priv] of [
    ['wg0.conf', KEYS.serverPriv],
    ['phone.conf', KEYS.phonePriv],
    ['win0.conf', KEYS.cliPriv],
  ] as const) {
    const c = mustParse(name, fixture(name));
    assert.equal(encodeKey(c.iface.publicKey), wgPubkey(priv));
  }
});
