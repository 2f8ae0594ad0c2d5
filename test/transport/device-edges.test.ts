/**
 * The device at the edges of its rules: the defaults a caller gets without
 * options, the exact under-load and initiation-flood boundaries, byte
 * counters that agree across a lossless wire, the padding a frame carries,
 * index allocation, keepalive re-arming and what an authenticated peer's
 * bad inner packet counts as. The other device tests take the usual paths.
 */
import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Pair, ipv4Packet, msgType, A_ADDR, B_ADDR } from './pair.js';
import { sealPending } from '../../src/transport/device.js';
import {
  KEEPALIVE_TIMEOUT, MAX_STAGED_PACKETS, REJECT_AFTER_TIME, REKEY_ON_RECEIVE_AFTER, REKEY_TIMEOUT, SEND_REJECT_AFTER_MESSAGES, UNDER_LOAD_HANDSHAKES,
} from '../../src/transport/constants.js';
import { open } from '../../src/crypto/aead.js';

const initiationsFrom = (p: Pair, from: 'a' | 'b') => p.log.filter((s) => s.from === from && msgType(s.d) === 1);

describe('device defaults', () => {
  it('without options: MTU 1420 for padding and MAX_STAGED_PACKETS staged', () => {
    const p = new Pair();
    for (let i = 0; i < MAX_STAGED_PACKETS + 3; i++) p.sendFromA(ipv4Packet('10.0.0.1', '10.0.0.2', new Uint8Array(1399)));
    assert.equal(p.peerOfA.staged.length, MAX_STAGED_PACKETS);
    assert.equal(p.a.dropCount('staged-overflow'), 3);
    p.flush();
    const data = p.log.filter((s) => s.from === 'a' && msgType(s.d) === 4);
    assert.equal(data.length, MAX_STAGED_PACKETS);
    assert.ok(data.every((s) => s.d.data.length === 32 + 1420), 'a 1419-byte packet pads to the 1420 MTU, not 1424');
  });

  it(`without options: under load from the ${UNDER_LOAD_HANDSHAKES + 1}th handshake message in a second, for a second after`, () => {
    const p = new Pair();
    p.sendFromA();
    const init = p.lose()[0]!.d.data;
    // Replays of one initiation: each one counts as load before it is judged.
    for (let i = 0; i < UNDER_LOAD_HANDSHAKES; i++) {
      const out = p.b.receive(init, A_ADDR, p.now + i);
      assert.ok(out.events.every((e) => e.type !== 'cookie-sent'), `message ${i + 1}: no cookie yet`);
    }
    const over = p.b.receive(init, A_ADDR, p.now + 100);
    assert.deepEqual(over.events.map((e) => e.type), ['cookie-sent']);
  });
});

describe('under-load window', () => {
  it('a second of counting, and cookies demanded until a second after the last message over the threshold', () => {
    const p = new Pair({ b: { underLoadThreshold: 2 } });
    p.sendFromA();
    const init = p.lose()[0]!.d.data;
    const cookie = (t: number): boolean => p.b.receive(init, A_ADDR, t).events.some((e) => e.type === 'cookie-sent');
    const t0 = p.now;
    assert.equal(cookie(t0), false);
    assert.equal(cookie(t0 + 999), false);
    assert.equal(cookie(t0 + 1000), false, 'a new window: the count starts over');
    assert.equal(cookie(t0 + 1001), false, 'two in this window: not over the threshold');
    assert.equal(cookie(t0 + 1002), true, 'the third in the window');
    assert.equal(cookie(t0 + 2001), true, 'a new window, but still under load until t0 + 2002');
    assert.equal(cookie(t0 + 2002), false, 'the load has passed');
  });
});

