/**
 * The transport's small parts on their own: the keypair slots (previous,
 * current, next) through every install and confirm, the timer hooks and
 * earliest(), the post-MAC2 rate limiter's refill cap and idle sweep, the
 * inner-packet helpers (padding, length, hop limit, multicast) and the
 * endpoint helpers. The device tests drive these only along their usual paths.
 */
import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { Keypair, Keypairs } from '../../src/transport/keypair.js';
import * as T from '../../src/transport/timers.js';
import * as C from '../../src/transport/constants.js';
import { KEEPALIVE_TIMEOUT, REJECT_AFTER_TIME, REKEY_TIMEOUT, REKEY_TIMEOUT_JITTER_MAX } from '../../src/transport/constants.js';
import { RateLimiter, sourceKey } from '../../src/transport/ratelimiter.js';
import { decrementHopLimit, innerPacketLength, isMulticast, paddedLength } from '../../src/transport/packet.js';
import { endpointKey, sameEndpoint, Peer } from '../../src/transport/peer.js';
import { makePeerCrypto } from '../../src/noise/handshake.js';
import { checksum } from '../../src/netstack/checksum.js';
import { withSeed } from '../harness/seed.js';
import { ipv4Packet, ipv6Packet, v6 } from './pair.js';

let nextIndex = 1;
function kp(isInitiator: boolean): Keypair {
  const i = nextIndex++;
  return new Keypair(new Uint8Array(32).fill(i), new Uint8Array(32).fill(i + 1), isInitiator, 0, i, i + 1000);
}

describe('constants', () => {
  it('the message limits: the whitepaper\'s (section 6.1) and their 2^53 stand-ins (constants.ts)', () => {
    // Whitepaper 6.1: Reject-After-Messages = 2^64 - 2^13 - 1, Rekey-After-Messages = 2^60.
    assert.equal(C.REJECT_AFTER_MESSAGES, 2n ** 64n - 2n ** 13n - 1n);
    assert.equal(C.REKEY_AFTER_MESSAGES, 2 ** 60);
    // The same shape below 2^53, where a JS number still counts exactly.
    assert.equal(C.SEND_REJECT_AFTER_MESSAGES, 2 ** 53 - 2 ** 13 - 1);
    assert.ok(C.SEND_REKEY_AFTER_MESSAGES < C.SEND_REJECT_AFTER_MESSAGES);
  });
});

