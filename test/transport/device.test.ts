/**
 * Two devices in memory with a fake clock: handshake, data both ways,
 * the initiator swap, PSK, roaming and cryptokey routing.
 */
import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Pair, ipv4Packet, ipv6Packet, v4, v6, msgType, A_ADDR } from './pair.js';
import { clampPrivateKey, publicKey } from '../../src/crypto/x25519.js';

describe('device: handshake and data', () => {
  it('a packet from a starts a handshake; staged data arrives at b after it', () => {
    const p = new Pair();
    const pkt = ipv4Packet('10.0.0.1', '10.0.0.2', Uint8Array.from([1, 2, 3, 4, 5]));
    p.sendFromA(pkt);
    assert.equal(p.wire.length, 1);
    assert.equal(msgType(p.wire[0]!.d), 1);
    assert.equal(p.wire[0]!.d.data.length, 148);
    p.step(); // initiation -> b
    assert.equal(p.wire.length, 1);
    assert.equal(msgType(p.wire[0]!.d), 2);
    assert.equal(p.wire[0]!.d.data.length, 92);
    p.step(); // response -> a, which sends the staged packet
    assert.equal(p.wire.length, 1);
    assert.equal(msgType(p.wire[0]!.d), 4);
    p.step();
    assert.equal(p.delivered.length, 1);
    assert.deepEqual(p.delivered[0]!.packet, pkt);
    assert.equal(p.delivered[0]!.to, 'b');
    assert.equal(p.eventsOf('a', 'handshake-complete').length, 1);
    assert.equal(p.eventsOf('b', 'handshake-complete').length, 1);
  });

  it('data flows both ways, IPv4 and IPv6, with padding to 16 bytes', () => {
    const p = new Pair();
    p.handshake();
    for (let len = 0; len < 40; len++) {
      p.sendFromA(ipv4Packet('10.0.0.1', '10.0.0.2', new Uint8Array(len).fill(len)));
      p.sendFromB(ipv6Packet(v6(2), v6(1), new Uint8Array(len).fill(len)));
    }
    for (const s of p.wire) {
      assert.equal(msgType(s.d), 4);
      assert.equal((s.d.data.length - 32) % 16, 0, 'padded to a multiple of 16');
    }
    p.flush();
    const toB = p.delivered.filter((d) => d.to === 'b').slice(1); // the first is the handshake's packet
    const toA = p.delivered.filter((d) => d.to === 'a');
    assert.equal(toB.length, 40);
    assert.equal(toA.length, 40);
    toB.forEach((d, len) => assert.equal(d.packet.length, 20 + len));
    toA.forEach((d, len) => assert.equal(d.packet.length, 40 + len));
  });

  it('padding never exceeds the MTU', () => {
    const p = new Pair({ a: { mtu: 1420 } });
    p.handshake();
    p.lose();
    p.sendFromA(ipv4Packet('10.0.0.1', '10.0.0.2', new Uint8Array(1419 - 20)));
    assert.equal(p.wire[0]!.d.data.length, 32 + 1420);
    p.flush();
    assert.equal(p.delivered.at(-1)!.packet.length, 1419);
  });

  it('works with a preshared key on both sides', () => {
    const psk = randomBytes(32);
    const p = new Pair({ psk });
    p.handshake();
    assert.equal(p.delivered.length, 1);
  });

  it('fails the handshake when the preshared keys differ', () => {
    const p = new Pair({ psk: randomBytes(32), pskB: randomBytes(32) });
    p.handshake();
    assert.equal(p.delivered.length, 0);
    assert.equal(p.a.dropCount('handshake-failed'), 1);
    assert.equal(p.peerOfA.keypairs.current, null);
  });

  it('initiator swap: the responder holds its keypair as "next" until the first data packet', () => {
    const p = new Pair();
    p.sendFromA();
    p.step(); // initiation -> b
    const peer = p.peerOfB;
    assert.notEqual(peer.keypairs.next, null);
    assert.equal(peer.keypairs.current, null);
    // b has data for a but must not use the unconfirmed keypair, and must not initiate.
    const out = p.sendFromB();
    assert.equal(out.datagrams.length, 0);
    assert.equal(peer.staged.length, 1);
    p.step(); // response -> a; a sends its staged data
    p.step(); // data -> b: confirms, b flushes its staged packet
    assert.equal(peer.keypairs.next, null);
    assert.notEqual(peer.keypairs.current, null);
    assert.equal(peer.staged.length, 0);
    assert.equal(p.wire.length, 1);
    assert.equal(msgType(p.wire[0]!.d), 4);
    p.flush();
    assert.equal(p.delivered.filter((d) => d.to === 'a').length, 1);
  });

  it('a second handshake moves the old session to "previous", which still decrypts', () => {
    const p = new Pair();
    p.handshake();
    const first = p.peerOfA.keypairs.current!;
    // b sends with the first session but the packet is delayed.
    p.sendFromB();
    const delayed = p.lose();
    p.advance(121_000, { deliver: true });
    p.sendFromA(); // old session: triggers re-key by the initiator
    p.flush();
    assert.notEqual(p.peerOfA.keypairs.current, first);
    assert.equal(p.peerOfA.keypairs.previous, first);
    p.wire.push(...delayed);
    const before = p.delivered.filter((d) => d.to === 'a').length;
    p.flush();
    assert.equal(p.delivered.filter((d) => d.to === 'a').length, before + 1);
  });

  it('roaming: an authenticated packet from a new address moves the endpoint', () => {
    const p = new Pair();
    p.handshake();
    p.sendFromA();
    const moved = { address: '198.51.100.7', port: 40000 };
    p.step(moved);
    assert.deepEqual(p.peerOfB.endpoint, moved);
    assert.equal(p.eventsOf('b', 'endpoint-changed').length, 1);
    // b's next packet goes to the new address.
    p.sendFromB();
    assert.deepEqual(p.wire[0]!.d.to, moved);
  });

  it('sticky source: the local address a packet came to goes with the endpoint, and a change of it alone moves it', () => {
    const p = new Pair();
    p.handshake();
    p.sendFromA();
    const viaSecond = { address: A_ADDR.address, port: A_ADDR.port, local: '10.0.0.2' };
    p.step(viaSecond);
    assert.deepEqual(p.peerOfB.endpoint, viaSecond);
    p.sendFromB();
    assert.deepEqual(p.wire[0]!.d.to, viaSecond, 'the reply leaves from the address a sent to');
    p.flush();
    // Same remote address, other local address: the endpoint follows.
    p.sendFromA();
    const viaFirst = { ...viaSecond, local: '10.0.0.1' };
    p.step(viaFirst);
    assert.deepEqual(p.peerOfB.endpoint, viaFirst);
    assert.equal(p.eventsOf('b', 'endpoint-changed').length, 2);
  });

  it('sticky source: clearEndpointSource forgets a vanished local address, and the next packet teaches it again', () => {
    const p = new Pair();
    p.handshake();
    p.sendFromA();
    p.step({ ...A_ADDR, local: 'fe80::1%3' });
    assert.equal(p.b.clearEndpointSource('fe80::1%4'), 0, 'another interface is another address');
    assert.equal(p.peerOfB.endpoint?.local, 'fe80::1%3');
    assert.equal(p.b.clearEndpointSource('fe80::1%3'), 1);
    assert.deepEqual(p.peerOfB.endpoint, { address: A_ADDR.address, port: A_ADDR.port });
    p.sendFromA();
    p.step({ ...A_ADDR, local: 'fe80::2%3' });
    assert.equal(p.peerOfB.endpoint?.local, 'fe80::2%3');
  });

  it('roaming: unauthenticated or replayed packets never move the endpoint', () => {
    const p = new Pair();
    p.handshake();
    p.sendFromA();
    const good = p.wire[0]!.d.data;
    p.flush();
    const evil = { address: '203.0.113.66', port: 6666 };
    // replay of an authentic packet from elsewhere
    p.collect('b', p.b.receive(good, evil, p.now));
    // tampered fresh packet from elsewhere
    p.sendFromA();
    const fresh = p.lose()[0]!.d.data;
    const bad = Uint8Array.from(fresh); bad[bad.length - 1]! ^= 1;
    p.collect('b', p.b.receive(bad, evil, p.now));
    assert.deepEqual(p.peerOfB.endpoint, A_ADDR);
    assert.equal(p.b.dropCount('replay'), 1);
    assert.equal(p.b.dropCount('decrypt-failed'), 1);
  });

  it('a responder with no configured endpoint learns it from the initiation', () => {
    const p = new Pair({ noEndpointOnB: true });
    assert.equal(p.peerOfB.endpoint, null);
    p.handshake();
    assert.deepEqual(p.peerOfB.endpoint, A_ADDR);
    p.sendFromB();
    p.flush();
    assert.equal(p.delivered.filter((d) => d.to === 'a').length, 1);
  });

  it('cryptokey routing: inner packets with a source outside AllowedIPs are dropped', () => {
    const p = new Pair();
    p.handshake();
    p.sendFromA(ipv4Packet('10.9.9.9', '10.0.0.2'));
    p.sendFromA(ipv6Packet(v6(99), v6(2)));
    p.flush();
    assert.equal(p.b.dropCount('source-not-allowed'), 2);
    assert.equal(p.delivered.length, 1);
  });

  it('cryptokey routing: a peer sending from an address another peer owns is dropped, not delivered', () => {
    const p = new Pair();
    // b knows a third peer, c, that owns 10.0.0.3 and fd00::3; a spoofs those.
    p.b.upsertPeer({
      publicKey: publicKey(clampPrivateKey(randomBytes(32))), presharedKey: null, endpoint: null,
      allowedIps: [{ ip: v4('10.0.0.3'), cidr: 32 }, { ip: v6(3), cidr: 128 }],
    }, p.now);
    p.handshake();
    assert.equal(p.delivered.length, 1, 'the handshake packet from a own address');
    p.sendFromA(ipv4Packet('10.0.0.3', '10.0.0.2'));
    p.flush();
    assert.equal(p.b.dropCount('source-not-allowed'), 1);
    assert.equal(p.delivered.length, 1, 'nothing delivered from the spoofed IPv4 source');
    p.sendFromA(ipv6Packet(v6(3), v6(2)));
    p.flush();
    assert.equal(p.b.dropCount('source-not-allowed'), 2);
    assert.equal(p.delivered.length, 1, 'nothing delivered from the spoofed IPv6 source');
  });

  it('packets to an address no peer owns are dropped as no-route', () => {
    const p = new Pair();
    p.sendFromA(ipv4Packet('10.0.0.1', '10.7.7.7'));
    assert.equal(p.wire.length, 0);
    assert.equal(p.a.dropCount('no-route'), 1);
  });

  it('multicast no peer takes (a TUN host\'s router solicitations, MLD, IGMP) is counted as multicast, not no-route (issue 19 bug 14)', () => {
    const p = new Pair();
    const ff02 = (last: number): Uint8Array => { const b = new Uint8Array(16); b[0] = 0xff; b[1] = 0x02; b[15] = last; return b; };
    const linkLocal = new Uint8Array(16); linkLocal[0] = 0xfe; linkLocal[1] = 0x80; linkLocal[15] = 1;
    p.sendFromA(ipv6Packet(linkLocal, ff02(2))); // router solicitation to all-routers
    p.sendFromA(ipv6Packet(linkLocal, ff02(0x16))); // MLDv2 report
    p.sendFromA(ipv4Packet('10.0.0.1', '224.0.0.22')); // IGMPv3 report
    p.sendFromA(ipv4Packet('10.0.0.1', '255.255.255.255'));
    assert.equal(p.wire.length, 0);
    assert.equal(p.a.dropCount('multicast'), 4);
    assert.equal(p.a.dropCount('no-route'), 0);
  });

  it('staged packets are bounded, oldest dropped first, and flushed after the handshake', () => {
    const p = new Pair({ a: { maxStagedPackets: 8 } });
    for (let i = 0; i < 20; i++) p.sendFromA(ipv4Packet('10.0.0.1', '10.0.0.2', Uint8Array.of(i)));
    assert.equal(p.peerOfA.staged.length, 8);
    assert.equal(p.a.dropCount('staged-overflow'), 12);
    assert.equal(p.wire.filter((s) => msgType(s.d) === 1).length, 1, 'one initiation, not twenty');
    p.flush();
    const got = p.delivered.filter((d) => d.to === 'b').map((d) => d.packet[20]);
    assert.deepEqual(got, [12, 13, 14, 15, 16, 17, 18, 19]);
  });

  it('replayed transport packets are dropped and counted', () => {
    const p = new Pair();
    p.handshake();
    p.sendFromA();
    const pkt = p.wire[0]!;
    p.flush();
    p.wire.push(pkt, pkt);
    p.flush();
    assert.equal(p.b.dropCount('replay'), 2);
    assert.equal(p.delivered.filter((d) => d.to === 'b').length, 2);
  });

  it('rx/tx byte counters and last handshake time move', () => {
    const p = new Pair();
    p.handshake();
    assert.ok(p.peerOfA.txBytes > 0 && p.peerOfA.rxBytes > 0);
    assert.ok(p.peerOfB.txBytes > 0 && p.peerOfB.rxBytes > 0);
    assert.equal(p.peerOfA.lastHandshake, p.now);
    assert.equal(p.peerOfB.lastHandshake, p.now);
  });

  it('removing a peer frees its indices so its packets become unknown-index drops', () => {
    const p = new Pair();
    p.handshake();
    p.sendFromA();
    const w = p.lose();
    assert.ok(p.b.removePeer(p.peerOfB.publicKey));
    p.wire.push(...w);
    p.flush();
    assert.equal(p.b.dropCount('unknown-index'), 1);
  });
});
