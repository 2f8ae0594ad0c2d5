/**
 * [Forward] / [Expose] in the config file and the --forward / --expose
 * short form: the rule objects they make, their errors (file:line, key,
 * what is valid, did-you-mean), the checks against [Interface]/[Peer], and
 * round trips through serializeConfig and shortFormText.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { formatIssue, parseConfig, serializeConfig, type WgConfig } from '../../src/config/index.js';
import { checkShortFormRules, parseShortForm } from '../../src/config/short-form.js';
import { shortFormText, units, type NatRule } from '../../src/nat/rule.js';
import { KEYS } from '../config/helpers.js';

const IFACE = `[Interface]\nPrivateKey = ${KEYS.serverPriv}\nListenPort = 51820\nAddress = 10.0.0.1/24, fd00::1/64\n`;
const PEER = `[Peer]\nPublicKey = ${KEYS.laptopPub}\nAllowedIPs = 10.0.0.2/32, fd00::2/128\n`;

function parse(body: string, head = IFACE + PEER) {
  return parseConfig('wg0.conf', head + body);
}

function errors(body: string, head?: string): string[] {
  const r = parse(body, head);
  assert.equal(r.ok, false, 'expected errors');
  return r.ok ? [] : r.errors.map(formatIssue);
}

function config(body: string, head?: string): WgConfig {
  const r = parse(body, head);
  assert.ok(r.ok, r.ok ? '' : r.errors.map(formatIssue).join('\n'));
  return r.config;
}

const base: Omit<NatRule, 'kind' | 'protocols' | 'listen' | 'target'> = {
  ports: 1,
  source: 'tunnel',
  proxyProtocol: 'off',
  maxConnections: 1024,
  idleTimeout: 7440,
  udpTimeout: 120,
  maxSessions: 512,
};

test('[Forward] and [Expose] become rule objects with the documented defaults', () => {
  const cfg = config(`
[Forward]
Protocol = tcp
Listen = 0.0.0.0:8080
Target = 10.0.0.2:8080

[forward]
protocol = UDP, tcp
listen = [::]:6000-6010
target = [FD00:0::2]:7000-7010
Source = client
ProxyProtocol = v2
MaxConnections = 50
IdleTimeout = off
UdpTimeout = 30
MaxSessions = 100

[Expose]
Listen = 10.0.0.1:8080
Target = 127.0.0.1:80
ProxyProtocol = v1
`);
  assert.deepEqual(cfg.extensions['Forward'], [
    { ...base, kind: 'forward', protocols: ['tcp'], listen: { host: '0.0.0.0', port: 8080 }, target: { host: '10.0.0.2', port: 8080 } },
    {
      kind: 'forward',
      protocols: ['tcp', 'udp'],
      listen: { host: '::', port: 6000 },
      target: { host: 'fd00::2', port: 7000 },
      ports: 11,
      source: 'client',
      proxyProtocol: 'v2',
      maxConnections: 50,
      idleTimeout: 0,
      udpTimeout: 30,
      maxSessions: 100,
    },
  ]);
  assert.deepEqual(cfg.extensions['Expose'], [
    { ...base, kind: 'expose', protocols: ['tcp'], listen: { host: '10.0.0.1', port: 8080 }, target: { host: '127.0.0.1', port: 80 }, proxyProtocol: 'v1' },
  ]);
  assert.deepEqual(
    cfg.warnings.map(formatIssue),
    [], // ProxyProtocol = v2 now covers UDP too (issue 20): no warning for tcp,udp
  );
});

test('every value is checked, with file:line, the key, what is valid and a suggestion', () => {
  assert.deepEqual(
    errors(`[Forward]
Protocol = tpc
Listen = 8080
Target = 10.0.0.2
Source = clinet
ProxyProtocol = v3
MaxConnections = 0
IdleTimeout = soon
UdpTimeout = 0
MaxSessions = 20000
[Forward]
Listen = example.com:80
Target = [fd00::2:80
[Forward]
Listen = 0.0.0.0:6010-6000
Target = 10.0.0.2:1-2000
Lisen = 0.0.0.0:1
[Expose]
Source = client
Listen = 10.0.0.1:99999
`),
    [
      'wg0.conf:9: Protocol = tpc: tpc is not a protocol; use tcp, udp or tcp,udp (did you mean tcp?)',
      'wg0.conf:10: Listen = 8080: missing port; use ADDRESS:PORT or [IPv6]:PORT (names are not looked up; 0.0.0.0 listens on all IPv4 addresses, [::] on all IPv4 and IPv6)',
      'wg0.conf:11: Target = 10.0.0.2: missing port; use ADDRESS:PORT or [IPv6]:PORT (the target is inside the tunnel and names are not looked up; give its tunnel IP)',
      "wg0.conf:12: Source = clinet: must be tunnel (connect from our tunnel Address) or client (the public client's own address) (did you mean client?)",
      'wg0.conf:13: ProxyProtocol = v3: must be off, v1 or v2 (did you mean v1?)',
      'wg0.conf:14: MaxConnections = 0: must be an integer 1-1000000',
      'wg0.conf:15: IdleTimeout = soon: must be an integer 0-2592000 (seconds; 0 = never), or off',
      'wg0.conf:16: UdpTimeout = 0: must be an integer 1-86400 (seconds)',
      'wg0.conf:17: MaxSessions = 20000: must be an integer 1-16384',
      'wg0.conf:19: Listen = example.com:80: example.com is not an IP address (names are not looked up; 0.0.0.0 listens on all IPv4 addresses, [::] on all IPv4 and IPv6)',
      'wg0.conf:20: Target = [fd00::2:80: missing "]" after the IPv6 address; use [addr]:port',
      'wg0.conf:22: Listen = 0.0.0.0:6010-6000: port range 6010-6000 is reversed; write 6000-6010',
      'wg0.conf:23: Target = 10.0.0.2:1-2000: port range 1-2000 has 2000 ports; at most 1024 per rule',
      'wg0.conf:24: unknown key "Lisen" in [Forward] (did you mean Listen?)',
      'wg0.conf:26: Source belongs in [Forward], not in [Expose]',
      'wg0.conf:27: Listen = 10.0.0.1:99999: port must be an integer 1-65535, or a range FIRST-LAST such as 6000-6010',
      'wg0.conf:25: [Expose] has no Target (required: the local service, e.g. 127.0.0.1:8080)',
    ],
  );
});

test('rule-level errors: range lengths, protocol and Source combinations, missing keys', () => {
  assert.deepEqual(
    errors(`[Forward]
Listen = 0.0.0.0:6000-6010
Target = 10.0.0.2:7000
[Forward]
Listen = 0.0.0.0:6000-6010
Target = 10.0.0.2:7000-7004
[Forward]
Protocol = udp
Listen = 0.0.0.0:53
Target = 10.0.0.2:53
ProxyProtocol = v1
[Forward]
Listen = 0.0.0.0:80
Target = [fd00::2]:80
Source = client
[Forward]
Listen = [2001:db8::1]:80
Target = 10.0.0.2:80
Source = client
[Forward]
Target = 0.0.0.0:80
[Expose]
Listen = 0.0.0.0:80
Target = 127.0.0.1:80
`),
    [
      "wg0.conf:10: Target must be a port range as long as Listen's (11 ports), e.g. 10.0.0.2:7000-7010",
      "wg0.conf:13: Target's range has 5 ports but Listen's has 11; they must be the same length",
      'wg0.conf:18: ProxyProtocol = v1 has no UDP form; use v2 (a binary header before each datagram) or off',
      'wg0.conf:22: Source = client cannot carry IPv4 clients (Listen 0.0.0.0) to an IPv6 Target; use Source = tunnel',
      'wg0.conf:26: Source = client cannot carry IPv6 clients (Listen 2001:db8::1) to an IPv4 Target; use Source = tunnel',
      'wg0.conf:27: [Forward] has no Listen (required: the public address:port on this host, e.g. 0.0.0.0:8080)',
      "wg0.conf:30: Listen = 0.0.0.0:80: [Expose] listens inside the tunnel on one of this interface's Address values, not on a wildcard",
    ],
  );
});

test('checks against [Interface] and [Peer]: Expose Listen, overlaps, own address, source family, routing', () => {
  assert.deepEqual(
    errors(`[Forward]
Listen = 0.0.0.0:8080
Target = 10.0.0.2:8080
[Forward]
Protocol = tcp,udp
Listen = 127.0.0.1:8000-8090
Target = 10.0.0.2:8000-8090
[Forward]
Protocol = udp
Listen = 0.0.0.0:51800-51830
Target = 10.0.0.2:1000-1030
[Forward]
Listen = 0.0.0.0:9000
Target = 10.0.0.1:80
[Expose]
Listen = 10.0.0.3:80
Target = 127.0.0.1:80
[Expose]
Listen = [fd00::1]:443
Target = 127.0.0.1:443
[Expose]
Protocol = udp,tcp
Listen = [fd00::1]:443
Target = 127.0.0.1:8443
`),
    [
      'wg0.conf:13: Listen 127.0.0.1:8000-8090 (tcp) overlaps the [Forward] at line 8 (0.0.0.0:8080)',
      'wg0.conf:17: Listen 0.0.0.0:51800-51830 (udp) includes 51820, the WireGuard ListenPort of [Interface] (its socket listens on all addresses)',
      "wg0.conf:21: Target 10.0.0.1 is this interface's own Address; a [Forward] target is a peer inside the tunnel (use [Expose] to publish a service of this host)",
      "wg0.conf:23: Listen 10.0.0.3 is not an Address of this interface (did you mean 10.0.0.1?); [Expose] listens inside the tunnel on one of: 10.0.0.1, fd00::1",
      'wg0.conf:30: Listen [fd00::1]:443 (tcp) overlaps the [Expose] at line 25 ([fd00::1]:443)',
    ],
  );
  const v4only = `[Interface]\nPrivateKey = ${KEYS.serverPriv}\nAddress = 10.0.0.1/24\n${PEER}`;
  assert.deepEqual(errors('[Forward]\nListen = [::]:80\nTarget = [fd00::2]:80\n', v4only), [
    'wg0.conf:9: Target fd00::2 is IPv6 but [Interface] has no IPv6 Address to connect from (Source = tunnel)',
  ]);
  const cfg = config('[Forward]\nListen = 0.0.0.0:80\nTarget = 10.9.9.9:80\n[Forward]\nListen = [::]:81\nTarget = 10.0.0.2:81\nSource = client\n');
  assert.deepEqual(cfg.warnings.map(formatIssue), [
    'wg0.conf:14: with Source = client and an IPv4 Target, IPv6 clients on [::] are refused (reset); only IPv4 clients get through',
    'wg0.conf:10: no [Peer] has AllowedIPs covering 10.9.9.9; connections to it fail until one does',
  ]);
});

test('serializeConfig writes the sections back; parsing that gives the same rules', () => {
  const cfg = config(`[Forward]
Protocol = udp,tcp
Listen = [::]:6000-6001
Target = 10.0.0.2:7000-7001
MaxSessions = 9
[Expose]
Listen = [fd00::1]:22
Target = [::1]:22
IdleTimeout = 0
`);
  const text = serializeConfig(cfg);
  assert.ok(
    text.endsWith(
      '[Forward]\nProtocol = tcp,udp\nListen = [::]:6000-6001\nTarget = 10.0.0.2:7000-7001\nMaxSessions = 9\n\n' +
        '[Expose]\nProtocol = tcp\nListen = [fd00::1]:22\nTarget = [::1]:22\nIdleTimeout = 0\n',
    ),
    text,
  );
  const again = parseConfig('wg0.conf', text);
  assert.ok(again.ok);
  assert.deepEqual(again.config.extensions, cfg.extensions);
});

test('the short form makes the same rule as the section', () => {
  const cfg = config(`[Forward]
Protocol = tcp,udp
Listen = [::]:6000-6010
Target = 10.0.0.2:6000-6010
ProxyProtocol = v2
MaxConnections = 10
[Expose]
Listen = 10.0.0.1:8080
Target = 127.0.0.1:8080
`);
  const arg = 'tcp+udp:[::]:6000-6010=10.0.0.2:6000-6010,proxyprotocol=v2,MaxConnections=10';
  const f = parseShortForm('forward', arg);
  assert.ok(f.ok, f.ok ? '' : f.errors.join('\n'));
  assert.deepEqual(f.rule, cfg.extensions['Forward']![0]);
  // Long arguments are cut in messages, as long values are in config errors.
  assert.ok(arg.length > 64);
  assert.deepEqual(f.warnings, []);
  const e = parseShortForm('expose', 'tcp:10.0.0.1:8080=127.0.0.1:8080');
  assert.ok(e.ok);
  assert.deepEqual(e.rule, cfg.extensions['Expose']![0]);
  // Printed back with every option: the same rule again.
  for (const r of [f.rule, e.rule]) {
    const again = parseShortForm(r.kind, shortFormText(r));
    assert.ok(again.ok);
    assert.deepEqual(again.rule, r);
  }
  assert.equal(
    shortFormText(f.rule),
    'tcp,udp:[::]:6000-6010=10.0.0.2:6000-6010,Source=tunnel,ProxyProtocol=v2,MaxConnections=10,IdleTimeout=7440,UdpTimeout=120,MaxSessions=512',
  );
  assert.deepEqual(
    units(f.rule).map((u) => u.text),
    [
      'forward tcp:[::]:6000-6010=10.0.0.2:6000-6010,Source=tunnel,ProxyProtocol=v2,MaxConnections=10,IdleTimeout=7440',
      'forward udp:[::]:6000-6010=10.0.0.2:6000-6010,Source=tunnel,ProxyProtocol=v2,UdpTimeout=120,MaxSessions=512',
    ],
  );
});

test('short-form errors name the argument and say what is valid', () => {
  const bad = (kind: 'forward' | 'expose', arg: string): string[] => {
    const r = parseShortForm(kind, arg);
    assert.equal(r.ok, false);
    return r.ok ? [] : r.errors;
  };
  assert.deepEqual(bad('forward', '0.0.0.0:8080'), [
    '--forward 0.0.0.0:8080: expected --forward PROTO:LISTEN=TARGET[,Key=Value...], e.g. --forward tcp:0.0.0.0:8080=10.0.0.2:8080',
  ]);
  assert.deepEqual(bad('forward', 'sctp:0.0.0.0:80=10.0.0.2'), [
    '--forward sctp:0.0.0.0:80=10.0.0.2: Protocol = sctp: sctp is not a protocol; use tcp, udp or tcp,udp (did you mean tcp?)',
    '--forward sctp:0.0.0.0:80=10.0.0.2: Target = 10.0.0.2: missing port; use ADDRESS:PORT or [IPv6]:PORT (the target is inside the tunnel and names are not looked up; give its tunnel IP)',
  ]);
  assert.deepEqual(bad('forward', 'tcp:0.0.0.0:80=10.0.0.2:80,Sorce=client'), [
    '--forward tcp:0.0.0.0:80=10.0.0.2:80,Sorce=client: unknown option Sorce (did you mean Source?)',
  ]);
  assert.deepEqual(bad('forward', 'udp:0.0.0.0:80=10.0.0.2:80,MaxSessions'), [
    '--forward udp:0.0.0.0:80=10.0.0.2:80,MaxSessions: option MaxSessions needs a value: Key=Value',
  ]);
  assert.deepEqual(bad('forward', 'tcp:0.0.0.0:80=10.0.0.2:80,Listen=1.2.3.4:5'), [
    '--forward tcp:0.0.0.0:80=10.0.0.2:80,Listen=1.2.3.4:5: Listen is given by position (PROTO:LISTEN=TARGET), not as an option',
  ]);
  assert.deepEqual(bad('forward', 'tcp:0.0.0.0:80=10.0.0.2:80,IdleTimeout=1,idletimeout=2'), [
    '--forward tcp:0.0.0.0:80=10.0.0.2:80,IdleTimeout=1,idletimeout=2: IdleTimeout is given twice',
  ]);
  assert.deepEqual(bad('forward', 'tcp:0.0.0.0:80=10.0.0.2:80,MaxConnections=lots'), [
    '--forward tcp:0.0.0.0:80=10.0.0.2:80,MaxConnections=lots: MaxConnections = lots: must be an integer 1-1000000',
  ]);
  assert.deepEqual(bad('expose', 'tcp:10.0.0.1:80=localhost:80,Source=client'), [
    '--expose tcp:10.0.0.1:80=localhost:80,Source=client: unknown option Source (Source is for --forward only)',
    '--expose tcp:10.0.0.1:80=localhost:80,Source=client: Target = localhost:80: localhost is not an IP address (names are not looked up; use 127.0.0.1 or [::1] for this host)',
  ]);
});

test('short-form rules are checked against the file: interface addresses and overlaps with its rules', () => {
  const cfg = config('[Forward]\nListen = 0.0.0.0:8080\nTarget = 10.0.0.2:8080\n');
  const items = ['tcp:[::]:8080=10.0.0.2:80', 'udp:[::]:8080=10.0.0.2:80', 'tcp:0.0.0.0:9090=10.0.0.7:9090'].map((arg) => {
    const r = parseShortForm('forward', arg);
    assert.ok(r.ok);
    return { rule: r.rule, arg };
  });
  assert.deepEqual(checkShortFormRules('forward', items, cfg), {
    errors: ['--forward tcp:[::]:8080=10.0.0.2:80: Listen [::]:8080 (tcp) overlaps the [Forward] with Listen = 0.0.0.0:8080 (0.0.0.0:8080)'],
    warnings: ['--forward tcp:0.0.0.0:9090=10.0.0.7:9090: no [Peer] has AllowedIPs covering 10.0.0.7; connections to it fail until one does'],
  });
  const ex = parseShortForm('expose', 'tcp:10.0.0.5:80=127.0.0.1:80');
  assert.ok(ex.ok);
  assert.deepEqual(checkShortFormRules('expose', [{ rule: ex.rule, arg: 'tcp:10.0.0.5:80=127.0.0.1:80' }], cfg).errors, [
    '--expose tcp:10.0.0.5:80=127.0.0.1:80: Listen 10.0.0.5 is not an Address of this interface (did you mean 10.0.0.1?); [Expose] listens inside the tunnel on one of: 10.0.0.1, fd00::1',
  ]);
});

test('Target lists several targets with weights; Balance and the Health keys; both round trips', () => {
  const cfg = config(`[Forward]
Protocol = tcp,udp
Listen = 0.0.0.0:8000-8001
Target = 10.0.0.2:8000-8001 weight=3, 10.0.0.3:8000-8001 , 10.0.0.4:9000-9001 WEIGHT = 2
Balance = Source
HealthCheck = http:/healthz
HealthInterval = 10
HealthFailures = 4
`, IFACE + `[Peer]\nPublicKey = ${KEYS.laptopPub}\nAllowedIPs = 10.0.0.0/24\n`);
  const r = cfg.extensions['Forward']![0] as NatRule;
  assert.deepEqual(r, {
    ...base,
    kind: 'forward',
    protocols: ['tcp', 'udp'],
    listen: { host: '0.0.0.0', port: 8000 },
    ports: 2,
    target: { host: '10.0.0.2', port: 8000 },
    targets: [
      { host: '10.0.0.2', port: 8000, weight: 3 },
      { host: '10.0.0.3', port: 8000, weight: 1 },
      { host: '10.0.0.4', port: 9000, weight: 2 },
    ],
    balance: 'source',
    health: { check: 'http', path: '/healthz', interval: 10, timeout: 2, failures: 4, successes: 2 },
  });
  assert.deepEqual(cfg.warnings, []);
  const text = serializeConfig(cfg);
  assert.ok(text.includes('Target = 10.0.0.2:8000-8001 weight=3, 10.0.0.3:8000-8001, 10.0.0.4:9000-9001 weight=2\nBalance = source\nHealthCheck = http:/healthz\nHealthInterval = 10\nHealthFailures = 4\n'), text);
  const again = parseConfig('wg0.conf', text);
  assert.ok(again.ok);
  assert.deepEqual(again.config.extensions, cfg.extensions);
  const sf = shortFormText(r);
  assert.equal(sf, 'tcp,udp:0.0.0.0:8000-8001=10.0.0.2:8000-8001 weight=3+10.0.0.3:8000-8001+10.0.0.4:9000-9001 weight=2,Source=tunnel,ProxyProtocol=off,MaxConnections=1024,IdleTimeout=7440,UdpTimeout=120,MaxSessions=512,Balance=source,HealthCheck=http:/healthz,HealthInterval=10,HealthTimeout=2,HealthFailures=4,HealthSuccesses=2');
  const back = parseShortForm('forward', sf);
  assert.ok(back.ok, back.ok ? '' : back.errors.join('\n'));
  assert.deepEqual(back.rule, r);
  // The units' identity leaves out targets, Balance and health: a reload changing those updates in place.
  const other = { ...r, targets: r.targets!.slice(1), target: r.targets![1]!, balance: 'leastconn' as const, health: undefined };
  assert.deepEqual(units(other).map((u) => u.key), units(r).map((u) => u.key));
  assert.notDeepEqual(units(other).map((u) => u.text), units(r).map((u) => u.text));
});

test('errors and warnings of several targets and health checks', () => {
  assert.deepEqual(
    errors(`[Forward]
Listen = 0.0.0.0:80
Target = 10.0.0.2:80, 10.0.0.2:80
[Forward]
Listen = 0.0.0.0:81
Target = 10.0.0.2:81 weight=0
[Forward]
Listen = 0.0.0.0:82
Target = 10.0.0.2:82,, 10.0.0.3:82
[Forward]
Listen = 0.0.0.0:83-84
Target = 10.0.0.2:83-84, 10.0.0.3:83
[Forward]
Listen = 0.0.0.0:85
Target = 10.0.0.2:85
Balance = random
HealthCheck = http:healthz
HealthInterval = 0
[Forward]
Listen = 0.0.0.0:86
Target = 10.0.0.2:86, [fd00::2]:86
Source = client
`),
    [
      'wg0.conf:10: Target = 10.0.0.2:80, 10.0.0.2:80: 10.0.0.2:80 is listed twice',
      'wg0.conf:13: Target = 10.0.0.2:81 weight=0: weight=0: must be an integer 1-256',
      'wg0.conf:16: Target = 10.0.0.2:82,, 10.0.0.3:82: an empty entry in the list; separate targets with one comma',
      'wg0.conf:23: Balance = random: must be roundrobin, leastconn or source (the same client address sticks to the same target)',
      'wg0.conf:24: HealthCheck = http:healthz: http:PATH needs a path starting with "/" without spaces, e.g. http:/healthz',
      'wg0.conf:25: HealthInterval = 0: must be an integer 1-3600 (seconds)',
      "wg0.conf:19: Target 10.0.0.3:83 must be a port range as long as Listen's (2 ports), e.g. 10.0.0.3:83-84",
      'wg0.conf:28: with Source = client every Target must be of one address family (IPv4 or IPv6)',
    ],
  );
  assert.deepEqual(errors('[Forward]\nListen = 0.0.0.0:87\nTarget = 10.0.0.2:87, 10.0.0.1:87\n'), [
    "wg0.conf:10: Target 10.0.0.1 is this interface's own Address; a [Forward] target is a peer inside the tunnel (use [Expose] to publish a service of this host)",
  ]);
  const cfg = config(`[Forward]
Listen = 0.0.0.0:80
Target = 10.0.0.2:80, 10.0.0.9:80
HealthTimeout = 3
[Forward]
Listen = 0.0.0.0:81
Target = 10.0.0.2:81
HealthCheck = tcp
HealthInterval = 1
HealthTimeout = 5
`);
  assert.deepEqual(cfg.warnings.map(formatIssue), [
    'wg0.conf:11: HealthTimeout has no effect without HealthCheck = tcp or http:/PATH',
    'wg0.conf:17: HealthTimeout (5 s) is longer than HealthInterval (1 s); the next probe waits for the previous one',
    'wg0.conf:10: no [Peer] has AllowedIPs covering 10.0.0.9; connections to it fail until one does',
  ]);
});
