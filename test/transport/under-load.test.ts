/**
 * The device's defences while under load, against more sources than any
 * table holds: every mac1-valid initiation without MAC2 is answered with a
 * cookie (no table to fill, so a flood cannot starve a legitimate peer of
 * its cookie), and the post-MAC2 limiter groups IPv6 by /64 and evicts its
 * least recently used source rather than refusing a new one.
 */
import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Pair, msgType, A_ADDR } from './pair.js';
import { publicKey } from '../../src/crypto/x25519.js';
import { CookieGenerator } from '../../src/noise/cookie.js';
import { RateLimiter, sourceKey } from '../../src/transport/ratelimiter.js';
import { REKEY_TIMEOUT } from '../../src/transport/constants.js';
import type { Endpoint } from '../../src/transport/device.js';

/** Sources of a flood: `ports` sockets on one host, then `hosts` other addresses (a spoofing flood). */
function floodSources(ports: number, hosts: number): Endpoint[] {
  const out: Endpoint[] = [];
  for (let i = 0; i < ports; i++) out.push({ address: '198.51.100.7', port: 1024 + i });
  for (let i = 0; i < hosts; i++) out.push({ address: `203.0.${(i >> 8) & 255}.${i & 255}`, port: 40000 });
  return out;
}

describe('device under load: more sources than any table holds', () => {
  it('a flood of mac1-valid initiations from 12,000 sockets: the legitimate peer still gets its cookie, then completes its handshake', () => {
    const p = new Pair({ b: { underLoadThreshold: 0 } });
    // mac1 needs only b's public key: the attacker stamps random initiations with it.
    const attacker = new CookieGenerator(publicKey(p.bKey));
    const sources = floodSources(6000, 6000);
    let sent = 0;
    let cookies = 0;
    const flood = (): void => {
      for (const from of sources) {
        const m = new Uint8Array(randomBytes(148));
        m.set([1, 0, 0, 0]);
        attacker.addMacs(m, p.now);
        const out = p.b.receive(m, from, p.now);
        sent++;
        for (const d of out.datagrams) if (msgType(d) === 3 && d.to === from) cookies++;
      }
    };
    flood();
    p.now += 1;
    // The legitimate peer's first initiation, amid the flood.
    p.sendFromA();
    flood();
    const init = p.wire.shift()!;
    assert.equal(msgType(init.d), 1);
    const answer = p.b.receive(init.d.data, A_ADDR, p.now);
    assert.equal(answer.datagrams.length, 1, 'the legitimate peer gets a reply');
    assert.equal(msgType(answer.datagrams[0]!), 3, 'a cookie reply');
    p.collect('b', answer);
    p.step(); // the cookie -> a
    // The retransmission carries MAC2; the flood goes on meanwhile.
    p.advance(REKEY_TIMEOUT + 334);
    flood();
    p.flush();
    assert.equal(p.eventsOf('a', 'handshake-complete').length, 1, 'the legitimate handshake completed under the flood');
    assert.equal(p.delivered.filter((d) => d.to === 'b').length, 1, 'and its data arrived');
    assert.equal(cookies, sent, 'every mac1-valid flood initiation got its own cookie reply, none refused');
    assert.equal(p.b.dropCount('bad-mac1'), 0);
  });

  it('every copy of an initiation without MAC2 is answered: a 64-byte reply to a 148-byte message does not amplify', () => {
    const p = new Pair({ b: { underLoadThreshold: 0 } });
    p.sendFromA();
    const init = p.wire.shift()!.d.data;
    let replies = 0;
    let bytes = 0;
    for (let i = 0; i < 50; i++) {
      for (const d of p.b.receive(init, A_ADDR, p.now).datagrams) { replies++; bytes += d.data.length; }
    }
    assert.equal(replies, 50);
    assert.ok(bytes < 50 * init.length, `${bytes} bytes back for ${50 * init.length}`);
  });
});

describe('post-MAC2 rate limiter', () => {
  it('a full table evicts its least recently used source: 9,000 new sources are each let through, the table stays bounded', () => {
    const lim = new RateLimiter(8192);
    const now = 5000;
    let allowed = 0;
    for (let i = 0; i < 9000; i++) if (lim.allow(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, now)) allowed++;
    assert.equal(allowed, 9000, 'no new source is refused because the table is full');
    assert.equal(lim.size, 8192);
    assert.equal(lim.evicted, 9000 - 8192);
    // A source seen since the table filled is kept; the oldest went first.
    assert.equal(lim.allow('10.0.35.39', now), true); // i = 8999, recent: its second packet
    for (let k = 0; k < 4; k++) lim.allow('10.0.35.39', now);
    assert.equal(lim.allow('10.0.35.39', now), false, 'a recent source keeps its bucket (burst of 5 spent)');
  });

  it('a legitimate source gets through while more sources than the table holds keep it full', () => {
    const lim = new RateLimiter(1024);
    let now = 10_000;
    let legitOk = 0;
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 2048; i++) lim.allow(`2001:db8:${round}:${i.toString(16)}::1`, now);
      if (lim.allow('192.0.2.1', now)) legitOk++;
      now += 50; // the legitimate source's rate: 20/s
    }
    assert.equal(legitOk, 20);
    assert.ok(lim.size <= 1024);
  });

  it('IPv6 sources are grouped by /64, IPv4-mapped addresses by their IPv4 address', () => {
    assert.equal(sourceKey('2001:db8:1:2::1'), sourceKey('2001:db8:1:2:ffff:ffff:ffff:ffff'));
    assert.notEqual(sourceKey('2001:db8:1:2::1'), sourceKey('2001:db8:1:3::1'));
    assert.equal(sourceKey('::ffff:192.0.2.1'), sourceKey('192.0.2.1'));
    assert.notEqual(sourceKey('192.0.2.1'), sourceKey('192.0.2.2'));
    assert.equal(sourceKey('fe80::1%eth0'), sourceKey('fe80::2'));
    const lim = new RateLimiter();
    const now = 1000;
    let allowed = 0;
    // One host with a /64 rotating its address per packet: one bucket, a burst of 5.
    for (let i = 1; i <= 100; i++) if (lim.allow(`2001:db8:1:2::${i.toString(16)}`, now)) allowed++;
    assert.equal(allowed, 5);
    assert.equal(lim.allow('2001:db8:1:3::1', now), true, 'the next /64 has its own bucket');
    assert.equal(lim.allow('2001:db8:1:2::1', now + 50), true, 'credit refills at 20/s');
  });
});
