// Cryptokey routing table: the Linux selftest table
// (drivers/net/wireguard/selftest/allowedips.c) re-expressed, a randomized
// comparison against a naive linear table and against node:net's BlockList,
// and the IP text/packet helpers of src/transport/ip.ts checked against
// node:net (net.isIP, net.SocketAddress). The randomized comparisons' sizes go
// through scaled() (WGTS_RANDOMIZED_SCALE), which `npm run mutate` lowers.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import net from 'node:net';
import { AllowedIPs, type AllowedIPsOptions } from '../../src/transport/allowedips.js';
import { formatIp, maskPrefix, parseCidr, parseIp } from '../../src/ip/text.js';
import { packetDestination, packetSource } from '../../src/transport/packet.js';
import { scaled } from '../harness/seed.js';

// ---- helpers ----

function ip4(a: number, b: number, c: number, d: number): Uint8Array {
  return Uint8Array.of(a, b, c, d);
}
/** IPv6 address from four 32-bit big-endian words, as the kernel test writes them. */
function ip6(a: number, b: number, c: number, d: number): Uint8Array {
  const out = new Uint8Array(16);
  const v = new DataView(out.buffer);
  [a, b, c, d].forEach((w, i) => v.setUint32(4 * i, w >>> 0));
  return out;
}

/** Deterministic PRNG (mulberry32) so failures reproduce. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}
function randInt(rand: () => number, n: number): number {
  return Math.floor(rand() * n);
}
function randBytes(rand: () => number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = randInt(rand, 256);
  return b;
}

interface Peer {
  id: number;
}
const peer = (id: number): Peer => ({ id });

/** The table with its IPv4 jump table never, always, and from 64 nodes on (so it comes and goes). */
const MODES: Array<[string, AllowedIPsOptions]> = [
  ['trie only', { jumpTableMinNodes: Infinity }],
  ['with jump table', { jumpTableMinNodes: 0 }],
  ['jump table from 64 nodes', { jumpTableMinNodes: 64 }],
];

// ---- kernel selftest ----

for (const [mode, opts] of MODES) test(`kernel selftest: inserts and lookups [${mode}]`, () => {
  const [a, b, c, d, e, f, g, h] = [1, 2, 3, 4, 5, 6, 7, 8].map(peer) as [Peer, Peer, Peer, Peer, Peer, Peer, Peer, Peer];
  const t = new AllowedIPs<Peer>(opts);
  t.insert(ip4(192, 168, 4, 0), 24, a);
  t.insert(ip4(192, 168, 4, 4), 32, b);
  t.insert(ip4(192, 168, 0, 0), 16, c);
  t.insert(ip4(192, 95, 5, 64), 27, d);
  t.insert(ip4(192, 95, 5, 65), 27, c); // same prefix after masking: moves to c
  t.insert(ip6(0x26075300, 0x60006b00, 0, 0xc05f0543), 128, d);
  t.insert(ip6(0x26075300, 0x60006b00, 0, 0), 64, c);
  t.insert(ip4(0, 0, 0, 0), 0, e);
  t.insert(ip6(0, 0, 0, 0), 0, e);
  t.insert(ip6(0, 0, 0, 0), 0, f); // moves ::/0 to f
  t.insert(ip6(0x24046800, 0, 0, 0), 32, g);
  t.insert(ip6(0x24046800, 0x40040800, 0xdeadbeef, 0xdeadbeef), 64, h); // host bits masked
  t.insert(ip6(0x24046800, 0x40040800, 0xdeadbeef, 0xdeadbeef), 128, a);
  t.insert(ip6(0x24446800, 0x40e40800, 0xdeaebeef, 0xdefbeef), 128, c);
  t.insert(ip6(0x24446800, 0xf0e40800, 0xeeaebeef, 0), 98, b);
  t.insert(ip4(64, 15, 112, 0), 20, g);
  t.insert(ip4(64, 15, 123, 211), 25, h); // host bits masked
  t.insert(ip4(10, 0, 0, 0), 25, a);
  t.insert(ip4(10, 0, 0, 128), 25, b);
  t.insert(ip4(10, 1, 0, 0), 30, a);
  t.insert(ip4(10, 1, 0, 4), 30, b);
  t.insert(ip4(10, 1, 0, 8), 29, c);
  t.insert(ip4(10, 1, 0, 16), 29, d);

  const cases: Array<[Peer, Uint8Array]> = [
    [a, ip4(192, 168, 4, 20)],
    [a, ip4(192, 168, 4, 0)],
    [b, ip4(192, 168, 4, 4)],
    [c, ip4(192, 168, 200, 182)],
    [c, ip4(192, 95, 5, 68)],
    [e, ip4(192, 95, 5, 96)],
    [d, ip6(0x26075300, 0x60006b00, 0, 0xc05f0543)],
    [c, ip6(0x26075300, 0x60006b00, 0, 0xc02e01ee)],
    [f, ip6(0x26075300, 0x60006b01, 0, 0)],
    [g, ip6(0x24046800, 0x40040806, 0, 0x1006)],
    [g, ip6(0x24046800, 0x40040806, 0x1234, 0x5678)],
    [f, ip6(0x240467ff, 0x40040806, 0x1234, 0x5678)],
    [f, ip6(0x24046801, 0x40040806, 0x1234, 0x5678)],
    [h, ip6(0x24046800, 0x40040800, 0x1234, 0x5678)],
    [h, ip6(0x24046800, 0x40040800, 0, 0)],
    [h, ip6(0x24046800, 0x40040800, 0x10101010, 0x10101010)],
    [a, ip6(0x24046800, 0x40040800, 0xdeadbeef, 0xdeadbeef)],
    [g, ip4(64, 15, 116, 26)],
    [g, ip4(64, 15, 127, 3)],
    [g, ip4(64, 15, 123, 1)],
    [h, ip4(64, 15, 123, 128)],
    [h, ip4(64, 15, 123, 129)],
    [a, ip4(10, 0, 0, 52)],
    [b, ip4(10, 0, 0, 220)],
    [a, ip4(10, 1, 0, 2)],
    [b, ip4(10, 1, 0, 6)],
    [c, ip4(10, 1, 0, 10)],
    [d, ip4(10, 1, 0, 20)],
  ];
  cases.forEach(([want, addr], i) => assert.equal(t.lookup(addr), want, `case ${i + 1}: ${formatIp(addr)}`));
  // 23 distinct prefixes were inserted, 2 of them twice.
  assert.equal(t.size, 21);

  // removeValue takes every prefix of one peer away.
  for (const x of [1, 64, 128, 192, 255]) t.insert(ip4(x, 0, 0, 0), 32, a);
  t.removeValue(a);
  for (const x of [1, 64, 128, 192, 255]) assert.notEqual(t.lookup(ip4(x, 0, 0, 0)), a, `${x}.0.0.0`);
  assert.deepEqual(t.entries(a), []);
  assert.equal(t.lookup(ip4(10, 0, 0, 52)), e); // a's 10.0.0.0/25 is gone, falls to 0/0
});

