/**
 * wireproxy's file forms: the [TCPClientTunnel], [TCPServerTunnel],
 * [UDPProxyTunnel] and [STDIOTunnel] sections, the top-level
 * `WGConfig = path` line (read by loadConfigFile, its errors named in
 * their own file), and a [Peer] without AllowedIPs taking everything in
 * such a file (and only there).
 */
import { afterAll, test } from 'vitest';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatIssue, parseConfig, serializeConfig } from '../../src/config/index.js';
import { loadConfigFile } from '../../src/config/load.js';
import { proxiesOf } from '../../src/config/proxy.js';
import { tunnelsOf } from '../../src/config/tunnels.js';
import { KEYS } from './helpers.js';

const wgQuick = `[Interface]
PrivateKey = ${KEYS.serverPriv}
Address = 10.200.200.2/32
DNS = 10.200.200.1

[Peer]
PublicKey = ${KEYS.laptopPub}
Endpoint = 192.0.2.1:51820
`;

const sections = `
[TCPClientTunnel]
BindAddress = 127.0.0.1:25565
Target = play.example.net:25565

[TCPServerTunnel]
ListenPort = 3422
Target = localhost:25545

[UDPProxyTunnel]
BindAddress = 127.0.0.1:5353
Target = 10.200.200.1:53
InactivityTimeout = 30

[STDIOTunnel]
Target = ssh.example.net:22

[Socks5]
BindAddress = 127.0.0.1:25344
`;

const dir = mkdtempSync(join(tmpdir(), 'wgts-wireproxy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('the four tunnel sections parse to their configs and serialize back', () => {
  const r = parseConfig('wp.conf', wgQuick + sections);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  assert.deepEqual(tunnelsOf(r.config), [
    { kind: 'tcp-client', bind: { host: '127.0.0.1', port: 25565 }, target: { host: 'play.example.net', port: 25565 } },
    { kind: 'tcp-server', port: 3422, target: { host: 'localhost', port: 25545 } },
    { kind: 'udp', bind: { host: '127.0.0.1', port: 5353 }, target: { host: '10.200.200.1', port: 53 }, inactivityTimeout: 30 },
    { kind: 'stdio', target: { host: 'ssh.example.net', port: 22 } },
  ]);
  const back = parseConfig('wp.conf', serializeConfig(r.config));
  assert.ok(back.ok);
  assert.deepEqual(tunnelsOf(back.config), tunnelsOf(r.config));
});

test('a [Peer] without AllowedIPs gets 0.0.0.0/0, ::/0 in a wireproxy file, with a warning; a plain wg-quick file keeps none', () => {
  const r = parseConfig('wp.conf', wgQuick + sections);
  assert.ok(r.ok);
  assert.deepEqual(r.config.peers[0]!.allowedIps.map((c) => `${c.ip}/${c.cidr}`), ['0.0.0.0/0', '::/0']);
  assert.ok(r.config.warnings.some((w) => w.line === 6 && /no AllowedIPs: it gets 0\.0\.0\.0\/0, ::\/0/.test(w.message)));
  const plain = parseConfig('wg0.conf', wgQuick);
  assert.ok(plain.ok);
  assert.deepEqual(plain.config.peers[0]!.allowedIps, []);
});

test('WGConfig = path: [Interface] and [Peer] come from that file (relative to this one)', async () => {
  writeFileSync(join(dir, 'home.conf'), wgQuick, { mode: 0o600 });
  writeFileSync(join(dir, 'wp.conf'), `WGConfig = home.conf\n${sections}`, { mode: 0o600 });
  const r = await loadConfigFile(join(dir, 'wp.conf'));
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  assert.equal(r.config.interfaceName, 'wp');
  assert.deepEqual(r.config.iface.addresses, [{ ip: '10.200.200.2', cidr: 32, family: 4 }]);
  assert.deepEqual(r.config.iface.dns, { servers: ['10.200.200.1'], search: [] });
  assert.deepEqual(r.config.peers[0]!.allowedIps.map((c) => `${c.ip}/${c.cidr}`), ['0.0.0.0/0', '::/0']);
  assert.equal(tunnelsOf(r.config).length, 4);
});

