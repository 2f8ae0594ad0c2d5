/**
 * Deferred crypto (Device.deferCrypto, receiveDeferred/openFinished): the
 * split send and receive paths a driver with crypto workers uses must
 * behave exactly like the synchronous ones, and must never use a keypair
 * that was wiped in between.
 */
import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { open } from '../../src/crypto/aead.js';
import { sealPending, type Datagram, type PendingOpen } from '../../src/transport/device.js';
import { MESSAGE_TRANSPORT } from '../../src/noise/constants.js';
import { Pair, ipv4Packet, A_ADDR } from './pair.js';

function established(): Pair {
  const p = new Pair();
  p.handshake();
  // b confirms the session with its first transport message back.
  p.sendFromB();
  p.flush();
  return p;
}

describe('deferred seal', () => {
  it('leaves transport data unsealed with its keypair and counter; sealPending makes it what b accepts', () => {
    const p = established();
    p.a.deferCrypto = true;
    const payload = new Uint8Array(100).map((_, i) => i);
    const out = p.a.send(ipv4Packet('10.0.0.1', '10.0.0.2', payload), p.now);
    assert.equal(out.datagrams.length, 1);
    const d = out.datagrams[0]!;
    assert.equal(d.data[0], MESSAGE_TRANSPORT);
    assert.ok(d.seal, 'a pending seal');
    assert.equal(d.seal!.keypair, p.peerOfA.keypairs.current);
    // Still plaintext after the 16-byte header: the inner packet as handed in.
    assert.deepEqual(d.data.subarray(16 + 20, 16 + 120), payload);
    assert.equal(sealPending(d), true);
    assert.equal(d.seal, undefined);
    const r = p.b.receive(d.data, A_ADDR, p.now);
    assert.equal(r.packets.length, 1);
    assert.deepEqual(r.packets[0]!.packet.subarray(20), payload);
  });

  it('refuses to seal under a keypair wiped since (session cleared)', () => {
    const p = established();
    p.a.deferCrypto = true;
    const d = p.a.send(ipv4Packet('10.0.0.1', '10.0.0.2'), p.now).datagrams[0]!;
    const kp = d.seal!.keypair;
    p.a.setPrivateKey(null); // clears every session: keys wiped
    assert.equal(kp.wiped, true);
    assert.ok(kp.sendKey.every((b) => b === 0));
    assert.equal(sealPending(d), false);
  });

  it('keeps counters in order across deferred datagrams', () => {
    const p = established();
    p.a.deferCrypto = true;
    const ds: Datagram[] = [];
    for (let i = 0; i < 5; i++) ds.push(...p.a.send(ipv4Packet('10.0.0.1', '10.0.0.2'), p.now).datagrams);
    const counters = ds.map((d) => d.seal!.counter);
    for (let i = 1; i < counters.length; i++) assert.equal(counters[i], counters[i - 1]! + 1);
    for (const d of ds) {
      assert.ok(sealPending(d));
      assert.equal(p.b.receive(d.data, A_ADDR, p.now).packets.length, 1);
    }
  });
});

describe('deferred open', () => {
  function sealedFromA(p: Pair): Uint8Array {
    return p.a.send(ipv4Packet('10.0.0.1', '10.0.0.2'), p.now).datagrams[0]!.data;
  }

  function openJob(job: PendingOpen): Uint8Array | null {
    return open(job.keypair.recvKey, job.counter, job.data.subarray(16));
  }

  it('stops a transport message before its open and finishes it like receive()', () => {
    const p = established();
    const data = sealedFromA(p);
    const out = { datagrams: [], packets: [], events: [] };
    const job = p.b.receiveDeferred(data, A_ADDR, p.now, out);
    assert.ok(job);
    assert.equal(out.packets.length, 0, 'nothing delivered before the open');
    p.b.openFinished(job, openJob(job), p.now, out);
    assert.equal(out.packets.length, 1);
  });

  it('handles handshake messages at once and returns no job for them', () => {
    const p = new Pair();
    p.sendFromA(); // initiation on the wire
    const init = p.wire.shift()!;
    const out = { datagrams: [] as Datagram[], packets: [], events: [] };
    assert.equal(p.b.receiveDeferred(init.d.data, A_ADDR, p.now, out), null);
    assert.equal(out.datagrams.length, 1, 'the response');
  });

  it('counts a failed open as decrypt-failed and a replay after the open as replay', () => {
    const p = established();
    const data = sealedFromA(p);
    const out = { datagrams: [], packets: [], events: [] };
    const j1 = p.b.receiveDeferred(data, A_ADDR, p.now, out)!;
    const j2 = p.b.receiveDeferred(data, A_ADDR, p.now, out)!; // same counter, both pass the pre-check
    assert.ok(j1 && j2);
    p.b.openFinished(j1, null, p.now, out);
    assert.equal(p.b.dropCount('decrypt-failed'), 1);
    p.b.openFinished(j2, openJob(j2), p.now, out);
    assert.equal(out.packets.length, 1);
    const j3 = p.b.receiveDeferred(data, A_ADDR, p.now, out);
    assert.equal(j3, null, 'the pre-check now refuses it');
    assert.equal(p.b.dropCount('replay'), 1);
  });

  it('two valid copies of one counter opened in flight together: one delivery, one replay drop', () => {
    const p = established();
    const data = sealedFromA(p);
    const out = { datagrams: [], packets: [], events: [] };
    // Both copies pass the pre-check before either open finishes, as with two workers.
    const j1 = p.b.receiveDeferred(data, A_ADDR, p.now, out)!;
    const j2 = p.b.receiveDeferred(Uint8Array.from(data), A_ADDR, p.now, out)!;
    assert.ok(j1 && j2);
    const plain1 = openJob(j1);
    const plain2 = openJob(j2);
    assert.ok(plain1 && plain2, 'both copies authenticate');
    p.b.openFinished(j1, plain1, p.now, out);
    p.b.openFinished(j2, plain2, p.now, out);
    assert.equal(out.packets.length, 1);
    assert.equal(p.b.dropCount('replay'), 1);
  });

  it('drops a message whose session was wiped while it was being opened', () => {
    const p = established();
    const data = sealedFromA(p);
    const out = { datagrams: [], packets: [], events: [] };
    const job = p.b.receiveDeferred(data, A_ADDR, p.now, out)!;
    const plain = openJob(job);
    p.b.removePeer(p.peerOfB.publicKey);
    p.b.openFinished(job, plain, p.now, out);
    assert.equal(out.packets.length, 0);
    assert.equal(p.b.dropCount('unknown-index'), 1);
  });
});
