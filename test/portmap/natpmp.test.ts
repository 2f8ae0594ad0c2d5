// NAT-PMP (RFC 6886) byte by byte: requests are built here from the RFC's
// packet diagrams, responses are read back field by field at the RFC's
// offsets. Refusals carry the section 3.5 result codes; bad bytes never throw.
import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { handleNatPmp } from '../../src/portmap/natpmp.js';
import { LeaseTable } from '../../src/portmap/leases.js';
import { defaultPolicy } from '../../src/portmap/policy.js';
import type { PermRule, PortMapContext, PortMapPolicy } from '../../src/portmap/types.js';

const HOST = { address: '10.0.0.2', port: 40001 };
const OTHER = { address: '10.0.0.3', port: 40002 };
const EPOCH_START = 5000;

function setup(over: Partial<PortMapPolicy> = {}, externalAddress = '203.0.113.7') {
  const store = new LeaseTable({ ...defaultPolicy(), ...over });
  const ctx: PortMapContext = {
    store,
    externalAddress,
    // Peers by tunnel address; anything else is not a peer.
    peerOf: (a) => ({ '10.0.0.2': 'peerA=', '10.0.0.3': 'peerB=' })[a] ?? null,
    epochStart: EPOCH_START,
  };
  return { store, ctx };
}

/** Section 3.2 request: | Vers = 0 | OP = 0 |. */
function addressRequest(): Uint8Array {
  return Uint8Array.of(0, 0);
}

/**
 * Section 3.3 request:
 * | Vers = 0 | OP = x | Reserved (16) | Internal Port | Suggested External Port | Requested Lifetime (32) |
 */
function mapRequest(op: 1 | 2, internalPort: number, suggested: number, lifetime: number): Uint8Array {
  return Uint8Array.of(
    0, op, 0, 0,
    internalPort >> 8, internalPort & 0xff, suggested >> 8, suggested & 0xff,
    lifetime >>> 24, (lifetime >>> 16) & 0xff, (lifetime >>> 8) & 0xff, lifetime & 0xff,
  );
}

const u16 = (b: Uint8Array, at: number) => (b[at]! << 8) | b[at + 1]!;
const u32 = (b: Uint8Array, at: number) => ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;

/** Section 3.3 response fields. */
function mapResponse(b: Uint8Array) {
  assert.equal(b.length, 16);
  return { vers: b[0], op: b[1], result: u16(b, 2), epoch: u32(b, 4), internalPort: u16(b, 8), externalPort: u16(b, 10), lifetime: u32(b, 12) };
}

function reply(r: { reply: Uint8Array | null }): Uint8Array {
  assert.ok(r.reply, 'expected a reply');
  return r.reply;
}

