// PCP (RFC 6887) byte by byte: requests are built here from the RFC's
// figures (section 7.1 request header, 11.1 MAP, 7.3 options), responses are
// read back at the section 7.2 / 11.1 offsets. Every refusal is checked with
// its section 7.4 result code and error lifetime; bad bytes never throw.
import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { handlePcp } from '../../src/portmap/pcp.js';
import { handleNatPmp } from '../../src/portmap/natpmp.js';
import { LeaseTable } from '../../src/portmap/leases.js';
import { defaultPolicy } from '../../src/portmap/policy.js';
import type { PermRule, PortMapContext, PortMapPolicy } from '../../src/portmap/types.js';

const HOST = { address: '10.0.0.2', port: 40001 };
const OTHER = { address: '10.0.0.3', port: 40002 };
const V6HOST = { address: 'fd00::2', port: 40003 };
const EPOCH_START = 1000;
const EXTERNAL = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 203, 0, 113, 7];

// Section 7.4 result codes.
const SUCCESS = 0, UNSUPP_VERSION = 1, NOT_AUTHORIZED = 2, MALFORMED_REQUEST = 3, UNSUPP_OPCODE = 4, UNSUPP_OPTION = 5,
  MALFORMED_OPTION = 6, NETWORK_FAILURE = 7, NO_RESOURCES = 8, UNSUPP_PROTOCOL = 9, USER_EX_QUOTA = 10,
  CANNOT_PROVIDE_EXTERNAL = 11, ADDRESS_MISMATCH = 12;
// Section 7.4 recommends 30 s for short and 30 min for long lifetime errors.
const SHORT = 30, LONG = 1800;

function setup(over: Partial<PortMapPolicy> = {}, externalAddress = '203.0.113.7') {
  const store = new LeaseTable({ ...defaultPolicy(), ...over });
  const ctx: PortMapContext = {
    store,
    externalAddress,
    peerOf: (a) => ({ '10.0.0.2': 'peerA=', '10.0.0.3': 'peerB=', 'fd00::2': 'peerC=' })[a] ?? null,
    epochStart: EPOCH_START,
  };
  return { store, ctx };
}

/** 16-byte address field (section 5): IPv4 as ::ffff:a.b.c.d. */
function addr16(text: string): number[] {
  if (!text.includes(':')) return [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...text.split('.').map(Number)];
  const [head, tail] = text.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const words = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t].map((w) => parseInt(w, 16));
  return words.flatMap((w) => [w >> 8, w & 0xff]);
}

const be32 = (n: number) => [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
const be16 = (n: number) => [n >> 8, n & 0xff];

/**
 * Section 7.1 request header:
 * | Version = 2 | R=0 | Opcode (7) | Reserved (16) | Requested Lifetime (32) | PCP Client's IP Address (128) |
 */
function header(opcode: number, lifetime: number, client: string, version = 2): number[] {
  return [version, opcode, 0, 0, ...be32(lifetime), ...addr16(client)];
}

/** Section 7.3 option: | Option Code | Reserved | Option Length (16) | data, padded to 4 |. */
function option(code: number, data: number[] = []): number[] {
  const pad = (4 - (data.length % 4)) % 4;
  return [code, 0, ...be16(data.length), ...data, ...Array(pad).fill(0)];
}

const NONCE = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];

interface MapReq {
  lifetime?: number;
  client?: string;
  nonce?: number[];
  protocol?: number;
  internalPort?: number;
  suggestedPort?: number;
  suggestedAddress?: string;
  options?: number[][];
}

/**
 * Section 11.1 MAP request: header + | Mapping Nonce (96) | Protocol | Reserved (24) |
 * Internal Port | Suggested External Port | Suggested External IP Address (128) | options.
 */
function mapReq(m: MapReq = {}): Uint8Array {
  return Uint8Array.from([
    ...header(1, m.lifetime ?? 3600, m.client ?? HOST.address),
    ...(m.nonce ?? NONCE),
    m.protocol ?? 17, 0, 0, 0,
    ...be16(m.internalPort ?? 8044), ...be16(m.suggestedPort ?? 8044),
    ...addr16(m.suggestedAddress ?? '0.0.0.0'),
    ...(m.options ?? []).flat(),
  ]);
}

function announce(client = HOST.address, extra: number[] = []): Uint8Array {
  return Uint8Array.from([...header(0, 0, client), ...extra]);
}

const u16 = (b: Uint8Array, at: number) => (b[at]! << 8) | b[at + 1]!;
const u32 = (b: Uint8Array, at: number) => ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;