for (const [mode, opts] of MODES) test(`kernel selftest: removing a peer with nested prefixes [${mode}]`, () => {
  const a = peer(1);
  const t = new AllowedIPs<Peer>(opts);
  t.insert(ip4(192, 168, 0, 0), 16, a);
  t.insert(ip4(192, 168, 0, 0), 24, a);
  t.removeValue(a);
  assert.equal(t.lookup(ip4(192, 168, 0, 1)), undefined);
  assert.equal(t.size, 0);
  assert.equal(t.nodeCount, 0);
});

for (const [mode, opts] of MODES) test(`kernel selftest: 128 /128 routes each missing one bit [${mode}]`, () => {
  const a = peer(1);
  const t = new AllowedIPs<Peer>(opts);
  const addrs: Uint8Array[] = [];
  for (let i = 0; i < 128; i++) {
    const ip = new Uint8Array(16).fill(0xff);
    ip[i >> 3]! &= ~(0x80 >> (i & 7)); // clear bit i
    addrs.push(ip);
    t.insert(ip, 128, a);
  }
  assert.equal(t.size, 128);
  for (const ip of addrs) assert.equal(t.lookup(ip), a);
  assert.equal(t.lookup(new Uint8Array(16).fill(0xff)), undefined);
  assert.equal(t.entries(a).length, 128);
  t.removeValue(a);
  assert.equal(t.size, 0);
  assert.equal(t.nodeCount, 0);
  for (const ip of addrs) assert.equal(t.lookup(ip), undefined);
});

for (const [mode, opts] of MODES) test(`kernel selftest: entries of one peer are masked prefixes [${mode}]`, () => {
  const a = peer(1);
  const t = new AllowedIPs<Peer>(opts);
  t.insert(ip4(192, 95, 5, 93), 27, a);
  t.insert(ip6(0x26075300, 0x60006b00, 0, 0xc05f0543), 128, a);
  t.insert(ip4(10, 1, 0, 20), 29, a);
  t.insert(ip6(0x26075300, 0x6d8a6bf8, 0xdab1f1df, 0xc05f1523), 83, a);
  t.insert(ip6(0x26075300, 0x6d8a6bf8, 0xdab1f1df, 0xc05f1523), 21, a);
  // Documented order: the order in which the prefixes were assigned to a.
  assert.deepEqual(t.entries(a), [
    { ip: ip4(192, 95, 5, 64), cidr: 27 },
    { ip: ip6(0x26075300, 0x60006b00, 0, 0xc05f0543), cidr: 128 },
    { ip: ip4(10, 1, 0, 16), cidr: 29 },
    { ip: ip6(0x26075300, 0x6d8a6bf8, 0xdab1e000, 0), cidr: 83 },
    { ip: ip6(0x26075000, 0, 0, 0), cidr: 21 },
  ]);
});

