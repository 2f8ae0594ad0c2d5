/**
 * Every timer rule of the whitepaper (section 6) and wireguard-go/Linux,
 * asserted by advancing a fake clock in milliseconds.
 */
import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { Pair, ipv4Packet, msgType } from './pair.js';
import {
  KEEPALIVE_TIMEOUT, REJECT_AFTER_TIME, REKEY_AFTER_TIME, SEND_REJECT_AFTER_MESSAGES, SEND_REKEY_AFTER_MESSAGES, REKEY_TIMEOUT, REKEY_ON_RECEIVE_AFTER,
} from '../../src/transport/constants.js';

const initiations = (p: Pair, from: 'a' | 'b') => p.wire.filter((s) => s.from === from && msgType(s.d) === 1);
const transports = (p: Pair, from: 'a' | 'b') => p.wire.filter((s) => s.from === from && msgType(s.d) === 4);

describe('timers', () => {
  it('retransmits an unanswered initiation after REKEY_TIMEOUT plus 0-333 ms of jitter', () => {
    for (let trial = 0; trial < 20; trial++) {
      const p = new Pair();
      p.sendFromA();
      const t0 = p.now;
      p.lose();
      const deadline = p.a.nextDeadline();
      assert.ok(deadline >= t0 + REKEY_TIMEOUT && deadline <= t0 + REKEY_TIMEOUT + 333, `deadline ${deadline - t0}`);
      p.advanceTo(t0 + REKEY_TIMEOUT - 1);
      assert.equal(p.wire.length, 0);
      p.advanceTo(t0 + REKEY_TIMEOUT + 333);
      assert.equal(initiations(p, 'a').length, 1);
      assert.equal(p.eventsOf('a', 'handshake-initiated').filter((e) => e.type === 'handshake-initiated' && e.retry).length, 1);
    }
  });

  it('gives up after REKEY_ATTEMPT_TIME, dropping staged packets, then zeroes keys', () => {
    const p = new Pair();
    p.sendFromA();
    const t0 = p.now;
    let sent = p.lose().length;
    while (p.eventsOf('a', 'handshake-gave-up').length === 0 && p.now < t0 + 200_000) {
      p.advanceTo(p.a.nextDeadline());
      sent += p.lose().length;
    }
    const gaveUpAt = p.now - t0;
    // 1 first + 19 retries (attempts counted 1..19 > MAX_TIMER_HANDSHAKES=18), as wireguard-go/Linux.
    assert.equal(sent, 20);
    assert.ok(gaveUpAt >= 20 * REKEY_TIMEOUT && gaveUpAt <= 20 * (REKEY_TIMEOUT + 333), `gave up at ${gaveUpAt}`);
    assert.equal(p.peerOfA.staged.length, 0);
    assert.equal(p.a.dropCount('handshake-gave-up'), 1);
    // No more initiations until new traffic arrives.
    p.advance(REJECT_AFTER_TIME * 3 + 1);
    assert.equal(p.wire.length, 0);
    assert.equal(p.eventsOf('a', 'keys-zeroed').length, 1);
    // New traffic starts over.
    p.sendFromA();
    assert.equal(initiations(p, 'a').length, 1);
  });

  it('sends a keepalive KEEPALIVE_TIMEOUT after receiving data with nothing sent back', () => {
    const p = new Pair();
    p.handshake(); // b has received data
    const t0 = p.now;
    p.advanceTo(t0 + KEEPALIVE_TIMEOUT - 1);
    assert.equal(transports(p, 'b').length, 0);
    p.advanceTo(t0 + KEEPALIVE_TIMEOUT);
    const ka = transports(p, 'b');
    assert.equal(ka.length, 1);
    assert.equal(ka[0]!.d.data.length, 32, 'a keepalive is an empty payload');
    p.flush();
    assert.equal(p.delivered.filter((d) => d.to === 'a').length, 0, 'keepalive delivers nothing');
  });

  it('sends no keepalive when data went back in time', () => {
    const p = new Pair();
    p.handshake();
    p.advance(3000);
    p.sendFromB(); // reply cancels the keepalive
    p.flush();
    p.advance(KEEPALIVE_TIMEOUT);
    // b only ever sent its one data packet.
    assert.equal(p.events.filter((e) => e.on === 'b' && e.e.type === 'handshake-initiated').length, 0);
  });

  it('starts a new handshake when data was sent and nothing came back for KEEPALIVE + REKEY_TIMEOUT', () => {
    const p = new Pair();
    p.handshake();
    p.advance(KEEPALIVE_TIMEOUT + 1000, { deliver: true }); // b's keepalive clears a's timer
    p.sendFromA();
    const t0 = p.now;
    p.lose(); // b never hears it
    p.advanceTo(t0 + KEEPALIVE_TIMEOUT + REKEY_TIMEOUT - 1);
    assert.equal(initiations(p, 'a').length, 0);
    p.advanceTo(t0 + KEEPALIVE_TIMEOUT + REKEY_TIMEOUT + 333);
    assert.equal(initiations(p, 'a').length, 1);
  });

  it('the initiator re-keys on send after REKEY_AFTER_TIME; the responder does not', () => {
    const p = new Pair();
    p.handshake();
    const t0 = p.now;
    p.advanceTo(t0 + REKEY_AFTER_TIME - 1, { deliver: true });
    p.sendFromA();
    p.sendFromB();
    assert.equal(initiations(p, 'a').length + initiations(p, 'b').length, 0);
    p.flush();
    p.advanceTo(t0 + REKEY_AFTER_TIME, { deliver: true });
    p.sendFromB();
    assert.equal(initiations(p, 'b').length, 0, 'responder does not re-key on time');
    p.sendFromA();
    assert.equal(transports(p, 'a').length, 1, 'data still goes out with the old key');
    assert.equal(initiations(p, 'a').length, 1, 'and a handshake starts');
  });

  it('the initiator re-keys on receive after 165 s, once', () => {
    const p = new Pair();
    p.handshake();
    const t0 = p.now;
    assert.equal(REKEY_ON_RECEIVE_AFTER, 165_000);
    p.advanceTo(t0 + REKEY_ON_RECEIVE_AFTER - 1, { deliver: true });
    p.sendFromB();
    p.flush();
    assert.equal(p.log.filter((s) => s.from === 'a' && s.at > t0 && msgType(s.d) === 1).length, 0);
    p.advanceTo(t0 + REKEY_ON_RECEIVE_AFTER);
    p.sendFromB();
    p.sendFromB();
    p.step(); p.step();
    assert.equal(initiations(p, 'a').length, 1, 'exactly one last-minute handshake');
  });

  it('re-keys after SEND_REKEY_AFTER_MESSAGES', () => {
    const p = new Pair();
    p.handshake();
    p.advance(REKEY_TIMEOUT, { deliver: true }); // past the initiation rate limit
    p.sendFromA();
    assert.equal(initiations(p, 'a').length, 0);
    p.peerOfA.keypairs.current!.sendCounter = SEND_REKEY_AFTER_MESSAGES;
    p.sendFromA();
    assert.equal(initiations(p, 'a').length, 1);
  });

  it('rekeyAfterMessages (the test knob) lowers the send-count rekey: the initiator re-keys once the counter passes it', () => {
    const p = new Pair({ a: { rekeyAfterMessages: 5 } });
    p.handshake();
    p.advance(REKEY_TIMEOUT, { deliver: true }); // past the initiation rate limit
    const sent = p.peerOfA.keypairs.current!.sendCounter;
    for (let i = sent; i < 5; i++) p.sendFromA();
    assert.equal(initiations(p, 'a').length, 0, `counter ${p.peerOfA.keypairs.current!.sendCounter}: not past 5 yet`);
    p.sendFromA();
    assert.equal(initiations(p, 'a').length, 1);
  });

  it('the send counter stops below 2^53: no counter repeats or reaches the limit, and a new session is required', () => {
    for (const side of ['a', 'b'] as const) { // the initiator, and the responder
      const p = new Pair();
      p.handshake();
      p.sendFromB(); // confirms b's session
      p.flush();
      p.advance(REKEY_TIMEOUT, { deliver: true }); // past the initiation rate limit
      p.lose();
      const peer = side === 'a' ? p.peerOfA : p.peerOfB;
      const kp = peer.keypairs.current!;
      kp.sendCounter = SEND_REJECT_AFTER_MESSAGES - 2;
      for (let i = 0; i < 4; i++) {
        if (side === 'a') p.sendFromA(); else p.sendFromB();
      }
      const sent = p.wire.filter((s) => s.from === side);
      const counters = sent.filter((s) => msgType(s.d) === 4)
        .map((s) => new DataView(s.d.data.buffer, s.d.data.byteOffset + 8, 8).getBigUint64(0, true));
      assert.deepEqual(counters, [BigInt(SEND_REJECT_AFTER_MESSAGES - 2), BigInt(SEND_REJECT_AFTER_MESSAGES - 1)], `${side}: two sends, then none`);
      assert.ok(SEND_REJECT_AFTER_MESSAGES < Number.MAX_SAFE_INTEGER);
      assert.equal(sent.filter((s) => msgType(s.d) === 1).length, 1, `${side}: a new handshake instead`);
      assert.equal(peer.staged.length, 2, `${side}: the rest waits for it`);
      // The new session carries what waited, from counter 0.
      p.flush();
      p.advance(100, { deliver: true });
      assert.notEqual(peer.keypairs.current, kp, `${side}: a new keypair`);
      assert.equal(peer.staged.length, 0);
      assert.equal(p.delivered.filter((d) => d.to === (side === 'a' ? 'b' : 'a')).length, 5, `${side}: every packet arrived`);
    }
  });

  it('rejects a session after REJECT_AFTER_TIME: no send with it, and the receiver drops it', () => {
    const p = new Pair();
    p.handshake();
    const t0 = p.now;
    p.advanceTo(t0 + REJECT_AFTER_TIME - 1, { deliver: true });
    p.lose();
    // Make a transport packet with the old session just before expiry, deliver after.
    const kp = p.peerOfB.keypairs.current!;
    p.sendFromB();
    const late = p.lose().filter((s) => msgType(s.d) === 4);
    assert.equal(late.length, 1);
    p.advanceTo(t0 + REJECT_AFTER_TIME);
    p.collect('a', p.a.receive(late[0]!.d.data, { address: '192.0.2.2', port: 51821 }, p.now));
    assert.equal(p.a.dropCount('expired-keypair'), 1);
    // b cannot send with the expired keypair: it initiates instead.
    assert.equal(p.peerOfB.keypairs.current, kp);
    p.lose();
    p.sendFromB();
    assert.equal(transports(p, 'b').length, 0);
    assert.equal(initiations(p, 'b').length, 1);
  });

  it('zeroes all key material 3 x REJECT_AFTER_TIME after the last session', () => {
    const p = new Pair();
    p.handshake();
    const t0 = p.now;
    const kp = p.peerOfA.keypairs.current!;
    p.advanceTo(t0 + 3 * REJECT_AFTER_TIME - 1);
    assert.notEqual(p.peerOfA.keypairs.current, null);
    p.advanceTo(t0 + 3 * REJECT_AFTER_TIME);
    assert.equal(p.peerOfA.keypairs.current, null);
    assert.equal(p.peerOfB.keypairs.current, null);
    assert.ok(kp.sendKey.every((x) => x === 0) && kp.recvKey.every((x) => x === 0), 'keys wiped');
    assert.equal(p.eventsOf('a', 'keys-zeroed').length, 1);
  });

  it('persistent keepalive: one keepalive the moment it is turned on, then every interval while idle', () => {
    const p = new Pair();
    p.handshake();
    p.advance(12_000, { deliver: true }); // b's keepalive has come and gone
    const t0 = p.now;
    p.collect('a', p.a.setPersistentKeepalive(p.peerOfA, 25, p.now));
    p.advanceTo(t0 + 80_000, { deliver: true });
    const keepalives = p.log.filter((s) => s.from === 'a' && s.at >= t0 && msgType(s.d) === 4 && s.d.data.length === 32);
    assert.deepEqual(keepalives.map((s) => s.at - t0), [0, 25_000, 50_000, 75_000]);
    // Turning it off stops them.
    p.collect('a', p.a.setPersistentKeepalive(p.peerOfA, 0, p.now));
    const t1 = p.now;
    p.advanceTo(t1 + 200_000, { deliver: true });
    assert.equal(p.log.filter((s) => s.from === 'a' && s.at > t1).length, 0);
  });

  it('persistent keepalive with no session starts a handshake at once', () => {
    const p = new Pair();
    p.collect('a', p.a.setPersistentKeepalive(p.peerOfA, 25, p.now));
    assert.equal(initiations(p, 'a').length, 1);
    p.flush();
    assert.equal(p.eventsOf('b', 'handshake-complete').length, 1, 'the keepalive confirms the session');
  });

  it('a keepalive-only session stays up under persistent keepalive across re-keys', () => {
    const p = new Pair();
    p.collect('a', p.a.setPersistentKeepalive(p.peerOfA, 25, p.now));
    p.flush();
    p.advance(10 * 60_000, { deliver: true });
    assert.notEqual(p.peerOfA.keypairs.current, null);
    assert.ok(p.now - p.peerOfA.lastHandshake! < REJECT_AFTER_TIME, 'handshakes keep happening');
    assert.equal(p.a.dropCount('expired-keypair') + p.b.dropCount('expired-keypair'), 0);
  });

  it('nextDeadline is Infinity for an idle device and finite with work pending', () => {
    const p = new Pair();
    assert.equal(p.a.nextDeadline(), Infinity);
    p.sendFromA(ipv4Packet('10.0.0.1', '10.0.0.2'));
    assert.ok(Number.isFinite(p.a.nextDeadline()));
  });
});
