// UAPI protocol, sans-IO: the get serialization (line format of wireguard-go's
// device/uapi.go IpcGetOperation, written out by hand here), every set key with
// the errno wireguard-go returns for it (ipc/uapi_unix.go: -EINVAL, -EPROTO ...),
// and the client-side codec.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import {
  parseGetResponse,
  parseSet,
  serializeGet,
  serializeSet,
  UAPI_EINVAL,
  UAPI_EPROTO,
  type UapiDeviceView,
  type UapiSetRequest,
} from '../../src/uapi/protocol.js';
import { parseIp, parseIpZone } from '../../src/ip/text.js';
import type { UapiEndpoint } from '../../src/uapi/types.js';
/** Address bytes of an IP literal (the UAPI types carry the codec's binary form). */
const ip = (s: string): Uint8Array => parseIp(s)!;
/** A UapiEndpoint from text. */
const ep = (s: string, port: number): UapiEndpoint => {
  const a = parseIpZone(s)!;
  return { ip: a.ip, zone: a.zone, port };
};


const K1 = new Uint8Array(32).map((_, i) => i + 1); // 0102...20
const K2 = new Uint8Array(32).map((_, i) => 0xa0 + (i % 16));
const PSK = new Uint8Array(32).fill(0x5a);
const hex = (k: Uint8Array): string => Buffer.from(k).toString('hex');
const PRIV = new Uint8Array(32).fill(0x40); // already clamped: 0x40 & 248 = 0x40, last byte 0x40
const ZEROS = '0'.repeat(64);

function set(lines: string[]): ReturnType<typeof parseSet> {
  return parseSet(lines.join('\n') + '\n\n');
}

function ok(lines: string[]): UapiSetRequest {
  const r = set(lines);
  assert.ok(r.ok, r.ok ? '' : `unexpected failure: ${r.reason}`);
  return r.req;
}

function fails(lines: string[], errno = UAPI_EINVAL): string {
  const r = set(lines);
  assert.equal(r.ok, false, `expected failure for ${JSON.stringify(lines)}`);
  if (r.ok) throw new Error('unreachable');
  assert.equal(r.errno, errno, `${JSON.stringify(lines)}: ${r.reason}`);
  // Reasons must never echo key material.
  for (const l of lines) {
    const v = l.slice(l.indexOf('=') + 1);
    if (v.length >= 16) assert.ok(!r.reason.includes(v), `reason leaks a value: ${r.reason}`);
  }
  return r.reason;
}

test('get: empty device is just errno=0 and the blank line', () => {
  assert.equal(serializeGet({ privateKey: null, listenPort: 0, fwmark: 0, peers: [] }), 'errno=0\n\n');
});

test('get: device and peer lines in wireguard-go order and format', () => {
  const view: UapiDeviceView = {
    privateKey: PRIV,
    listenPort: 51820,
    fwmark: 0,
    peers: [
      {
        publicKey: K1,
        presharedKey: null,
        endpoint: ep('fd00::1', 51821),
        allowedIps: [
          { ip: ip('10.0.0.2'), cidr: 32 },
          { ip: ip('fd00::2'), cidr: 128 },
        ],
        persistentKeepalive: 25,
        lastHandshakeWallMs: 1_700_000_000_123,
        rxBytes: 1234,
        txBytes: 2 ** 40,
        protocolVersion: 1,
      },
      {
        publicKey: K2,
        presharedKey: PSK,
        endpoint: null,
        allowedIps: [],
        persistentKeepalive: 0,
        lastHandshakeWallMs: 0,
        rxBytes: 0,
        txBytes: 0,
        protocolVersion: 1,
      },
    ],
  };
  const expected = [
    `private_key=${'40'.repeat(32)}`,
    'listen_port=51820',
    'public_key=0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20',
    `preshared_key=${ZEROS}`,
    'protocol_version=1',
    'endpoint=[fd00::1]:51821',
    'last_handshake_time_sec=1700000000',
    'last_handshake_time_nsec=123000000',
    'tx_bytes=1099511627776',
    'rx_bytes=1234',
    'persistent_keepalive_interval=25',
    'allowed_ip=10.0.0.2/32',
    'allowed_ip=fd00::2/128',
    'public_key=a0a1a2a3a4a5a6a7a8a9aaabacadaeafa0a1a2a3a4a5a6a7a8a9aaabacadaeaf',
    `preshared_key=${'5a'.repeat(32)}`,
    'protocol_version=1',
    'last_handshake_time_sec=0',
    'last_handshake_time_nsec=0',
    'tx_bytes=0',
    'rx_bytes=0',
    'persistent_keepalive_interval=0',
    'errno=0',
    '',
    '',
  ].join('\n');
  assert.equal(serializeGet(view), expected);
});

