// The lease table: renewal keys (NAT-PMP/PCP by internal address+port, UPnP
// by external port), caps, conflicts, the alternate-port search (RFC 6886
// section 3.3), companion-port reservation, expiry and policy reloads.
import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { LeaseTable } from '../../src/portmap/leases.js';
import { defaultPolicy } from '../../src/portmap/policy.js';
import type { MapRequest, MapResult, PermRule, PortMapPolicy } from '../../src/portmap/types.js';

const PEER_A = 'peerA=';
const PEER_B = 'peerB=';

function rule(allow: boolean, ext: [number, number], prefix: string, int: [number, number]): PermRule {
  const [ip, cidr] = prefix.split('/') as [string, string];
  return { allow, external: ext, prefix: { ip, cidr: Number(cidr), family: ip.includes(':') ? 6 : 4 }, internal: int, line: 0 };
}

function policy(over: Partial<PortMapPolicy> = {}): PortMapPolicy {
  return { ...defaultPolicy(), ...over };
}

function req(over: Partial<MapRequest> = {}): MapRequest {
  return {
    protocol: 'udp',
    internalAddress: '10.0.0.2',
    internalPort: 8044,
    externalPort: 8044,
    exact: false,
    lifetime: 60,
    peer: PEER_A,
    origin: 'natpmp',
    ...over,
  };
}

function ok(r: MapResult, why = '') {
  assert.ok(r.ok, `expected success${why ? ` (${why})` : ''}, got ${JSON.stringify(r)}`);
  return r;
}

function err(r: MapResult): string {
  assert.ok(!r.ok, `expected a refusal, got ${JSON.stringify(r)}`);
  return r.error;
}