for (const [mode, opts] of MODES) test(`remove(ip, cidr), clear, size and odd inputs [${mode}]`, () => {
  const a = peer(1);
  const b = peer(2);
  const t = new AllowedIPs<Peer>(opts);
  t.insert(ip4(10, 0, 0, 0), 8, a);
  t.insert(ip4(10, 1, 0, 0), 16, b);
  t.insert(ip6(0x20010db8, 0, 0, 0), 32, a);
  assert.equal(t.size, 3);
  assert.equal(t.remove(ip4(10, 1, 2, 3), 16), true); // host bits ignored
  assert.equal(t.remove(ip4(10, 1, 0, 0), 16), false);
  assert.equal(t.remove(ip4(10, 0, 0, 0), 9), false);
  assert.equal(t.lookup(ip4(10, 1, 0, 1)), a);
  assert.deepEqual(t.entries(b), []);
  assert.equal(t.size, 2);
  // Moving a prefix between values updates both values' entries.
  t.insert(ip4(10, 0, 0, 0), 8, b);
  assert.deepEqual(t.entries(a), [{ ip: ip6(0x20010db8, 0, 0, 0), cidr: 32 }]);
  assert.deepEqual(t.entries(b), [{ ip: ip4(10, 0, 0, 0), cidr: 8 }]);
  assert.equal(t.size, 2);
  // Lookups of other lengths find nothing and do not throw.
  for (const n of [0, 3, 5, 15, 17, 32]) assert.equal(t.lookup(new Uint8Array(n)), undefined);
  // Bad arguments to insert/remove are programming errors.
  assert.throws(() => t.insert(new Uint8Array(5), 8, a), RangeError);
  assert.throws(() => t.insert(ip4(1, 2, 3, 4), 33, a), RangeError);
  assert.throws(() => t.insert(ip4(1, 2, 3, 4), -1, a), RangeError);
  assert.throws(() => t.insert(ip4(1, 2, 3, 4), 1.5, a), RangeError);
  assert.throws(() => t.remove(ip6(0, 0, 0, 0), 129), RangeError);
  t.clear();
  assert.equal(t.size, 0);
  assert.equal(t.lookup(ip4(10, 0, 0, 1)), undefined);
  assert.deepEqual(t.entries(b), []);
  // Usable again after clear.
  t.insert(ip4(0, 0, 0, 0), 0, a);
  assert.equal(t.lookup(ip4(1, 2, 3, 4)), a);
  assert.equal(t.lookup(ip6(0, 0, 0, 1)), undefined);
});

// ---- randomized comparison with a naive linear table ----

/** Deliberately naive: a list of (masked ip, cidr, value); the longest matching prefix wins. */
class NaiveTable<T> {
  rows: Array<{ ip: Uint8Array; cidr: number; value: T }> = [];
  private static matches(ip: Uint8Array, cidr: number, addr: Uint8Array): boolean {
    if (ip.length !== addr.length) return false;
    for (let bit = 0; bit < cidr; bit++) {
      const m = 0x80 >> (bit & 7);
      if ((ip[bit >> 3]! & m) !== (addr[bit >> 3]! & m)) return false;
    }
    return true;
  }
  insert(ip: Uint8Array, cidr: number, value: T): void {
    const masked = maskPrefix(ip, cidr);
    const row = this.rows.find((r) => r.cidr === cidr && r.ip.length === masked.length && r.ip.every((x, i) => x === masked[i]));
    if (row) row.value = value;
    else this.rows.push({ ip: masked, cidr, value });
  }
  remove(ip: Uint8Array, cidr: number): boolean {
    const masked = maskPrefix(ip, cidr);
    const i = this.rows.findIndex((r) => r.cidr === cidr && r.ip.length === masked.length && r.ip.every((x, j) => x === masked[j]));
    if (i < 0) return false;
    this.rows.splice(i, 1);
    return true;
  }
  removeValue(value: T): void {
    this.rows = this.rows.filter((r) => r.value !== value);
  }
  lookup(addr: Uint8Array): T | undefined {
    let best: { cidr: number; value: T } | undefined;
    for (const r of this.rows) if (NaiveTable.matches(r.ip, r.cidr, addr) && (!best || r.cidr > best.cidr)) best = r;
    return best?.value;
  }
  entries(value: T): string[] {
    return this.rows
      .filter((r) => r.value === value)
      .map((r) => `${formatIp(r.ip)}/${r.cidr}`)
      .sort();
  }
}