describe('NAT-PMP server (RFC 6886)', () => {
  it('section 3.2: external address response carries op 128, epoch seconds and the IPv4 address', () => {
    const { ctx } = setup();
    const r = handleNatPmp(addressRequest(), HOST, ctx, EPOCH_START + 42_999);
    const b = reply(r);
    assert.equal(r.changed, false);
    assert.equal(b.length, 12);
    assert.deepEqual([...b.subarray(0, 4)], [0, 128, 0, 0]);
    assert.equal(u32(b, 4), 42, 'seconds since start of epoch (section 3.6), rounded down');
    assert.deepEqual([...b.subarray(8)], [203, 0, 113, 7]);
  });

  it('section 3.2: refused for a non-peer (result 2), network failure without an external address (result 3), address zeroed', () => {
    const b = reply(handleNatPmp(addressRequest(), { address: '192.0.2.99', port: 1 }, setup().ctx, EPOCH_START));
    assert.deepEqual([...b], [0, 128, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0]);
    const c = reply(handleNatPmp(addressRequest(), HOST, setup({}, '0.0.0.0').ctx, EPOCH_START + 1000));
    assert.deepEqual([...c], [0, 128, 0, 3, 0, 0, 0, 1, 0, 0, 0, 0]);
    const d = reply(handleNatPmp(addressRequest(), HOST, setup({}, '').ctx, EPOCH_START));
    assert.equal(u16(d, 2), 3);
  });

  it('section 3.3: map UDP (op 1 -> 129) and TCP (op 2 -> 130) for the sender address', () => {
    const { ctx, store } = setup();
    const r = handleNatPmp(mapRequest(1, 8044, 8044, 60), HOST, ctx, EPOCH_START + 3000);
    assert.equal(r.changed, true);
    assert.deepEqual(mapResponse(reply(r)), { vers: 0, op: 129, result: 0, epoch: 3, internalPort: 8044, externalPort: 8044, lifetime: 60 });
    const t = handleNatPmp(mapRequest(2, 8080, 8081, 3600), HOST, ctx, EPOCH_START + 3000);
    assert.deepEqual(mapResponse(reply(t)), { vers: 0, op: 130, result: 0, epoch: 3, internalPort: 8080, externalPort: 8081, lifetime: 3600 });
    assert.deepEqual(
      store.list().map((l) => [l.protocol, l.externalPort, l.internalAddress, l.internalPort, l.peer, l.origin, l.lifetime]),
      [['tcp', 8081, '10.0.0.2', 8080, 'peerA=', 'natpmp', 3600], ['udp', 8044, '10.0.0.2', 8044, 'peerA=', 'natpmp', 60]],
    );
    // The reserved field is ignored on reception.
    const withReserved = mapRequest(1, 9000, 9000, 60);
    withReserved[2] = 0xab;
    withReserved[3] = 0xcd;
    assert.equal(mapResponse(reply(handleNatPmp(withReserved, HOST, ctx, EPOCH_START))).result, 0);
  });

  it('section 3.3: lifetimes are cut to MaxLifetime; suggested port 0 and a taken port get another port', () => {
    const { ctx } = setup({ maxLifetime: 600 });
    assert.equal(mapResponse(reply(handleNatPmp(mapRequest(1, 8044, 8044, 0xffffffff), HOST, ctx, EPOCH_START))).lifetime, 600);
    const other = mapResponse(reply(handleNatPmp(mapRequest(1, 8044, 8044, 60), OTHER, ctx, EPOCH_START)));
    assert.equal(other.result, 0);
    assert.notEqual(other.externalPort, 8044, 'taken by 10.0.0.2: "the NAT gateway MUST return an available external port"');
    assert.ok(other.externalPort >= 1024);
    const any = mapResponse(reply(handleNatPmp(mapRequest(2, 5555, 0, 60), HOST, ctx, EPOCH_START)));
    assert.equal(any.result, 0);
    assert.ok(any.externalPort >= 1024);
  });

  it('section 3.3: a retransmitted request (or one suggesting another port) gets the same mapping back', () => {
    const { ctx, store } = setup();
    const first = reply(handleNatPmp(mapRequest(1, 8044, 8044, 60), HOST, ctx, EPOCH_START));
    const again = reply(handleNatPmp(mapRequest(1, 8044, 8044, 60), HOST, ctx, EPOCH_START));
    assert.deepEqual(again, first);
    const moved = mapResponse(reply(handleNatPmp(mapRequest(1, 8044, 9999, 60), HOST, ctx, EPOCH_START)));
    assert.equal(moved.externalPort, 8044);
    assert.equal(store.list().length, 1);
  });

  it('section 3.4: lifetime 0 deletes; the reply has external port 0 and lifetime 0; deleting again succeeds the same way', () => {
    const { ctx, store } = setup();
    handleNatPmp(mapRequest(1, 8044, 8044, 60), HOST, ctx, EPOCH_START);
    const del = handleNatPmp(mapRequest(1, 8044, 1234, 0), HOST, ctx, EPOCH_START + 2000);
    assert.equal(del.changed, true);
    assert.deepEqual(mapResponse(reply(del)), { vers: 0, op: 129, result: 0, epoch: 2, internalPort: 8044, externalPort: 0, lifetime: 0 });
    assert.deepEqual(store.list(), []);
    const again = handleNatPmp(mapRequest(1, 8044, 0, 0), HOST, ctx, EPOCH_START + 2000);
    assert.equal(again.changed, false);
    assert.deepEqual(reply(again), reply(del));
  });

  it("section 3.4: internal port 0 + lifetime 0 deletes all of this host's mappings of that protocol only", () => {
    const { ctx, store } = setup();
    handleNatPmp(mapRequest(1, 8044, 8044, 60), HOST, ctx, EPOCH_START);
    handleNatPmp(mapRequest(1, 8045, 8045, 60), HOST, ctx, EPOCH_START);
    handleNatPmp(mapRequest(2, 8044, 8044, 60), HOST, ctx, EPOCH_START);
    handleNatPmp(mapRequest(1, 9000, 9000, 60), OTHER, ctx, EPOCH_START);
    const del = handleNatPmp(mapRequest(1, 0, 0, 0), HOST, ctx, EPOCH_START);
    assert.equal(del.changed, true);
    assert.deepEqual(mapResponse(reply(del)), { vers: 0, op: 129, result: 0, epoch: 0, internalPort: 0, externalPort: 0, lifetime: 0 });
    assert.deepEqual(store.list().map((l) => `${l.protocol} ${l.internalAddress}:${l.internalPort}`), ['tcp 10.0.0.2:8044', 'udp 10.0.0.3:9000']);
  });

  it('section 3.5: refusals carry result 2 (not authorized) or 4 (out of resources), the internal port, external port 0, lifetime 0', () => {
    const deny: PermRule = { allow: false, external: [1, 65535], prefix: { ip: '10.0.0.2', cidr: 32, family: 4 }, internal: [1, 65535], line: 1 };
    const allow: PermRule = { allow: true, external: [8000, 8001], prefix: { ip: '0.0.0.0', cidr: 0, family: 4 }, internal: [1, 65535], line: 2 };
    const { ctx, store } = setup({ rules: [deny, allow], maxMappingsPerPeer: 1 });
    const expectRefusal = (from: typeof HOST, req: Uint8Array, result: number, op = 129) => {
      const r = handleNatPmp(req, from, ctx, EPOCH_START + 1000);
      assert.equal(r.changed, false);
      assert.deepEqual(mapResponse(reply(r)), { vers: 0, op, result, epoch: 1, internalPort: u16(req, 4), externalPort: 0, lifetime: 0 });
    };
    expectRefusal(HOST, mapRequest(1, 8044, 8000, 60), 2); // the allow-list denies 10.0.0.2
    expectRefusal({ address: '10.9.9.9', port: 1 }, mapRequest(2, 8044, 8000, 60), 2, 130); // not a peer
    expectRefusal(OTHER, mapRequest(1, 0, 8000, 60), 2); // internal port 0 with a lifetime maps nothing
    assert.equal(mapResponse(reply(handleNatPmp(mapRequest(1, 7000, 8000, 60), OTHER, ctx, EPOCH_START))).result, 0);
    expectRefusal(OTHER, mapRequest(1, 7001, 8000, 60), 4); // per-peer cap (1) reached
    // No permitted port left: out of resources too.
    const p = setup({ rules: [allow] });
    handleNatPmp(mapRequest(1, 7000, 8000, 60), HOST, p.ctx, EPOCH_START);
    handleNatPmp(mapRequest(1, 7001, 8001, 60), HOST, p.ctx, EPOCH_START);
    const full = mapResponse(reply(handleNatPmp(mapRequest(1, 7002, 8000, 60), OTHER, p.ctx, EPOCH_START)));
    assert.deepEqual([full.result, full.externalPort, full.lifetime], [4, 0, 0]);
    assert.equal(store.list().length, 1);
  });

  it('section 3.5: no external address -> result 3 (network failure)', () => {
    const { ctx, store } = setup({}, 'not-an-address');
    const r = mapResponse(reply(handleNatPmp(mapRequest(2, 8080, 8080, 60), HOST, ctx, EPOCH_START)));
    assert.deepEqual([r.op, r.result, r.internalPort, r.externalPort, r.lifetime], [130, 3, 8080, 0, 0]);
    assert.deepEqual(store.list(), []);
  });

  it('section 3.5: an unsupported opcode is returned whole with the top bit set and result 5', () => {
    const { ctx } = setup();
    const req = Uint8Array.of(0, 3, 0, 0, 1, 2, 3, 4, 5, 6);
    assert.deepEqual([...reply(handleNatPmp(req, HOST, ctx, EPOCH_START))], [0, 131, 0, 5, 1, 2, 3, 4, 5, 6]);
    assert.deepEqual([...reply(handleNatPmp(Uint8Array.of(0, 127), HOST, ctx, EPOCH_START))], [0, 255, 0, 5]);
    const big = new Uint8Array(5000);
    big[1] = 9;
    assert.equal(reply(handleNatPmp(big, HOST, ctx, EPOCH_START)).length, 1100, 'the echo is bounded');
  });

  it('section 3.5: responses (opcode >= 128) are silently ignored', () => {
    const { ctx } = setup();
    for (const op of [128, 129, 130, 131, 255]) {
      const b = new Uint8Array(16);
      b[1] = op;
      assert.equal(handleNatPmp(b, HOST, ctx, EPOCH_START).reply, null, `op ${op}`);
    }
  });

  it('section 3: a version other than 0 gets result 1 (unsupported version) in an 8-byte version-0 reply', () => {
    const { ctx } = setup();
    const b = reply(handleNatPmp(Uint8Array.of(1, 0), HOST, ctx, EPOCH_START + 7000));
    assert.deepEqual([...b], [0, 128, 0, 1, 0, 0, 0, 7]);
    assert.deepEqual([...reply(handleNatPmp(mapRequestV(3), HOST, ctx, EPOCH_START))].slice(0, 4), [0, 129, 0, 1]);
  });

  it('truncated requests are dropped; trailing bytes after a map request are ignored', () => {
    const { ctx, store } = setup();
    assert.equal(handleNatPmp(new Uint8Array(0), HOST, ctx, EPOCH_START).reply, null);
    assert.equal(handleNatPmp(Uint8Array.of(0), HOST, ctx, EPOCH_START).reply, null);
    const full = mapRequest(1, 8044, 8044, 60);
    for (let n = 2; n < 12; n++) assert.equal(handleNatPmp(full.subarray(0, n), HOST, ctx, EPOCH_START).reply, null, `${n} bytes`);
    assert.deepEqual(store.list(), []);
    const long = new Uint8Array(20);
    long.set(full);
    assert.equal(mapResponse(reply(handleNatPmp(long, HOST, ctx, EPOCH_START))).externalPort, 8044);
    // A request inside a larger buffer (non-zero byteOffset) is read at its own offsets.
    const padded = new Uint8Array(64);
    padded.set(mapRequest(2, 7000, 7000, 30), 17);
    assert.equal(mapResponse(reply(handleNatPmp(padded.subarray(17, 29), HOST, ctx, EPOCH_START))).externalPort, 7000);
  });

  it('an IPv4-mapped sender address is the IPv4 host; an unparsable one is dropped', () => {
    const { ctx, store } = setup();
    assert.equal(mapResponse(reply(handleNatPmp(mapRequest(1, 8044, 8044, 60), { address: '::ffff:10.0.0.2', port: 1 }, ctx, EPOCH_START))).result, 0);
    assert.equal(store.list()[0]!.internalAddress, '10.0.0.2');
    assert.equal(handleNatPmp(mapRequest(1, 8044, 8044, 60), { address: 'garbage', port: 1 }, ctx, EPOCH_START).reply, null);
  });

  it('random and mutated datagrams never throw and never get a reply longer than the request (or 16 bytes)', () => {
    const { ctx, store } = setup();
    let seed = 0x1234567;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) & 0xff;
    const seeds = [addressRequest(), mapRequest(1, 8044, 8044, 60), mapRequest(2, 8080, 0, 0), mapRequest(1, 0, 0, 0)];
    for (let i = 0; i < 5000; i++) {
      let msg: Uint8Array;
      if (i % 2 === 0) {
        msg = new Uint8Array(rnd() % 40);
        for (let j = 0; j < msg.length; j++) msg[j] = rnd();
        if (i % 4 === 0 && msg.length > 0) msg[0] = 0;
      } else {
        msg = Uint8Array.from(seeds[i % seeds.length]!);
        for (let k = 0; k < 3; k++) if (msg.length) msg[rnd() % msg.length] = rnd();
      }
      const from = i % 3 === 0 ? OTHER : HOST;
      const r = handleNatPmp(msg, from, ctx, EPOCH_START + i);
      if (r.reply) assert.ok(r.reply.length <= Math.max(16, msg.length), `reply of ${r.reply.length} to ${msg.length} bytes`);
    }
    for (const l of store.list()) assert.ok(l.internalAddress === '10.0.0.2' || l.internalAddress === '10.0.0.3');
  });
});

/** A map request with a version byte other than 0. */
function mapRequestV(version: number): Uint8Array {
  const b = mapRequest(1, 8044, 8044, 60);
  b[0] = version;
  return b;
}