/** Section 7.2 response header. */
function resp(b: Uint8Array | null) {
  assert.ok(b, 'expected a reply');
  assert.ok(b.length >= 24 && b.length % 4 === 0, `reply length ${b.length}`);
  assert.deepEqual([...b.subarray(12, 24)], Array(12).fill(0), 'reserved 96 bits are zero');
  assert.equal(b[2], 0, 'reserved byte is zero');
  return { version: b[0], r: b[1]! >> 7, opcode: b[1]! & 0x7f, result: b[3], lifetime: u32(b, 4), epoch: u32(b, 8), bytes: b };
}

/** Section 11.1 MAP response fields after the header. */
function mapResp(b: Uint8Array) {
  return {
    nonce: [...b.subarray(24, 36)],
    protocol: b[36],
    reserved: [...b.subarray(37, 40)],
    internalPort: u16(b, 40),
    externalPort: u16(b, 42),
    externalAddress: [...b.subarray(44, 60)],
    options: [...b.subarray(60)],
  };
}

function expectError(b: Uint8Array | null, req: Uint8Array, opcode: number, result: number, lifetime: number) {
  const h = resp(b);
  assert.deepEqual([h.version, h.r, h.opcode, h.result, h.lifetime], [2, 1, opcode, result, lifetime], `result ${h.result}`);
  // Section 8.3: an error response copies the request's opcode data and options.
  const n = Math.min(req.length, 1100) & ~3;
  assert.equal(h.bytes.length, n);
  assert.deepEqual([...h.bytes.subarray(24)], [...req.subarray(24, n)]);
}

