/**
 * Fuzzes Device.receive with random, mutated and replayed datagrams.
 *
 *   Scenario (three deterministic devices, real captured messages)
 *     -> mutate (bit flips, truncation, one extra byte, index swaps, splices,
 *        whole replays) -> receive on a, b or bl, from a legitimate or a
 *        foreign address, with the clock moving -> properties:
 *   - nothing escapes receive, and its internal catch-all never fires
 *     (a 'malformed' drop is only for messages messageType() refuses);
 *   - each datagram is one counted drop, or processed;
 *   - a datagram that is not byte-for-byte a message some device authenticated
 *     (mac2 aside) is dropped, or under load answered by one 64-byte cookie
 *     reply to its sender, never more bytes than it had; it delivers nothing;
 *   - authentic messages get only protocol answers (response to an
 *     initiation, data/keepalive after a response, cookie under load).
 * A second target seals random inner packets under a live session so they
 * pass decryption and reach the inner IP checks (length, source AllowedIPs).
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import type { Device, Endpoint, Output } from '../../src/transport/device.js';
import { messageType } from '../../src/noise/messages.js';
import { seal } from '../../src/crypto/aead.js';
import { REJECT_AFTER_TIME } from '../../src/transport/constants.js';
import { describeReport, Rng, runFuzz } from './harness.js';
import { A_ADDR, ATTACKER, authKey, B_ADDR, BL_ADDR, capturedMessages, ipv4, Scenario, v6 } from './scenario.js';

function total(d: Device): number {
  let n = 0;
  for (const v of d.drops.values()) n += v;
  return n;
}

/** The reason a device counted for the last input (the map grew by one under it). */
function grownReason(before: Map<string, number>, d: Device): string | undefined {
  for (const [k, v] of d.drops) if (v !== (before.get(k) ?? 0)) return k;
  return undefined;
}

function sameEndpoint(a: Endpoint, b: Endpoint): boolean {
  return a.address === b.address && a.port === b.port;
}

test('fuzz: Device.receive never throws, counts every drop, never amplifies', (t) => {
  const captured = capturedMessages();
  const authentic = new Set(Object.values(captured).map(authKey));
  const r0 = new Rng(2);
  const lengths = [0, 1, 3, 4, 31, 32, 33, 47, 48, 63, 64, 65, 91, 92, 93, 147, 148, 149];
  const seeds = [...Object.values(captured), ...lengths.map((n) => r0.bytes(n))];
  for (const [type, n] of [[1, 148], [2, 92], [3, 64], [4, 32], [4, 48]] as const) {
    const m = new Uint8Array(n);
    m[0] = type;
    seeds.push(m);
  }
  let s = new Scenario('established');

  const one = (m: Uint8Array, dev: Device, from: Endpoint): string => {
    const before = new Map(dev.drops);
    const beforeTotal = total(dev);
    let out: Output;
    try {
      out = dev.receive(m, from, s.now);
    } catch (e) {
      assert.fail(`receive threw: ${String(e)}`);
    }
    const delta = total(dev) - beforeTotal;
    const reason = grownReason(before, dev);
    const type = messageType(m);
    assert.ok(delta === 0 || delta === 1, `one input, at most one drop (got ${delta})`);
    if (type !== null) assert.notEqual(reason, 'malformed', 'the catch-all in receive fired: an exception inside the device');
    const bytesOut = out.datagrams.reduce((n, d) => n + d.data.length, 0);
    const isAuthentic = authentic.has(authKey(m));
    if (!isAuthentic) {
      assert.equal(out.packets.length, 0, 'an unauthenticated datagram delivered a packet');
      for (const e of out.events) assert.equal(e.type, 'cookie-sent', `unauthenticated datagram caused ${e.type}`);
      for (const d of out.datagrams) {
        assert.equal(d.data[0], 3, 'only cookie replies answer unauthenticated datagrams');
        assert.equal(d.data.length, 64);
        assert.ok(sameEndpoint(d.to, from), 'a cookie reply goes back to the sender');
      }
      assert.ok(bytesOut <= m.length, `amplification: ${bytesOut} bytes out for ${m.length} in`);
      assert.equal(out.datagrams.length, delta === 0 ? 1 : 0, delta === 0 ? 'not dropped, so answered with a cookie' : 'dropped and answered');
      return delta === 0 ? 'cookie' : `drop:${reason}`;
    }
    // Authentic (a real message, possibly a replay or out of its time).
    for (const d of out.datagrams) {
      const ok = (type === 1 && (d.data[0] === 2 || d.data[0] === 3))
        || (type === 2 && (d.data[0] === 4 || d.data[0] === 3))
        || (type === 4 && d.data[0] === 4);
      assert.ok(ok, `type ${type} answered with type ${d.data[0]}`);
    }
    return delta === 0 ? `auth:type${type}:${out.datagrams.map((d) => d.data[0]).join('') || 'silent'}` : `auth-drop:${reason}`;
  };

  const rep = runFuzz({
    name: 'device-receive',
    seeds,
    iterations: 100_000,
    resetEvery: 600,
    reset: (r) => { s = new Scenario(r.chance(0.5) ? 'pending' : 'established'); },
    u32s: () => s.liveIndices(),
    u32Offsets: [4, 8],
    maxLen: 2048,
    check: (m, r: Rng) => {
      if (r.chance(0.03)) s.advance(r.int(3000));
      if (r.chance(0.0005)) s.advance(REJECT_AFTER_TIME);
      const dev = r.pick([s.a, s.b, s.bl]);
      const from = r.chance(0.6) ? s.legitSource(dev) : r.pick([ATTACKER, BL_ADDR, B_ADDR, A_ADDR]);
      // Now and then the same datagram in a burst (rate limits, replays).
      const times = r.chance(0.02) ? 8 : 1;
      let label = '';
      for (let i = 0; i < times; i++) label = one(m, dev, from);
      return label;
    },
  });
  const reached = [...rep.outcomes.keys()];
  for (const k of ['drop:unknown-type', 'drop:malformed', 'drop:bad-mac1', 'drop:unknown-index', 'drop:decrypt-failed', 'auth:type1:3', 'auth:type2:4', 'auth-drop:replay', 'auth-drop:stale-timestamp']) {
    assert.ok(reached.includes(k), `outcome ${k} reached (${reached.join(', ')})`);
  }
  console.log(describeReport('device-receive', rep));
});