describe('initiation flood limit', () => {
  it('a second initiation is accepted exactly 20 ms after the last one, not 19', () => {
    const p = new Pair();
    p.sendFromA();
    p.step();
    p.lose();
    const t0 = p.now;
    const another = (): Uint8Array => {
      p.peerOfA.lastSentHandshake = -Infinity;
      p.wall += 1000;
      p.sendFromA();
      p.collect('a', p.a.tick(p.now));
      return p.lose().find((s) => msgType(s.d) === 1)!.d.data;
    };
    const second = another();
    p.b.receive(second, A_ADDR, t0 + 19);
    assert.equal(p.b.dropCount('initiation-flood'), 1);
    const third = another();
    const out = p.b.receive(third, A_ADDR, t0 + 20);
    assert.equal(p.b.dropCount('initiation-flood'), 1, 'at 20 ms: accepted');
    assert.equal(out.datagrams.length, 1);
    assert.equal(msgType(out.datagrams[0]!), 2);
  });
});

describe('byte counters', () => {
  it('over a lossless wire, what each side sent is what the other received: whole datagrams, keepalives included', () => {
    const p = new Pair();
    p.handshake();
    for (let i = 0; i < 5; i++) {
      p.sendFromA(ipv4Packet('10.0.0.1', '10.0.0.2', new Uint8Array(i * 37)));
      p.sendFromB(ipv4Packet('10.0.0.2', '10.0.0.1', new Uint8Array(i * 11)));
    }
    p.flush();
    p.advance(3 * KEEPALIVE_TIMEOUT, { deliver: true }); // both sides' keepalives
    const wire = (from: 'a' | 'b'): number => p.log.filter((s) => s.from === from).reduce((n, s) => n + s.d.data.length, 0);
    assert.equal(p.peerOfA.txBytes, wire('a'));
    assert.equal(p.peerOfB.rxBytes, wire('a'));
    assert.equal(p.peerOfB.txBytes, wire('b'));
    assert.equal(p.peerOfA.rxBytes, wire('b'));
    assert.ok(p.log.some((s) => msgType(s.d) === 4 && s.d.data.length === 32), 'a keepalive was among them');
  });
});

describe('frames and indices', () => {
  it('a frame\'s padding is zero, whatever the buffer pool held before', () => {
    const p = new Pair();
    p.handshake();
    p.sendFromB();
    p.flush();
    p.a.deferCrypto = true;
    for (let len = 1; len < 40; len += 7) {
      // Dirty the unallocated rest of Node's buffer pool, where the frame will be cut from.
      const probe = Buffer.allocUnsafe(1);
      new Uint8Array(probe.buffer, probe.byteOffset + 1).fill(0xa5);
      const d = p.a.send(ipv4Packet('10.0.0.1', '10.0.0.2', new Uint8Array(len).fill(1)), p.now).datagrams[0]!;
      const inner = 20 + len;
      assert.ok(d.data.subarray(16 + inner).every((x) => x === 0), `padding and tag room after ${inner} bytes`);
      assert.ok(sealPending(d));
    }
  });

  it('sealPending leaves a datagram that needs no seal as it is', () => {
    const p = new Pair();
    p.handshake();
    const d = p.a.send(ipv4Packet('10.0.0.1', '10.0.0.2'), p.now).datagrams[0]!;
    const copy = Uint8Array.from(d.data);
    assert.equal(sealPending(d), true);
    assert.deepEqual(d.data, copy);
  });

  it('a session index is the four random bytes little-endian, drawn again while taken', () => {
    const queue = [Uint8Array.of(1, 2, 3, 4), Uint8Array.of(1, 2, 3, 4), Uint8Array.of(9, 8, 7, 0x86)];
    const random = (n: number): Uint8Array => (n === 4 && queue.length > 0 ? queue.shift()! : new Uint8Array(randomBytes(n)));
    const p = new Pair({ a: { random } });
    p.sendFromA();
    const first = p.lose()[0]!.d.data;
    assert.deepEqual(first.subarray(4, 8), Uint8Array.of(1, 2, 3, 4));
    // A second peer's initiation: the same bytes come first, and are taken.
    const other = new Pair();
    p.a.upsertPeer({ publicKey: other.b.publicKey!, endpoint: A_ADDR, allowedIps: [{ ip: Uint8Array.of(10, 0, 0, 9), cidr: 32 }] }, p.now);
    const out = p.a.send(ipv4Packet('10.0.0.1', '10.0.0.9'), p.now);
    const second = out.datagrams[0]!.data;
    assert.equal(msgType(out.datagrams[0]!), 1);
    assert.deepEqual(second.subarray(4, 8), Uint8Array.of(9, 8, 7, 0x86), 'the taken index was drawn again');
    assert.equal(queue.length, 0);
  });
});