describe('LeaseTable', () => {
  it('creates a lease with the requested port and a lifetime cut to maxLifetime', () => {
    const t = new LeaseTable(policy({ maxLifetime: 600 }));
    const r = ok(t.map(req({ lifetime: 100000 }), 1000));
    assert.equal(r.renewed, false);
    assert.deepEqual(
      { ...r.lease },
      { protocol: 'udp', externalPort: 8044, internalAddress: '10.0.0.2', internalPort: 8044, peer: PEER_A, origin: 'natpmp', description: '', lifetime: 600, expiresAt: 1000 + 600_000, nonce: undefined },
    );
    assert.equal(t.findExternal('udp', 8044), r.lease);
    assert.equal(t.findExternal('tcp', 8044), undefined);
    assert.deepEqual(t.list(), [r.lease]);
    assert.equal(t.policy.maxLifetime, 600);
  });

  it('NAT-PMP renewal: same protocol+internal address+port returns the already-assigned port (RFC 6886 section 3.3)', () => {
    const t = new LeaseTable(policy({ maxMappingsPerPeer: 1 }));
    const first = ok(t.map(req(), 0));
    // A retransmission or renewal suggesting another port keeps the mapping.
    const again = ok(t.map(req({ externalPort: 9000, lifetime: 120 }), 5000));
    assert.equal(again.renewed, true);
    assert.equal(again.lease, first.lease, 'the same stored lease object');
    assert.equal(again.lease.externalPort, 8044);
    assert.equal(again.lease.lifetime, 120);
    assert.equal(again.lease.expiresAt, 5000 + 120_000);
    assert.equal(t.list().length, 1);
    // The per-peer cap is 1 and the renewal did not count twice; a second mapping is refused.
    assert.equal(err(t.map(req({ internalPort: 8045, externalPort: 8045 }), 5000)), 'quota');
    // A different protocol is a different mapping.
    assert.equal(err(t.map(req({ protocol: 'tcp' }), 5000)), 'quota');
  });

  it('PCP renewal keeps and updates the nonce; NAT-PMP and PCP share the mapping key', () => {
    const t = new LeaseTable(policy());
    const a = ok(t.map(req({ origin: 'natpmp' }), 0));
    assert.equal(a.lease.nonce, undefined);
    const nonce = new Uint8Array(12).fill(7);
    const b = ok(t.map(req({ origin: 'pcp', nonce }), 10));
    assert.equal(b.renewed, true);
    assert.equal(b.lease.origin, 'pcp');
    assert.deepEqual(b.lease.nonce, nonce);
    nonce[0] = 99; // the table keeps its own copy
    assert.equal(b.lease.nonce![0], 7);
  });

  it('per-peer cap counts live leases of that peer only', () => {
    const t = new LeaseTable(policy({ maxMappingsPerPeer: 2 }));
    ok(t.map(req({ internalPort: 5001, externalPort: 5001 }), 0));
    ok(t.map(req({ internalPort: 5002, externalPort: 5002 }), 0));
    assert.equal(err(t.map(req({ internalPort: 5003, externalPort: 5003 }), 0)), 'quota');
    // Another peer has its own allowance.
    ok(t.map(req({ peer: PEER_B, internalAddress: '10.0.0.3', internalPort: 5003, externalPort: 5003 }), 0));
    // Deleting one frees a slot; so does expiry.
    assert.equal(t.unmap('udp', '10.0.0.2', 5001, 0).length, 1);
    ok(t.map(req({ internalPort: 5004, externalPort: 5004, lifetime: 10 }), 0));
    assert.equal(err(t.map(req({ internalPort: 5005, externalPort: 5005 }), 5000)), 'quota');
    ok(t.map(req({ internalPort: 5005, externalPort: 5005 }), 10_000), 'the 10 s lease has lapsed');
    // maxMappingsPerPeer 0 refuses everything.
    assert.equal(err(new LeaseTable(policy({ maxMappingsPerPeer: 0 })).map(req(), 0)), 'quota');
  });

  it('the table as a whole is bounded', () => {
    const t = new LeaseTable(policy(), { maxLeases: 3 });
    for (let i = 0; i < 3; i++) ok(t.map(req({ peer: `p${i}`, internalAddress: `10.0.0.${10 + i}` }), 0));
    assert.equal(err(t.map(req({ peer: 'p9', internalAddress: '10.0.0.99' }), 0)), 'no-resources');
    // Renewals still work at the bound.
    assert.equal(ok(t.map(req({ peer: 'p0', internalAddress: '10.0.0.10', lifetime: 99 }), 1)).renewed, true);
  });

  it('non-exact: a taken or forbidden suggestion gets the next free permitted port upward, wrapping around', () => {
    const t = new LeaseTable(policy());
    ok(t.map(req({ internalAddress: '10.0.0.9', peer: PEER_B }), 0)); // holds udp 8044
    const r = ok(t.map(req(), 0));
    assert.equal(r.lease.externalPort, 8045);
    // Suggestion 0 ("any", RFC 6886 section 3.3): the search starts at the internal port.
    assert.equal(ok(t.map(req({ internalPort: 7000, externalPort: 0 }), 0)).lease.externalPort, 7000);
    // A forbidden suggestion (below 1024 under the default rule) is replaced.
    assert.equal(ok(t.map(req({ internalPort: 7001, externalPort: 80 }), 0)).lease.externalPort, 1024);
    // 65535 taken: wraps to the lowest permitted port that is free.
    ok(t.map(req({ internalAddress: '10.0.0.9', peer: PEER_B, internalPort: 9999, externalPort: 65535 }), 0));
    assert.equal(ok(t.map(req({ internalPort: 7002, externalPort: 65535 }), 0)).lease.externalPort, 1025);
  });

  it('search stays within the permitted ranges; nothing permitted = not-authorized, all taken = no-resources', () => {
    const p = policy({ rules: [rule(true, [8000, 8001], '10.0.0.0/24', [1, 65535]), rule(true, [9000, 9000], '10.0.0.2/32', [1, 65535])] });
    const t = new LeaseTable(p);
    assert.equal(ok(t.map(req({ externalPort: 8000 }), 0)).lease.externalPort, 8000);
    assert.equal(ok(t.map(req({ internalPort: 8045, externalPort: 8000 }), 0)).lease.externalPort, 8001);
    assert.equal(ok(t.map(req({ internalPort: 8046, externalPort: 8000 }), 0)).lease.externalPort, 9000);
    assert.equal(err(t.map(req({ internalPort: 8047, externalPort: 8000 }), 0)), 'no-resources');
    assert.equal(err(t.map(req({ internalAddress: '10.0.1.2', peer: PEER_B }), 0)), 'not-authorized');
    // The same ports of the other protocol are still free for this host.
    assert.equal(ok(t.map(req({ protocol: 'tcp', externalPort: 0, internalPort: 1 }), 0)).lease.externalPort, 8000);
  });

  it('exact: a taken port is a conflict, a forbidden one not-authorized', () => {
    const t = new LeaseTable(policy());
    ok(t.map(req({ origin: 'upnp', exact: true, internalAddress: '10.0.0.9', peer: PEER_B }), 0));
    assert.equal(err(t.map(req({ origin: 'upnp', exact: true }), 0)), 'conflict');
    assert.equal(err(t.map(req({ origin: 'pcp', exact: true }), 0)), 'conflict');
    assert.equal(err(t.map(req({ origin: 'upnp', exact: true, externalPort: 80 }), 0)), 'not-authorized');
    assert.equal(err(t.map(req({ origin: 'upnp', exact: true, internalPort: 80 }), 0)), 'not-authorized');
    // A PCP renewal with PREFER_FAILURE naming another port than the held one.
    ok(t.map(req({ origin: 'pcp', internalPort: 7000, externalPort: 7000 }), 0));
    assert.equal(err(t.map(req({ origin: 'pcp', exact: true, internalPort: 7000, externalPort: 7001 }), 0)), 'conflict');
    assert.equal(ok(t.map(req({ origin: 'pcp', exact: true, internalPort: 7000, externalPort: 7000 }), 0)).renewed, true);
  });

  it('UPnP: the key is the external port; the same internal address:port overwrites, anyone else conflicts', () => {
    const t = new LeaseTable(policy());
    const up = (over: Partial<MapRequest>) => req({ origin: 'upnp', exact: true, protocol: 'tcp', externalPort: 8043, internalPort: 8043, ...over });
    const a = ok(t.map(up({ description: 'first', lifetime: 300 }), 0));
    assert.equal(a.lease.description, 'first');
    const b = ok(t.map(up({ description: 'second', lifetime: 100 }), 1000));
    assert.equal(b.renewed, true);
    assert.equal(b.lease, a.lease);
    assert.equal(b.lease.description, 'second');
    assert.equal(b.lease.expiresAt, 1000 + 100_000);
    assert.equal(err(t.map(up({ internalPort: 8044 }), 0)), 'conflict', 'same host, other internal port');
    assert.equal(err(t.map(up({ internalAddress: '10.0.0.3', peer: PEER_B }), 0)), 'conflict', 'another host');
    // AddAnyPortMapping (not exact) gets another port instead.
    assert.equal(ok(t.map(up({ exact: false, internalAddress: '10.0.0.3', peer: PEER_B }), 0)).lease.externalPort, 8044);
    // Several external ports may lead to one internal address:port under UPnP.
    assert.equal(ok(t.map(up({ externalPort: 9043 }), 0)).lease.internalPort, 8043);
    assert.equal(t.list().length, 3);
  });

  it('UPnP and NAT-PMP mappings of the same internal port are separate', () => {
    const t = new LeaseTable(policy());
    ok(t.map(req({ origin: 'upnp', exact: true, externalPort: 8044 }), 0));
    const n = ok(t.map(req({ origin: 'natpmp' }), 0));
    assert.equal(n.renewed, false);
    assert.equal(n.lease.externalPort, 8045);
    // NAT-PMP delete of the internal port leaves the UPnP mapping alone.
    assert.deepEqual(t.unmap('udp', '10.0.0.2', 8044, 0), [n.lease]);
    assert.equal(t.findExternal('udp', 8044)?.origin, 'upnp');
  });

  it("the companion port of another host's NAT-PMP/PCP mapping is reserved (RFC 6886 section 3.3)", () => {
    const t = new LeaseTable(policy());
    ok(t.map(req({ protocol: 'tcp', internalAddress: '10.0.0.9', peer: PEER_B, internalPort: 8080, externalPort: 8080 }), 0));
    // Another host asking for UDP 8080 gets a different port...
    assert.equal(ok(t.map(req({ protocol: 'udp', internalPort: 8080, externalPort: 8080 }), 0)).lease.externalPort, 8081);
    // ...and cannot have it exactly.
    assert.equal(err(t.map(req({ origin: 'pcp', exact: true, protocol: 'udp', internalPort: 8090, externalPort: 8080 }), 0)), 'conflict');
    // The host holding TCP 8080 may map UDP 8080.
    assert.equal(ok(t.map(req({ protocol: 'udp', internalAddress: '10.0.0.9', peer: PEER_B, internalPort: 8080, externalPort: 8080 }), 0)).lease.externalPort, 8080);
    // UPnP mappings do not reserve their companion.
    ok(t.map(req({ origin: 'upnp', exact: true, protocol: 'tcp', internalAddress: '10.0.0.9', peer: PEER_B, externalPort: 9090 }), 0));
    assert.equal(ok(t.map(req({ protocol: 'udp', internalPort: 9090, externalPort: 9090 }), 0)).lease.externalPort, 9090);
  });

  it('reserved ports (static [Forward] rules) are never handed out, and leases on them are dropped', () => {
    const t = new LeaseTable(policy());
    const held = ok(t.map(req({ protocol: 'tcp', externalPort: 9001, internalPort: 9001 }), 0)).lease;
    const dropped = t.setReserved([{ protocol: 'tcp', port: 9000 }, { protocol: 'tcp', port: 9001 }, { protocol: 'udp', port: 9002 }]);
    assert.deepEqual(dropped, [held]);
    assert.equal(t.findExternal('tcp', 9001), undefined);
    assert.equal(ok(t.map(req({ protocol: 'tcp', internalPort: 9000, externalPort: 9000 }), 0)).lease.externalPort, 9002, 'tcp 9000 and 9001 reserved');
    assert.equal(err(t.map(req({ origin: 'upnp', exact: true, protocol: 'udp', externalPort: 9002 }), 0)), 'conflict');
    assert.equal(ok(t.map(req({ protocol: 'udp', internalPort: 9000, externalPort: 9000 }), 0)).lease.externalPort, 9000, 'udp 9000 is not reserved');
    // Replacing the set releases the old ports.
    assert.deepEqual(t.setReserved([]), []);
    assert.equal(ok(t.map(req({ origin: 'upnp', exact: true, protocol: 'udp', externalPort: 9002, internalPort: 9002 }), 0)).lease.externalPort, 9002);
  });

  it('expire() removes and returns lapsed leases; nextDeadline() is the next expiry or Infinity', () => {
    const t = new LeaseTable(policy());
    assert.equal(t.nextDeadline(), Infinity);
    const a = ok(t.map(req({ internalPort: 5001, externalPort: 5001, lifetime: 10 }), 1000)).lease;
    const b = ok(t.map(req({ internalPort: 5002, externalPort: 5002, lifetime: 20 }), 1000)).lease;
    assert.equal(t.nextDeadline(), 11_000);
    assert.deepEqual(t.expire(10_999), []);
    assert.deepEqual(t.expire(11_000), [a], 'lapses exactly at expiresAt');
    assert.equal(t.nextDeadline(), 21_000);
    assert.deepEqual(t.list(), [b]);
    // A renewal pushes the deadline out.
    ok(t.map(req({ internalPort: 5002, externalPort: 5002, lifetime: 60 }), 15_000));
    assert.equal(t.nextDeadline(), 75_000);
    assert.deepEqual(t.expire(75_000), [b]);
    assert.equal(t.nextDeadline(), Infinity);
    assert.deepEqual(t.expire(1e9), []);
  });

  it('leases lapsed before another call are taken out by it and still reported by expire()', () => {
    const t = new LeaseTable(policy());
    const a = ok(t.map(req({ lifetime: 10 }), 0)).lease;
    // After expiry, another host may take the port at once...
    const b = ok(t.map(req({ internalAddress: '10.0.0.3', peer: PEER_B, origin: 'upnp', exact: true }), 10_000)).lease;
    assert.equal(b.externalPort, 8044);
    assert.deepEqual(t.list(), [b]);
    // ...and the driver still learns that `a` is gone, with a deadline already due.
    assert.equal(t.nextDeadline(), 10_000);
    assert.deepEqual(t.expire(10_001), [a]);
    assert.equal(t.nextDeadline(), 10_000 + 60_000);
    // Renewing a lapsed mapping makes a new lease (not a renewal).
    const c = ok(t.map(req({ internalPort: 7000, externalPort: 7000, lifetime: 1 }), 20_000));
    const d = ok(t.map(req({ internalPort: 7000, externalPort: 7000, lifetime: 1 }), 21_000));
    assert.equal(d.renewed, false);
    assert.notEqual(d.lease, c.lease);
    assert.deepEqual(t.expire(21_000), [c.lease]);
  });

  it('unmap: one NAT-PMP/PCP mapping, or with port 0 every mapping of the host (by protocol, or all)', () => {
    const t = new LeaseTable(policy());
    const u1 = ok(t.map(req({ internalPort: 5001, externalPort: 5001 }), 0)).lease;
    const u2 = ok(t.map(req({ internalPort: 5002, externalPort: 5002 }), 0)).lease;
    const t1 = ok(t.map(req({ protocol: 'tcp', internalPort: 5001, externalPort: 5001 }), 0)).lease;
    const up = ok(t.map(req({ origin: 'upnp', exact: true, internalPort: 5003, externalPort: 6003 }), 0)).lease;
    const other = ok(t.map(req({ internalAddress: '10.0.0.3', peer: PEER_B, internalPort: 5001, externalPort: 7001 }), 0)).lease;
    assert.deepEqual(t.unmap('udp', '10.0.0.2', 9999, 0), [], 'nothing to delete');
    assert.deepEqual(t.unmap('udp', '10.0.0.2', 5003, 0), [], 'a single-mapping delete does not touch UPnP mappings');
    assert.deepEqual(t.unmap('udp', '10.0.0.2', 5001, 0), [u1]);
    assert.deepEqual(new Set(t.unmap('udp', '10.0.0.2', 0, 0)), new Set([u2, up]));
    assert.deepEqual(t.list(), [t1, other]);
    assert.deepEqual(t.unmap(null, '10.0.0.2', 0, 0), [t1]);
    assert.deepEqual(t.list(), [other]);
  });

  it('removeExternal / findExternal, and list() ordered by protocol then port', () => {
    const t = new LeaseTable(policy());
    const ports: Array<['tcp' | 'udp', number]> = [['udp', 9000], ['tcp', 9500], ['udp', 2000], ['tcp', 3000]];
    for (const [protocol, p] of ports) ok(t.map(req({ origin: 'upnp', exact: true, protocol, externalPort: p, internalPort: p }), 0));
    assert.deepEqual(t.list().map((l) => `${l.protocol}/${l.externalPort}`), ['tcp/3000', 'tcp/9500', 'udp/2000', 'udp/9000']);
    const l = t.findExternal('tcp', 9500)!;
    assert.equal(t.removeExternal('tcp', 9500), l);
    assert.equal(t.removeExternal('tcp', 9500), undefined);
    assert.equal(t.findExternal('tcp', 9500), undefined);
    assert.deepEqual(t.list().map((x) => `${x.protocol}/${x.externalPort}`), ['tcp/3000', 'udp/2000', 'udp/9000']);
    // The returned array is a copy.
    t.list().pop();
    assert.equal(t.list().length, 3);
  });

  it('setPolicy drops leases the new allow-list refuses and cuts lifetimes above the new cap', () => {
    const t = new LeaseTable(policy({ maxLifetime: 7200 }));
    const keep = ok(t.map(req({ internalPort: 8001, externalPort: 8001, lifetime: 3600 }), 0)).lease;
    const short = ok(t.map(req({ internalPort: 8002, externalPort: 8002, lifetime: 100 }), 0)).lease;
    const gone = ok(t.map(req({ internalPort: 9001, externalPort: 9001, lifetime: 3600 }), 0)).lease;
    const next = policy({ maxLifetime: 600, rules: [rule(true, [8000, 8999], '10.0.0.0/24', [1, 65535])] });
    assert.deepEqual(t.setPolicy(next, 1000), [gone]);
    assert.equal(t.policy, next);
    assert.deepEqual(t.list(), [keep, short]);
    assert.equal(keep.lifetime, 600);
    assert.equal(keep.expiresAt, 1000 + 600_000);
    assert.equal(short.lifetime, 100, 'already under the cap');
    assert.equal(short.expiresAt, 100_000);
    assert.equal(t.nextDeadline(), 100_000);
    // New requests follow the new policy.
    assert.equal(err(t.map(req({ internalPort: 9002, externalPort: 9002, exact: true, origin: 'upnp' }), 2000)), 'not-authorized');
    assert.equal(ok(t.map(req({ internalPort: 8003, externalPort: 8003, lifetime: 9999 }), 2000)).lease.lifetime, 600);
  });

  it('refuses malformed requests from front-ends without throwing', () => {
    const t = new LeaseTable(policy());
    for (const bad of [
      req({ internalPort: 0 }),
      req({ internalPort: 70000 }),
      req({ externalPort: -1 }),
      req({ externalPort: 1.5 }),
      req({ lifetime: 0 }),
      req({ lifetime: -5 }),
      req({ lifetime: Number.NaN }),
      req({ protocol: 'sctp' as 'tcp' }),
      req({ internalAddress: 'nonsense' }),
    ]) {
      assert.equal(err(t.map(bad, 0)), 'not-authorized', JSON.stringify(bad));
    }
    assert.deepEqual(t.list(), []);
  });
});
