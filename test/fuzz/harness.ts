/**
 * A small mutation fuzzer: seeded PRNG -> byte mutations of seed inputs ->
 * a target's `check` (throws on a broken property).
 *
 *   corpus/<target>/*.hex|*.bin  --replayed first, every run-->  check
 *   seeds + corpus + kept inputs --mutate (seeded)------------->  check
 *   check returns an outcome label; an input with a label not seen before is
 *   kept in the pool (cheap feedback), and with WGTS_FUZZ_SAVE=1 written to the
 *   corpus. A failing input is always written to the corpus as crash-*.bin and
 *   the error names the seed and iteration to replay it.
 *
 * Env: WGTS_FUZZ_ITERATIONS (per target, overrides the CI default),
 * WGTS_FUZZ_SEED (replay one run), WGTS_FUZZ_SAVE=1 (keep new outcomes).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** test/fuzz/corpus/ in the source tree (this file runs from dist/test/fuzz/). */
export const CORPUS_ROOT = fileURLToPath(new URL('../../../test/fuzz/corpus/', import.meta.url));

// ------------------------------------------------------------------- PRNG

/** sfc32: small, fast, good enough for fuzzing; fully determined by the seed. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  constructor(seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162;
    this.d = seed >>> 0;
    for (let i = 0; i < 15; i++) this.u32();
  }

  u32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return n <= 0 ? 0 : Math.floor((this.u32() / 0x1_0000_0000) * n);
  }

  chance(p: number): boolean {
    return this.u32() / 0x1_0000_0000 < p;
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }

  bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = this.u32() & 0xff;
    return b;
  }
}

// ------------------------------------------------------------ settings

/** Iterations for one target: WGTS_FUZZ_ITERATIONS when set, else the CI default. */
export function iterations(ciDefault: number): number {
  const v = Number(process.env['WGTS_FUZZ_ITERATIONS']);
  return Number.isInteger(v) && v > 0 ? v : ciDefault;
}

/** The run's seed: WGTS_FUZZ_SEED to replay, else fresh each run (always printed). */
export function runSeed(): number {
  const v = process.env['WGTS_FUZZ_SEED'];
  if (v !== undefined && v !== '') return Number(v) >>> 0;
  return (Date.now() ^ (process.pid << 16)) >>> 0;
}

// -------------------------------------------------------------- corpus

function targetDir(target: string): string {
  return CORPUS_ROOT + target + '/';
}

/** `.hex` files: hex digits, whitespace and `#` comment lines ignored. `.bin`: raw bytes. */
export function loadCorpus(target: string): { name: string; data: Uint8Array }[] {
  const dir = targetDir(target);
  if (!existsSync(dir)) return [];
  const out: { name: string; data: Uint8Array }[] = [];
  for (const name of readdirSync(dir).sort()) {
    const raw = readFileSync(dir + name);
    if (name.endsWith('.bin')) out.push({ name, data: new Uint8Array(raw) });
    else if (name.endsWith('.hex')) {
      const hex = raw.toString('utf8').split('\n').filter((l) => !l.trimStart().startsWith('#')).join('').replace(/\s+/g, '');
      if (!/^([0-9a-fA-F]{2})*$/.test(hex)) throw new Error(`corpus ${target}/${name}: not hex`);
      out.push({ name, data: new Uint8Array(Buffer.from(hex, 'hex')) });
    }
  }
  return out;
}

/** Write an input to the target's corpus as PREFIX-<sha256/12>.bin; returns the path. */
export function saveToCorpus(target: string, prefix: string, data: Uint8Array): string {
  const dir = targetDir(target);
  mkdirSync(dir, { recursive: true });
  const id = createHash('sha256').update(data).digest('hex').slice(0, 12);
  const path = `${dir}${prefix}-${id}.bin`;
  if (!existsSync(path)) writeFileSync(path, data);
  return path;
}

// ------------------------------------------------------------ mutation

const INTERESTING_BYTES = [0, 1, 2, 3, 4, 0x0f, 0x10, 0x40, 0x45, 0x60, 0x7f, 0x80, 0xfe, 0xff];
const INTERESTING_U32 = [0, 1, 0x7fffffff, 0x80000000, 0xffffffff];

