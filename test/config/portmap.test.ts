/**
 * The [PortMapping] section (issue 8): every key's accepted forms, the
 * built PortMapPolicy, every refusal with its exact `file:line:` message,
 * the checks against [Interface]/[Peer]/[Expose], and the serializer.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { formatIssue, parseConfig, serializeConfig, type WgConfig } from '../../src/config/index.js';
import type { PortMapPolicy } from '../../src/portmap/types.js';
import { KEYS } from './helpers.js';

/** Lines 1-6; the section body starts at line 8. */
const HEAD = [
  '[Interface]',
  `PrivateKey = ${KEYS.serverPriv}`,
  'Address = 10.0.0.1/24, fd00::1/64',
  '[Peer]',
  `PublicKey = ${KEYS.laptopPub}`,
  'AllowedIPs = 10.0.0.2/32, fd00::2/128',
];

function text(body: string[], head: string[] = HEAD): string {
  return [...head, '[PortMapping]', ...body].join('\n') + '\n';
}

function mustParse(t: string): WgConfig {
  const r = parseConfig('wg0.conf', t);
  if (!r.ok) assert.fail(r.errors.map(formatIssue).join('\n'));
  return r.config;
}

function policy(c: WgConfig): PortMapPolicy {
  const list = c.extensions['PortMapping'] as PortMapPolicy[];
  assert.equal(list.length, 1);
  return list[0]!;
}

function errors(t: string): string[] {
  const r = parseConfig('wg0.conf', t);
  assert.equal(r.ok, false, `expected errors for:\n${t}`);
  return r.ok ? [] : r.errors.map(formatIssue);
}

test('an empty [PortMapping] gives the documented defaults', () => {
  const c = mustParse(text([]));
  assert.deepEqual(policy(c), {
    services: { natpmp: true, pcp: true, upnp: true },
    externalAddress: undefined,
    listenAddress: '0.0.0.0',
    rules: [],
    maxLifetime: 7200,
    maxMappingsPerPeer: 32,
    upnpHttpPort: 5000,
  });
  assert.deepEqual(c.warnings, []);
});

test('without the section there is no policy', () => {
  const c = mustParse(HEAD.join('\n'));
  assert.deepEqual(c.extensions['PortMapping'], []);
});

test('every key, Allow/Deny kept in file order with their lines', () => {
  const c = mustParse(
    text([
      'Protocols = natpmp, upnp', // 8
      'ExternalAddress = 203.0.113.9',
      'ListenAddress = 198.51.100.4', // 10
      'Allow = 1024-65535 10.0.0.2 1024-65535',
      'Deny = 22 10.0.0.0/24 1-65535', // 12
      'Allow = 8000-8100 fd00::2 80',
      'Deny = 1-65535 0.0.0.0/0 1-65535', // 14
      'MaxLifetime = 3600',
      'MaxMappingsPerPeer = 4', // 16
      'UpnpHttpPort = 5555',
    ]),
  );
  assert.deepEqual(policy(c), {
    services: { natpmp: true, pcp: false, upnp: true },
    externalAddress: '203.0.113.9',
    listenAddress: '198.51.100.4',
    rules: [
      { allow: true, external: [1024, 65535], prefix: { ip: '10.0.0.2', cidr: 32, family: 4 }, internal: [1024, 65535], line: 11 },
      { allow: false, external: [22, 22], prefix: { ip: '10.0.0.0', cidr: 24, family: 4 }, internal: [1, 65535], line: 12 },
      { allow: true, external: [8000, 8100], prefix: { ip: 'fd00::2', cidr: 128, family: 6 }, internal: [80, 80], line: 13 },
      { allow: false, external: [1, 65535], prefix: { ip: '0.0.0.0', cidr: 0, family: 4 }, internal: [1, 65535], line: 14 },
    ],
    maxLifetime: 3600,
    maxMappingsPerPeer: 4,
    upnpHttpPort: 5555,
  });
  assert.deepEqual(c.warnings, []);
});