describe('keypair slots', () => {
  it('an initiator keypair becomes current at once; the old current becomes previous and the old previous drops out', () => {
    const s = new Keypairs();
    const a = kp(true);
    assert.deepEqual(s.install(a), []);
    assert.deepEqual([s.previous, s.current, s.next], [null, a, null]);
    const b = kp(true);
    assert.deepEqual(s.install(b), []);
    assert.deepEqual([s.previous, s.current, s.next], [a, b, null]);
    const c = kp(true);
    assert.deepEqual(s.install(c), [a]);
    assert.deepEqual([s.previous, s.current, s.next], [b, c, null]);
  });

  it('a responder keypair waits in next, replacing an unconfirmed next and dropping previous; current stays', () => {
    const s = new Keypairs();
    const cur = kp(true);
    const prev = kp(true);
    s.install(prev);
    s.install(cur);
    const n1 = kp(false);
    assert.deepEqual(s.install(n1), [prev]);
    assert.deepEqual([s.previous, s.current, s.next], [null, cur, n1]);
    const n2 = kp(false);
    assert.deepEqual(s.install(n2), [n1]);
    assert.deepEqual([s.previous, s.current, s.next], [null, cur, n2]);
  });

  it('an initiator keypair while a responder one waits: the unconfirmed next becomes previous, the old current and previous drop out', () => {
    const s = new Keypairs();
    const prev = kp(true);
    const cur = kp(true);
    s.install(prev);
    s.install(cur);
    const waiting = kp(false);
    s.install(waiting); // drops prev
    const again = kp(true);
    s.previous = prev; // as if a previous had survived too
    assert.deepEqual(s.install(again), [cur, prev]);
    assert.deepEqual([s.previous, s.current, s.next], [waiting, again, null]);
  });

  it('an initiator keypair after a responder one on empty slots drops nothing', () => {
    const s = new Keypairs();
    const n = kp(false);
    assert.deepEqual(s.install(n), []);
    const i = kp(true);
    assert.deepEqual(s.install(i), [], 'no current and no previous to drop');
    assert.deepEqual([s.previous, s.current, s.next], [n, i, null]);
  });

  it('confirm rotates only the waiting next into current', () => {
    const s = new Keypairs();
    const prev = kp(true);
    const cur = kp(true);
    s.install(prev);
    s.install(cur);
    const n = kp(false);
    s.install(n);
    s.previous = prev;
    assert.equal(s.confirm(cur), null, 'not the waiting one: nothing changes');
    assert.deepEqual([s.previous, s.current, s.next], [prev, cur, n]);
    assert.deepEqual(s.confirm(n), [prev]);
    assert.deepEqual([s.previous, s.current, s.next], [cur, n, null]);
    assert.equal(s.confirm(n), null, 'confirmed once');
  });

  it('clear returns every keypair held and empties the slots; wipe zeroes both keys', () => {
    const s = new Keypairs();
    assert.deepEqual(s.clear(), []);
    const a = kp(true);
    const b = kp(true);
    const n = kp(false);
    s.install(a);
    s.install(b);
    s.install(n);
    s.previous = a;
    assert.deepEqual(s.clear(), [a, b, n]);
    assert.deepEqual([s.previous, s.current, s.next], [null, null, null]);
    assert.equal(a.wiped, false);
    a.wipe();
    assert.equal(a.wiped, true);
    assert.ok(a.sendKey.every((x) => x === 0) && a.recvKey.every((x) => x === 0));
  });
});

describe('timer hooks', () => {
  it('earliest is the smallest armed deadline, whichever timer holds it', () => {
    const names = ['retransmitHandshake', 'sendKeepalive', 'newHandshake', 'zeroKeyMaterial', 'persistentKeepalive'] as const;
    const t = T.newTimerState();
    assert.equal(T.earliest(t), Infinity);
    for (const low of names) {
      const s = T.newTimerState();
      names.forEach((n, i) => (s[n] = 1000 + i));
      s[low] = 10;
      assert.equal(T.earliest(s), 10, low);
      const only = T.newTimerState();
      only[low] = 77;
      assert.equal(T.earliest(only), 77, `${low} alone`);
    }
  });

  it('each hook moves the deadlines the whitepaper says and no others', () => {
    const t = T.newTimerState();
    T.onDataSent(t, 100, 7);
    assert.equal(t.newHandshake, 100 + KEEPALIVE_TIMEOUT + REKEY_TIMEOUT + 7);
    T.onDataSent(t, 500, 7);
    assert.equal(t.newHandshake, 100 + KEEPALIVE_TIMEOUT + REKEY_TIMEOUT + 7, 'not pushed back by more data');
    T.onAnyAuthenticatedPacketReceived(t);
    assert.equal(t.newHandshake, null);

    T.onDataReceived(t, 200);
    assert.equal(t.sendKeepalive, 200 + KEEPALIVE_TIMEOUT);
    assert.equal(t.needAnotherKeepalive, false);
    T.onDataReceived(t, 300);
    assert.equal(t.sendKeepalive, 200 + KEEPALIVE_TIMEOUT, 'the armed keepalive is kept');
    assert.equal(t.needAnotherKeepalive, true);
    T.onAnyAuthenticatedPacketSent(t);
    assert.equal(t.sendKeepalive, null);

    T.onHandshakeInitiated(t, 400, 9);
    assert.equal(t.retransmitHandshake, 400 + REKEY_TIMEOUT + 9);
    t.handshakeAttempts = 3;
    t.sentLastMinuteHandshake = true;
    T.onHandshakeComplete(t);
    assert.deepEqual([t.retransmitHandshake, t.handshakeAttempts, t.sentLastMinuteHandshake], [null, 0, false]);

    T.onSessionDerived(t, 600);
    assert.equal(t.zeroKeyMaterial, 600 + 3 * REJECT_AFTER_TIME);
    T.onAnyAuthenticatedPacketTraversal(t, 700, 0);
    assert.equal(t.persistentKeepalive, null, 'off: not armed');
    T.onAnyAuthenticatedPacketTraversal(t, 700, 25);
    assert.equal(t.persistentKeepalive, 700 + 25_000);
  });

  it('jitter is the two bytes big-endian modulo REKEY_TIMEOUT_JITTER_MAX', () => {
    assert.equal(REKEY_TIMEOUT_JITTER_MAX, 334);
    assert.equal(T.jitterFrom(Uint8Array.of(0, 0)), 0);
    assert.equal(T.jitterFrom(Uint8Array.of(0, 200)), 200);
    assert.equal(T.jitterFrom(Uint8Array.of(1, 0)), 256);
    assert.equal(T.jitterFrom(Uint8Array.of(1, 78)), 0); // 334
    assert.equal(T.jitterFrom(Uint8Array.of(0xff, 0xff)), 65535 % 334);
  });
});