test('get: fwmark only when non-zero, zero private key omitted, prefixes masked and canonical', () => {
  const out = serializeGet({
    privateKey: new Uint8Array(32),
    listenPort: 0,
    fwmark: 51820,
    peers: [
      {
        publicKey: K1,
        presharedKey: new Uint8Array(32),
        endpoint: ep('::FFFF:192.0.2.1', 9),
        allowedIps: [
          { ip: ip('10.0.0.7'), cidr: 24 },
          { ip: ip('FD00:0:0:0:0:0:0:7'), cidr: 64 },
        ],
        persistentKeepalive: 0,
        lastHandshakeWallMs: 1500.5,
        rxBytes: 0,
        txBytes: 0,
        protocolVersion: 1,
      },
    ],
  });
  const lines = out.split('\n');
  assert.equal(lines[0], 'fwmark=51820');
  assert.ok(!out.includes('private_key='));
  assert.ok(!out.includes('listen_port='));
  assert.ok(lines.includes(`preshared_key=${ZEROS}`));
  assert.ok(lines.includes('endpoint=[::ffff:192.0.2.1]:9'));
  assert.ok(lines.includes('allowed_ip=10.0.0.0/24'));
  assert.ok(lines.includes('allowed_ip=fd00::/64'));
  assert.ok(lines.includes('last_handshake_time_sec=1'));
  assert.ok(lines.includes('last_handshake_time_nsec=500500000'));
});

test('set: device keys', () => {
  const r = ok([`private_key=${'FF'.repeat(32)}`, 'listen_port=51820', 'fwmark=4294967295', 'replace_peers=true']);
  // wireguard-go clamps the key (NoisePrivateKey.FromMaybeZeroHex).
  const clamped = new Uint8Array(32).fill(0xff);
  clamped[0] = 0xf8;
  clamped[31] = 0x7f;
  assert.deepEqual(r.privateKey, clamped);
  assert.equal(r.listenPort, 51820);
  assert.equal(r.fwmark, 4294967295);
  assert.equal(r.replacePeers, true);
  assert.deepEqual(r.peers, []);

  const cleared = ok([`private_key=${ZEROS}`, 'fwmark=0', 'listen_port=0']);
  assert.equal(cleared.privateKey, null);
  assert.equal(cleared.fwmark, null);
  assert.equal(cleared.listenPort, 0);

  const none = ok([]);
  assert.deepEqual(none, { replacePeers: false, peers: [] });
  assert.equal('privateKey' in none || 'listenPort' in none || 'fwmark' in none, false);
  assert.equal(ok(['listen_port=00080']).listenPort, 80);
});

test('set: bad device values give -EINVAL', () => {
  fails([`private_key=${'ab'.repeat(31)}`]);
  fails([`private_key=${'ab'.repeat(33)}`]);
  fails([`private_key=${'ab'.repeat(31)}zz`]);
  fails([`private_key=${'ab'.repeat(31)}a`]);
  for (const v of ['65536', '-1', '+1', '', ' 1', '1.0', 'x']) fails([`listen_port=${v}`]);
  for (const v of ['4294967296', '0x10', '-1', '']) fails([`fwmark=${v}`]);
  for (const v of ['false', 'TRUE', '1', '']) fails([`replace_peers=${v}`]);
});

test('set: unknown keys and protocol_version in the device section', () => {
  const reason = fails(['bogus=1']);
  assert.match(reason, /bogus/);
  fails(['protocol_version=1']); // only valid after public_key, as in wireguard-go
  fails(['Private_Key=' + ZEROS]); // keys are case-sensitive
  // A key name that looks like key material is not echoed.
  const leaky = fails([`${'ab'.repeat(32)}=1`]);
  assert.ok(!leaky.includes('abab'));
});

test('set: a line without "=" is -EPROTO', () => {
  fails(['listen_port'], UAPI_EPROTO);
  fails([`public_key=${hex(K1)}`, hex(PSK)], UAPI_EPROTO);
});