describe('keepalives and timers', () => {
  it('data received again while a keepalive is armed gets one more keepalive after it', () => {
    const p = new Pair();
    p.handshake(); // b received data at t0
    const t0 = p.now;
    p.advance(1000);
    p.sendFromA();
    p.flush(); // more data at t0 + 1 s: the keepalive stays armed for t0 + 10 s, and another is due
    p.advanceTo(t0 + KEEPALIVE_TIMEOUT + 1, { deliver: true });
    const keepalives = () => p.log.filter((s) => s.from === 'b' && msgType(s.d) === 4 && s.d.data.length === 32).map((s) => s.at - t0);
    assert.deepEqual(keepalives(), [KEEPALIVE_TIMEOUT]);
    p.advanceTo(t0 + 2 * KEEPALIVE_TIMEOUT + 1, { deliver: true });
    assert.deepEqual(keepalives(), [KEEPALIVE_TIMEOUT, 2 * KEEPALIVE_TIMEOUT]);
    p.advanceTo(t0 + 4 * KEEPALIVE_TIMEOUT, { deliver: true });
    assert.deepEqual(keepalives(), [KEEPALIVE_TIMEOUT, 2 * KEEPALIVE_TIMEOUT], 'one more, not more and more');
  });

  it('data received once gets one keepalive, not a second', () => {
    const p = new Pair();
    p.handshake();
    const t0 = p.now;
    p.advanceTo(t0 + 3 * KEEPALIVE_TIMEOUT, { deliver: true });
    assert.deepEqual(p.log.filter((s) => s.from === 'b' && msgType(s.d) === 4).map((s) => s.at - t0), [KEEPALIVE_TIMEOUT]);
  });

  it('a keepalive is not data: sending only keepalives never starts a new handshake', () => {
    const p = new Pair();
    p.handshake();
    p.advance(KEEPALIVE_TIMEOUT); // b's keepalive goes out...
    p.lose(); // ...and is lost
    p.advance(KEEPALIVE_TIMEOUT + REKEY_TIMEOUT + 1000);
    assert.equal(initiationsFrom(p, 'b').length, 0, 'b sent no data, so it waits for nothing');
    assert.ok(initiationsFrom(p, 'a').length >= 2, 'a sent data and heard nothing back');
  });

  it('each retransmission of an initiation waits REKEY_TIMEOUT plus its own jitter', () => {
    const p = new Pair();
    p.sendFromA();
    for (let i = 0; i < 12; i++) {
      p.lose();
      p.advanceTo(p.a.nextDeadline());
    }
    const at = initiationsFrom(p, 'a').map((s) => s.at);
    const jitters = at.slice(1).map((t, i) => t - at[i]! - REKEY_TIMEOUT);
    assert.equal(jitters.length, 12);
    assert.ok(jitters.every((j) => j >= 0 && j < 334), jitters.join(' '));
    assert.ok(new Set(jitters).size > 3, `jitters vary: ${jitters.join(' ')}`);
  });
});

describe('authenticated but unwanted inner packets', () => {
  it('a source outside the peer\'s AllowedIPs is counted on the peer, with that source', () => {
    const p = new Pair();
    p.handshake();
    p.sendFromA(ipv4Packet('10.9.9.9', '10.0.0.2'));
    p.flush();
    assert.equal(p.peerOfB.sourceNotAllowed, 1);
    assert.deepEqual(p.peerOfB.lastDisallowedSource, Uint8Array.of(10, 9, 9, 9));
  });

  it('an inner packet whose header does not fit what arrived is a bad inner packet, after authentication', () => {
    const p = new Pair();
    p.handshake();
    const rx = p.peerOfB.rxBytes;
    const pkt = ipv4Packet('10.0.0.1', '10.0.0.2');
    pkt[2] = 0x07; // total length 0x071c, past the 32-byte padded payload
    p.sendFromA(pkt);
    p.flush();
    assert.equal(p.b.dropCount('bad-inner-packet'), 1);
    assert.equal(p.delivered.length, 1, 'only the handshake\'s packet');
    assert.ok(p.peerOfB.rxBytes > rx, 'the datagram itself was authentic');
  });

  it('a handshake response replayed after the session began is an unknown index', () => {
    const p = new Pair();
    p.sendFromA();
    p.step();
    const response = p.wire[0]!.d.data;
    p.flush();
    p.collect('a', p.a.receive(response, { address: '192.0.2.2', port: 51821 }, p.now));
    assert.equal(p.a.dropCount('unknown-index'), 1);
    assert.equal(p.eventsOf('a', 'handshake-complete').length, 1);
  });
});