describe('post-MAC2 rate limiter: refill and sweep', () => {
  it('credit refills with time but never past the burst of 5', () => {
    const lim = new RateLimiter();
    let ok = 0;
    for (let i = 0; i < 10; i++) if (lim.allow('192.0.2.1', 0)) ok++;
    assert.equal(ok, 5);
    assert.equal(lim.allow('192.0.2.1', 49), false, '49 ms: not yet one packet\'s credit');
    assert.equal(lim.allow('192.0.2.1', 50), true, '50 ms: one packet');
    assert.equal(lim.allow('192.0.2.1', 50), false);
    // 900 ms idle (under the sweep's second) would be 18 packets' credit: still 5.
    ok = 0;
    for (let i = 0; i < 30; i++) if (lim.allow('192.0.2.1', 950)) ok++;
    assert.equal(ok, 5);
  });

  it('sources idle for a second are swept once a second, the rest kept', () => {
    const lim = new RateLimiter();
    lim.allow('192.0.2.1', 0);
    lim.allow('192.0.2.2', 500);
    lim.allow('192.0.2.3', 999);
    assert.equal(lim.size, 3, 'no sweep before a second has passed');
    lim.allow('192.0.2.4', 1000);
    assert.equal(lim.size, 3, 'the source idle for exactly a second went, the others stay');
    lim.allow('192.0.2.4', 1600);
    assert.equal(lim.size, 3, 'the next sweep only a second after the last: .2, idle 1100 ms, is still there');
    lim.allow('192.0.2.4', 2000);
    assert.equal(lim.size, 1, '.2 (idle 1500 ms) and .3 (idle 1001 ms) went, .4 stays');
  });

  it('a source used again moves to the back of the eviction order', () => {
    const lim = new RateLimiter(2);
    for (let i = 0; i < 5; i++) assert.equal(lim.allow('192.0.2.1', 0), true);
    lim.allow('192.0.2.2', 0);
    assert.equal(lim.allow('192.0.2.1', 0), false, 'burst spent; .1 is now the most recently used');
    lim.allow('192.0.2.3', 0); // a full table evicts the least recently used: .2
    assert.equal(lim.evicted, 1);
    assert.equal(lim.allow('192.0.2.1', 0), false, '.1 kept its spent bucket');
  });

  it('source keys: zones are ignored, IPv4-mapped needs all ten zero bytes, unparseable text is its own key', () => {
    assert.equal(sourceKey('192.0.2.1'), '192.0.2.1');
    assert.equal(sourceKey('::ffff:192.0.2.1'), '192.0.2.1');
    assert.notEqual(sourceKey('1::ffff:192.0.2.1'), '192.0.2.1', 'a non-zero first byte: not mapped');
    assert.notEqual(sourceKey('0:0:0:0:1:ffff:c000:201'), '192.0.2.1', 'a non-zero tenth byte: not mapped');
    assert.notEqual(sourceKey('::fffe:192.0.2.1'), '192.0.2.1');
    assert.notEqual(sourceKey('::feff:192.0.2.1'), '192.0.2.1');
    assert.equal(sourceKey('2001:db8:1:2::1'), '20010db800010002/64');
    assert.equal(sourceKey('fe80::1%eth0'), 'fe80000000000000/64');
    assert.equal(sourceKey('not an address'), 'not an address');
  });
});

