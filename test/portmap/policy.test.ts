// The [PortMapping] allow-list: first matching rule wins, the empty list is
// "allow 1024-65535 any 1024-65535", a non-empty list that matches nothing
// refuses (issue 8, after miniupnpd's allow/deny lines).
import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { canonicalAddress, defaultPolicy, externalChecker, permits } from '../../src/portmap/policy.js';
import type { PermRule, PortMapPolicy } from '../../src/portmap/types.js';

function rule(allow: boolean, ext: [number, number], prefix: string, int: [number, number]): PermRule {
  const [ip, cidr] = prefix.split('/') as [string, string];
  return { allow, external: ext, prefix: { ip, cidr: Number(cidr), family: ip.includes(':') ? 6 : 4 }, internal: int, line: 0 };
}

function withRules(...rules: PermRule[]): PortMapPolicy {
  return { ...defaultPolicy(), rules };
}

describe('portmap policy', () => {
  it('defaultPolicy has the documented defaults', () => {
    assert.deepEqual(defaultPolicy(), {
      services: { natpmp: true, pcp: true, upnp: true },
      externalAddress: undefined,
      listenAddress: '0.0.0.0',
      rules: [],
      maxLifetime: 7200,
      maxMappingsPerPeer: 32,
      upnpHttpPort: 5000,
    });
    // A fresh object each time: callers may edit their copy.
    assert.notEqual(defaultPolicy(), defaultPolicy());
  });

  it('no rules: external and internal 1024-65535 from any address', () => {
    const p = defaultPolicy();
    assert.equal(permits(p, '10.0.0.2', 1024, 1024), true);
    assert.equal(permits(p, '10.0.0.2', 65535, 65535), true);
    assert.equal(permits(p, '192.0.2.1', 8080, 40000), true);
    assert.equal(permits(p, 'fd00::2', 8080, 8080), true);
    assert.equal(permits(p, '10.0.0.2', 1023, 8080), false, 'internal port below 1024');
    assert.equal(permits(p, '10.0.0.2', 8080, 1023), false, 'external port below 1024');
    assert.equal(permits(p, '10.0.0.2', 8080, 80), false);
  });

  it('never permits port 0, ports above 65535, non-integers, or unparsable addresses', () => {
    const p = withRules(rule(true, [0, 70000], '0.0.0.0/0', [0, 70000]));
    assert.equal(permits(p, '10.0.0.2', 8080, 8080), true);
    assert.equal(permits(p, '10.0.0.2', 0, 8080), false);
    assert.equal(permits(p, '10.0.0.2', 8080, 0), false);
    assert.equal(permits(p, '10.0.0.2', 65536, 8080), false);
    assert.equal(permits(p, '10.0.0.2', 8080, 65536), false);
    assert.equal(permits(p, '10.0.0.2', 8080.5, 8080), false);
    assert.equal(permits(p, '10.0.0.256', 8080, 8080), false);
    assert.equal(permits(p, 'not an address', 8080, 8080), false);
    assert.equal(permits(p, '', 8080, 8080), false);
  });

  it("miniupnpd's example: allow 1024-65535 10.100.0.0/16 1024-65535, nothing else", () => {
    const p = withRules(rule(true, [1024, 65535], '10.100.0.0/16', [1024, 65535]));
    assert.equal(permits(p, '10.100.0.2', 8044, 8044), true);
    assert.equal(permits(p, '10.100.255.255', 1024, 65535), true);
    assert.equal(permits(p, '10.101.0.2', 8044, 8044), false, 'outside the prefix: no rule matches, refused');
    assert.equal(permits(p, '10.100.0.2', 8044, 80), false, 'external port outside the range');
    assert.equal(permits(p, '10.100.0.2', 22, 8044), false, 'internal port outside the range');
  });

  it('the first matching rule wins', () => {
    const p = withRules(
      rule(false, [8000, 8099], '10.0.0.5/32', [1, 65535]),
      rule(true, [8000, 8999], '10.0.0.0/24', [1, 65535]),
      rule(false, [1, 65535], '0.0.0.0/0', [1, 65535]),
    );
    assert.equal(permits(p, '10.0.0.5', 5000, 8050), false, 'denied by the first rule');
    assert.equal(permits(p, '10.0.0.5', 5000, 8100), true, 'first rule does not match, second allows');
    assert.equal(permits(p, '10.0.0.6', 5000, 8050), true);
    assert.equal(permits(p, '10.0.0.6', 5000, 9000), false, 'only the final deny matches');
    // Reversed order: the broad allow shadows the deny.
    const q = withRules(rule(true, [8000, 8999], '10.0.0.0/24', [1, 65535]), rule(false, [8000, 8099], '10.0.0.5/32', [1, 65535]));
    assert.equal(permits(q, '10.0.0.5', 5000, 8050), true);
  });

  it('IPv4 prefixes that do not end on a byte boundary', () => {
    const p = withRules(rule(true, [1, 65535], '10.100.0.0/20', [1, 65535]));
    assert.equal(permits(p, '10.100.0.0', 5000, 5000), true);
    assert.equal(permits(p, '10.100.15.255', 5000, 5000), true);
    assert.equal(permits(p, '10.100.16.0', 5000, 5000), false);
    assert.equal(permits(p, '10.99.255.255', 5000, 5000), false);
    const one = withRules(rule(true, [1, 65535], '192.0.2.7/32', [1, 65535]));
    assert.equal(permits(one, '192.0.2.7', 5000, 5000), true);
    assert.equal(permits(one, '192.0.2.6', 5000, 5000), false);
    const odd = withRules(rule(true, [1, 65535], '192.0.2.128/25', [1, 65535]));
    assert.equal(permits(odd, '192.0.2.128', 5000, 5000), true);
    assert.equal(permits(odd, '192.0.2.127', 5000, 5000), false);
  });

  it('IPv6 prefixes; the families never match each other', () => {
    const p = withRules(rule(true, [1, 65535], '2001:db8:8000::/33', [1, 65535]));
    assert.equal(permits(p, '2001:db8:8000::1', 5000, 5000), true);
    assert.equal(permits(p, '2001:db8:ffff:ffff::1', 5000, 5000), true);
    assert.equal(permits(p, '2001:db8:7fff::1', 5000, 5000), false);
    assert.equal(permits(p, '10.0.0.1', 5000, 5000), false, 'IPv4 address against an IPv6 rule');
    const v4all = withRules(rule(true, [1, 65535], '0.0.0.0/0', [1, 65535]));
    assert.equal(permits(v4all, 'fd00::1', 5000, 5000), false, 'IPv6 address against an IPv4 rule');
    const v6all = withRules(rule(true, [1, 65535], '::/0', [1, 65535]));
    assert.equal(permits(v6all, 'fd00::1', 5000, 5000), true);
  });

  it('IPv4-mapped IPv6 text is matched as the IPv4 address it carries', () => {
    const p = withRules(rule(true, [1, 65535], '10.0.0.0/8', [1, 65535]));
    assert.equal(permits(p, '::ffff:10.1.2.3', 5000, 5000), true);
    assert.equal(permits(p, '::ffff:11.1.2.3', 5000, 5000), false);
    assert.equal(canonicalAddress('::ffff:10.1.2.3'), '10.1.2.3');
    assert.equal(canonicalAddress('::FFFF:0a01:0203'), '10.1.2.3');
    assert.equal(canonicalAddress('2001:DB8:0:0:0:0:0:1'), '2001:db8::1');
    assert.equal(canonicalAddress('10.0.0.1'), '10.0.0.1');
    assert.equal(canonicalAddress('10.0.0.01'), null);
    assert.equal(canonicalAddress('fe80::1%eth0'), null);
  });

  it('externalChecker agrees with permits on every external port', () => {
    const p = withRules(
      rule(false, [8000, 8099], '10.0.0.5/32', [1, 65535]),
      rule(true, [8000, 8999], '10.0.0.0/24', [1, 65535]),
      rule(true, [20000, 20010], '10.0.0.0/24', [3000, 3000]),
    );
    for (const [addr, iport] of [['10.0.0.5', 3000], ['10.0.0.6', 3000], ['10.0.0.6', 4000]] as const) {
      const check = externalChecker(p, addr, iport);
      assert.ok(check);
      let allowed = 0;
      for (let e = 0; e <= 65536; e++) {
        assert.equal(check(e), permits(p, addr, iport, e), `${addr}:${iport} ext ${e}`);
        if (check(e)) allowed++;
      }
      const expected = addr === '10.0.0.5' ? 900 + 11 : iport === 3000 ? 1000 + 11 : 1000;
      assert.equal(allowed, expected);
    }
    assert.equal(externalChecker(p, '10.0.1.1', 3000), null, 'no rule holds this address');
    assert.equal(externalChecker(withRules(rule(false, [1, 65535], '0.0.0.0/0', [1, 65535])), '10.0.0.1', 3000), null, 'only deny rules');
  });

  it('a policy whose rules array is replaced is compiled again', () => {
    const p = withRules(rule(true, [1, 65535], '10.0.0.0/8', [1, 65535]));
    assert.equal(permits(p, '10.0.0.1', 5000, 5000), true);
    p.rules = [rule(false, [1, 65535], '10.0.0.0/8', [1, 65535])];
    assert.equal(permits(p, '10.0.0.1', 5000, 5000), false);
  });
});