/** Copy of ip keeping its first `keep` bits and randomizing the rest. */
function mutate(rand: () => number, ip: Uint8Array, keep: number): Uint8Array {
  const out = new Uint8Array(ip);
  const r = randBytes(rand, ip.length);
  for (let bit = keep; bit < ip.length * 8; bit++) {
    const m = 0x80 >> (bit & 7);
    out[bit >> 3] = (out[bit >> 3]! & ~m) | (r[bit >> 3]! & m);
  }
  return out;
}

function entryStrings<T>(t: AllowedIPs<T>, v: T): string[] {
  return t
    .entries(v)
    .map((e) => `${formatIp(e.ip)}/${e.cidr}`)
    .sort();
}

for (const [mode, opts] of MODES) test(`randomized: insert / lookup / removeValue match the naive table (IPv4 and IPv6) [${mode}]`, () => {
  const rand = rng(0xa11ed);
  const peers = Array.from({ length: 60 }, (_, i) => peer(i));
  const t = new AllowedIPs<Peer>(opts);
  const ref = new NaiveTable<Peer>();
  const inserted: Array<{ ip: Uint8Array; cidr: number }> = [];
  for (const len of [4, 16]) {
    const bits = len * 8;
    for (let i = 0; i < scaled(40); i++) {
      const base = randBytes(rand, len);
      const routes = [{ ip: base, cidr: 1 + randInt(rand, bits) }];
      // Mutated copies share a random-length prefix with the base route, which builds deep tries.
      for (let j = 0; j < 25; j++) routes.push({ ip: mutate(rand, base, randInt(rand, bits)), cidr: 1 + randInt(rand, bits) });
      for (const r of routes) {
        const v = peers[randInt(rand, peers.length)]!;
        t.insert(r.ip, r.cidr, v);
        ref.insert(r.ip, r.cidr, v);
        inserted.push(r);
      }
    }
  }
  assert.equal(t.size, ref.rows.length);

  const query = (round: number): void => {
    for (let q = 0; q < scaled(300); q++) {
      const len = q % 2 === 0 ? 4 : 16;
      let addr: Uint8Array;
      const kind = randInt(rand, 3);
      if (kind === 0) addr = randBytes(rand, len);
      else {
        const r = inserted[randInt(rand, inserted.length)]!;
        // Inside an inserted prefix, or just next to it (a few bits past it flipped).
        addr = kind === 1 ? mutate(rand, r.ip, r.cidr) : mutate(rand, r.ip, Math.max(0, r.cidr - 1 - randInt(rand, 3)));
      }
      assert.equal(t.lookup(addr), ref.lookup(addr), `round ${round}: lookup ${formatIp(addr)}`);
    }
  };
  query(-1);
  for (let i = 0; i < peers.length; i++) {
    const p = peers[i]!;
    assert.deepEqual(entryStrings(t, p), ref.entries(p), `entries of peer ${i}`);
    t.removeValue(p);
    ref.removeValue(p);
    assert.equal(t.size, ref.rows.length);
    // Branch nodes go away with the routes that needed them.
    assert.ok(t.nodeCount <= 2 * t.size, `nodes ${t.nodeCount}, size ${t.size}`);
    if (i % 4 === 0) query(i);
  }
  assert.equal(t.size, 0);
  assert.equal(t.nodeCount, 0);
  for (let q = 0; q < 100; q++) assert.equal(t.lookup(randBytes(rand, q % 2 ? 4 : 16)), undefined);
});

