/**
 * Loads a JSON known-answer file from test/vectors/, or another folder of the
 * repository given as path parts (works from src or dist), and hex helpers.
 */
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function vectorsDir(parts: readonly string[]): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, ...parts);
    if (existsSync(join(dir, 'package.json')) && existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new Error(`${parts.join('/')} not found above ` + fileURLToPath(import.meta.url));
}

export function loadVectors<T>(name: string, parts: readonly string[] = ['test', 'vectors']): T & { source: string } {
  const v = JSON.parse(readFileSync(join(vectorsDir(parts), name), 'utf8')) as T & { source: string };
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

/** 0, 1, 2, ... (mod 256) starting at `start`: the KAT input pattern. */
export function seq(n: number, start = 0): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (start + i) & 0xff;
  return out;
}