describe('paths no other device test takes', () => {
  it('a packet from the host that is no IP packet is a bad inner packet; a peer with no endpoint drops what waits', () => {
    const p = new Pair({ noEndpointOnB: true });
    p.a.send(Uint8Array.of(0x50, 1, 2, 3), p.now);
    assert.equal(p.a.dropCount('bad-inner-packet'), 1);
    for (let i = 0; i < 3; i++) p.sendFromB();
    assert.equal(p.wire.length, 0);
    assert.equal(p.b.dropCount('no-endpoint'), 3);
    assert.equal(p.peerOfB.staged.length, 0);
  });

  it('a peer whose public key is a low-order point gets no initiation', () => {
    const p = new Pair();
    const lowOrder = new Uint8Array(32); // u = 0: every DH with it is all zeros
    p.a.upsertPeer({ publicKey: lowOrder, endpoint: A_ADDR, allowedIps: [{ ip: Uint8Array.of(10, 0, 0, 7), cidr: 32 }] }, p.now);
    const out = p.a.send(ipv4Packet('10.0.0.1', '10.0.0.7'), p.now);
    assert.equal(out.datagrams.length, 0);
    assert.equal(p.a.dropCount('handshake-failed'), 1);
  });

  it('an initiation from a key the responder does not know fails the handshake, unanswered', () => {
    const p = new Pair();
    const stranger = new Pair();
    // stranger.a knows p.b's key as its peer: its initiation is well-formed and passes MAC1 at p.b.
    stranger.a.upsertPeer({ publicKey: p.b.publicKey!, endpoint: A_ADDR, allowedIps: [{ ip: Uint8Array.of(10, 0, 0, 9), cidr: 32 }] }, stranger.now);
    const init = stranger.a.send(ipv4Packet('10.0.0.1', '10.0.0.9'), stranger.now).datagrams[0]!.data;
    const out = p.b.receive(init, A_ADDR, p.now);
    assert.equal(out.datagrams.length, 0);
    assert.equal(p.b.dropCount('handshake-failed'), 1);
    assert.equal(p.b.dropCount('bad-mac1'), 0);
  });

  it('a cookie reply for a pending initiation that does not open is a bad cookie', () => {
    const p = new Pair();
    p.sendFromA();
    const init = p.lose()[0]!.d.data;
    const reply = new Uint8Array(64);
    reply[0] = 3;
    reply.set(init.subarray(4, 8), 4); // our sender index: known
    reply.fill(7, 8);
    p.a.receive(reply, B_ADDR, p.now);
    assert.equal(p.a.dropCount('bad-cookie'), 1);
    reply[4]! ^= 1;
    p.a.receive(reply, B_ADDR, p.now);
    assert.equal(p.a.dropCount('unknown-index'), 1, 'another index: unknown');
  });

  it('an exception inside the receive path (here: the random source failing) is a counted drop, never a throw', () => {
    let failing = false;
    const random = (n: number): Uint8Array => {
      if (failing) throw new Error('no entropy');
      return new Uint8Array(randomBytes(n));
    };
    // Handshake messages: b needs randomness for its index.
    const p = new Pair({ b: { random } });
    p.sendFromA();
    failing = true;
    assert.doesNotThrow(() => p.step());
    assert.equal(p.b.dropCount('malformed'), 1);
    // Transport messages: b's confirmation sends its staged data, whose timer jitter needs randomness.
    failing = false;
    const q = new Pair({ b: { random } });
    q.sendFromA();
    q.step(); // initiation -> b; b answers
    q.sendFromB(); // b stages a packet until a's data confirms the session
    q.step(); // response -> a; a sends its staged packet
    failing = true;
    assert.doesNotThrow(() => q.step());
    assert.equal(q.b.dropCount('malformed'), 1);
  });

  it('a batch that reaches the send counter limit midway sends up to it and keeps the rest for the new session', () => {
    for (const side of ['a', 'b'] as const) { // the initiator, and the responder (which otherwise never re-keys on send)
      const p = new Pair();
      p.handshake();
      p.sendFromB(); // confirms b's session
      p.flush();
      p.advance(REKEY_TIMEOUT, { deliver: true });
      p.lose();
      const peer = side === 'a' ? p.peerOfA : p.peerOfB;
      const [src, dst] = side === 'a' ? ['10.0.0.1', '10.0.0.2'] : ['10.0.0.2', '10.0.0.1'];
      peer.keypairs.current!.sendCounter = SEND_REJECT_AFTER_MESSAGES - 2;
      // Four packets waiting in one batch (as after a handshake), a fifth sent now.
      for (let i = 0; i < 4; i++) peer.staged.push(ipv4Packet(src, dst, Uint8Array.of(i)));
      p.collect(side, (side === 'a' ? p.a : p.b).send(ipv4Packet(src, dst, Uint8Array.of(4)), p.now));
      const sent = p.wire.filter((s) => s.from === side);
      assert.deepEqual(sent.map((s) => msgType(s.d)), [4, 4, 1], `${side}: two data messages, then an initiation`);
      assert.deepEqual(peer.staged.map((x) => x[20]), [2, 3, 4], `${side}: the rest waits, in order`);
    }
  });
});

