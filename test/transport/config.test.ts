/**
 * The device's configuration calls (the UAPI `set` operations): the private
 * key, peers added, updated and removed, preshared key and persistent
 * keepalive, and what each does to live sessions and to the traffic after it.
 */
import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Pair, ipv4Packet, msgType, v4, A_ADDR, B_ADDR } from './pair.js';
import { clampPrivateKey, publicKey } from '../../src/crypto/x25519.js';
import { Device } from '../../src/transport/device.js';

const zero = (b: Uint8Array): boolean => b.every((x) => x === 0);
const newKey = (): Uint8Array => clampPrivateKey(new Uint8Array(randomBytes(32)));

describe('device configuration', () => {
  it('setting the same private key again keeps the sessions; a new one drops them and wipes the old key', () => {
    const p = new Pair();
    p.handshake();
    const kp = p.peerOfA.keypairs.current!;
    const ss = p.peerOfA.crypto.staticStatic!;
    p.a.setPrivateKey(Uint8Array.from(p.aKey));
    assert.equal(p.peerOfA.keypairs.current, kp, 'the same key: nothing changes');
    assert.equal(p.peerOfA.crypto.staticStatic, ss);
    p.sendFromA();
    p.flush();
    assert.equal(p.delivered.filter((d) => d.to === 'b').length, 2, 'the session still carries data');

    const held = p.a.privateKey!;
    assert.deepEqual(held, p.aKey);
    const next = newKey();
    p.a.setPrivateKey(next);
    assert.ok(zero(held), 'the old private key is zeroed');
    assert.deepEqual(p.a.privateKey, next);
    assert.deepEqual(p.a.publicKey, publicKey(next));
    assert.equal(p.peerOfA.keypairs.current, null, 'sessions under the old key are dropped');
    assert.ok(kp.wiped && zero(kp.sendKey));
    assert.ok(zero(ss), 'the static-static DH under the old key is zeroed');
    assert.notEqual(p.peerOfA.crypto.staticStatic, null, 'and made again under the new key');
  });

  it('a new private key whose public key is a configured peer\'s removes that peer', () => {
    const p = new Pair();
    const other = newKey();
    p.a.upsertPeer({ publicKey: publicKey(other), allowedIps: [{ ip: v4('10.0.0.3'), cidr: 32 }] }, p.now);
    assert.equal(p.a.listPeers().length, 2);
    p.a.setPrivateKey(other);
    assert.equal(p.a.getPeer(publicKey(other)), undefined);
    assert.equal(p.a.listPeers().length, 1, 'b stays');
    assert.equal(p.a.allowedIps.lookup(v4('10.0.0.3')), undefined, 'with its routes');
  });

  it('without a private key nothing is sent or answered; with one again the handshake works', () => {
    const p = new Pair();
    p.a.setPrivateKey(null);
    assert.equal(p.a.publicKey, null);
    assert.equal(p.a.privateKey, null);
    assert.equal(p.peerOfA.crypto.staticStatic, null);
    p.sendFromA();
    assert.equal(p.wire.length, 0);
    assert.equal(p.a.dropCount('no-private-key'), 1);
    // An initiation from b reaches a keyless a: dropped, unanswered.
    p.sendFromB();
    assert.equal(msgType(p.wire[0]!.d), 1);
    p.step();
    assert.equal(p.wire.length, 0);
    assert.equal(p.a.dropCount('no-private-key'), 2);
    // A persistent keepalive turned on without a key sends nothing either.
    assert.equal(p.a.setPersistentKeepalive(p.peerOfA, 25, p.now).datagrams.length, 0);
    p.a.setPrivateKey(p.aKey);
    p.advance(5_000);
    p.lose();
    p.sendFromA();
    p.flush();
    assert.equal(p.delivered.filter((d) => d.to === 'b').length, 1);
  });

  it('upsertPeer: a bad key length throws; our own public key is ignored; a second call updates the same peer', () => {
    const p = new Pair();
    assert.throws(() => p.a.upsertPeer({ publicKey: new Uint8Array(31) }, p.now), { name: 'RangeError', message: /public key must be 32 bytes/ });
    const self = p.a.upsertPeer({ publicKey: publicKey(p.aKey), allowedIps: [{ ip: v4('10.9.0.0'), cidr: 16 }] }, p.now);
    assert.equal(self.peer, null);
    assert.equal(p.a.listPeers().length, 1);
    assert.equal(p.a.allowedIps.lookup(v4('10.9.1.1')), undefined);

    const peer = p.peerOfA;
    const psk = peer.crypto.presharedKey;
    const moved = { address: '198.51.100.9', port: 4000 };
    const again = p.a.upsertPeer({ publicKey: publicKey(p.bKey), endpoint: moved, allowedIps: [{ ip: v4('10.8.0.0'), cidr: 16 }] }, p.now);
    assert.equal(again.peer, peer, 'the same peer object');
    assert.equal(peer.crypto.presharedKey, psk, 'the preshared key is kept when not given');
    assert.deepEqual(peer.endpoint, moved);
    assert.equal(p.a.allowedIps.lookup(v4('10.8.1.1')), peer, 'routes are added');
    assert.equal(p.a.allowedIps.lookup(v4('10.0.0.2')), peer, 'and the old ones kept');
    assert.deepEqual(again.output, { datagrams: [], packets: [], events: [] });

    // Given, the preshared key replaces the old one: the handshake now needs b's to match.
    const key = new Uint8Array(randomBytes(32));
    p.a.upsertPeer({ publicKey: publicKey(p.bKey), presharedKey: key, endpoint: B_ADDR }, p.now);
    assert.deepEqual(peer.crypto.presharedKey, key);
    assert.ok(zero(psk));
    p.handshake();
    assert.equal(p.a.dropCount('handshake-failed'), 1, 'b still has no preshared key');
    p.b.upsertPeer({ publicKey: publicKey(p.aKey), presharedKey: key }, p.now);
    p.advance(5_000 + 334, { deliver: true });
    assert.equal(p.delivered.filter((d) => d.to === 'b').length, 1);
    // A null preshared key is the all-zero key.
    p.a.upsertPeer({ publicKey: publicKey(p.bKey), presharedKey: null }, p.now);
    assert.deepEqual(peer.crypto.presharedKey, new Uint8Array(32));
  });

  it('upsertPeer with persistentKeepalive returns the keepalive it sends at once; a change of interval sends none', () => {
    const p = new Pair();
    p.handshake();
    p.advance(12_000, { deliver: true });
    const on = p.a.upsertPeer({ publicKey: publicKey(p.bKey), persistentKeepalive: 25 }, p.now).output;
    assert.equal(on.datagrams.length, 1);
    assert.equal(msgType(on.datagrams[0]!), 4);
    assert.equal(on.datagrams[0]!.data.length, 32, 'an empty transport message');
    assert.equal(p.peerOfA.persistentKeepalive, 25);
    assert.equal(p.a.setPersistentKeepalive(p.peerOfA, 30, p.now).datagrams.length, 0);
    assert.equal(p.peerOfA.persistentKeepalive, 30);
    // The keepalive armed under 25 s still comes; the next one 30 s after it.
    const t0 = p.now;
    p.advance(56_000, { deliver: true });
    const idle = p.log.filter((s) => s.from === 'a' && s.at > t0 && msgType(s.d) === 4 && s.d.data.length === 32).map((s) => s.at - t0);
    assert.deepEqual(idle, [25_000, 55_000]);
    assert.equal(p.a.setPersistentKeepalive(p.peerOfA, 0, p.now).datagrams.length, 0);
    assert.equal(p.peerOfA.timers.persistentKeepalive, null, 'off: its timer is disarmed');
    assert.equal(p.a.setPersistentKeepalive(p.peerOfA, 0, p.now).datagrams.length, 0, 'off again: nothing sent');
  });

  it('removePeer of an unknown key is false; removeAllPeers leaves no peer, route or session', () => {
    const p = new Pair();
    p.handshake();
    assert.equal(p.a.removePeer(publicKey(newKey())), false);
    const kp = p.peerOfA.keypairs.current!;
    p.a.removeAllPeers();
    assert.deepEqual(p.a.listPeers(), []);
    assert.ok(kp.wiped);
    assert.equal(p.a.nextDeadline(), Infinity);
    p.sendFromA();
    assert.equal(p.a.dropCount('no-route'), 1);
  });

  it('a device made without a private key takes one later', () => {
    const key = newKey();
    const d = new Device({ random: (n) => new Uint8Array(randomBytes(n)), wallClock: () => Date.now() });
    assert.equal(d.publicKey, null);
    const peerKey = newKey();
    const { peer } = d.upsertPeer({ publicKey: publicKey(peerKey), endpoint: A_ADDR, allowedIps: [{ ip: v4('10.0.0.1'), cidr: 32 }] }, 0);
    assert.equal(peer!.crypto.staticStatic, null);
    d.setPrivateKey(key);
    assert.deepEqual(d.publicKey, publicKey(key));
    assert.notEqual(peer!.crypto.staticStatic, null, 'the peer\'s static-static DH is made with the key');
    const out = d.send(ipv4Packet('10.0.0.2', '10.0.0.1'), 0);
    assert.equal(out.datagrams.length, 1);
    assert.equal(msgType(out.datagrams[0]!), 1);
  });
});

