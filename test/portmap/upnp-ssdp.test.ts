/**
 * SSDP search answers: one reply per matching target for each ST form
 * (ssdp:all, upnp:rootdevice, uuid:, device and service types at our version
 * or an earlier one), the reply headers UDA 1.1 requires, and silence for
 * everything else (NOTIFY, responses, missing/wrong MAN, later versions,
 * types we do not have, oversize, junk, port 0).
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { handleSsdp, SSDP_MAX_REPLIES } from '../../src/portmap/upnp/ssdp.js';
import { deviceUuids } from '../../src/portmap/upnp/igd-devices.js';
import { prng } from './upnp-helpers.js';

const UUID = '3f2c6a1e-9b7d-4c1a-8e55-0123456789ab';
const OPTS = { location: 'http://10.0.0.1:5000/rootDesc.xml', uuid: UUID, server: 'Test/1 UPnP/1.1 wgts/0.1' };
const FROM = { address: '10.0.0.2', port: 40000 };

/** An M-SEARCH as miniupnpc's ssdpDiscoverDevices writes it. */
function msearch(st: string, extra = ''): Uint8Array {
  return Buffer.from(`M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nST: ${st}\r\nMAN: "ssdp:discover"\r\nMX: 2\r\n${extra}\r\n`, 'latin1');
}

function parse(reply: Uint8Array): { status: string; h: Map<string, string> } {
  const text = Buffer.from(reply).toString('latin1');
  assert.ok(text.endsWith('\r\n\r\n'), 'reply ends with an empty line');
  const [status, ...lines] = text.slice(0, -4).split('\r\n');
  const h = new Map<string, string>();
  for (const l of lines) {
    const c = l.indexOf(':');
    h.set(l.slice(0, c).toUpperCase(), l.slice(c + 1).trim());
  }
  return { status: status!, h };
}

function replies(st: string): Array<Map<string, string>> {
  return handleSsdp(msearch(st), FROM, OPTS).map((r) => {
    const p = parse(r);
    assert.equal(p.status, 'HTTP/1.1 200 OK');
    assert.equal(p.h.get('LOCATION'), OPTS.location);
    assert.equal(p.h.get('SERVER'), OPTS.server);
    assert.equal(p.h.get('EXT'), '');
    assert.match(p.h.get('CACHE-CONTROL')!, /^max-age=[0-9]+$/);
    assert.ok(Number(p.h.get('CACHE-CONTROL')!.slice(8)) >= 1800);
    assert.match(p.h.get('BOOTID.UPNP.ORG')!, /^[0-9]+$/);
    assert.match(p.h.get('CONFIGID.UPNP.ORG')!, /^[0-9]+$/);
    return p.h;
  });
}

const u = deviceUuids(UUID);

test('embedded devices get distinct UDNs derived from the root UUID', () => {
  assert.equal(u.root, UUID);
  assert.equal(new Set([u.root, u.wan, u.wcd]).size, 3);
  for (const id of [u.wan, u.wcd]) assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
});

test('ssdp:all: every device, UDN and service once (UDA 1.1 1.3.2: 3 + 2d + k)', () => {
  const r = replies('ssdp:all');
  assert.equal(r.length, 3 + 2 * 2 + 2);
  assert.ok(r.length <= SSDP_MAX_REPLIES);
  const pairs = new Map(r.map((h) => [h.get('ST')!, h.get('USN')!]));
  assert.equal(pairs.size, r.length, 'distinct STs');
  assert.equal(pairs.get('upnp:rootdevice'), `uuid:${u.root}::upnp:rootdevice`);
  for (const id of [u.root, u.wan, u.wcd]) assert.equal(pairs.get(`uuid:${id}`), `uuid:${id}`);
  const owners: Array<[string, string]> = [
    ['urn:schemas-upnp-org:device:InternetGatewayDevice:2', u.root],
    ['urn:schemas-upnp-org:device:WANDevice:2', u.wan],
    ['urn:schemas-upnp-org:device:WANConnectionDevice:2', u.wcd],
    ['urn:schemas-upnp-org:service:WANIPConnection:2', u.wcd],
    ['urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1', u.wan],
  ];
  for (const [st, owner] of owners) assert.equal(pairs.get(st), `uuid:${owner}::${st}`, st);
});

test('upnp:rootdevice and uuid: targets get one reply each', () => {
  const root = replies('upnp:rootdevice');
  assert.equal(root.length, 1);
  assert.equal(root[0]!.get('USN'), `uuid:${u.root}::upnp:rootdevice`);
  for (const id of [u.root, u.wan, u.wcd]) {
    const r = replies(`uuid:${id}`);
    assert.equal(r.length, 1);
    assert.equal(r[0]!.get('ST'), `uuid:${id}`);
    assert.equal(r[0]!.get('USN'), `uuid:${id}`);
  }
  assert.equal(replies('uuid:00000000-0000-0000-0000-000000000000').length, 0);
});

