/** Shared test helpers: vector loading, hex, a seeded random source. */
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function vectorsDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'test', 'netstack', 'vectors');
    if (existsSync(join(dir, 'package.json')) && existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new Error('test/netstack/vectors not found');
}

export function loadVectors<T>(name: string): T & { source: string } {
  const v = JSON.parse(readFileSync(join(vectorsDir(), name), 'utf8')) as T & { source: string };
  if (typeof v.source !== 'string' || v.source.length === 0) throw new Error(`${name}: missing source`);
  return v;
}

export function hex(s: string): Uint8Array {
  if (!/^(?:[0-9a-f]{2})*$/.test(s)) throw new Error('bad hex: ' + s.slice(0, 16));
  return new Uint8Array(Buffer.from(s, 'hex'));
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** Deterministic PRNG (mulberry32) returning floats in [0, 1). */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** A seeded `random(n)` for StackOptions. */
export function seededRandom(seed: number): (n: number) => Uint8Array {
  const r = prng(seed);
  return (n) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = Math.floor(r() * 256);
    return out;
  };
}

export interface PingCapture {
  ipv4: string[];
  ipv6: string[];
  ipv4Fragmented: string[];
  ipv6Fragmented: string[];
}