test('WGConfig errors: a missing file, a bad included file (named in its own file:line), [Interface] given twice, and no WGConfig in parseConfig', async () => {
  writeFileSync(join(dir, 'missing.conf'), `WGConfig = nowhere.conf\n${sections}`, { mode: 0o600 });
  const m = await loadConfigFile(join(dir, 'missing.conf'));
  assert.ok(!m.ok);
  assert.match(formatIssue(m.errors[0]!), /missing\.conf:1: WGConfig = nowhere\.conf: that file is refused/);
  assert.match(formatIssue(m.errors[1]!), /nowhere\.conf: cannot open: ENOENT/);

  writeFileSync(join(dir, 'bad.conf'), wgQuick.replace('Address = 10.200.200.2/32', 'Address = 10.200.200.300/32'), { mode: 0o600 });
  writeFileSync(join(dir, 'wp2.conf'), `WGConfig = ${join(dir, 'bad.conf')}\n${sections}`, { mode: 0o600 });
  const b = await loadConfigFile(join(dir, 'wp2.conf'));
  assert.ok(!b.ok);
  assert.match(b.errors.map(formatIssue).join('\n'), /bad\.conf:3: Address = 10\.200\.200\.300\/32/);

  writeFileSync(join(dir, 'twice.conf'), `WGConfig = home.conf\n${wgQuick}${sections}`, { mode: 0o600 });
  const t = await loadConfigFile(join(dir, 'twice.conf'));
  assert.ok(!t.ok);
  assert.match(t.errors.map(formatIssue).join('\n'), /twice\.conf:2: \[Interface\] here and WGConfig at line 1/);

  const p = parseConfig('wp.conf', `WGConfig = home.conf\n${sections}`);
  assert.ok(!p.ok);
  assert.match(p.errors.map(formatIssue).join('\n'), /wp\.conf:1: WGConfig = home\.conf: the named file is read only when the config is loaded from its file/);
});

test('tunnel sections: missing keys and bad values name file:line and the fix', () => {
  const r = parseConfig('wp.conf', `${wgQuick}AllowedIPs = 10.200.200.0/24
[TCPClientTunnel]
BindAddress = 127.0.0.1:25565

[TCPServerTunnel]
ListenPort = 0
Target = localhost:80

[UDPProxyTunnel]
BindAddress = 0.0.0.0:5353
Target = 10.200.200.1

[STDIOTunnel]
Target = a:22
[STDIOTunnel]
Target = b:22
`);
  assert.ok(!r.ok);
  const text = r.errors.map(formatIssue).join('\n');
  assert.match(text, /wp\.conf:10: \[TCPClientTunnel\] needs Target \(host:port inside the tunnel/);
  assert.match(text, /wp\.conf:14: ListenPort = 0: /);
  assert.match(text, /wp\.conf:19: Target = 10\.200\.200\.1: missing port/);
  assert.match(text, /wp\.conf:23: \[STDIOTunnel\] appears again/);
});

test('a non-loopback BindAddress of a tunnel warns about an open entry into the tunnel', () => {
  const r = parseConfig('wp.conf', `${wgQuick}AllowedIPs = 10.200.200.0/24
[TCPClientTunnel]
BindAddress = 0.0.0.0:2222
Target = 10.200.200.1:22
`);
  assert.ok(r.ok);
  assert.ok(r.config.warnings.some((w) => w.line === 11 && /0\.0\.0\.0 takes connections from anyone/.test(w.message)));
});

// wireproxy's README samples, byte for byte (test/fixtures/wireproxy/README.md says where from).
const WIREPROXY_FIXTURES = fileURLToPath(new URL('../../../test/fixtures/wireproxy/', import.meta.url));
const readmeSample = readFileSync(join(WIREPROXY_FIXTURES, 'readme-sample.conf'), 'utf8');

test("wireproxy's README sample parses as written: every section, inline comments, a [Peer] without AllowedIPs", () => {
  const r = parseConfig('wireproxy.conf', readmeSample);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors.map(formatIssue)));
  assert.deepEqual(r.config.iface.addresses, [{ ip: '10.200.200.2', cidr: 32, family: 4 }]);
  assert.deepEqual(r.config.iface.dns, { servers: ['10.200.200.1'], search: [] });
  assert.equal(r.config.peers[0]!.endpoint?.host, 'my.ddns.example.com');
  assert.deepEqual(r.config.peers[0]!.allowedIps.map((c) => `${c.ip}/${c.cidr}`), ['0.0.0.0/0', '::/0']);
  assert.deepEqual(tunnelsOf(r.config).map((t) => t.kind), ['tcp-client', 'tcp-server', 'stdio']);
  assert.deepEqual(proxiesOf(r.config).map((p) => [p.kind, p.bind.port, p.username]), [['socks5', 25344, undefined], ['http', 25345, undefined]]);
});

test("wireproxy's CheckAlive example: CheckAlive and CheckAliveInterval accepted, with a warning that nothing pings", () => {
  const text = readFileSync(join(WIREPROXY_FIXTURES, 'readme-checkalive.conf'), 'utf8')
    .replace('PrivateKey = censored', `PrivateKey = ${KEYS.serverPriv}`)
    .replace('PublicKey = censored', `PublicKey = ${KEYS.laptopPub}`);
  const r = parseConfig('wireproxy.conf', text);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors.map(formatIssue)));
  assert.ok(r.config.warnings.some((w) => w.line === 5 && /CheckAlive is accepted but not acted on/.test(w.message)));
});