describe('inner packet helpers', () => {
  it('padding: to a multiple of 16, capped at the MTU, never below the length', () => {
    assert.equal(paddedLength(0, 1420), 0);
    assert.equal(paddedLength(1, 1420), 16);
    assert.equal(paddedLength(16, 1420), 16);
    assert.equal(paddedLength(17, 1420), 32);
    assert.equal(paddedLength(1419, 1420), 1420, 'capped at the MTU');
    assert.equal(paddedLength(1420, 1420), 1420);
    assert.equal(paddedLength(1421, 1420), 1424, 'over the MTU: padded as usual');
    assert.equal(paddedLength(1430, 1427), 1440);
    assert.equal(paddedLength(1427, 1427), 1427);
    assert.equal(paddedLength(5, 3), 16, 'past a tiny MTU: the usual padding');
  });

  it('inner length: the IPv4 total length or 40 + the IPv6 payload length, -1 for what does not fit', () => {
    const p4 = ipv4Packet('10.0.0.1', '10.0.0.2', new Uint8Array(8));
    const padded4 = new Uint8Array(48);
    padded4.set(p4);
    assert.equal(innerPacketLength(padded4), 28);
    assert.equal(innerPacketLength(p4), 28, 'exactly the buffer');
    assert.equal(innerPacketLength(p4.subarray(0, 27)), -1, 'total past the end');
    assert.equal(innerPacketLength(p4.subarray(0, 19)), -1, 'shorter than a header');
    const bare4 = ipv4Packet('10.0.0.1', '10.0.0.2', new Uint8Array(0));
    assert.equal(innerPacketLength(bare4), 20, 'a header alone, nothing after it');
    assert.equal(innerPacketLength(ipv6Packet(v6(1), v6(2), new Uint8Array(0))), 40, 'an IPv6 header alone');
    const ihl6 = Uint8Array.from(padded4);
    ihl6[0] = 0x46;
    assert.equal(innerPacketLength(ihl6), 28, 'options inside the total');
    ihl6[3] = 23;
    assert.equal(innerPacketLength(ihl6), -1, 'total below the header length');
    ihl6[3] = 24;
    assert.equal(innerPacketLength(ihl6), 24, 'total equal to the header length');
    const ihl4 = Uint8Array.from(padded4);
    ihl4[0] = 0x44;
    assert.equal(innerPacketLength(ihl4), -1, 'IHL under 5');
    const p6 = ipv6Packet(v6(1), v6(2), new Uint8Array(8));
    const padded6 = new Uint8Array(64);
    padded6.set(p6);
    assert.equal(innerPacketLength(padded6), 48);
    assert.equal(innerPacketLength(p6), 48);
    assert.equal(innerPacketLength(p6.subarray(0, 47)), -1);
    assert.equal(innerPacketLength(p6.subarray(0, 39)), -1);
    assert.equal(innerPacketLength(new Uint8Array(0)), -1);
    for (const v of [0, 5, 7, 15]) {
      const p = Uint8Array.from(padded4);
      p[0] = (v << 4) | 5;
      assert.equal(innerPacketLength(p), -1, `version ${v}`);
    }
  });

  it('hop limit: IPv4 TTL down by one with a checksum that still verifies, IPv6 hop limit down by one, 0 and 1 refused', () => withSeed((rand) => {
    for (let i = 0; i < 1000; i++) {
      const p = ipv4Packet('10.0.0.1', '10.0.0.2', rand.bytes(rand.int(20)));
      p.set(rand.bytes(8), 4); // id, flags, TTL, protocol: any values
      p.set(rand.bytes(8), 12);
      p[10] = p[11] = 0;
      let c = checksum(p.subarray(0, 20));
      // A quarter with a checksum of 0xff00 or more, so the update's carry wraps around.
      while (i % 4 === 0 && c < 0xff00) {
        p.set(rand.bytes(2), 4);
        c = checksum(p.subarray(0, 20));
      }
      p[10] = c >> 8;
      p[11] = c & 0xff;
      const ttl = p[8]!;
      const before = Uint8Array.from(p);
      const ok = decrementHopLimit(p);
      if (ttl <= 1) {
        assert.equal(ok, false, `TTL ${ttl}`);
        assert.deepEqual(p, before, 'unchanged');
        continue;
      }
      assert.equal(ok, true);
      assert.equal(p[8], ttl - 1);
      assert.equal(checksum(p.subarray(0, 20)), 0, `checksum after TTL ${ttl} -> ${ttl - 1}, old ${c.toString(16)}`);
      assert.deepEqual(p.subarray(12), before.subarray(12), 'nothing else changes');
    }
    for (const hl of [0, 1, 2, 64, 255]) {
      const p = ipv6Packet(v6(1), v6(2));
      p[7] = hl;
      assert.equal(decrementHopLimit(p), hl > 1, `hop limit ${hl}`);
      assert.equal(p[7], hl > 1 ? hl - 1 : hl);
    }
    const notIp = new Uint8Array(48);
    notIp[0] = 0x50;
    notIp[7] = 64;
    assert.equal(decrementHopLimit(notIp), false, 'version 5: no IP header');
    assert.equal(notIp[7], 64);
  }));

  it('multicast: IPv4 224/4 and the limited broadcast, IPv6 ff00::/8', () => {
    const yes = [[224, 0, 0, 1], [239, 255, 255, 255], [255, 255, 255, 255]];
    const no = [[223, 255, 255, 255], [240, 0, 0, 0], [255, 255, 255, 254], [10, 0, 0, 1]];
    for (const a of yes) assert.equal(isMulticast(Uint8Array.from(a)), true, a.join('.'));
    for (const a of no) assert.equal(isMulticast(Uint8Array.from(a)), false, a.join('.'));
    const m6 = new Uint8Array(16);
    m6[0] = 0xff;
    assert.equal(isMulticast(m6), true);
    m6[0] = 0xfe;
    assert.equal(isMulticast(m6), false);
  });
});

