/**
 * Cryptokey routing lookups per second. Tables hold random prefixes (IPv4
 * /8../32, IPv6 /16../128) spread over 1000 values; the probes cycle through
 * 4096 addresses, half inside an inserted prefix and half random.
 * References, measured in the same run:
 *  - at 1k prefixes: a naive linear table (scan every prefix, longest match wins);
 *  - at 100k prefixes: a Map exact-match of host routes (/32 keyed by the
 *    address as a number; /128 keyed by a 16-char string), i.e. the cost of
 *    one hash lookup with no prefix matching at all.
 */
import { measure, type Row } from './harness.js';
import { AllowedIPs } from '../src/transport/allowedips.js';

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

interface Prefix {
  ip: Uint8Array;
  cidr: number;
}

function randomPrefixes(rand: () => number, n: number, len: number): Prefix[] {
  const min = len === 4 ? 8 : 16;
  const out: Prefix[] = [];
  for (let i = 0; i < n; i++) {
    const ip = new Uint8Array(len);
    for (let j = 0; j < len; j++) ip[j] = Math.floor(rand() * 256);
    out.push({ ip, cidr: min + Math.floor(rand() * (len * 8 - min + 1)) });
  }
  return out;
}

function probes(rand: () => number, prefixes: Prefix[], len: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < 4096; i++) {
    const a = new Uint8Array(len);
    for (let j = 0; j < len; j++) a[j] = Math.floor(rand() * 256);
    if (i % 2 === 0) {
      // Inside a random inserted prefix: copy its prefix bits.
      const p = prefixes[Math.floor(rand() * prefixes.length)]!;
      for (let bit = 0; bit < p.cidr; bit++) {
        const m = 0x80 >> (bit & 7);
        a[bit >> 3] = (a[bit >> 3]! & ~m) | (p.ip[bit >> 3]! & m);
      }
    }
    out.push(a);
  }
  return out;
}

/** Naive reference: every prefix as int32 words + masks, scanned in full (a later duplicate wins). */
class LinearTable<T> {
  private rows: Array<{ w: Int32Array; m: Int32Array; cidr: number; value: T }> = [];
  private words(b: Uint8Array): Int32Array {
    const w = new Int32Array(4);
    for (let i = 0; i < b.length; i++) w[i >> 2]! |= b[i]! << (24 - 8 * (i & 3));
    return w;
  }
  insert(ip: Uint8Array, cidr: number, value: T): void {
    const m = new Int32Array(4);
    for (let i = 0; i < 4; i++) {
      const k = cidr - 32 * i;
      m[i] = k >= 32 ? -1 : k <= 0 ? 0 : -1 << (32 - k);
    }
    const w = this.words(ip).map((x, i) => x & m[i]!);
    this.rows.push({ w, m, cidr, value });
  }
  lookup(addr: Uint8Array): T | undefined {
    const a = this.words(addr);
    let best = -1;
    let found: T | undefined;
    for (const r of this.rows) {
      if (r.cidr >= best && ((a[0]! & r.m[0]!) ^ r.w[0]!) === 0 && ((a[1]! & r.m[1]!) ^ r.w[1]!) === 0 && ((a[2]! & r.m[2]!) ^ r.w[2]!) === 0 && ((a[3]! & r.m[3]!) ^ r.w[3]!) === 0) {
        best = r.cidr;
        found = r.value;
      }
    }
    return found;
  }
}

function key6(a: Uint8Array): string {
  return String.fromCharCode(a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!, a[6]!, a[7]!, a[8]!, a[9]!, a[10]!, a[11]!, a[12]!, a[13]!, a[14]!, a[15]!);
}

let sink = 0;

function lookupRate(table: { lookup(a: Uint8Array): number | undefined }, addrs: Uint8Array[], ms: number): number {
  let i = 0;
  return measure(() => {
    const v = table.lookup(addrs[i++ & 4095]!);
    if (v !== undefined) sink += v;
  }, ms);
}

export async function run(): Promise<Row[]> {
  const rows: Row[] = [];
  const values = 1000;
  for (const len of [4, 16]) {
    const fam = len === 4 ? 'IPv4' : 'IPv6';
    for (const n of [1000, 100_000]) {
      const rand = rng(n * len);
      const prefixes = randomPrefixes(rand, n, len);
      const table = new AllowedIPs<number>();
      prefixes.forEach((p, i) => table.insert(p.ip, p.cidr, i % values));
      const addrs = probes(rand, prefixes, len);
      const rate = lookupRate(table, addrs, 1000);
      let reference: { name: string; opsPerSec: number };
      if (n === 1000) {
        const lin = new LinearTable<number>();
        prefixes.forEach((p, i) => lin.insert(p.ip, p.cidr, i % values));
        // The linear scan must agree with the trie on the probes it is timed on.
        for (const a of addrs.slice(0, 256)) if (lin.lookup(a) !== table.lookup(a)) throw new Error('linear table disagrees');
        reference = { name: `naive linear scan, ${n} prefixes`, opsPerSec: lookupRate(lin, addrs, 1000) };
      } else if (len === 4) {
        const map = new Map<number, number>();
        prefixes.forEach((p, i) => map.set(((p.ip[0]! << 24) | (p.ip[1]! << 16) | (p.ip[2]! << 8) | p.ip[3]!) >>> 0, i % values));
        // Probes at their full address so about half of them hit.
        addrs.forEach((a, i) => i % 2 === 0 && map.set(((a[0]! << 24) | (a[1]! << 16) | (a[2]! << 8) | a[3]!) >>> 0, i % values));
        const exact = { lookup: (a: Uint8Array) => map.get(((a[0]! << 24) | (a[1]! << 16) | (a[2]! << 8) | a[3]!) >>> 0) };
        reference = { name: `Map.get exact /32, number key (ceiling, no prefix match)`, opsPerSec: lookupRate(exact, addrs, 1000) };
      } else {
        const map = new Map<string, number>();
        prefixes.forEach((p, i) => map.set(key6(p.ip), i % values));
        addrs.forEach((a, i) => i % 2 === 0 && map.set(key6(a), i % values));
        const exact = { lookup: (a: Uint8Array) => map.get(key6(a)) };
        reference = { name: `Map.get exact /128, 16-char string key (no prefix match)`, opsPerSec: lookupRate(exact, addrs, 1000) };
      }
      rows.push({ group: 'allowedips', name: `${fam} lookup, ${n / 1000}k prefixes`, opsPerSec: rate, reference, unit: 'lookups/s' });
    }
  }
  if (sink === -1) console.log(sink);
  return rows;
}