for (const [mode, opts] of MODES) test(`randomized: remove(ip, cidr) and re-inserts match the naive table [${mode}]`, () => {
  const rand = rng(77);
  const peers = Array.from({ length: 8 }, (_, i) => peer(i));
  const t = new AllowedIPs<Peer>(opts);
  const ref = new NaiveTable<Peer>();
  const known: Array<{ ip: Uint8Array; cidr: number }> = [];
  for (let step = 0; step < scaled(6000); step++) {
    const len = rand() < 0.5 ? 4 : 16;
    const bits = len * 8;
    const op = rand();
    if (op < 0.5 || known.length === 0) {
      // Short prefixes and a small address pool keep routes overlapping.
      const near = known.length > 0 && rand() < 0.6 ? known[randInt(rand, known.length)]! : null;
      const ip = near && near.ip.length === len ? mutate(rand, near.ip, randInt(rand, near.cidr + 1)) : randBytes(rand, len);
      const cidr = randInt(rand, Math.min(bits, 24) + 1) + (rand() < 0.2 ? bits - 24 : 0);
      const v = peers[randInt(rand, peers.length)]!;
      t.insert(ip, cidr, v);
      ref.insert(ip, cidr, v);
      known.push({ ip, cidr });
    } else if (op < 0.8) {
      const k = known[randInt(rand, known.length)]!;
      assert.equal(t.remove(k.ip, k.cidr), ref.remove(k.ip, k.cidr), `step ${step}: remove ${formatIp(k.ip)}/${k.cidr}`);
    } else {
      const k = known[randInt(rand, known.length)]!;
      const addr = mutate(rand, k.ip, randInt(rand, k.cidr + 1));
      assert.equal(t.lookup(addr), ref.lookup(addr), `step ${step}: lookup ${formatIp(addr)}`);
    }
    assert.equal(t.size, ref.rows.length, `step ${step}: size`);
    assert.ok(t.nodeCount <= 2 * t.size, `step ${step}: nodes ${t.nodeCount}, size ${t.size}`);
    if (step % 500 === 0) for (const p of peers) assert.deepEqual(entryStrings(t, p), ref.entries(p));
  }
});

for (const [mode, opts] of MODES) test(`randomized: churn inside one /12 (prefixes around /16) [${mode}]`, () => {
  // Dense routes across few /16 buckets, inserted and removed in random
  // order with lookups in between: node slots get freed and reused often.
  const rand = rng(1612);
  const peers = Array.from({ length: 5 }, (_, i) => peer(i));
  const t = new AllowedIPs<Peer>(opts);
  const ref = new NaiveTable<Peer>();
  const pick = (): Uint8Array => Uint8Array.of(10, randInt(rand, 16), randInt(rand, 256), randInt(rand, 256));
  const known: Array<{ ip: Uint8Array; cidr: number }> = [];
  for (let step = 0; step < scaled(8000); step++) {
    const op = rand();
    if (op < 0.35 || known.length === 0) {
      const ip = pick();
      const cidr = 8 + randInt(rand, 21);
      const v = peers[randInt(rand, peers.length)]!;
      t.insert(ip, cidr, v);
      ref.insert(ip, cidr, v);
      known.push({ ip, cidr });
    } else if (op < 0.6) {
      const k = known[randInt(rand, known.length)]!;
      assert.equal(t.remove(k.ip, k.cidr), ref.remove(k.ip, k.cidr), `step ${step}: remove`);
    } else if (op < 0.62) {
      const v = peers[randInt(rand, peers.length)]!;
      t.removeValue(v);
      ref.removeValue(v);
    } else {
      // Often the first or last address of a known prefix, or just outside it.
      const k = known[randInt(rand, known.length)]!;
      const m = maskPrefix(k.ip, k.cidr);
      let addr: Uint8Array;
      const edge = randInt(rand, 4);
      if (edge === 0) addr = m;
      else if (edge === 1) addr = mutate(rand, m, k.cidr).map((x, i) => (i * 8 >= k.cidr ? 0xff : x | (0xff >> Math.max(0, k.cidr - i * 8))));
      else if (edge === 2) addr = pick();
      else addr = mutate(rand, k.ip, k.cidr);
      assert.equal(t.lookup(addr), ref.lookup(addr), `step ${step}: lookup ${formatIp(addr)}`);
    }
    assert.equal(t.size, ref.rows.length);
  }
});

test('randomized: coverage agrees with node:net BlockList', () => {
  const rand = rng(5150);
  for (let round = 0; round < scaled(20); round++) {
    const t = new AllowedIPs<number>();
    const bl4 = new net.BlockList();
    const bl6 = new net.BlockList();
    const prefixes: Uint8Array[] = [];
    for (let i = 0; i < 30; i++) {
      const len = i % 2 ? 4 : 16;
      const ip = randBytes(rand, len);
      const cidr = len === 4 ? 4 + randInt(rand, 29) : 8 + randInt(rand, 121);
      t.insert(ip, cidr, i);
      if (len === 4) bl4.addSubnet(formatIp(maskPrefix(ip, cidr)), cidr, 'ipv4');
      else bl6.addSubnet(formatIp(maskPrefix(ip, cidr)), cidr, 'ipv6');
      prefixes.push(ip);
    }
    for (let q = 0; q < 300; q++) {
      const base = prefixes[randInt(rand, prefixes.length)]!;
      const addr = rand() < 0.3 ? randBytes(rand, base.length) : mutate(rand, base, randInt(rand, base.length * 8));
      const covered = addr.length === 4 ? bl4.check(formatIp(addr), 'ipv4') : bl6.check(formatIp(addr), 'ipv6');
      assert.equal(t.lookup(addr) !== undefined, covered, `round ${round}: ${formatIp(addr)}`);
    }
  }
});

