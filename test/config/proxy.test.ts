/**
 * The wireproxy-style [Socks5] and [http] sections: values, file:line
 * errors, the open-proxy warning, and the Password kept out of every
 * message and of redacted output.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { parseConfig, serializeConfig, formatIssue } from '../../src/config/index.js';
import { proxiesOf } from '../../src/config/proxy.js';
import { KEYS } from './helpers.js';

const base = `[Interface]
PrivateKey = ${KEYS.serverPriv}
Address = 10.0.0.2/24

[Peer]
PublicKey = ${KEYS.laptopPub}
AllowedIPs = 10.0.0.0/24
`;

test('a wireproxy config: [Socks5] with credentials and [http] without', () => {
  const r = parseConfig('wp.conf', `${base}
[Socks5]
BindAddress = 127.0.0.1:25344
Username = user
Password = hunter2

[http]
BindAddress = [::1]:25345
`);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  assert.deepEqual(proxiesOf(r.config), [
    { kind: 'socks5', bind: { host: '127.0.0.1', port: 25344 }, username: 'user', password: 'hunter2' },
    { kind: 'http', bind: { host: '::1', port: 25345 } },
  ]);
  assert.equal(r.config.warnings.length, 0);
  const shown = serializeConfig(r.config, { redactSecrets: true });
  assert.match(shown, /\[Socks5\]\nBindAddress = 127\.0\.0\.1:25344\nUsername = user\nPassword = <redacted>/);
  assert.doesNotMatch(shown, /hunter2/);
  const back = parseConfig('wp.conf', serializeConfig(r.config));
  assert.ok(back.ok);
  assert.deepEqual(proxiesOf(back.config), proxiesOf(r.config));
});

test('errors name file:line and never echo the Password', () => {
  const r = parseConfig('wp.conf', `${base}
[Socks5]
BindAddress = proxy.lan:1080
Password = hunter2

[HTTP]
Username = u
`);
  assert.ok(!r.ok);
  const text = r.errors.map(formatIssue).join('\n');
  assert.match(text, /wp\.conf:10: .*BindAddress = "?proxy\.lan:1080"?: the address must be an IP address/);
  assert.match(text, /wp\.conf:13: .*\[http\] needs BindAddress/);
  assert.doesNotMatch(text, /hunter2/);
});

test('a non-loopback BindAddress without credentials warns of an open proxy', () => {
  const r = parseConfig('wp.conf', `${base}
[Socks5]
BindAddress = 0.0.0.0:1080
`);
  assert.ok(r.ok);
  assert.equal(r.config.warnings.length, 1);
  assert.match(formatIssue(r.config.warnings[0]!), /wp\.conf:10: .*open proxy/);
});