/** Independent oracle: RFC 791 / RFC 8200 header lengths and the source check of cryptokey routing. */
function expectInner(p: Uint8Array): { deliver: Uint8Array } | { drop: string } | 'keepalive' {
  if (p.length === 0) return 'keepalive';
  const v = p[0]! >> 4;
  if (v === 4) {
    const ihl = (p[0]! & 15) * 4;
    const totalLen = p.length >= 20 ? (p[2]! << 8) | p[3]! : -1;
    if (p.length < 20 || ihl < 20 || totalLen < ihl || totalLen > p.length) return { drop: 'bad-inner-packet' };
    const src = p.subarray(12, 16).join('.');
    return src === '10.0.0.1' ? { deliver: p.subarray(0, totalLen) } : { drop: 'source-not-allowed' };
  }
  if (v === 6) {
    if (p.length < 40) return { drop: 'bad-inner-packet' };
    const totalLen = 40 + ((p[4]! << 8) | p[5]!);
    if (totalLen > p.length) return { drop: 'bad-inner-packet' };
    return Buffer.from(p.subarray(8, 24)).equals(Buffer.from(v6(1))) ? { deliver: p.subarray(0, totalLen) } : { drop: 'source-not-allowed' };
  }
  return { drop: 'bad-inner-packet' };
}

function ipv6(src: Uint8Array, payload: number): Uint8Array {
  const p = new Uint8Array(40 + payload);
  p[0] = 0x60;
  p[4] = payload >> 8;
  p[5] = payload & 0xff;
  p[6] = 17;
  p[7] = 64;
  p.set(src, 8);
  p.set(v6(2), 24);
  return p;
}

test('fuzz: authenticated transport with hostile inner packets', (t) => {
  const s = new Scenario('established');
  const kp = s.a.listPeers()[0]!.keypairs.current!;
  let counter = 1_000_000;
  const pad = (p: Uint8Array, n: number): Uint8Array => { const q = new Uint8Array(p.length + n); q.set(p); return q; };
  const seeds = [
    new Uint8Array(0),
    ipv4('10.0.0.1', '10.0.0.2'), pad(ipv4('10.0.0.1', '10.0.0.2', 1), 15), ipv4('10.0.0.9', '10.0.0.2'),
    ipv4('10.0.0.2', '10.0.0.1', 200), ipv6(v6(1), 8), pad(ipv6(v6(1), 0), 8), ipv6(v6(2), 8), ipv6(v6(9), 0),
  ];
  const rep = runFuzz({
    name: 'transport-inner',
    seeds,
    iterations: 15_000,
    // LE u32 values that spell 10.0.0.1 / fd00:: / lengths at the header offsets.
    u32s: () => [0x0100000a, 0x0200000a, 0x000000fd, 0x45, 0x60, 0x1c000045, 0],
    u32Offsets: [0, 2, 4, 8, 12, 16],
    maxLen: 1500,
    check: (inner) => {
      const c = counter++;
      const msg = new Uint8Array(16 + inner.length + 16);
      const dv = new DataView(msg.buffer);
      dv.setUint32(0, 4, true);
      dv.setUint32(4, kp.remoteIndex, true);
      dv.setBigUint64(8, BigInt(c), true);
      msg.set(seal(kp.sendKey, c, inner), 16);
      const before = new Map(s.b.drops);
      const out = s.b.receive(msg, A_ADDR, s.now);
      const reason = grownReason(before, s.b);
      const want = expectInner(inner);
      assert.equal(out.datagrams.length, 0);
      if (want === 'keepalive') {
        assert.equal(reason, undefined);
        assert.equal(out.packets.length, 0);
        return 'keepalive';
      }
      if ('drop' in want) {
        assert.equal(reason, want.drop);
        assert.equal(out.packets.length, 0);
        return want.drop;
      }
      assert.equal(reason, undefined, 'a well-formed packet from an allowed source is not dropped');
      assert.equal(out.packets.length, 1);
      assert.deepEqual(out.packets[0]!.packet, want.deliver, 'padding trimmed by the header length');
      return `deliver-v${inner[0]! >> 4}`;
    },
  });
  for (const k of ['keepalive', 'bad-inner-packet', 'source-not-allowed', 'deliver-v4', 'deliver-v6']) {
    assert.ok(rep.outcomes.has(k), `outcome ${k} reached`);
  }
  console.log(describeReport('transport-inner', rep));
});