// ---- ip.ts: text forms against node:net ----

/** Full, uncompressed IPv6 text of 16 bytes (8 groups of 4 hex digits). */
function fullV6(b: Uint8Array): string {
  const g: string[] = [];
  for (let i = 0; i < 16; i += 2) g.push(((b[i]! << 8) | b[i + 1]!).toString(16).padStart(4, '0'));
  return g.join(':');
}

function nodeCanonical(s: string): string {
  return new net.SocketAddress({ address: s, family: net.isIP(s) === 6 ? 'ipv6' : 'ipv4' }).address;
}

/** Random IPv6 bytes with runs of zero groups and the special prefixes that change formatting. */
function interestingV6(rand: () => number): Uint8Array {
  const b = randBytes(rand, 16);
  const kind = randInt(rand, 6);
  if (kind === 0) b.fill(0, 0, 10), b.set([0xff, 0xff], 10); // IPv4-mapped
  else if (kind === 1) b.fill(0, 0, 12); // IPv4-compatible (or ::x)
  else if (kind === 2) b.fill(0, 0, 12 + randInt(rand, 5));
  // Zero a few random groups so runs of different lengths appear.
  for (let i = 0; i < 8; i++) if (rand() < 0.35) b[2 * i] = b[2 * i + 1] = 0;
  if (kind === 3 && rand() < 0.2) b.fill(0);
  return b;
}

/** Valid text variants of an IPv6 address: compression anywhere, case, leading zeros, dotted tail. */
function v6Variants(rand: () => number, b: Uint8Array): string[] {
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((b[i]! << 8) | b[i + 1]!);
  const hex = (w: number): string => {
    let s = w.toString(16);
    if (rand() < 0.3) s = s.padStart(1 + randInt(rand, 4), '0');
    return rand() < 0.3 ? s.toUpperCase() : s;
  };
  const out = [fullV6(b), fullV6(b).toUpperCase()];
  for (let k = 0; k < 4; k++) {
    const dotted = rand() < 0.3;
    const groups = words.map(hex);
    const tail = dotted ? [`${b[12]}.${b[13]}.${b[14]}.${b[15]}`] : groups.slice(6);
    const head = groups.slice(0, 6).concat(tail);
    const n = dotted ? 7 : 8; // text groups (the dotted quad counts as one)
    const zeroRuns: Array<[number, number]> = [];
    for (let i = 0; i < 6 + (dotted ? 0 : 2); i++) {
      if (words[i] !== 0) continue;
      let j = i;
      while (j < (dotted ? 6 : 8) && words[j] === 0) j++;
      for (let e = i + 1; e <= j; e++) zeroRuns.push([i, e]);
    }
    if (zeroRuns.length === 0 || rand() < 0.2) {
      out.push(head.join(':'));
      continue;
    }
    const [s, e] = zeroRuns[randInt(rand, zeroRuns.length)]!;
    out.push(head.slice(0, s).join(':') + '::' + head.slice(e, n).join(':'));
  }
  return out;
}

const ALPHABET = '0123456789abcdefABCDEFgx:.:.%/ -';
function corrupt(rand: () => number, s: string): string {
  const i = randInt(rand, s.length + 1);
  const ch = ALPHABET[randInt(rand, ALPHABET.length)]!;
  switch (randInt(rand, 3)) {
    case 0:
      return s.slice(0, i) + ch + s.slice(i);
    case 1:
      return s.slice(0, i) + s.slice(i + 1);
    default:
      return s.slice(0, i) + ch + s.slice(i + 1);
  }
}

/** parseIp must accept exactly what net.isIP accepts (minus zone ids) and read the same address. */
function checkAgainstNode(s: string): boolean {
  const parsed = parseIp(s);
  const family = s.includes('%') ? 0 : net.isIP(s);
  assert.equal(parsed === null ? 0 : parsed.length === 4 ? 4 : 6, family, `parseIp(${JSON.stringify(s)})`);
  if (parsed !== null) assert.equal(formatIp(parsed), nodeCanonical(s), `formatIp(parseIp(${JSON.stringify(s)}))`);
  return parsed !== null;
}