test('key names, section name and protocol names in any case; bounds accepted', () => {
  const c = mustParse(
    [...HEAD, '[portmapping]', 'PROTOCOLS = PCP', 'maxlifetime = 604800', 'MAXMAPPINGSPERPEER = 1024', 'upnphttpport = 65535', 'allow = 1 10.0.0.2/32 65535'].join('\n'),
  );
  const p = policy(c);
  assert.deepEqual(p.services, { natpmp: false, pcp: true, upnp: false });
  assert.deepEqual([p.maxLifetime, p.maxMappingsPerPeer, p.upnpHttpPort], [604800, 1024, 65535]);
  assert.deepEqual(p.rules[0]!.external, [1, 1]);
  const low = policy(mustParse(text(['MaxLifetime = 1', 'MaxMappingsPerPeer = 1', 'UpnpHttpPort = 1', 'Protocols = upnp pcp natpmp'])));
  assert.deepEqual([low.maxLifetime, low.maxMappingsPerPeer, low.upnpHttpPort], [1, 1, 1]);
  assert.deepEqual(low.services, { natpmp: true, pcp: true, upnp: true });
});

test('ListenAddress: IPv4, IPv6 plain or bracketed, canonical form', () => {
  assert.equal(policy(mustParse(text(['ListenAddress = ::']))).listenAddress, '::');
  assert.equal(policy(mustParse(text(['ListenAddress = [2001:DB8:0:0::7]']))).listenAddress, '2001:db8::7');
  assert.equal(policy(mustParse(text(['ListenAddress = 0.0.0.0']))).listenAddress, '0.0.0.0');
});

test('Allow/Deny prefixes with host bits are cleared, with a warning naming what is used', () => {
  const c = mustParse(text(['Allow = 1024-65535 10.0.0.9/24 1024-65535', 'Deny = 80 fd00::1:2/64 80']));
  const p = policy(c);
  assert.deepEqual(p.rules.map((r) => r.prefix), [
    { ip: '10.0.0.0', cidr: 24, family: 4 },
    { ip: 'fd00::', cidr: 64, family: 6 },
  ]);
  assert.deepEqual(c.warnings.map(formatIssue), [
    'wg0.conf:8: Allow prefix 10.0.0.9/24 has host bits set; using 10.0.0.0/24',
    'wg0.conf:9: Deny prefix fd00::1:2/64 has host bits set; using fd00::/64',
  ]);
});

test('an Allow prefix no peer can hold warns; one overlapping some AllowedIPs does not', () => {
  const c = mustParse(
    text([
      'Allow = 1024-65535 10.0.0.0/16 1024-65535', // holds the peer's 10.0.0.2/32: fine
      'Allow = 1024-65535 0.0.0.0/0 1024-65535', // fine
      'Allow = 1024-65535 10.0.0.2 1024-65535', // exactly the peer: fine
      'Allow = 1024-65535 192.168.7.0/24 1024-65535', // line 11: no peer there
      'Allow = 1024-65535 fd00::3 1024-65535', // line 12: another IPv6 host
      'Deny = 1024-65535 172.16.0.0/12 1024-65535', // Deny rules are not checked
    ]),
  );
  assert.deepEqual(c.warnings.map(formatIssue), [
    'wg0.conf:11: Allow prefix 192.168.7.0/24 is outside every [Peer] AllowedIPs; no peer can ever match this rule',
    'wg0.conf:12: Allow prefix fd00::3/128 is outside every [Peer] AllowedIPs; no peer can ever match this rule',
  ]);
  assert.equal(policy(c).rules.length, 6);
});

test('a peer AllowedIPs inside a broader Allow prefix counts as overlap', () => {
  const head = [...HEAD.slice(0, 5), 'AllowedIPs = 10.0.0.128/25'];
  const c = mustParse(text(['Allow = 1024-65535 10.0.0.0/24 1024-65535', 'Allow = 1024-65535 10.0.0.0/25 1024-65535'], head));
  assert.deepEqual(c.warnings.map(formatIssue), [
    'wg0.conf:9: Allow prefix 10.0.0.0/25 is outside every [Peer] AllowedIPs; no peer can ever match this rule',
  ]);
});