test('set: a new peer with every peer key', () => {
  const r = ok([
    `public_key=${hex(K1)}`,
    'protocol_version=1',
    `preshared_key=${hex(PSK).toUpperCase()}`,
    'endpoint=[fd00::1]:51821',
    'persistent_keepalive_interval=25',
    'replace_allowed_ips=true',
    'allowed_ip=10.0.0.2/32',
    'allowed_ip=FD00::0002/128',
    'allowed_ip=192.168.7.9/24',
  ]);
  assert.equal(r.peers.length, 1);
  assert.deepEqual(r.peers[0], {
    publicKey: K1,
    remove: false,
    updateOnly: false,
    presharedKey: PSK,
    endpoint: ep('fd00::1', 51821),
    persistentKeepalive: 25,
    replaceAllowedIps: true,
    addAllowedIps: [
      { ip: ip('10.0.0.2'), cidr: 32 },
      { ip: ip('fd00::2'), cidr: 128 },
      { ip: ip('192.168.7.0'), cidr: 24 },
    ],
  });
});

test('set: zero preshared key clears it; update_only; absent fields stay absent', () => {
  const r = ok([`public_key=${hex(K1)}`, 'update_only=true', `preshared_key=${ZEROS}`]);
  const p = r.peers[0]!;
  assert.equal(p.updateOnly, true);
  assert.equal(p.presharedKey, null);
  assert.equal('endpoint' in p || 'persistentKeepalive' in p, false);
  assert.equal(p.replaceAllowedIps, false);
  assert.deepEqual(p.addAllowedIps, []);
});

test('set: replace_allowed_ips drops the allowed_ip lines before it in the same section', () => {
  const r = ok([`public_key=${hex(K1)}`, 'allowed_ip=10.0.0.1/32', 'replace_allowed_ips=true', 'allowed_ip=10.0.0.2/32']);
  assert.equal(r.peers[0]!.replaceAllowedIps, true);
  assert.deepEqual(r.peers[0]!.addAllowedIps, [{ ip: ip('10.0.0.2'), cidr: 32 }]);
});

test('set: remove=true removes the peer; later lines in the section are checked but ignored', () => {
  const r = ok([`public_key=${hex(K1)}`, 'endpoint=1.2.3.4:5', 'remove=true', 'allowed_ip=10.0.0.9/32', 'persistent_keepalive_interval=5']);
  assert.deepEqual(r.peers, [
    { publicKey: K1, remove: true, updateOnly: false, replaceAllowedIps: false, addAllowedIps: [] },
  ]);
  fails([`public_key=${hex(K1)}`, 'remove=true', 'allowed_ip=10.0.0.9']);
  for (const v of ['false', 'yes', '']) fails([`public_key=${hex(K1)}`, `remove=${v}`]);
});

test('set: several sections, including the same key twice, keep their order', () => {
  const r = ok([
    'replace_peers=true',
    `public_key=${hex(K1)}`,
    'remove=true',
    `public_key=${hex(K2)}`,
    'allowed_ip=0.0.0.0/0',
    `public_key=${hex(K1)}`,
    'endpoint=127.0.0.1:1',
  ]);
  assert.equal(r.replacePeers, true);
  assert.deepEqual(
    r.peers.map((p) => [hex(p.publicKey), p.remove, p.endpoint?.port ?? null]),
    [
      [hex(K1), true, null],
      [hex(K2), false, null],
      [hex(K1), false, 1],
    ],
  );
});

test('set: device keys after public_key are peer keys, hence unknown', () => {
  fails([`public_key=${hex(K1)}`, 'listen_port=1']);
  fails([`public_key=${hex(K1)}`, 'private_key=' + ZEROS]);
  assert.match(fails([`public_key=${hex(K1)}`, 'nonsense=1']), /nonsense/);
});

test('set: bad peer values give -EINVAL', () => {
  const pk = `public_key=${hex(K1)}`;
  for (const v of ['', 'zz', hex(K1).slice(2), hex(K1) + '00', 'ab'.repeat(31) + 'g0']) fails([`public_key=${v}`]);
  for (const v of ['false', '']) fails([pk, `update_only=${v}`]);
  fails([pk, `preshared_key=${'12'.repeat(31)}`]);
  for (const v of ['1.2.3.4', '[1.2.3.4]:5', '::1:5', 'host.example:51820', '1.2.3.4:70000', '']) fails([pk, `endpoint=${v}`]);
  for (const v of ['65536', '-1', 'off', '']) fails([pk, `persistent_keepalive_interval=${v}`]);
  for (const v of ['false', '']) fails([pk, `replace_allowed_ips=${v}`]);
  for (const v of ['10.0.0.1', '10.0.0.0/33', '10.0.0.0/08', 'fe80::1%eth0/64', '']) fails([pk, `allowed_ip=${v}`]);
  for (const v of ['0', '2', '']) fails([pk, `protocol_version=${v}`]);
});