test('parseIp/formatIp: hand-picked inputs against node:net', () => {
  const inputs = [
    '0.0.0.0', '255.255.255.255', '1.2.3.4', '01.2.3.4', '1.2.3.04', '1.2.3.256', '1.2.3', '1.2.3.4.5', '1..3.4',
    '.1.2.3', '1.2.3.', ' 1.2.3.4', '1.2.3.4 ', '1.2.3.4/8', '1.2.3.-4', '0x1.2.3.4', '1.2.3.1234', '',
    '::', '::1', '1::', ':::', '::::', '1:::2', ':1::2', '1::2:', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7', '1:2:3:4:5:6:7::', '::1:2:3:4:5:6:7', '1::2::3', '12345::', 'g::', 'FFFF::', 'ffff::fFfF',
    '::ffff:1.2.3.4', '::1.2.3.4', '::0.0.0.1', '::0.1.0.0', '::ffff:0:0', '::ffff:0.0.0.0', '1:2:3:4:5:6:1.2.3.4',
    '1:2:3:4:5:6:7:1.2.3.4', '1.2.3.4::', '::1.2.3.4:1', '::1.2.3', '::01.2.3.4', '::256.0.0.0', '64:ff9b::1.2.3.4',
    '0:0:0:0:0:0:0:0', '0000:0000:0000:0000:0000:0000:0000:0001', '1:0:0:1:0:0:0:1', '1:0:0:2:0:0:1:1',
    '2001:db8::1', '2001:DB8:0:0:8:800:200C:417A', 'fe80::1%eth0', '::1%1', '[::1]', ':', '1', '1:2',
    '1:0:0:0:0:0:0:0', '0:0:0:0:0:1:0:0', '0:0:1:0:0:0:1:0', '::ffff:ffff:1.2.3.4', '::ffff:1:2',
    '0000:0000:0000:0000:0000:0000:255.255.255.255', '00000::', '::00000',
  ];
  let valid = 0;
  for (const s of inputs) if (checkAgainstNode(s)) valid++;
  assert.ok(valid > 20 && valid < inputs.length, `mix of valid and invalid inputs (${valid})`);
});

test('parseIp/formatIp: random addresses, text variants and corruptions against node:net', () => {
  const rand = rng(2024);
  let valid = 0;
  let invalid = 0;
  for (let i = 0; i < 3000; i++) {
    const b6 = interestingV6(rand);
    // Formatting bytes directly must match Node's canonical form of the full text.
    assert.equal(formatIp(b6), nodeCanonical(fullV6(b6)), `formatIp ${fullV6(b6)}`);
    assert.deepEqual(parseIp(formatIp(b6)), b6);
    const b4 = randBytes(rand, 4);
    const s4 = `${b4[0]}.${b4[1]}.${b4[2]}.${b4[3]}`;
    assert.equal(formatIp(b4), s4);
    assert.deepEqual(parseIp(s4), b4);
    for (const s of [...v6Variants(rand, b6), s4]) {
      assert.deepEqual(parseIp(s), s.includes(':') ? b6 : b4, `parseIp(${s})`);
      checkAgainstNode(s);
      let c = s;
      for (let k = 0; k < 1 + randInt(rand, 3); k++) c = corrupt(rand, c);
      if (checkAgainstNode(c)) valid++;
      else invalid++;
    }
  }
  // The corruption mix must exercise both outcomes a lot.
  assert.ok(valid > 1000 && invalid > 1000, `valid ${valid}, invalid ${invalid}`);
});

test('parseCidr and maskPrefix', () => {
  assert.deepEqual(parseCidr('10.1.2.3/8'), { ip: ip4(10, 1, 2, 3), cidr: 8 });
  assert.deepEqual(parseCidr('10.1.2.3'), { ip: ip4(10, 1, 2, 3), cidr: 32 });
  assert.deepEqual(parseCidr('0.0.0.0/0'), { ip: ip4(0, 0, 0, 0), cidr: 0 });
  assert.deepEqual(parseCidr('::/0'), { ip: new Uint8Array(16), cidr: 0 });
  assert.deepEqual(parseCidr('2001:db8::1/128'), { ip: ip6(0x20010db8, 0, 0, 1), cidr: 128 });
  assert.deepEqual(parseCidr('2001:db8::1'), { ip: ip6(0x20010db8, 0, 0, 1), cidr: 128 });
  for (const bad of ['1.2.3.4/33', '::/129', '1.2.3.4/', '/8', '1.2.3.4/-1', '1.2.3.4/+8', '1.2.3.4/ 8', '1.2.3.4/8/8', '1.2.3.4/0x8', '1.2.3.4/1000', 'fe80::1%eth0/64', 'x/8'])
    assert.equal(parseCidr(bad), null, bad);
  // maskPrefix agrees with BlockList on whether an address is inside its own masked prefix's neighbours.
  const rand = rng(99);
  for (let i = 0; i < 500; i++) {
    const len = i % 2 ? 4 : 16;
    const ip = randBytes(rand, len);
    const cidr = randInt(rand, len * 8 + 1);
    const masked = maskPrefix(ip, cidr);
    const bl = new net.BlockList();
    const fam = len === 4 ? 'ipv4' : 'ipv6';
    bl.addSubnet(formatIp(masked), cidr, fam);
    const other = randBytes(rand, len);
    assert.equal(bl.check(formatIp(ip), fam), true);
    assert.equal(bl.check(formatIp(other), fam), maskPrefix(other, cidr).every((x, j) => x === masked[j]));
    // Host bits are zero: masking again changes nothing, and the prefix bits are untouched.
    assert.deepEqual(maskPrefix(masked, cidr), masked);
    assert.deepEqual(maskPrefix(ip, len * 8), ip);
  }
});