const refusals: [string, string[], string[]][] = [
  ['Protocols unknown', ['Protocols = nat-pmp'], ['wg0.conf:8: Protocols = nat-pmp: nat-pmp is not a port-mapping protocol; use natpmp, pcp, upnp or a comma list of them (did you mean natpmp?)']],
  ['Protocols far off', ['Protocols = igd'], ['wg0.conf:8: Protocols = igd: igd is not a port-mapping protocol; use natpmp, pcp, upnp or a comma list of them']],
  ['Protocols twice in the list', ['Protocols = pcp, PCP'], ['wg0.conf:8: Protocols = pcp, PCP: pcp is listed twice']],
  ['Protocols empty', ['Protocols = ,'], ['wg0.conf:8: Protocols = ,: list one or more of natpmp, pcp, upnp (leave the [PortMapping] section out to turn port mapping off)']],
  ['ExternalAddress hostname', ['ExternalAddress = vps.example.com'], ["wg0.conf:8: ExternalAddress = vps.example.com: names are not looked up; give this host's public IPv4 address"]],
  ['ExternalAddress bad IPv4', ['ExternalAddress = 203.0.113.300'], ['wg0.conf:8: ExternalAddress = 203.0.113.300: not a valid IPv4 address']],
  ['ExternalAddress IPv6', ['ExternalAddress = 2001:db8::1'], ['wg0.conf:8: ExternalAddress = 2001:db8::1: must be an IPv4 address (NAT-PMP and UPnP report an IPv4 external address)']],
  ['ExternalAddress unspecified', ['ExternalAddress = 0.0.0.0'], ['wg0.conf:8: ExternalAddress = 0.0.0.0: 0.0.0.0 is not an address; leave ExternalAddress out to let wgts pick one']],
  ['ExternalAddress with port', ['ExternalAddress = 203.0.113.9:80'], ['wg0.conf:8: ExternalAddress = 203.0.113.9:80: not a valid IPv4 address']],
  [
    'ListenAddress hostname',
    ['ListenAddress = localhost'],
    ['wg0.conf:8: ListenAddress = localhost: names are not looked up; give an IP address of this host, 0.0.0.0 (all IPv4) or :: (all IPv4 and IPv6)'],
  ],
  ['ListenAddress bad IPv6', ['ListenAddress = fd00:::1'], ['wg0.conf:8: ListenAddress = fd00:::1: not a valid IPv6 address']],
  ['ListenAddress bad IPv4', ['ListenAddress = 1.2.3'], ['wg0.conf:8: ListenAddress = 1.2.3: not a valid IPv4 address']],
  ['ListenAddress twice', ['ListenAddress = ::', 'ListenAddress = 0.0.0.0'], ['wg0.conf:9: ListenAddress is given again (first at line 8); it may appear only once']],
  [
    'Allow too few words',
    ['Allow = 1024-65535 10.0.0.0/24'],
    ['wg0.conf:8: Allow = 1024-65535 10.0.0.0/24: must be EXTERNAL-PORTS PREFIX INTERNAL-PORTS, e.g. 1024-65535 10.0.0.0/24 1024-65535 (found 2 words)'],
  ],
  [
    'Allow empty',
    ['Allow ='],
    ['wg0.conf:8: Allow = "": must be EXTERNAL-PORTS PREFIX INTERNAL-PORTS, e.g. 1024-65535 10.0.0.0/24 1024-65535 (found 0 words)'],
  ],
  [
    'Allow with miniupnpd commas',
    ['Allow = 1024-65535, 10.0.0.0/24, 1024-65535'],
    ['wg0.conf:8: Allow = 1024-65535, 10.0.0.0/24, 1024-65535: external ports 1024-65535,: must be a port 1-65535 or a range FIRST-LAST such as 1024-65535'],
  ],
  ['Allow port 0', ['Allow = 0-65535 10.0.0.0/24 1024-65535'], ['wg0.conf:8: Allow = 0-65535 10.0.0.0/24 1024-65535: external ports 0-65535: must be a port 1-65535 or a range FIRST-LAST such as 1024-65535']],
  ['Allow port too big', ['Allow = 1024 10.0.0.0/24 65536'], ['wg0.conf:8: Allow = 1024 10.0.0.0/24 65536: internal ports 65536: must be a port 1-65535 or a range FIRST-LAST such as 1024-65535']],
  ['Deny reversed range', ['Deny = 2000-1000 10.0.0.0/24 1-65535'], ['wg0.conf:8: Deny = 2000-1000 10.0.0.0/24 1-65535: external ports 2000-1000 is reversed; write 1000-2000']],
  ['Deny reversed internal range', ['Deny = 1-65535 10.0.0.0/24 9-8'], ['wg0.conf:8: Deny = 1-65535 10.0.0.0/24 9-8: internal ports 9-8 is reversed; write 8-9']],
  ['Allow port word', ['Allow = http 10.0.0.0/24 80'], ['wg0.conf:8: Allow = http 10.0.0.0/24 80: external ports http: must be a port 1-65535 or a range FIRST-LAST such as 1024-65535']],
  ['Allow bad prefix length', ['Allow = 80 10.0.0.0/33 80'], ['wg0.conf:8: Allow = 80 10.0.0.0/33 80: prefix 10.0.0.0/33: prefix length must be an integer 0-32']],
  ['Allow bad IPv4', ['Allow = 80 10.0.0.256 80'], ['wg0.conf:8: Allow = 80 10.0.0.256 80: prefix 10.0.0.256: not a valid IPv4 address']],
  ['Allow bad IPv6', ['Allow = 80 fd00:::/64 80'], ['wg0.conf:8: Allow = 80 fd00:::/64 80: prefix fd00:::/64: not a valid IPv6 address']],
  ['Allow hostname', ['Allow = 80 laptop.lan 80'], ['wg0.conf:8: Allow = 80 laptop.lan 80: prefix laptop.lan: names are not looked up; give ADDRESS/LENGTH']],
  ['MaxLifetime 0', ['MaxLifetime = 0'], ['wg0.conf:8: MaxLifetime = 0: must be an integer 1-604800 (seconds)']],
  ['MaxLifetime too long', ['MaxLifetime = 604801'], ['wg0.conf:8: MaxLifetime = 604801: must be an integer 1-604800 (seconds)']],
  ['MaxLifetime unit', ['MaxLifetime = 2h'], ['wg0.conf:8: MaxLifetime = 2h: must be an integer 1-604800 (seconds)']],
  ['MaxMappingsPerPeer 0', ['MaxMappingsPerPeer = 0'], ['wg0.conf:8: MaxMappingsPerPeer = 0: must be an integer 1-1024']],
  ['MaxMappingsPerPeer too many', ['MaxMappingsPerPeer = 1025'], ['wg0.conf:8: MaxMappingsPerPeer = 1025: must be an integer 1-1024']],
  ['UpnpHttpPort 0', ['UpnpHttpPort = 0'], ['wg0.conf:8: UpnpHttpPort = 0: must be an integer 1-65535']],
  ['UpnpHttpPort too big', ['UpnpHttpPort = 65536'], ['wg0.conf:8: UpnpHttpPort = 65536: must be an integer 1-65535']],
  ['misspelt key', ['MaxLifeTme = 60'], ['wg0.conf:8: unknown key "MaxLifeTme" in [PortMapping] (did you mean MaxLifetime?)']],
  ['Protocol for Protocols', ['Protocol = natpmp'], ['wg0.conf:8: unknown key "Protocol" in [PortMapping] (did you mean Protocols?)']],
  ['Alow', ['Alow = 80 10.0.0.2 80'], ['wg0.conf:8: unknown key "Alow" in [PortMapping] (did you mean Allow?)']],
  ['a [Forward] key', ['Target = 10.0.0.2:80'], ['wg0.conf:8: Target belongs in [Forward], not in [PortMapping]']],
  [
    'a second section names both lines',
    ['MaxLifetime = 60', '[PortMapping]', 'MaxLifetime = x'],
    ['wg0.conf:9: [PortMapping] appears again (first at line 7); only one is allowed', 'wg0.conf:10: MaxLifetime = x: must be an integer 1-604800 (seconds)'],
  ],
];

