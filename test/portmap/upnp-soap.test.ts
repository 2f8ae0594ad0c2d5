/**
 * UPnP IGD SOAP actions against the real lease table: mapping round trips,
 * the error codes WANIPConnection:2 prescribes (606 for another host or the
 * allow-list, 718 conflict, 728 quota, 713/714 lookups, 726/716/732/402
 * argument errors), secure mode, escaping, and a no-throw loop over
 * mutated and random request bodies.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { handleSoap, parseSoapAction, UPNP_ERRORS } from '../../src/portmap/upnp/soap.js';
import { WANCIF_ACTIONS, WANIP_ACTIONS } from '../../src/portmap/upnp/description.js';
import { parseSoapEnvelope, xmlEscape, xmlUnescape } from '../../src/portmap/upnp/xml.js';
import { CIF1, EXTERNAL, IP2, leafValues, makeCtx, mappingArgs, prng, soapBody, type TestCtx } from './upnp-helpers.js';

const NOW = 50_000;

function call(t: TestCtx, from: string, action: string, args: Array<[string, string]> = [], opts: { service?: string; now?: number } = {}) {
  const service = opts.service ?? IP2;
  const r = handleSoap(`"${service}#${action}"`, soapBody(service, action, args), { address: from }, t.ctx, opts.now ?? NOW);
  return { ...r, values: leafValues(r.body) };
}

function errorCode(r: { status: number; values: Map<string, string> }): number | null {
  if (r.status === 200) return null;
  assert.equal(r.status, 500);
  return Number(r.values.get('errorCode'));
}

function add(t: TestCtx, from: string, o: Parameters<typeof mappingArgs>[0], any = false) {
  return call(t, from, any ? 'AddAnyPortMapping' : 'AddPortMapping', mappingArgs(o));
}

test('GetExternalIPAddress, GetStatusInfo, GetConnectionTypeInfo, GetNATRSIPStatus', () => {
  const t = makeCtx();
  const ip = call(t, '10.0.0.2', 'GetExternalIPAddress');
  assert.equal(ip.status, 200);
  assert.equal(ip.values.get('NewExternalIPAddress'), EXTERNAL);
  assert.match(ip.body, /<u:GetExternalIPAddressResponse xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:2">/);
  const st = call(t, '10.0.0.2', 'GetStatusInfo', [], { now: t.ctx.epochStart + 42_500 });
  assert.equal(st.values.get('NewConnectionStatus'), 'Connected');
  assert.equal(st.values.get('NewUptime'), '42');
  assert.equal(st.values.get('NewLastConnectionError'), 'ERROR_NONE');
  assert.equal(call(t, '10.0.0.2', 'GetConnectionTypeInfo').values.get('NewConnectionType'), 'IP_Routed');
  assert.equal(call(t, '10.0.0.2', 'GetNATRSIPStatus').values.get('NewNATEnabled'), '1');
});

test('WANCommonInterfaceConfig actions answer', () => {
  const t = makeCtx();
  const link = call(t, '10.0.0.2', 'GetCommonLinkProperties', [], { service: CIF1 });
  assert.equal(link.status, 200);
  assert.equal(link.values.get('NewPhysicalLinkStatus'), 'Up');
  assert.ok(Number(link.values.get('NewLayer1DownstreamMaxBitRate')) > 0);
  for (const a of ['GetTotalBytesSent', 'GetTotalBytesReceived', 'GetTotalPacketsSent', 'GetTotalPacketsReceived']) {
    const r = call(t, '10.0.0.2', a, [], { service: CIF1 });
    assert.equal(r.status, 200, a);
    assert.equal(r.values.get(`New${a.slice(3)}`), '0', a);
  }
});

test('every action the SCPDs list is implemented (answers other than 401 Invalid Action)', () => {
  const t = makeCtx();
  const sample: Record<string, string> = {
    NewRemoteHost: '',
    NewExternalPort: '40000',
    NewProtocol: 'TCP',
    NewInternalPort: '40000',
    NewInternalClient: '10.0.0.2',
    NewEnabled: '1',
    NewPortMappingDescription: 'x',
    NewLeaseDuration: '60',
    NewPortMappingIndex: '0',
    NewStartPort: '1',
    NewEndPort: '65535',
    NewManage: '1',
    NewNumberOfPorts: '10',
  };
  for (const [service, actions] of [
    [IP2, WANIP_ACTIONS],
    [CIF1, WANCIF_ACTIONS],
  ] as const) {
    for (const a of actions) {
      const r = call(t, '10.0.0.2', a.name, a.in.map(([n]) => [n, sample[n]!] as [string, string]), { service });
      assert.notEqual(errorCode(r), 401, `${a.name} answered Invalid Action`);
      assert.notEqual(errorCode(r), 402, `${a.name} refused the sample arguments`);
      for (const [out] of a.out) if (r.status === 200) assert.ok(r.values.has(out) || r.body.includes(`<${out}>`), `${a.name} lacks ${out}`);
    }
  }
});

test('AddPortMapping creates a lease for the requesting host; GetSpecificPortMappingEntry reads it back', () => {
  const t = makeCtx();
  const r = add(t, '10.0.0.2', { ext: 8043, intPort: 8043, client: '10.0.0.2', desc: 'web', lease: 300 });
  assert.equal(r.status, 200);
  assert.equal(r.changed, true);
  const l = t.store.findExternal('tcp', 8043);
  assert.ok(l);
  assert.equal(l.internalAddress, '10.0.0.2');
  assert.equal(l.internalPort, 8043);
  assert.equal(l.peer, 'peerA=');
  assert.equal(l.origin, 'upnp');
  assert.equal(l.description, 'web');
  assert.equal(l.lifetime, 300);
  assert.equal(l.expiresAt, NOW + 300_000);

  const s = call(t, '10.0.0.3', 'GetSpecificPortMappingEntry', [
    ['NewRemoteHost', ''],
    ['NewExternalPort', '8043'],
    ['NewProtocol', 'TCP'],
  ], { now: NOW + 100_000 });
  assert.equal(s.status, 200);
  assert.equal(s.values.get('NewInternalClient'), '10.0.0.2');
  assert.equal(s.values.get('NewInternalPort'), '8043');
  assert.equal(s.values.get('NewPortMappingDescription'), 'web');
  assert.equal(s.values.get('NewEnabled'), '1');
  assert.equal(s.values.get('NewLeaseDuration'), '200');
  const miss = call(t, '10.0.0.2', 'GetSpecificPortMappingEntry', [
    ['NewRemoteHost', ''],
    ['NewExternalPort', '8043'],
    ['NewProtocol', 'UDP'],
  ]);
  assert.equal(errorCode(miss), 714);
});

test('renewing the same mapping keeps one lease; protocol is case-insensitive', () => {
  const t = makeCtx();
  assert.equal(add(t, '10.0.0.2', { ext: 9000, intPort: 9000, client: '10.0.0.2', lease: 60, proto: 'udp' }).status, 200);
  const again = call(t, '10.0.0.2', 'AddPortMapping', mappingArgs({ ext: 9000, intPort: 9000, client: '10.0.0.2', lease: 120, proto: 'Udp' }), {
    now: NOW + 30_000,
  });
  assert.equal(again.status, 200);
  assert.equal(t.store.list().length, 1);
  assert.equal(t.store.findExternal('udp', 9000)?.expiresAt, NOW + 30_000 + 120_000);
});

test('718 ConflictInMappingEntry when another host holds the external port', () => {
  const t = makeCtx();
  assert.equal(add(t, '10.0.0.2', { ext: 8043, intPort: 8043, client: '10.0.0.2' }).status, 200);
  const r = add(t, '10.0.0.3', { ext: 8043, intPort: 8043, client: '10.0.0.3' });
  assert.equal(errorCode(r), 718);
  assert.equal(r.values.get('errorDescription'), UPNP_ERRORS[718]);
  assert.equal(t.store.findExternal('tcp', 8043)?.internalAddress, '10.0.0.2');
  assert.equal(t.store.list().length, 1);
});

test('729 ConflictWithOtherMechanisms when a static forward holds the port', () => {
  const t = makeCtx();
  t.store.setReserved([{ protocol: 'tcp', port: 8443 }]);
  assert.equal(errorCode(add(t, '10.0.0.2', { ext: 8443, intPort: 8443, client: '10.0.0.2' })), 729);
  assert.equal(t.store.list().length, 0);
});

test('a host re-pointing its own external port to another internal port overwrites its mapping', () => {
  const t = makeCtx();
  assert.equal(add(t, '10.0.0.2', { ext: 8043, intPort: 8043, client: '10.0.0.2' }).status, 200);
  assert.equal(add(t, '10.0.0.2', { ext: 8043, intPort: 9043, client: '10.0.0.2' }).status, 200);
  assert.equal(t.store.list().length, 1);
  assert.equal(t.store.findExternal('tcp', 8043)?.internalPort, 9043);
});

test('606 Action not authorized: a foreign NewInternalClient, an unknown requester, the allow-list', () => {
  const t = makeCtx();
  assert.equal(errorCode(add(t, '10.0.0.3', { ext: 8043, intPort: 8043, client: '10.0.0.2' })), 606);
  assert.equal(errorCode(add(t, '192.0.2.9', { ext: 8043, intPort: 8043, client: '192.0.2.9' })), 606);
  // The default allow-list is external 1024-65535, internal 1024-65535.
  assert.equal(errorCode(add(t, '10.0.0.2', { ext: 80, intPort: 8080, client: '10.0.0.2' })), 606);
  assert.equal(errorCode(add(t, '10.0.0.2', { ext: 8080, intPort: 80, client: '10.0.0.2' })), 606);
  assert.equal(t.store.list().length, 0);

  const ruled = makeCtx({
    rules: [
      { allow: true, external: [20000, 20010], prefix: { ip: '10.0.0.2', cidr: 32, family: 4 }, internal: [1024, 65535], line: 0 },
    ],
  });
  assert.equal(add(ruled, '10.0.0.2', { ext: 20005, intPort: 3000, client: '10.0.0.2' }).status, 200);
  assert.equal(errorCode(add(ruled, '10.0.0.2', { ext: 20011, intPort: 3000, client: '10.0.0.2' })), 606);
  assert.equal(errorCode(add(ruled, '10.0.0.3', { ext: 20006, intPort: 3000, client: '10.0.0.3' })), 606);
  assert.equal(ruled.store.list().length, 1);
});

test('IPv4-mapped requester addresses count as the IPv4 host', () => {
  const t = makeCtx();
  assert.equal(add(t, '::ffff:10.0.0.2', { ext: 8043, intPort: 8043, client: '10.0.0.2' }).status, 200);
  assert.equal(t.store.findExternal('tcp', 8043)?.internalAddress, '10.0.0.2');
});

test('728 NoPortMapsAvailable at the per-peer cap', () => {
  const t = makeCtx({ maxMappingsPerPeer: 2 });
  assert.equal(add(t, '10.0.0.2', { ext: 5001, intPort: 5001, client: '10.0.0.2' }).status, 200);
  assert.equal(add(t, '10.0.0.2', { ext: 5002, intPort: 5002, client: '10.0.0.2' }, true).status, 200);
  assert.equal(errorCode(add(t, '10.0.0.2', { ext: 5003, intPort: 5003, client: '10.0.0.2' })), 728);
  assert.equal(errorCode(add(t, '10.0.0.2', { ext: 5003, intPort: 5003, client: '10.0.0.2' }, true)), 728);
  // Another peer is not affected.
  assert.equal(add(t, '10.0.0.3', { ext: 5003, intPort: 5003, client: '10.0.0.3' }).status, 200);
});

test('AddAnyPortMapping returns the port it reserved, another one when the asked port is taken', () => {
  const t = makeCtx();
  const first = add(t, '10.0.0.2', { ext: 8043, intPort: 8043, client: '10.0.0.2', lease: 300 }, true);
  assert.equal(first.status, 200);
  assert.equal(first.values.get('NewReservedPort'), '8043');
  const second = add(t, '10.0.0.3', { ext: 8043, intPort: 8043, client: '10.0.0.3', lease: 300 }, true);
  assert.equal(second.status, 200);
  const port = Number(second.values.get('NewReservedPort'));
  assert.notEqual(port, 8043);
  assert.ok(port >= 1024 && port <= 65535);
  assert.equal(t.store.findExternal('tcp', port)?.internalAddress, '10.0.0.3');
  const wild = add(t, '10.0.0.3', { ext: 0, intPort: 7000, client: '10.0.0.3' }, true);
  assert.equal(wild.status, 200);
  assert.equal(t.store.findExternal('tcp', Number(wild.values.get('NewReservedPort')))?.internalPort, 7000);
});

test('lease durations: 0 means the longest allowed, longer requests are cut to the cap', () => {
  const t = makeCtx({ maxLifetime: 3600 });
  assert.equal(add(t, '10.0.0.2', { ext: 6001, intPort: 6001, client: '10.0.0.2', lease: 0 }).status, 200);
  assert.equal(t.store.findExternal('tcp', 6001)?.lifetime, 3600);
  assert.equal(add(t, '10.0.0.2', { ext: 6002, intPort: 6002, client: '10.0.0.2', lease: 999999 }).status, 200);
  assert.equal(t.store.findExternal('tcp', 6002)?.lifetime, 3600);
});

test('argument errors: 726 remote host, 716 wildcard external port, 732 wildcard internal port, 402 otherwise', () => {
  const t = makeCtx();
  const base = { ext: 8043, intPort: 8043, client: '10.0.0.2' };
  assert.equal(errorCode(add(t, '10.0.0.2', { ...base, remote: '198.51.100.1' })), 726);
  assert.equal(errorCode(add(t, '10.0.0.2', { ...base, ext: 0 })), 716);
  assert.equal(errorCode(add(t, '10.0.0.2', { ...base, intPort: 0 })), 732);
  for (const bad of [
    { ...base, proto: 'ICMP' },
    { ...base, ext: 'eighty' },
    { ...base, ext: 70000 },
    { ...base, intPort: '-1' },
    { ...base, client: 'not-an-ip' },
    { ...base, enabled: '0' },
    { ...base, enabled: 'maybe' },
    { ...base, lease: '1e3' },
  ]) {
    assert.equal(errorCode(add(t, '10.0.0.2', bad)), 402, JSON.stringify(bad));
  }
  // A missing in-argument.
  const missing = call(t, '10.0.0.2', 'AddPortMapping', mappingArgs(base).filter(([k]) => k !== 'NewLeaseDuration'));
  assert.equal(errorCode(missing), 402);
  assert.equal(t.store.list().length, 0);
});

test('GetGenericPortMappingEntry walks store.list() in order; 713 past the end, 402 on a bad index', () => {
  const t = makeCtx();
  add(t, '10.0.0.2', { ext: 7002, intPort: 7002, client: '10.0.0.2', proto: 'UDP', desc: 'b' });
  add(t, '10.0.0.3', { ext: 7001, intPort: 7101, client: '10.0.0.3', desc: 'a' });
  add(t, '10.0.0.2', { ext: 7003, intPort: 7003, client: '10.0.0.2', desc: 'c' });
  const list = t.store.list();
  assert.equal(list.length, 3);
  list.forEach((l, i) => {
    const r = call(t, '10.0.0.2', 'GetGenericPortMappingEntry', [['NewPortMappingIndex', String(i)]]);
    assert.equal(r.status, 200);
    assert.equal(r.values.get('NewExternalPort'), String(l.externalPort));
    assert.equal(r.values.get('NewProtocol'), l.protocol.toUpperCase());
    assert.equal(r.values.get('NewInternalClient'), l.internalAddress);
    assert.equal(r.values.get('NewInternalPort'), String(l.internalPort));
    assert.equal(r.values.get('NewPortMappingDescription'), l.description);
    assert.equal(r.values.get('NewRemoteHost'), '');
  });
  assert.equal(errorCode(call(t, '10.0.0.2', 'GetGenericPortMappingEntry', [['NewPortMappingIndex', '3']])), 713);
  assert.equal(errorCode(call(t, '10.0.0.2', 'GetGenericPortMappingEntry', [['NewPortMappingIndex', 'x']])), 402);
});

test('lapsed leases are not listed or found', () => {
  const t = makeCtx();
  add(t, '10.0.0.2', { ext: 7002, intPort: 7002, client: '10.0.0.2', lease: 10 });
  const later = NOW + 10_000;
  assert.equal(errorCode(call(t, '10.0.0.2', 'GetGenericPortMappingEntry', [['NewPortMappingIndex', '0']], { now: later })), 713);
  const spec = call(t, '10.0.0.2', 'GetSpecificPortMappingEntry', [
    ['NewRemoteHost', ''],
    ['NewExternalPort', '7002'],
    ['NewProtocol', 'TCP'],
  ], { now: later });
  assert.equal(errorCode(spec), 714);
});

test('DeletePortMapping: only the owner may delete; 714 when there is nothing', () => {
  const t = makeCtx();
  add(t, '10.0.0.2', { ext: 8043, intPort: 8043, client: '10.0.0.2' });
  const del = (from: string, ext: string, proto = 'TCP') =>
    call(t, from, 'DeletePortMapping', [
      ['NewRemoteHost', ''],
      ['NewExternalPort', ext],
      ['NewProtocol', proto],
    ]);
  const foreign = del('10.0.0.3', '8043');
  assert.equal(errorCode(foreign), 606);
  assert.equal(foreign.changed, false);
  assert.ok(t.store.findExternal('tcp', 8043));
  assert.equal(errorCode(del('10.0.0.2', '8043', 'UDP')), 714);
  const mine = del('10.0.0.2', '8043');
  assert.equal(mine.status, 200);
  assert.equal(mine.changed, true);
  assert.equal(t.store.findExternal('tcp', 8043), undefined);
  assert.equal(errorCode(del('10.0.0.2', '8043')), 714);
});

test('DeletePortMappingRange removes only the requester\'s mappings in range; 730 and 733', () => {
  const t = makeCtx();
  for (const p of [6000, 6001, 6002, 6100]) add(t, '10.0.0.2', { ext: p, intPort: p, client: '10.0.0.2' });
  add(t, '10.0.0.3', { ext: 6003, intPort: 6003, client: '10.0.0.3' });
  const range = (from: string, a: string, b: string) =>
    call(t, from, 'DeletePortMappingRange', [
      ['NewStartPort', a],
      ['NewEndPort', b],
      ['NewProtocol', 'TCP'],
      ['NewManage', '1'],
    ]);
  assert.equal(errorCode(range('10.0.0.2', '6050', '6000')), 733);
  assert.equal(range('10.0.0.2', '6000', '6050').status, 200);
  assert.deepEqual(
    t.store.list().map((l) => l.externalPort),
    [6003, 6100],
  );
  assert.equal(errorCode(range('10.0.0.2', '6000', '6050')), 730);
});

test('GetListOfPortMappings: a CDATA listing of the range, 730 when empty, 733 when inverted', () => {
  const t = makeCtx();
  add(t, '10.0.0.2', { ext: 6000, intPort: 6000, client: '10.0.0.2', desc: 'one' });
  add(t, '10.0.0.3', { ext: 6001, intPort: 6101, client: '10.0.0.3', desc: 'two' });
  add(t, '10.0.0.2', { ext: 6002, intPort: 6002, client: '10.0.0.2', proto: 'UDP' });
  const list = (from: string, a: string, b: string, manage: string, n = '0') =>
    call(t, from, 'GetListOfPortMappings', [
      ['NewStartPort', a],
      ['NewEndPort', b],
      ['NewProtocol', 'TCP'],
      ['NewManage', manage],
      ['NewNumberOfPorts', n],
    ]);
  const all = list('10.0.0.2', '0', '65535', '1');
  assert.equal(all.status, 200);
  const listing = all.values.get('NewPortListing')!;
  assert.match(all.body, /<NewPortListing><!\[CDATA\[<p:PortMappingList /);
  const entries = [...listing.matchAll(/<p:PortMappingEntry>([\s\S]*?)<\/p:PortMappingEntry>/g)].map((m) => leafValues(m[1]!));
  assert.deepEqual(
    entries.map((e) => [e.get('NewExternalPort'), e.get('NewInternalClient'), e.get('NewInternalPort'), e.get('NewDescription')]),
    [
      ['6000', '10.0.0.2', '6000', 'one'],
      ['6001', '10.0.0.3', '6101', 'two'],
    ],
  );
  const mine = list('10.0.0.2', '0', '65535', '0').values.get('NewPortListing')!;
  assert.equal([...mine.matchAll(/<p:PortMappingEntry>/g)].length, 1);
  const limited = list('10.0.0.2', '0', '65535', '1', '1').values.get('NewPortListing')!;
  assert.equal([...limited.matchAll(/<p:PortMappingEntry>/g)].length, 1);
  assert.equal(errorCode(list('10.0.0.2', '7000', '8000', '1')), 730);
  assert.equal(errorCode(list('10.0.0.2', '8000', '7000', '1')), 733);
});

test('descriptions are stored decoded and echoed escaped', () => {
  const t = makeCtx();
  const nasty = '<b>&"x\'</b>]]>';
  assert.equal(add(t, '10.0.0.2', { ext: 8043, intPort: 8043, client: '10.0.0.2', desc: xmlEscape(nasty) }).status, 200);
  assert.equal(t.store.findExternal('tcp', 8043)?.description, nasty);
  const r = call(t, '10.0.0.2', 'GetGenericPortMappingEntry', [['NewPortMappingIndex', '0']]);
  assert.ok(!r.body.includes('<b>'));
  assert.equal(r.values.get('NewPortMappingDescription'), nasty);
  const list = call(t, '10.0.0.2', 'GetListOfPortMappings', [
    ['NewStartPort', '0'],
    ['NewEndPort', '65535'],
    ['NewProtocol', 'TCP'],
    ['NewManage', '1'],
    ['NewNumberOfPorts', '0'],
  ]);
  // One CDATA section only: the description's "]]>" is escaped inside the listing.
  assert.equal(list.body.split(']]>').length, 2);
  // Control characters are dropped from what we echo.
  add(t, '10.0.0.2', { ext: 8044, intPort: 8044, client: '10.0.0.2', desc: 'a&#1;b' });
  assert.ok(!call(t, '10.0.0.2', 'GetGenericPortMappingEntry', [['NewPortMappingIndex', '1']]).body.includes('\u0001'));
});

test('401 Invalid Action: unknown action, unknown or too new service, action of the other service, body disagreeing', () => {
  const t = makeCtx();
  assert.equal(errorCode(call(t, '10.0.0.2', 'SetConnectionType')), 401);
  assert.equal(errorCode(call(t, '10.0.0.2', 'GetTotalBytesSent')), 401);
  assert.equal(errorCode(call(t, '10.0.0.2', 'GetExternalIPAddress', [], { service: CIF1 })), 401);
  assert.equal(errorCode(call(t, '10.0.0.2', 'GetExternalIPAddress', [], { service: 'urn:schemas-upnp-org:service:WANIPConnection:3' })), 401);
  assert.equal(errorCode(call(t, '10.0.0.2', 'GetExternalIPAddress', [], { service: 'urn:schemas-upnp-org:service:WANPPPConnection:1' })), 401);
  const mismatch = handleSoap(`"${IP2}#GetExternalIPAddress"`, soapBody(IP2, 'GetStatusInfo'), { address: '10.0.0.2' }, t.ctx, NOW);
  assert.equal(errorCode({ ...mismatch, values: leafValues(mismatch.body) }), 401);
  // WANIPConnection:1 clients are answered in their namespace.
  const v1 = 'urn:schemas-upnp-org:service:WANIPConnection:1';
  const r = call(t, '10.0.0.2', 'GetExternalIPAddress', [], { service: v1 });
  assert.equal(r.status, 200);
  assert.ok(r.body.includes(`xmlns:u="${v1}"`));
});

test('parseSoapAction accepts the quoted and unquoted header forms only', () => {
  assert.deepEqual(parseSoapAction(`"${IP2}#AddPortMapping"`), {
    serviceType: IP2,
    service: 'WANIPConnection',
    version: 2,
    action: 'AddPortMapping',
  });
  assert.equal(parseSoapAction(`${CIF1}#GetTotalBytesSent`)?.service, 'WANCommonInterfaceConfig');
  for (const bad of ['', '""', IP2, `${IP2}#`, `"${IP2}#Add Port"`, `urn:evil:service:WANIPConnection:2#X`, `"${IP2}#${'A'.repeat(300)}"`]) {
    assert.equal(parseSoapAction(bad), null, bad);
  }
});

test('the SOAP reader: namespaces, comments, CDATA, entities; malformed envelopes refused', () => {
  const env = (inner: string) => `<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/">${inner}</e:Envelope>`;
  const c = parseSoapEnvelope(
    env(`<e:Header><x>1</x></e:Header><e:Body><!-- hi --><m:Act xmlns:m="urn:x"><A>1 &amp; 2</A><B><![CDATA[<raw>]]></B><C/><A>dup</A></m:Act></e:Body>`),
  );
  assert.ok(c);
  assert.equal(c.action, 'Act');
  assert.equal(c.namespace, 'urn:x');
  assert.deepEqual([...c.args], [
    ['A', '1 & 2'],
    ['B', '<raw>'],
    ['C', ''],
  ]);
  assert.equal(xmlUnescape('&#x41;&#66;&lt;'), 'AB<');
  // Tolerant: what is not a reference stays literal (miniupnpc sends values unescaped).
  assert.equal(xmlUnescape('a & b &bogus; &#0; &#xD800;'), 'a & b &bogus; &#0; &#xD800;');
  for (const bad of [
    '',
    'not xml',
    env('<e:Body></e:Body>'),
    env('<e:Body><m:A xmlns:m="u"><X>1</Y></m:A></e:Body>'),
    env('<e:Body><m:A xmlns:m="u"><X>1</X></m:A>'),
    `<!DOCTYPE x [<!ENTITY a "b">]>${env('<e:Body><A/></e:Body>')}`,
    env('<e:Body><A/><B/></e:Body>'),
    '<Other><Body><A/></Body></Other>',
    env(`<e:Body>${'<d>'.repeat(40)}${'</d>'.repeat(40)}</e:Body>`),
    env(`<e:Body><m:A xmlns:m="u" ${'b'.repeat(60000)}><X>1</X></m:A></e:Body>`),
    env(`<e:Body><m:A xmlns:m="u"><X>${'v'.repeat(5000)}</X></m:A></e:Body>`),
  ]) {
    assert.equal(parseSoapEnvelope(bad), null, bad);
  }
});

test('no throw from mutated or random request bodies; whatever gets through maps only the requester', () => {
  const rnd = prng(0x5eed);
  const t = makeCtx();
  const valid = soapBody(IP2, 'AddPortMapping', mappingArgs({ ext: 8043, intPort: 8043, client: '10.0.0.2', lease: 60 }));
  let rejected = 0;
  for (let i = 0; i < 3000; i++) {
    const r = rnd(4);
    let body: string;
    if (r[0]! % 3 === 0) {
      body = Buffer.from(rnd(r[1]! * 4)).toString('latin1');
    } else {
      const b = Buffer.from(valid, 'latin1');
      const n = 1 + (r[1]! % 6);
      for (let k = 0; k < n; k++) {
        const pos = ((r[2]! << 8) | r[3]!) % b.length;
        b[pos] = rnd(1)[0]!;
        r.set(rnd(4));
      }
      body = r[0]! % 2 === 0 ? b.toString('latin1') : b.subarray(0, ((r[1]! << 8) | r[2]!) % b.length).toString('latin1');
    }
    const res = handleSoap(`"${IP2}#AddPortMapping"`, body, { address: '10.0.0.2' }, t.ctx, NOW + i);
    assert.ok(res.status === 200 || res.status === 500);
    if (res.status === 500) rejected++;
  }
  assert.ok(rejected > 1000, `only ${rejected} rejected`);
  // Every lease that got in belongs to the requester.
  for (const l of t.store.list()) assert.equal(l.internalAddress, '10.0.0.2');
});