// ---- ip.ts: packet source / destination ----

function v4Packet(ihlWords: number, total: number): Uint8Array {
  const p = new Uint8Array(Math.max(total, 20));
  p[0] = 0x40 | ihlWords;
  p.set([192, 0, 2, 1], 12);
  p.set([198, 51, 100, 7], 16);
  return p.subarray(0, total);
}

test('packetSource / packetDestination', () => {
  const p4 = v4Packet(5, 28);
  assert.deepEqual(packetSource(p4), ip4(192, 0, 2, 1));
  assert.deepEqual(packetDestination(p4), ip4(198, 51, 100, 7));
  // Views, not copies.
  assert.equal(packetSource(p4)!.buffer, p4.buffer);
  assert.deepEqual(packetDestination(v4Packet(15, 60)), ip4(198, 51, 100, 7)); // with 40 bytes of options
  assert.deepEqual(packetDestination(v4Packet(5, 20)), ip4(198, 51, 100, 7)); // header only
  assert.equal(packetDestination(v4Packet(5, 19)), null); // too short
  assert.equal(packetDestination(v4Packet(4, 40)), null); // IHL below 5
  assert.equal(packetDestination(v4Packet(6, 23)), null); // IHL past the end
  assert.equal(packetSource(v4Packet(15, 59)), null);

  const p6 = new Uint8Array(40);
  p6[0] = 0x60;
  p6.set(ip6(0x20010db8, 0, 0, 1), 8);
  p6.set(ip6(0x20010db8, 0, 0, 2), 24);
  assert.deepEqual(packetSource(p6), ip6(0x20010db8, 0, 0, 1));
  assert.deepEqual(packetDestination(p6), ip6(0x20010db8, 0, 0, 2));
  assert.equal(packetDestination(p6.subarray(0, 39)), null);

  for (const v of [0, 1, 5, 7, 15]) {
    const p = new Uint8Array(64);
    p[0] = (v << 4) | 5;
    assert.equal(packetSource(p), null, `version ${v}`);
    assert.equal(packetDestination(p), null, `version ${v}`);
  }
  assert.equal(packetSource(new Uint8Array(0)), null);
  assert.equal(packetDestination(new Uint8Array(0)), null);
});

test('lookup by packet destination routes like lookup by address', () => {
  const a = peer(1);
  const t = new AllowedIPs<Peer>();
  t.insert(ip4(198, 51, 100, 0), 24, a);
  const dst = packetDestination(v4Packet(5, 20));
  assert.ok(dst !== null);
  assert.equal(t.lookup(dst), a);
  assert.equal(t.lookup(packetSource(v4Packet(5, 20))!), undefined);
});

for (const [mode, opts] of MODES) test(`node slots freed by removals are reused: storage stays bounded under churn [${mode}]`, () => {
  // The tries are private; their Int32Array storage is read here only to see that it does not grow.
  const storage = (t: AllowedIPs<Peer>): number => {
    const x = t as unknown as { v4: { data: Int32Array }; v6: { data: Int32Array } };
    return x.v4.data.length + x.v6.data.length;
  };
  const a = peer(1);
  const t = new AllowedIPs<Peer>(opts);
  const fill = (round: number): void => {
    for (let i = 0; i < 40; i++) {
      t.insert(ip4(10, round & 255, i, 0), 24, a);
      t.insert(ip6(0x20010db8, round, i, 0), 96, a);
    }
  };
  fill(0);
  const after = storage(t);
  for (let round = 1; round < 50; round++) {
    t.removeValue(a);
    assert.equal(t.nodeCount, 0);
    fill(round);
  }
  assert.equal(storage(t), after, 'the same storage after 49 more rounds of 80 prefixes');
});