describe('buffers the caller reuses', () => {
  it('a packet that has to wait for a session is copied: the caller may overwrite its buffer at once', () => {
    const p = new Pair();
    const buf = ipv4Packet('10.0.0.1', '10.0.0.2', new Uint8Array(16).fill(0x11));
    const original = Uint8Array.from(buf);
    p.sendFromA(buf);
    buf.fill(0xee, 20); // the next TUN read lands in the same buffer
    p.flush();
    assert.deepEqual(p.delivered.map((d) => d.packet), [original]);
  });

  it('a removed peer lets go of the packets that waited for it', () => {
    const p = new Pair();
    p.sendFromA();
    const peer = p.peerOfA;
    assert.equal(peer.staged.length, 1);
    p.a.removePeer(peer.publicKey);
    assert.deepEqual(peer.staged, []);
  });
});

describe('events', () => {
  it('handshake-complete names the role each side played; handshake-initiated says whether it was a retry', () => {
    const p = new Pair();
    p.sendFromA();
    p.lose();
    p.advanceTo(p.a.nextDeadline(), { deliver: true });
    assert.deepEqual(p.eventsOf('a', 'handshake-initiated').map((e) => e.type === 'handshake-initiated' && e.retry), [false, true]);
    assert.deepEqual(p.eventsOf('a', 'handshake-complete').map((e) => e.type === 'handshake-complete' && e.role), ['initiator']);
    assert.deepEqual(p.eventsOf('b', 'handshake-complete').map((e) => e.type === 'handshake-complete' && e.role), ['responder']);
    assert.ok(p.eventsOf('a', 'handshake-complete').every((e) => e.type === 'handshake-complete' && e.peer === p.peerOfA));
  });
});