for (const [name, body, want] of refusals) {
  test(`refused: ${name}`, () => {
    assert.deepEqual(errors(text(body)), want);
  });
}

test('refused: every error of the section in one pass', () => {
  assert.deepEqual(errors(text(['Protocols = upnp, smtp', 'Allow = 1 2 3', 'MaxLifetime = -1', 'UpnpHttpPort = 80'])), [
    'wg0.conf:8: Protocols = upnp, smtp: smtp is not a port-mapping protocol; use natpmp, pcp, upnp or a comma list of them',
    'wg0.conf:9: Allow = 1 2 3: prefix 2: not a valid IPv4 address',
    'wg0.conf:10: MaxLifetime = -1: must be an integer 1-604800 (seconds)',
  ]);
});

test('refused: the section needs an IPv4 tunnel Address to answer at', () => {
  const v6only = ['[Interface]', `PrivateKey = ${KEYS.serverPriv}`, 'Address = fd00::1/64', '[Peer]', `PublicKey = ${KEYS.laptopPub}`, 'AllowedIPs = fd00::2/128'];
  const want = [
    "wg0.conf:7: [PortMapping] needs an IPv4 Address in [Interface]: NAT-PMP, PCP and UPnP answer peers at this host's tunnel address (add one, e.g. Address = 10.0.0.1/24)",
  ];
  assert.deepEqual(errors(text([], v6only)), want);
  const none = v6only.filter((l) => !l.startsWith('Address'));
  assert.deepEqual(errors(text(['Protocols = upnp'], none)), [want[0]!.replace(':7:', ':6:')]);
});