describe('PCP server (RFC 6887)', () => {
  it('section 14.1: ANNOUNCE gets SUCCESS, lifetime 0 and the epoch time', () => {
    const { ctx } = setup();
    const r = handlePcp(announce(), HOST, ctx, EPOCH_START + 9_500);
    assert.equal(r.changed, false);
    const h = resp(r.reply);
    assert.equal(h.bytes.length, 24);
    assert.deepEqual([h.version, h.r, h.opcode, h.result, h.lifetime, h.epoch], [2, 1, 0, SUCCESS, 0, 9]);
    // Optional options (code >= 128) are skipped.
    assert.equal(resp(handlePcp(announce(HOST.address, option(200, [1, 2, 3])), HOST, ctx, EPOCH_START).reply).result, SUCCESS);
  });

  it('section 11: MAP creates a mapping for the sender and answers with the assigned external port and address', () => {
    const { ctx, store } = setup();
    const req = mapReq({ protocol: 6, internalPort: 8080, suggestedPort: 8080, lifetime: 600 });
    const r = handlePcp(req, HOST, ctx, EPOCH_START + 2000);
    assert.equal(r.changed, true);
    const h = resp(r.reply);
    assert.deepEqual([h.version, h.r, h.opcode, h.result, h.lifetime, h.epoch], [2, 1, 1, SUCCESS, 600, 2]);
    assert.equal(h.bytes.length, 60);
    assert.deepEqual(mapResp(h.bytes), { nonce: NONCE, protocol: 6, reserved: [0, 0, 0], internalPort: 8080, externalPort: 8080, externalAddress: EXTERNAL, options: [] });
    const [l] = store.list();
    assert.deepEqual([l!.protocol, l!.externalPort, l!.internalAddress, l!.internalPort, l!.peer, l!.origin, l!.lifetime], ['tcp', 8080, '10.0.0.2', 8080, 'peerA=', 'pcp', 600]);
    assert.deepEqual([...l!.nonce!], NONCE);
  });

  it('section 11: lifetimes are cut to MaxLifetime; a taken or zero suggested port gets another port; a foreign suggested address is ignored', () => {
    const { ctx } = setup({ maxLifetime: 120 });
    assert.equal(resp(handlePcp(mapReq({ lifetime: 0xffffffff }), HOST, ctx, EPOCH_START).reply).lifetime, 120);
    const other = mapResp(handlePcp(mapReq({ client: OTHER.address }), OTHER, ctx, EPOCH_START).reply!);
    assert.notEqual(other.externalPort, 8044);
    const any = mapResp(handlePcp(mapReq({ internalPort: 7000, suggestedPort: 0 }), HOST, ctx, EPOCH_START).reply!);
    assert.ok(any.externalPort >= 1024);
    const foreign = handlePcp(mapReq({ internalPort: 7001, suggestedAddress: '198.51.100.1' }), HOST, ctx, EPOCH_START).reply!;
    assert.equal(resp(foreign).result, SUCCESS);
    assert.deepEqual(mapResp(foreign).externalAddress, EXTERNAL);
  });

  it('section 13.2: PREFER_FAILURE makes the suggested port exact and is echoed in the response', () => {
    const { ctx } = setup();
    const pf = [option(2)];
    const ok = handlePcp(mapReq({ options: pf }), HOST, ctx, EPOCH_START).reply!;
    assert.equal(resp(ok).result, SUCCESS);
    assert.equal(ok.length, 64);
    assert.deepEqual(mapResp(ok).options, [2, 0, 0, 0]);
    const taken = mapReq({ client: OTHER.address, options: pf });
    expectError(handlePcp(taken, OTHER, ctx, EPOCH_START).reply, taken, 1, CANNOT_PROVIDE_EXTERNAL, SHORT);
    const elsewhere = mapReq({ internalPort: 9000, suggestedPort: 9000, suggestedAddress: '198.51.100.1', options: pf });
    expectError(handlePcp(elsewhere, HOST, ctx, EPOCH_START).reply, elsewhere, 1, CANNOT_PROVIDE_EXTERNAL, SHORT);
    // Our own address, or the all-zeros address of either family, is fine.
    for (const a of ['203.0.113.7', '0.0.0.0', '::']) {
      const r = handlePcp(mapReq({ internalPort: 9001, suggestedPort: 9001, suggestedAddress: a, options: pf }), HOST, ctx, EPOCH_START);
      assert.equal(resp(r.reply).result, SUCCESS, a);
    }
    const noPort = mapReq({ internalPort: 9002, suggestedPort: 0, options: pf });
    expectError(handlePcp(noPort, HOST, ctx, EPOCH_START).reply, noPort, 1, MALFORMED_OPTION, LONG);
  });

  it('section 7.3: option errors — unsupported mandatory options, bad length, repeats, wrong opcode, overruns', () => {
    const { ctx, store } = setup();
    const cases: Array<[string, Uint8Array, number]> = [
      ['THIRD_PARTY (mapping for another host)', mapReq({ options: [option(1, addr16('10.0.0.9'))] }), UNSUPP_OPTION],
      ['FILTER', mapReq({ options: [option(3, [0, 120, 0, 0, ...addr16('198.51.100.0')])] }), UNSUPP_OPTION],
      ['unknown mandatory code 42', mapReq({ options: [option(42, [1, 2])] }), UNSUPP_OPTION],
      ['reserved code 0', mapReq({ options: [option(0)] }), UNSUPP_OPTION],
      ['PREFER_FAILURE with data', mapReq({ options: [option(2, [0, 0, 0, 0])] }), MALFORMED_OPTION],
      ['PREFER_FAILURE twice', mapReq({ options: [option(2), option(2)] }), MALFORMED_OPTION],
      ['option longer than the message', mapReq({ options: [[200, 0, 0, 16, 1, 2, 3, 4]] }), MALFORMED_OPTION],
      ['padding past the end', mapReq({ options: [[200, 0, 0, 5, 1, 2, 3, 4]] }), MALFORMED_OPTION],
    ];
    for (const [what, req, code] of cases) {
      assert.equal(resp(handlePcp(req, HOST, ctx, EPOCH_START).reply).result, code, what);
      expectError(handlePcp(req, HOST, ctx, EPOCH_START).reply, req, 1, code, LONG);
    }
    const ann = announce(HOST.address, option(2));
    expectError(handlePcp(ann, HOST, ctx, EPOCH_START).reply, ann, 0, MALFORMED_OPTION, LONG);
    assert.deepEqual(store.list(), []);
    // Optional options are skipped, before and after known ones.
    const fine = mapReq({ options: [option(129, [9]), option(2), option(255)] });
    const r = handlePcp(fine, HOST, ctx, EPOCH_START).reply!;
    assert.equal(resp(r).result, SUCCESS);
    assert.deepEqual(mapResp(r).options, [2, 0, 0, 0]);
  });

  it('section 11.3: renewal with the same nonce keeps the port; another nonce is NOT_AUTHORIZED for the remaining lifetime', () => {
    const { ctx, store } = setup();
    handlePcp(mapReq({ lifetime: 100 }), HOST, ctx, EPOCH_START);
    const again = handlePcp(mapReq({ lifetime: 200, suggestedPort: 9999 }), HOST, ctx, EPOCH_START + 10_000);
    assert.equal(again.changed, true);
    assert.deepEqual([resp(again.reply).result, resp(again.reply).lifetime, mapResp(again.reply!).externalPort], [SUCCESS, 200, 8044]);
    const thief = mapReq({ nonce: Array(12).fill(0xee) });
    expectError(handlePcp(thief, HOST, ctx, EPOCH_START + 60_000).reply, thief, 1, NOT_AUTHORIZED, 150);
    const thiefDelete = mapReq({ nonce: Array(12).fill(0xee), lifetime: 0 });
    expectError(handlePcp(thiefDelete, HOST, ctx, EPOCH_START + 60_000).reply, thiefDelete, 1, NOT_AUTHORIZED, 150);
    assert.equal(store.list().length, 1);
  });

  it('section 15: lifetime 0 deletes (nonce + protocol + internal port); deleting nothing succeeds', () => {
    const { ctx, store } = setup();
    handlePcp(mapReq(), HOST, ctx, EPOCH_START);
    const del = handlePcp(mapReq({ lifetime: 0, suggestedPort: 0 }), HOST, ctx, EPOCH_START + 1000);
    assert.equal(del.changed, true);
    const h = resp(del.reply);
    assert.deepEqual([h.opcode, h.result, h.lifetime], [1, SUCCESS, 0]);
    assert.deepEqual(mapResp(h.bytes).externalPort, 8044, 'the deleted mapping is named');
    assert.deepEqual(store.list(), []);
    const again = handlePcp(mapReq({ lifetime: 0, suggestedPort: 0 }), HOST, ctx, EPOCH_START + 1000);
    assert.equal(again.changed, false);
    assert.deepEqual([resp(again.reply).result, resp(again.reply).lifetime], [SUCCESS, 0]);
  });

  it('section 15: protocol 0 + internal port 0 + lifetime 0 deletes all of this client\'s mappings with that nonce', () => {
    const { ctx, store } = setup();
    handlePcp(mapReq({ protocol: 17, internalPort: 5001, suggestedPort: 5001 }), HOST, ctx, EPOCH_START);
    handlePcp(mapReq({ protocol: 6, internalPort: 5002, suggestedPort: 5002 }), HOST, ctx, EPOCH_START);
    handlePcp(mapReq({ protocol: 6, internalPort: 5003, suggestedPort: 5003, nonce: Array(12).fill(3) }), HOST, ctx, EPOCH_START);
    handlePcp(mapReq({ client: OTHER.address, protocol: 6, internalPort: 5004, suggestedPort: 5004 }), OTHER, ctx, EPOCH_START);
    const del = handlePcp(mapReq({ protocol: 0, internalPort: 0, suggestedPort: 0, lifetime: 0 }), HOST, ctx, EPOCH_START);
    assert.equal(resp(del.reply).result, SUCCESS);
    assert.equal(del.changed, true);
    assert.deepEqual(store.list().map((l) => `${l.internalAddress}:${l.internalPort}`), ['10.0.0.2:5003', '10.0.0.3:5004']);
  });

  it('section 11.1: protocol 0 with a port is MALFORMED_REQUEST; protocols other than TCP/UDP are UNSUPP_PROTOCOL', () => {
    const { ctx, store } = setup();
    const zeroWithPort = mapReq({ protocol: 0, internalPort: 80 });
    expectError(handlePcp(zeroWithPort, HOST, ctx, EPOCH_START).reply, zeroWithPort, 1, MALFORMED_REQUEST, LONG);
    const all = mapReq({ protocol: 0, internalPort: 0 });
    expectError(handlePcp(all, HOST, ctx, EPOCH_START).reply, all, 1, UNSUPP_PROTOCOL, LONG);
    const sctp = mapReq({ protocol: 132 });
    expectError(handlePcp(sctp, HOST, ctx, EPOCH_START).reply, sctp, 1, UNSUPP_PROTOCOL, LONG);
    const sctpDelete = mapReq({ protocol: 132, lifetime: 0 });
    expectError(handlePcp(sctpDelete, HOST, ctx, EPOCH_START).reply, sctpDelete, 1, UNSUPP_PROTOCOL, LONG);
    assert.deepEqual(store.list(), []);
  });

  it('section 7.4: NOT_AUTHORIZED (policy, non-peer, all ports), USER_EX_QUOTA, NO_RESOURCES, NETWORK_FAILURE', () => {
    const allow: PermRule = { allow: true, external: [8000, 8000], prefix: { ip: '10.0.0.0', cidr: 24, family: 4 }, internal: [1, 65535], line: 1 };
    const { ctx } = setup({ rules: [allow], maxMappingsPerPeer: 1 });
    const denied = mapReq({ client: '10.9.9.9' });
    expectError(handlePcp(denied, { address: '10.9.9.9', port: 1 }, ctx, EPOCH_START).reply, denied, 1, NOT_AUTHORIZED, LONG);
    const v6 = mapReq({ client: V6HOST.address });
    expectError(handlePcp(v6, V6HOST, ctx, EPOCH_START).reply, v6, 1, NOT_AUTHORIZED, LONG); // peer, but no rule holds fd00::2
    const allPorts = mapReq({ internalPort: 0 });
    expectError(handlePcp(allPorts, HOST, ctx, EPOCH_START).reply, allPorts, 1, NOT_AUTHORIZED, LONG);
    assert.equal(resp(handlePcp(mapReq({ suggestedPort: 8000 }), HOST, ctx, EPOCH_START).reply).result, SUCCESS);
    const quota = mapReq({ internalPort: 9, suggestedPort: 8000 });
    expectError(handlePcp(quota, HOST, ctx, EPOCH_START).reply, quota, 1, USER_EX_QUOTA, SHORT);
    const full = mapReq({ client: OTHER.address, suggestedPort: 8000 });
    expectError(handlePcp(full, OTHER, ctx, EPOCH_START).reply, full, 1, NO_RESOURCES, SHORT);
    const noExt = setup({}, '0.0.0.0');
    const req = mapReq();
    expectError(handlePcp(req, HOST, noExt.ctx, EPOCH_START).reply, req, 1, NETWORK_FAILURE, SHORT);
  });

  it('section 8.3: the client IP field must equal the source address (ADDRESS_MISMATCH)', () => {
    const { ctx, store } = setup();
    // ::a00:2 is the IPv4-compatible form of 10.0.0.2, not the IPv4-mapped one (section 5).
    for (const client of ['10.0.0.9', '::a00:2', 'fd00::2', '0.0.0.0']) {
      const req = mapReq({ client });
      expectError(handlePcp(req, HOST, ctx, EPOCH_START).reply, req, 1, ADDRESS_MISMATCH, LONG);
    }
    const ann = announce('10.0.0.9');
    expectError(handlePcp(ann, HOST, ctx, EPOCH_START).reply, ann, 0, ADDRESS_MISMATCH, LONG);
    assert.deepEqual(store.list(), []);
    // An IPv6 client with its own address in the field is served; IPv4-mapped source text works too.
    const v6 = handlePcp(mapReq({ client: V6HOST.address, internalPort: 7000, suggestedPort: 7000 }), V6HOST, ctx, EPOCH_START);
    assert.equal(resp(v6.reply).result, SUCCESS);
    assert.equal(store.findExternal('udp', 7000)?.internalAddress, 'fd00::2');
    assert.equal(resp(handlePcp(mapReq({ internalPort: 7001 }), { address: '::ffff:10.0.0.2', port: 1 }, ctx, EPOCH_START).reply).result, SUCCESS);
  });

  it('section 8.3: PEER and unknown opcodes are UNSUPP_OPCODE', () => {
    const { ctx } = setup();
    // Section 12.1 PEER request: MAP fields + remote peer port, reserved, remote peer address.
    const peer = Uint8Array.from([...mapReq().subarray(0, 60), ...be16(443), 0, 0, ...addr16('198.51.100.7')]);
    peer[1] = 2;
    expectError(handlePcp(peer, HOST, ctx, EPOCH_START).reply, peer, 2, UNSUPP_OPCODE, LONG);
    const op99 = Uint8Array.from(header(99, 0, HOST.address));
    expectError(handlePcp(op99, HOST, ctx, EPOCH_START).reply, op99, 99, UNSUPP_OPCODE, LONG);
  });

  it('section 9: versions other than 2 get UNSUPP_VERSION in a version-2 header', () => {
    const { ctx } = setup();
    for (const [msg, op] of [[Uint8Array.from(header(1, 3600, HOST.address, 1)), 1], [Uint8Array.of(1, 0), 0], [Uint8Array.from(header(1, 0, HOST.address, 3)), 1]] as const) {
      const h = resp(handlePcp(msg, HOST, ctx, EPOCH_START + 4000).reply);
      assert.deepEqual([h.version, h.r, h.opcode, h.result, h.lifetime, h.epoch, h.bytes.length], [2, 1, op, UNSUPP_VERSION, LONG, 4, 24]);
    }
  });

  it('section 8.3: dropped (under 2 bytes, R bit set, version 2 under 24 bytes) or MALFORMED_REQUEST (length)', () => {
    const { ctx, store } = setup();
    const good = mapReq();
    assert.equal(handlePcp(new Uint8Array(0), HOST, ctx, EPOCH_START).reply, null);
    assert.equal(handlePcp(Uint8Array.of(2), HOST, ctx, EPOCH_START).reply, null);
    const response = Uint8Array.from(good);
    response[1] |= 0x80;
    assert.equal(handlePcp(response, HOST, ctx, EPOCH_START).reply, null, 'R bit set');
    for (let n = 2; n < 24; n++) assert.equal(handlePcp(good.subarray(0, n), HOST, ctx, EPOCH_START).reply, null, `${n} bytes`);
    const unaligned = good.subarray(0, 58);
    expectError(handlePcp(unaligned, HOST, ctx, EPOCH_START).reply, unaligned, 1, MALFORMED_REQUEST, LONG);
    const short = good.subarray(0, 56);
    expectError(handlePcp(short, HOST, ctx, EPOCH_START).reply, short, 1, MALFORMED_REQUEST, LONG);
    const huge = new Uint8Array(1104);
    huge.set(good);
    expectError(handlePcp(huge, HOST, ctx, EPOCH_START).reply, huge, 1, MALFORMED_REQUEST, LONG);
    assert.equal(handlePcp(huge, HOST, ctx, EPOCH_START).reply!.length, 1100, 'truncated to 1100 bytes');
    assert.deepEqual(store.list(), []);
    // The same request inside a larger buffer is read at its own offsets.
    const buf = new Uint8Array(200);
    buf.set(good, 36);
    assert.equal(resp(handlePcp(buf.subarray(36, 96), HOST, ctx, EPOCH_START).reply).result, SUCCESS);
  });

  it('NAT-PMP and PCP share mappings: a PCP request for a NAT-PMP mapping renews it and takes its nonce', () => {
    const { ctx, store } = setup();
    const natpmp = Uint8Array.of(0, 1, 0, 0, 0x1f, 0x6c, 0x1f, 0x6c, 0, 0, 0, 60); // RFC 6886 section 3.3, UDP 8044 -> 8044
    assert.equal(handleNatPmp(natpmp, HOST, ctx, EPOCH_START).reply![3], 0);
    const r = handlePcp(mapReq({ lifetime: 300, suggestedPort: 0 }), HOST, ctx, EPOCH_START);
    assert.deepEqual([resp(r.reply).result, mapResp(r.reply!).externalPort], [SUCCESS, 8044]);
    assert.equal(store.list().length, 1);
    assert.equal(store.list()[0]!.origin, 'pcp');
    assert.deepEqual([...store.list()[0]!.nonce!], NONCE);
  });

  it('random and mutated datagrams never throw; replies are never longer than the request except UNSUPP_VERSION', () => {
    const { ctx, store } = setup();
    let seed = 0xabcdef;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) & 0xff;
    const seeds = [announce(), mapReq(), mapReq({ options: [option(2)] }), mapReq({ lifetime: 0 }), mapReq({ protocol: 0, internalPort: 0, lifetime: 0 })];
    for (let i = 0; i < 5000; i++) {
      let msg: Uint8Array;
      if (i % 2 === 0) {
        msg = new Uint8Array((rnd() % 30) * 4 + (i % 8 === 0 ? rnd() % 4 : 0));
        for (let j = 0; j < msg.length; j++) msg[j] = rnd();
        if (i % 4 === 0 && msg.length > 1) {
          msg[0] = 2;
          msg[1] &= 0x7f;
        }
      } else {
        msg = Uint8Array.from(seeds[i % seeds.length]!);
        for (let k = 0; k < 2; k++) msg[24 + (rnd() % (msg.length - 24 || 1))] = rnd();
        if (i % 3 === 0) msg[rnd() % msg.length] = rnd();
      }
      const r = handlePcp(msg, i % 5 === 0 ? OTHER : HOST, ctx, EPOCH_START + i);
      if (r.reply) {
        const h = resp(r.reply);
        assert.equal(h.version, 2);
        assert.ok(r.reply.length <= Math.max(24, msg.length), `reply of ${r.reply.length} to ${msg.length} bytes`);
      }
    }
    for (const l of store.list()) assert.ok(l.internalAddress === '10.0.0.2' || l.internalAddress === '10.0.0.3');
  });
});