describe('timers: only due ones fire, each with its own rule', () => {
  it('a tick before any deadline changes nothing', () => {
    const p = new Pair();
    p.handshake();
    p.collect('a', p.a.setPersistentKeepalive(p.peerOfA, 25, p.now));
    p.sendFromA(); // a has sent data: a new handshake is due if nothing comes back
    p.flush();
    const q = new Pair();
    q.sendFromA(); // a pending initiation: its retransmission is armed
    q.lose();
    for (const [pair, dev] of [[p, p.a], [p, p.b], [q, q.a]] as const) {
      const peer = dev === pair.a ? pair.peerOfA : pair.peerOfB;
      const before = { ...peer.timers };
      const out = dev.tick(pair.now + 1);
      assert.deepEqual(out, { datagrams: [], packets: [], events: [] });
      assert.deepEqual(peer.timers, before);
    }
  });

  it('after giving up, keys are zeroed 3 x REJECT_AFTER_TIME later, not before', () => {
    const p = new Pair();
    p.sendFromA();
    while (p.eventsOf('a', 'handshake-gave-up').length === 0) {
      p.lose();
      p.advanceTo(p.a.nextDeadline());
    }
    assert.equal(p.a.nextDeadline(), p.now + 3 * REJECT_AFTER_TIME);
  });

  it('the responder does not re-key on receive; the initiator re-keys on receive once per session', () => {
    const p = new Pair();
    p.handshake();
    p.sendFromB();
    p.flush();
    p.advanceTo(p.now + REKEY_ON_RECEIVE_AFTER, { deliver: true });
    p.lose();
    p.sendFromA(); // a re-keys on send (its session is past REKEY_AFTER_TIME) ...
    p.step(); // ... and its data reaches b, the responder, 165 s into the session
    assert.equal(p.wire.filter((s) => s.from === 'b').length, 0, 'b starts no handshake');

    const q = new Pair();
    q.handshake();
    q.sendFromB();
    q.flush();
    q.advanceTo(q.now + REKEY_ON_RECEIVE_AFTER, { deliver: true });
    q.lose();
    q.sendFromB();
    q.step(); // data -> a, the initiator: a last-minute handshake
    assert.equal(q.lose().filter((s) => s.from === 'a' && msgType(s.d) === 1).length, 1);
    assert.deepEqual(q.eventsOf('a', 'handshake-initiated').map((e) => e.type === 'handshake-initiated' && e.retry).slice(-1), [false]);
    // Past the initiation rate limit, without the retransmission timer: more data brings no second one.
    q.now += REKEY_TIMEOUT + 1000;
    q.sendFromB();
    q.step();
    assert.equal(q.lose().filter((s) => s.from === 'a' && msgType(s.d) === 1).length, 0);
  });

  it('the new-handshake timer\'s initiation is no retry; a keepalive is no bad inner packet', () => {
    const p = new Pair();
    p.handshake();
    const t0 = p.now;
    p.advance(KEEPALIVE_TIMEOUT);
    p.lose(); // b's keepalive is lost: a heard nothing back
    p.advanceTo(t0 + KEEPALIVE_TIMEOUT + REKEY_TIMEOUT + 334); // before that initiation's own retransmission
    assert.deepEqual(p.eventsOf('a', 'handshake-initiated').map((e) => e.type === 'handshake-initiated' && e.retry), [false, false]);
    const q = new Pair();
    q.handshake();
    q.advance(KEEPALIVE_TIMEOUT, { deliver: true });
    assert.equal(q.b.dropCount('bad-inner-packet') + q.a.dropCount('bad-inner-packet'), 0);
  });

  it('a transport message to the index of a pending initiation is an unknown index', () => {
    const p = new Pair();
    p.sendFromA();
    const init = p.lose()[0]!.d.data;
    const m = new Uint8Array(32);
    m[0] = 4;
    m.set(init.subarray(4, 8), 4);
    p.a.receive(m, B_ADDR, p.now);
    assert.equal(p.a.dropCount('unknown-index'), 1);
    assert.equal(p.a.dropCount('malformed'), 0);
  });

  it('the disallowed source is kept as a copy: a driver reusing its plaintext buffer does not change it', () => {
    const p = new Pair();
    p.handshake();
    const data = p.a.send(ipv4Packet('10.9.9.9', '10.0.0.2'), p.now).datagrams[0]!.data;
    const out = { datagrams: [], packets: [], events: [] };
    const job = p.b.receiveDeferred(data, A_ADDR, p.now, out)!;
    const plain = open(job.keypair.recvKey, job.counter, job.data.subarray(16))!;
    p.b.openFinished(job, plain, p.now, out);
    plain.fill(0);
    assert.deepEqual(p.peerOfB.lastDisallowedSource, Uint8Array.of(10, 9, 9, 9));
  });
});