test('type searches: our version and earlier ones answer with the version asked for; later ones and other types get nothing', () => {
  const yes = [
    'urn:schemas-upnp-org:device:InternetGatewayDevice:1', // miniupnpc's first search
    'urn:schemas-upnp-org:device:InternetGatewayDevice:2',
    'urn:schemas-upnp-org:device:WANDevice:1',
    'urn:schemas-upnp-org:device:WANConnectionDevice:2',
    'urn:schemas-upnp-org:service:WANIPConnection:1',
    'urn:schemas-upnp-org:service:WANIPConnection:2',
    'urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1',
  ];
  for (const st of yes) {
    const r = replies(st);
    assert.equal(r.length, 1, st);
    assert.equal(r[0]!.get('ST'), st);
    assert.match(r[0]!.get('USN')!, new RegExp(`^uuid:[0-9a-f-]+::${st.replace(/[.:]/g, '\\$&')}$`));
  }
  const no = [
    'urn:schemas-upnp-org:device:InternetGatewayDevice:3',
    'urn:schemas-upnp-org:service:WANIPConnection:3',
    'urn:schemas-upnp-org:service:WANCommonInterfaceConfig:2',
    'urn:schemas-upnp-org:service:WANPPPConnection:1',
    'urn:schemas-upnp-org:service:WANIPConnection:0',
    'urn:schemas-upnp-org:device:MediaServer:1',
    'urn:other-org:device:InternetGatewayDevice:1',
    'ssdp:alive',
    '',
  ];
  for (const st of no) assert.equal(replies(st).length, 0, st);
});

test('not answered: NOTIFY, responses, missing or wrong MAN, bad MX, duplicate ST, junk, oversize, port 0', () => {
  const none = (msg: Uint8Array | string, from = FROM) =>
    assert.equal(handleSsdp(typeof msg === 'string' ? Buffer.from(msg, 'latin1') : msg, from, OPTS).length, 0, String(msg).slice(0, 80));
  none('NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nNT: upnp:rootdevice\r\nNTS: ssdp:alive\r\n\r\n');
  none('HTTP/1.1 200 OK\r\nST: ssdp:all\r\nUSN: uuid:x\r\n\r\n');
  none('M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nST: ssdp:all\r\nMX: 2\r\n\r\n');
  none('M-SEARCH * HTTP/1.1\r\nST: ssdp:all\r\nMAN: "ssdp:update"\r\nMX: 2\r\n\r\n');
  none('M-SEARCH * HTTP/1.1\r\nST: ssdp:all\r\nMAN: "ssdp:discover"\r\nMX: soon\r\n\r\n');
  none('M-SEARCH * HTTP/1.1\r\nST: ssdp:all\r\nST: upnp:rootdevice\r\nMAN: "ssdp:discover"\r\n\r\n');
  none('M-SEARCH /x HTTP/1.1\r\nST: ssdp:all\r\nMAN: "ssdp:discover"\r\n\r\n');
  none('M-SEARCH * HTTP/1.1\r\nST ssdp:all\r\nMAN: "ssdp:discover"\r\n\r\n');
  none(msearch('ssdp:all', `X-PAD: ${'a'.repeat(2100)}\r\n`));
  none(new Uint8Array(0));
  none(msearch('ssdp:all'), { address: '10.0.0.2', port: 0 });
  // Unicast searches carry no MX; they are answered.
  assert.equal(handleSsdp(Buffer.from('M-SEARCH * HTTP/1.1\r\nHOST: 10.0.0.1:1900\r\nMAN: "ssdp:discover"\r\nST: upnp:rootdevice\r\n\r\n'), FROM, OPTS).length, 1);
});

test('header values from options cannot split the reply', () => {
  const r = handleSsdp(msearch('upnp:rootdevice'), FROM, { ...OPTS, location: 'http://x/\r\nEVIL: 1', server: 'a\nb' });
  const p = parse(r[0]!);
  assert.equal(p.h.has('EVIL'), false);
});

test('random datagrams never throw and are almost never answered', () => {
  const rnd = prng(1900);
  const base = Buffer.from(msearch('ssdp:all'));
  let answered = 0;
  for (let i = 0; i < 5000; i++) {
    const r = rnd(3);
    let msg: Uint8Array;
    if (r[0]! & 1) msg = rnd(r[1]! * 9);
    else {
      const b = Buffer.from(base);
      b[((r[1]! << 8) | r[2]!) % b.length] = rnd(1)[0]!;
      msg = b;
    }
    const out = handleSsdp(msg, FROM, OPTS);
    assert.ok(out.length <= SSDP_MAX_REPLIES);
    if (out.length) answered++;
  }
  // Only single-byte mutations of a valid search can still be answered.
  assert.ok(answered < 2500, `${answered}`);
});