test('refused: the service ports must be free of [Expose] listeners on the tunnel address', () => {
  const expose = (listen: string, proto: string, target = '127.0.0.1:9000') => [...HEAD, '[Expose]', `Protocol = ${proto}`, `Listen = ${listen}`, `Target = ${target}`];
  // Lines 7-10 are the [Expose]; [PortMapping] is line 11.
  assert.deepEqual(errors(text(['UpnpHttpPort = 5000'], expose('10.0.0.1:5000', 'tcp'))), [
    'wg0.conf:12: UpnpHttpPort 5000 is taken: an [Expose] rule listens on 10.0.0.1 tcp ports 5000-5000; set UpnpHttpPort to a free port',
  ]);
  // The default port is checked too; the error then points at the section header.
  assert.deepEqual(errors(text([], expose('10.0.0.1:4990-5010', 'tcp', '127.0.0.1:9000-9020'))), [
    'wg0.conf:11: UpnpHttpPort 5000 is taken: an [Expose] rule listens on 10.0.0.1 tcp ports 4990-5010; set UpnpHttpPort to a free port',
  ]);
  assert.deepEqual(errors(text(['Protocols = natpmp'], expose('10.0.0.1:5351', 'udp'))), [
    'wg0.conf:12: NAT-PMP and PCP answer on udp port 5351, but an [Expose] rule listens on 10.0.0.1 udp ports 5351-5351; move that rule or set Protocols = upnp',
  ]);
  // No clash: UPnP off, a tcp listener on 5351, or another port.
  mustParse(text(['Protocols = natpmp, pcp'], expose('10.0.0.1:5000', 'tcp')));
  mustParse(text(['Protocols = upnp'], expose('10.0.0.1:5351', 'udp')));
  mustParse(text([], expose('10.0.0.1:5351', 'tcp')));
  mustParse(text(['UpnpHttpPort = 5001'], expose('10.0.0.1:5000', 'tcp')));
});

/** The policy without config line numbers (they move when re-serialized). */
function noLines(p: PortMapPolicy) {
  return { ...p, rules: p.rules.map(({ line: _l, ...r }) => r) };
}

test('serializeConfig writes the section back: non-defaults only, rules in order; parsing gives the same policy', () => {
  const a = mustParse(
    text([
      'protocols = PCP, natpmp',
      'ExternalAddress = 203.0.113.9',
      'ListenAddress = [::]',
      'Allow = 1024-65535 10.0.0.9/24 1024-65535',
      'Deny = 22 10.0.0.2 22',
      'MaxLifetime = 60',
      'MaxMappingsPerPeer = 2',
      'UpnpHttpPort = 49152',
    ]),
  );
  const out = serializeConfig(a);
  assert.ok(
    out.endsWith(
      [
        '[PortMapping]',
        'Protocols = natpmp, pcp',
        'ExternalAddress = 203.0.113.9',
        'ListenAddress = ::',
        'Allow = 1024-65535 10.0.0.0/24 1024-65535',
        'Deny = 22 10.0.0.2/32 22',
        'MaxLifetime = 60',
        'MaxMappingsPerPeer = 2',
        'UpnpHttpPort = 49152',
        '',
      ].join('\n'),
    ),
    out,
  );
  const b = mustParse(out);
  assert.deepEqual(noLines(policy(b)), noLines(policy(a)));
  assert.equal(serializeConfig(b), out);
  // All defaults: an empty section, which parses back to the defaults.
  const d = mustParse(text([]));
  const dout = serializeConfig(d);
  assert.ok(dout.endsWith('\n[PortMapping]\n'), dout);
  assert.deepEqual(policy(mustParse(dout)), policy(d));
  // No section: none written.
  assert.ok(!serializeConfig(mustParse(HEAD.join('\n'))).includes('PortMapping'));
});
