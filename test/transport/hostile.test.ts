/**
 * The device under hostile input: cookies under load, replayed and flooded
 * initiations, garbage of every shape. Nothing throws; every drop is counted.
 */
import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { withSeed } from '../harness/seed.js';
import { Pair, msgType, A_ADDR } from './pair.js';
import { REKEY_TIMEOUT } from '../../src/transport/constants.js';

function totalDrops(d: { drops: Map<string, number> }): number {
  let n = 0;
  for (const v of d.drops.values()) n += v;
  return n;
}

describe('device: under load and hostile input', () => {
  it('under load, an initiation without MAC2 gets a cookie reply; the retry with MAC2 completes', () => {
    const p = new Pair({ b: { underLoadThreshold: 0 } }); // every handshake message counts as load
    p.sendFromA();
    p.step(); // initiation -> b
    assert.equal(p.wire.length, 1);
    assert.equal(msgType(p.wire[0]!.d), 3, 'cookie reply');
    assert.equal(p.wire[0]!.d.data.length, 64);
    assert.equal(p.eventsOf('b', 'cookie-sent').length, 1);
    assert.equal(p.peerOfB.keypairs.next, null, 'no state created before MAC2');
    p.step(); // cookie -> a, stored
    assert.equal(p.wire.length, 0, 'no immediate resend: the retransmit timer does it');
    p.advance(REKEY_TIMEOUT + 334, { deliver: true });
    assert.equal(p.eventsOf('a', 'handshake-complete').length, 1);
    assert.equal(p.delivered.filter((d) => d.to === 'b').length, 1);
  });

  it('under load, a valid MAC2 from a different source address still gets a cookie', () => {
    const p = new Pair({ b: { underLoadThreshold: 0 } });
    p.sendFromA();
    p.flush(); // cookie stored at a
    p.advance(REKEY_TIMEOUT + 334); // retransmit with MAC2 bound to A_ADDR
    const retry = p.wire.shift()!;
    assert.equal(msgType(retry.d), 1);
    p.collect('b', p.b.receive(retry.d.data, { address: '203.0.113.9', port: A_ADDR.port }, p.now));
    assert.equal(msgType(p.wire.at(-1)!.d), 3);
    assert.equal(p.peerOfB.keypairs.next, null);
  });

  it('under load, a per-source rate limit applies after MAC2', () => {
    const p = new Pair({ b: { underLoadThreshold: 0 } });
    p.sendFromA();
    p.flush();
    p.advance(REKEY_TIMEOUT + 334);
    const retry = p.wire.shift()!.d.data;
    // The same valid message 50 times in one millisecond: the bucket allows a burst of 5.
    for (let i = 0; i < 50; i++) p.b.receive(retry, A_ADDR, p.now);
    assert.ok(p.b.dropCount('rate-limited') >= 44, `rate-limited ${p.b.dropCount('rate-limited')}`);
  });

  it('a replayed initiation is refused by its timestamp', () => {
    const p = new Pair();
    p.sendFromA();
    const init = p.wire[0]!.d.data;
    p.flush();
    p.advance(1000);
    p.collect('b', p.b.receive(init, A_ADDR, p.now));
    assert.equal(p.b.dropCount('stale-timestamp'), 1);
    assert.equal(p.wire.length, 0, 'no response to a replay');
  });

  it('a second fresh initiation within 1/50 s is refused as a flood', () => {
    const p = new Pair();
    p.sendFromA();
    p.step(); // b accepts the first
    p.lose();
    // a (forced past its own rate limit) makes another with a later wall clock.
    p.peerOfA.lastSentHandshake = -Infinity;
    p.wall += 1000;
    p.now += 5;
    p.sendFromA();
    p.collect('a', p.a.tick(p.now));
    const second = p.wire.filter((s) => msgType(s.d) === 1);
    assert.ok(second.length >= 1);
    p.collect('b', p.b.receive(second[0]!.d.data, A_ADDR, p.now));
    assert.equal(p.b.dropCount('initiation-flood'), 1);
    p.now += 20;
    p.collect('b', p.b.receive(second[0]!.d.data, A_ADDR, p.now));
    assert.equal(p.b.dropCount('initiation-flood'), 1, 'accepted once 20 ms have passed');
  });

  it('garbage: random datagrams, each message truncated and extended, wrong indices — never throws, all counted, no amplification', () => withSeed((rand) => {
    const p = new Pair();
    p.sendFromA();
    const init = p.wire[0]!.d.data;
    p.step();
    const resp = p.wire[0]!.d.data;
    p.step();
    const data = p.wire[0]!.d.data;
    p.flush();
    const samples: Uint8Array[] = [];
    for (let i = 0; i < 2000; i++) samples.push(rand.bytes(rand.int(300)));
    for (const m of [init, resp, data]) {
      for (let len = 0; len < m.length + 2; len++) {
        const s = new Uint8Array(len);
        s.set(m.subarray(0, Math.min(len, m.length)));
        samples.push(s);
      }
    }
    for (const t of [1, 2, 3, 4]) {
      const m = new Uint8Array(t === 1 ? 148 : t === 2 ? 92 : t === 3 ? 64 : 48);
      m[0] = t;
      samples.push(m);
      const bad = Uint8Array.from(m); bad[1] = 1; samples.push(bad); // reserved bytes must be zero
    }
    const wrongIndex = Uint8Array.from(data); wrongIndex[4]! ^= 0xff; samples.push(wrongIndex);
    const before = totalDrops(p.b);
    let sentBytes = 0;
    for (const s of samples) {
      const out = p.b.receive(s, { address: '203.0.113.1', port: 1 }, p.now);
      for (const d of out.datagrams) sentBytes += d.data.length;
      assert.equal(out.packets.length, 0);
    }
    assert.equal(totalDrops(p.b) - before, samples.length, 'every sample (exact originals included, as replays) is a counted drop');
    assert.equal(sentBytes, 0, 'garbage gets no answer');
    for (const r of ['unknown-type', 'malformed', 'bad-mac1', 'unknown-index', 'replay']) {
      assert.ok(p.b.dropCount(r as never) > 0, `some drops as ${r}`);
    }
  }));
});