test('set: reasons never contain key values', () => {
  const secret = 'c0ffee'.repeat(10) + 'abcd';
  for (const lines of [[`private_key=${secret}x`], [`public_key=${hex(K1)}`, `preshared_key=${secret}zz`], [`private_key=${secret}`, 'x']]) {
    const r = set(lines);
    assert.equal(r.ok, false);
    if (!r.ok) assert.ok(!r.reason.includes('c0ffee'), r.reason);
  }
});

test('set: CRLF lines are accepted (bufio.ScanLines drops the CR); the first blank line ends the body', () => {
  const r = parseSet(`listen_port=7\r\npublic_key=${hex(K1)}\r\nallowed_ip=10.1.0.0/16\r\n\r\nlisten_port=bogus\n`);
  assert.ok(r.ok);
  assert.equal(r.req.listenPort, 7);
  assert.deepEqual(r.req.peers[0]!.addAllowedIps, [{ ip: ip('10.1.0.0'), cidr: 16 }]);
  // End of input without a blank line also ends the body.
  const r2 = parseSet('listen_port=8');
  assert.ok(r2.ok && r2.req.listenPort === 8);
});

test('codec: serializeSet writes what parseSet reads back', () => {
  const req: UapiSetRequest = {
    privateKey: PRIV,
    listenPort: 51820,
    fwmark: 7,
    replacePeers: true,
    peers: [
      { publicKey: K1, remove: true, updateOnly: false, replaceAllowedIps: false, addAllowedIps: [] },
      {
        publicKey: K2,
        remove: false,
        updateOnly: true,
        presharedKey: null,
        endpoint: ep('fd00::9', 1),
        persistentKeepalive: 0,
        replaceAllowedIps: true,
        addAllowedIps: [{ ip: ip('10.9.0.0'), cidr: 16 }],
      },
    ],
  };
  const text = serializeSet(req);
  assert.ok(text.startsWith('set=1\n') && text.endsWith('\n\n'));
  assert.ok(text.includes('endpoint=[fd00::9]:1\n'));
  const back = parseSet(text.slice('set=1\n'.length));
  assert.ok(back.ok);
  assert.deepEqual(back.req, req);
});

test('codec: parseGetResponse reads a get response like wg(8) does', () => {
  const text = [
    `private_key=${'40'.repeat(32)}`,
    'listen_port=51820',
    'fwmark=3',
    `public_key=${hex(K1)}`,
    `preshared_key=${ZEROS}`,
    'protocol_version=1',
    'endpoint=[fd00::1]:51821',
    'last_handshake_time_sec=1700000000',
    'last_handshake_time_nsec=123000000',
    'tx_bytes=10',
    'rx_bytes=20',
    'persistent_keepalive_interval=25',
    'allowed_ip=10.0.0.2/32',
    'some_future_key=whatever',
    'errno=0',
    '',
    '',
  ].join('\n');
  const r = parseGetResponse(text);
  assert.ok(r.ok);
  assert.deepEqual(r.view, {
    privateKey: PRIV,
    listenPort: 51820,
    fwmark: 3,
    peers: [
      {
        publicKey: K1,
        presharedKey: null,
        endpoint: ep('fd00::1', 51821),
        allowedIps: [{ ip: ip('10.0.0.2'), cidr: 32 }],
        persistentKeepalive: 25,
        lastHandshakeWallMs: 1_700_000_000_123,
        rxBytes: 20,
        txBytes: 10,
        protocolVersion: 1,
      },
    ],
  });
  assert.deepEqual(parseGetResponse('errno=-22\n\n'), { ok: false, errno: -22, reason: 'device returned an error' });
  assert.equal(parseGetResponse('listen_port=1\n\n').ok, false); // no errno line
  assert.equal(parseGetResponse(`public_key=${hex(K1)}\nallowed_ip=10.0.0.1\nerrno=0\n\n`).ok, false);
});
