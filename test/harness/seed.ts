/**
 * Seeded random inputs for tests, replayable: every run draws a fresh seed
 * unless WGTS_SEED is set, and a failure names the seed it ran with.
 *
 *   WGTS_SEED or a fresh seed ──> withSeed(fn(rand, seed)) ──> pass | error + "replay with WGTS_SEED=…"
 *   WGTS_RANDOMIZED_SCALE ──> scaled(n): how many random cases a randomized comparison runs
 */
import { randomInt } from 'node:crypto';
import { prng } from '../netstack/helpers.js';

export interface SeededRandom {
  /** A float in [0, 1). */
  (): number;
  /** An integer in [0, n). */
  int(n: number): number;
  /** n random bytes. */
  bytes(n: number): Uint8Array;
}

/** WGTS_SEED (decimal, to replay a failure) or a fresh random seed. */
export function testSeed(): number {
  const env = process.env.WGTS_SEED;
  if (env === undefined || env === '') return randomInt(2 ** 32);
  const n = Number(env);
  if (!Number.isInteger(n) || n < 0 || n >= 2 ** 32) throw new Error(`WGTS_SEED must be an integer in [0, 2^32), not ${env}`);
  return n;
}

/**
 * n scaled by WGTS_RANDOMIZED_SCALE (default 1, at least 1 case): the number
 * of random steps a randomized comparison runs. `npm run mutate` lowers it
 * (scripts/mutate.mjs), where every mutant reruns the comparison in
 * instrumented code many times slower; the exact tests run in full either way.
 */
export function scaled(n: number): number {
  const env = process.env.WGTS_RANDOMIZED_SCALE;
  if (env === undefined || env === '') return n;
  const f = Number(env);
  if (!(f > 0 && f <= 1)) throw new Error(`WGTS_RANDOMIZED_SCALE must be in (0, 1], not ${env}`);
  return Math.max(1, Math.round(n * f));
}

export function seededRandom(seed: number): SeededRandom {
  const next = prng(seed);
  const r = (() => next()) as SeededRandom;
  r.int = (n) => Math.floor(next() * n);
  r.bytes = (n) => {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = Math.floor(next() * 256);
    return b;
  };
  return r;
}

/** Runs `fn` with a seeded source; if it throws, the error says which seed to replay. */
export async function withSeed<T>(fn: (rand: SeededRandom, seed: number) => T | Promise<T>): Promise<T> {
  const seed = testSeed();
  try {
    return await fn(seededRandom(seed), seed);
  } catch (err) {
    const note = `random inputs from seed ${seed}; replay with WGTS_SEED=${seed}`;
    if (err instanceof Error) {
      // Reporters print the stack, captured with the old message: note it in both.
      err.message = `${err.message}\n(${note})`;
      if (err.stack) err.stack = `${err.stack}\n(${note})`;
      throw err;
    }
    throw new Error(`${String(err)} (${note})`);
  }
}