describe('device: what a datagram that is no message counts as', () => {
  it('a known type byte with a wrong length is malformed; anything else is an unknown type', () => {
    const p = new Pair();
    const cases: Array<[number[], 'malformed' | 'unknown-type']> = [
      [[1, 0, 0, 0], 'malformed'],
      [[4, 0, 0, 0, 0], 'malformed'],
      [[2, 0, 0, 0, 0, 0], 'malformed'],
      [[3, 0, 0, 0], 'malformed'],
      [[1, 0, 0], 'unknown-type'],
      [[0, 0, 0, 0], 'unknown-type'],
      [[5, 0, 0, 0], 'unknown-type'],
      [[], 'unknown-type'],
    ];
    for (const [bytes, reason] of cases) {
      const before = p.b.dropCount(reason);
      p.b.receive(Uint8Array.from(bytes), A_ADDR, p.now);
      assert.equal(p.b.dropCount(reason), before + 1, `${JSON.stringify(bytes)}: ${reason}`);
    }
  });
});

describe('timers firing after the configuration changed under them', () => {
  it('a retransmission due after the endpoint was removed, and a persistent keepalive due after the key was, send nothing', () => {
    const p = new Pair();
    p.sendFromA();
    p.lose();
    p.a.upsertPeer({ publicKey: publicKey(p.bKey), endpoint: null }, p.now);
    p.advance(5_000 + 334);
    assert.equal(p.wire.length, 0, 'no initiation to nowhere');

    const q = new Pair();
    q.handshake();
    q.collect('a', q.a.setPersistentKeepalive(q.peerOfA, 25, q.now));
    q.flush();
    q.a.setPrivateKey(null);
    q.advance(30_000);
    assert.equal(q.wire.filter((s) => s.from === 'a').length, 0, 'no keepalive and no initiation without a key');
  });
});