test('CheckAlive errors: not an address, an interval without CheckAlive, an interval that is not a number', () => {
  const r = parseConfig('wp.conf', wgQuick.replace('DNS = 10.200.200.1', 'CheckAlive = 1.1.1.1, one.one\nCheckAliveInterval = 3'));
  assert.ok(!r.ok);
  assert.equal(r.errors.length, 1, 'a refused CheckAlive is not also reported missing');
  assert.match(r.errors.map(formatIssue).join('\n'), /wp\.conf:4: CheckAlive = 1\.1\.1\.1, one\.one: one\.one: not an IP address/);
  const alone = parseConfig('wp.conf', wgQuick.replace('DNS = 10.200.200.1', 'CheckAliveInterval = 3'));
  assert.ok(!alone.ok);
  assert.match(alone.errors.map(formatIssue).join('\n'), /wp\.conf:4: CheckAliveInterval is only valid with CheckAlive/);
  const nan = parseConfig('wp.conf', wgQuick.replace('DNS = 10.200.200.1', 'CheckAlive = 1.1.1.1\nCheckAliveInterval = soon'));
  assert.ok(!nan.ok);
  assert.match(nan.errors.map(formatIssue).join('\n'), /wp\.conf:5: CheckAliveInterval = soon/);
});

test('$NAME values (wireproxy): read from the environment in its string keys, $$ for a literal $, the key never shown', async () => {
  writeFileSync(join(dir, 'env.conf'), readmeSample
    .replace(/^PrivateKey = .*$/m, 'PrivateKey = $MY_WIREGUARD_PRIVATE_KEY')
    .replace('Target = play.cubecraft.net:25565', 'Target = $GAME')
    .replace('#Username = ...', () => 'Username = $$alice')
    .replace('#Password = ...', 'Password = $PROXY_PW'), { mode: 0o600 });
  const env = { MY_WIREGUARD_PRIVATE_KEY: KEYS.serverPriv, GAME: 'game.internal:25565', PROXY_PW: 'pw-from-env' };
  const r = await loadConfigFile(join(dir, 'env.conf'), { env });
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors.map(formatIssue)));
  assert.equal(Buffer.from(r.config.iface.privateKey).toString('base64'), KEYS.serverPriv);
  assert.deepEqual(tunnelsOf(r.config)[0], { kind: 'tcp-client', bind: { host: '127.0.0.1', port: 25565 }, target: { host: 'game.internal', port: 25565 } });
  const socks = proxiesOf(r.config)[0]!;
  assert.equal(socks.username, '$alice');
  assert.equal(socks.password, 'pw-from-env');
  assert.ok(!r.config.warnings.some((w) => /world accessible/.test(w.message)));

  const unset = await loadConfigFile(join(dir, 'env.conf'), { env: { GAME: 'x:1', PROXY_PW: 'p' } });
  assert.ok(!unset.ok);
  assert.match(unset.errors.map(formatIssue).join('\n'), /env\.conf:8: PrivateKey = \$MY_WIREGUARD_PRIVATE_KEY: environment variable MY_WIREGUARD_PRIVATE_KEY is not set/);
  const bad = await loadConfigFile(join(dir, 'env.conf'), { env: { ...env, MY_WIREGUARD_PRIVATE_KEY: 'not-a-key-but-secret-text', GAME: 'nohost' } });
  assert.ok(!bad.ok);
  const text = bad.errors.map(formatIssue).join('\n');
  assert.match(text, /env\.conf:8: PrivateKey = \$MY_WIREGUARD_PRIVATE_KEY \(from the environment\): /);
  assert.match(text, /Target = \$GAME \(from the environment\): /);
  assert.doesNotMatch(text, /not-a-key-but-secret-text/);

  const inline = parseConfig('wp.conf', readmeSample.replace(/^PrivateKey = .*$/m, 'PrivateKey = $K'));
  assert.ok(!inline.ok);
  assert.match(inline.errors.map(formatIssue).join('\n'), /wp\.conf:8: PrivateKey = \$K: environment variables are read only when the config is loaded from its file/);
  const hook = parseConfig('wp.conf', wgQuick.replace('DNS = 10.200.200.1', 'PostUp = $HOME/up.sh'));
  assert.ok(hook.ok, 'a hook keeps its $ for the shell');
  assert.deepEqual(hook.config.iface.postUp, ['$HOME/up.sh']);
});