describe('endpoint helpers', () => {
  it('endpointKey brackets IPv6; sameEndpoint compares address, port and local address', () => {
    assert.equal(endpointKey({ address: '192.0.2.1', port: 51820 }), '192.0.2.1:51820');
    assert.equal(endpointKey({ address: '2001:db8::1', port: 51820 }), '[2001:db8::1]:51820');
    const e = { address: '192.0.2.1', port: 1 };
    assert.equal(sameEndpoint(e, e), true);
    assert.equal(sameEndpoint(null, null), true);
    assert.equal(sameEndpoint(e, null), false);
    assert.equal(sameEndpoint(null, e), false);
    assert.equal(sameEndpoint(e, { ...e }), true);
    assert.equal(sameEndpoint(e, { ...e, port: 2 }), false);
    assert.equal(sameEndpoint(e, { ...e, address: '192.0.2.2' }), false);
    assert.equal(sameEndpoint(e, { ...e, local: '10.0.0.1' }), false);
    assert.equal(sameEndpoint({ ...e, local: '10.0.0.1' }, { ...e, local: '10.0.0.1' }), true);
  });

  it('a peer keeps a copy of its public key; its label is the first 8 base64 characters', () => {
    const pub = new Uint8Array(32).map((_, i) => i * 7);
    const peer = new Peer(pub, makePeerCrypto(null, pub));
    pub[0] = 99;
    assert.equal(peer.publicKey[0], 0);
    assert.equal(peer.id, Buffer.from(peer.publicKey).toString('hex'));
    assert.equal(peer.label, `${Buffer.from(peer.publicKey).toString('base64').slice(0, 8)}…`);
  });
});