export interface MutateContext {
  /** Other inputs to splice with or replay whole. */
  pool: readonly Uint8Array[];
  /** Values worth writing into u32 fields (e.g. live session indices). */
  u32s?: readonly number[];
  /** Byte offsets of u32 fields worth overwriting (index fields). */
  u32Offsets?: readonly number[];
  /** Largest size a mutation may grow an input to. Default 4096. */
  maxLen?: number;
  /** Tokens of a text format to insert or overwrite with (an AFL-style dictionary). */
  dictionary?: readonly Uint8Array[];
}

function writeU32(b: Uint8Array, off: number, v: number): void {
  if (off + 4 > b.length) return;
  b[off] = v & 0xff;
  b[off + 1] = (v >>> 8) & 0xff;
  b[off + 2] = (v >>> 16) & 0xff;
  b[off + 3] = (v >>> 24) & 0xff;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** One mutation step; the input is never modified. */
export function mutateOnce(input: Uint8Array, r: Rng, ctx: MutateContext): Uint8Array {
  const b = Uint8Array.from(input);
  const n = b.length;
  const dict = ctx.dictionary ?? [];
  switch (r.int(dict.length ? 16 : 14)) {
    case 0: // bit flip
      if (n) b[r.int(n)]! ^= 1 << r.int(8);
      return b;
    case 1: // random byte
      if (n) b[r.int(n)] = r.int(256);
      return b;
    case 2: // interesting byte (type values, IP versions, extremes)
      if (n) b[r.int(n)] = r.pick(INTERESTING_BYTES);
      return b;
    case 3: // truncate by one (the classic off-by-one) or to a random length
      return b.subarray(0, r.chance(0.5) ? Math.max(0, n - 1) : r.int(n + 1));
    case 4: // extend by one byte
      return concat(b, Uint8Array.of(r.int(256)));
    case 5: // append random bytes
      return concat(b, r.bytes(1 + r.int(64)));
    case 6: { // delete a span
      const at = r.int(n + 1);
      return concat(b.subarray(0, at), b.subarray(Math.min(n, at + 1 + r.int(16))));
    }
    case 7: { // insert random bytes
      const at = r.int(n + 1);
      return concat(b.subarray(0, at), r.bytes(1 + r.int(16)), b.subarray(at));
    }
    case 8: { // duplicate a span
      const at = r.int(n + 1);
      const len = r.int(Math.min(32, n - at) + 1);
      return concat(b.subarray(0, at + len), b.subarray(at, at + len), b.subarray(at + len));
    }
    case 9: { // overwrite a u32 field (index swap)
      const offs = ctx.u32Offsets ?? [4, 8];
      const vals = ctx.u32s && ctx.u32s.length && r.chance(0.7) ? ctx.u32s : INTERESTING_U32;
      writeU32(b, r.pick(offs), r.chance(0.1) ? r.u32() : r.pick(vals));
      return b;
    }
    case 10: { // splice: our head, another input's tail
      if (!ctx.pool.length) return b;
      const o = r.pick(ctx.pool);
      return concat(b.subarray(0, r.int(n + 1)), o.subarray(r.int(o.length + 1)));
    }
    case 11: // replay another input whole
      return ctx.pool.length ? Uint8Array.from(r.pick(ctx.pool)) : b;
    case 12: // the 4-byte header: a type and (rarely) nonzero reserved bytes
      if (n) b[0] = 1 + r.int(4);
      if (n > 1 && r.chance(0.2)) b[1 + r.int(Math.min(3, n - 1))] = 1 + r.int(255);
      return b;
    case 13: { // overwrite a span with random bytes
      const at = r.int(n + 1);
      b.set(r.bytes(Math.min(n - at, 1 + r.int(32))), at);
      return b;
    }
    case 14: { // insert a dictionary token
      const at = r.int(n + 1);
      return concat(b.subarray(0, at), r.pick(dict), b.subarray(at));
    }
    default: { // overwrite with a dictionary token
      const tok = r.pick(dict);
      const at = r.int(n + 1);
      return concat(b.subarray(0, at), tok, b.subarray(Math.min(n, at + tok.length)));
    }
  }
}

/** 1-4 mutation steps (mostly one), capped at maxLen. */
export function mutate(input: Uint8Array, r: Rng, ctx: MutateContext): Uint8Array {
  let b = input;
  const steps = r.chance(0.6) ? 1 : 2 + r.int(3);
  for (let i = 0; i < steps; i++) b = mutateOnce(b, r, ctx);
  const max = ctx.maxLen ?? 4096;
  return b.length > max ? b.subarray(0, max) : b;
}

// --------------------------------------------------------------- runner

export interface FuzzTarget {
  /** Corpus directory name under test/fuzz/corpus/. */
  name: string;
  /** Starting inputs (besides the corpus). */
  seeds: Uint8Array[];
  /** Default iterations in CI. */
  iterations: number;
  /** Values and offsets for index swaps (see MutateContext). */
  u32s?: () => readonly number[];
  u32Offsets?: readonly number[];
  maxLen?: number;
  dictionary?: readonly (string | Uint8Array)[];
  /**
   * Run one input; throw (e.g. an assertion) when a property breaks. The
   * returned label names the outcome (e.g. a drop reason) for feedback.
   */
  check: (input: Uint8Array, r: Rng) => string | void;
  /** Called every `resetEvery` iterations to rebuild state (e.g. fresh devices). */
  reset?: (r: Rng) => void;
  resetEvery?: number;
}

export interface FuzzReport {
  seed: number;
  iterations: number;
  corpusReplayed: number;
  outcomes: Map<string, number>;
  ms: number;
}

export class FuzzFailure extends Error {
  constructor(message: string, readonly input: Uint8Array, readonly savedTo: string) {
    super(message);
    this.name = 'FuzzFailure';
  }
}

function fail(t: FuzzTarget, what: string, input: Uint8Array, e: unknown, fromCorpus = false): never {
  const savedTo = fromCorpus ? `${targetDir(t.name)} (already there)` : saveToCorpus(t.name, 'crash', input);
  const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  throw new FuzzFailure(`fuzz ${t.name}: ${what} broke a property (input saved to ${savedTo}, ${input.length} bytes: ${Buffer.from(input.subarray(0, 64)).toString('hex')}${input.length > 64 ? '…' : ''})\n${msg}`, input, savedTo);
}

/** Replay the corpus, then mutate for `iterations` steps. Throws FuzzFailure on the first broken property. */
export function runFuzz(t: FuzzTarget, seed = runSeed()): FuzzReport {
  const start = performance.now();
  const r = new Rng(seed);
  const outcomes = new Map<string, number>();
  const corpus = loadCorpus(t.name);
  const record = (label: string | void): boolean => {
    const k = label ?? 'ok';
    const seen = outcomes.has(k);
    outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
    return !seen;
  };
  t.reset?.(r);
  for (const c of corpus) {
    try {
      record(t.check(c.data, r));
    } catch (e) {
      fail(t, `corpus file ${c.name} (seed ${seed})`, c.data, e, true);
    }
    t.reset?.(r);
  }
  const pool: Uint8Array[] = [...t.seeds, ...corpus.map((c) => c.data)];
  const n = iterations(t.iterations);
  const every = t.resetEvery ?? Infinity;
  const save = process.env['WGTS_FUZZ_SAVE'] === '1';
  const dictionary = (t.dictionary ?? []).map((d) => (typeof d === 'string' ? new TextEncoder().encode(d) : d));
  for (let i = 0; i < n; i++) {
    if (i > 0 && i % every === 0) t.reset?.(r);
    const base = r.pick(pool);
    const input = mutate(base, r, { pool, u32s: t.u32s?.() ?? [], u32Offsets: t.u32Offsets ?? [4, 8], maxLen: t.maxLen ?? 4096, dictionary });
    let label: string | void;
    try {
      label = t.check(input, r);
    } catch (e) {
      fail(t, `iteration ${i} of seed ${seed} (replay: WGTS_FUZZ_SEED=${seed})`, input, e);
    }
    if (record(label)) {
      pool.push(input);
      if (save) saveToCorpus(t.name, 'new', input);
    }
  }
  return { seed, iterations: n, corpusReplayed: corpus.length, outcomes, ms: performance.now() - start };
}

/** One line for t.diagnostic. */
export function describeReport(name: string, rep: FuzzReport): string {
  const top = [...rep.outcomes.entries()].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}=${v}`).join(' ');
  return `${name}: seed ${rep.seed}, ${rep.corpusReplayed} corpus + ${rep.iterations} mutations in ${rep.ms.toFixed(0)} ms; outcomes: ${top}`;
}
