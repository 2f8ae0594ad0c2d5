/**
 * ChaCha20 (RFC 8439 section 2.3-2.4) as a WebAssembly SIMD function, four
 * blocks at a time: lane j of vector i holds word i of block counter+j.
 *
 *   xor(state, src, dst, len): for each 256-byte step, 20 rounds on the 16
 *   word vectors (rotations by 16 and 8 are byte shuffles), add the input
 *   state, transpose 4x4 groups of words back into block order, and
 *   dst = src XOR keystream. len is a multiple of 256; the counter word of
 *   `state` is read, never written.
 *
 * No branch or memory index depends on key or data (constant time).
 */
import { Fn, I32, OP, SIMD, V128 } from './wasm-encoder.js';

/** Byte shuffles rotating each 32-bit lane left by 16 and by 8 (little-endian lanes). */
const ROT16 = [2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13];
const ROT8 = [3, 0, 1, 2, 7, 4, 5, 6, 11, 8, 9, 10, 15, 12, 13, 14];

/** The lane bytes of 32-bit lane `lane` of shuffle input `which` (0 = first, 1 = second). */
function lane(l: number, which: number): number[] {
  return [0, 1, 2, 3].map((k) => which * 16 + l * 4 + k);
}

/** Builds xor(state: i32, src: i32, dst: i32, len: i32). */
export function chacha20XorFn(): Fn {
  const f = new Fn([I32, I32, I32, I32], []);
  const [STATE, SRC, DST, LEN] = [0, 1, 2, 3];
  const x = Array.from({ length: 16 }, () => f.local(V128));
  const init = Array.from({ length: 16 }, () => f.local(V128));
  const t = Array.from({ length: 4 }, () => f.local(V128));
  const r = Array.from({ length: 4 }, () => f.local(V128));
  const ctr = f.local(I32);
  const round = f.local(I32);
  const off = f.local(I32);

  const add = (a: number, b: number): void => { f.get(x[a]!).get(x[b]!).simd(SIMD.i32x4Add).set(x[a]!); };
  const xorRotate = (d: number, a: number, n: number): void => {
    f.get(x[d]!).get(x[a]!).simd(SIMD.xor);
    if (n === 16 || n === 8) {
      f.tee(x[d]!).get(x[d]!).simd(SIMD.shuffle, ...(n === 16 ? ROT16 : ROT8));
    } else {
      f.tee(x[d]!).i32(n).simd(SIMD.i32x4Shl).get(x[d]!).i32(32 - n).simd(SIMD.i32x4ShrU).simd(SIMD.or);
    }
    f.set(x[d]!);
  };
  // RFC 8439 section 2.1.
  const quarterRound = (a: number, b: number, c: number, d: number): void => {
    add(a, b); xorRotate(d, a, 16);
    add(c, d); xorRotate(b, c, 12);
    add(a, b); xorRotate(d, a, 8);
    add(c, d); xorRotate(b, c, 7);
  };

  f.get(STATE).mem(OP.i32Load, 2, 48).set(ctr);
  f.i32(0).set(off);
  f.until(() => f.get(off).get(LEN).op(OP.i32GeU), () => {
    for (let w = 0; w < 16; w++) {
      if (w === 12) {
        f.get(ctr).simd(SIMD.i32x4Splat);
        for (let j = 1; j < 4; j++) f.get(ctr).i32(j).op(OP.i32Add).simd(SIMD.i32x4ReplaceLane, j);
      } else {
        f.get(STATE).mem(OP.i32Load, 2, w * 4).simd(SIMD.i32x4Splat);
      }
      f.tee(init[w]!).set(x[w]!);
    }
    f.i32(10).set(round);
    f.op(OP.loop, OP.void);
    quarterRound(0, 4, 8, 12); quarterRound(1, 5, 9, 13); quarterRound(2, 6, 10, 14); quarterRound(3, 7, 11, 15);
    quarterRound(0, 5, 10, 15); quarterRound(1, 6, 11, 12); quarterRound(2, 7, 8, 13); quarterRound(3, 4, 9, 14);
    f.get(round).i32(1).op(OP.i32Sub).tee(round).op(OP.brIf, 0).op(OP.end);
    for (let w = 0; w < 16; w++) f.get(x[w]!).get(init[w]!).simd(SIMD.i32x4Add).set(x[w]!);
    // Words 4g..4g+3 of blocks 0..3: transpose, then XOR 16 bytes of each block.
    for (let g = 0; g < 4; g++) {
      const [a, b, c, d] = [x[4 * g]!, x[4 * g + 1]!, x[4 * g + 2]!, x[4 * g + 3]!];
      f.get(a).get(b).simd(SIMD.shuffle, ...lane(0, 0), ...lane(0, 1), ...lane(1, 0), ...lane(1, 1)).set(t[0]!);
      f.get(a).get(b).simd(SIMD.shuffle, ...lane(2, 0), ...lane(2, 1), ...lane(3, 0), ...lane(3, 1)).set(t[1]!);
      f.get(c).get(d).simd(SIMD.shuffle, ...lane(0, 0), ...lane(0, 1), ...lane(1, 0), ...lane(1, 1)).set(t[2]!);
      f.get(c).get(d).simd(SIMD.shuffle, ...lane(2, 0), ...lane(2, 1), ...lane(3, 0), ...lane(3, 1)).set(t[3]!);
      f.get(t[0]!).get(t[2]!).simd(SIMD.shuffle, ...lane(0, 0), ...lane(1, 0), ...lane(0, 1), ...lane(1, 1)).set(r[0]!);
      f.get(t[0]!).get(t[2]!).simd(SIMD.shuffle, ...lane(2, 0), ...lane(3, 0), ...lane(2, 1), ...lane(3, 1)).set(r[1]!);
      f.get(t[1]!).get(t[3]!).simd(SIMD.shuffle, ...lane(0, 0), ...lane(1, 0), ...lane(0, 1), ...lane(1, 1)).set(r[2]!);
      f.get(t[1]!).get(t[3]!).simd(SIMD.shuffle, ...lane(2, 0), ...lane(3, 0), ...lane(2, 1), ...lane(3, 1)).set(r[3]!);
      for (let blk = 0; blk < 4; blk++) {
        const at = blk * 64 + g * 16;
        f.get(DST).get(off).op(OP.i32Add);
        f.get(SRC).get(off).op(OP.i32Add).simdMem(SIMD.load, 0, at);
        f.get(r[blk]!).simd(SIMD.xor);
        f.simdMem(SIMD.store, 0, at);
      }
    }
    f.get(ctr).i32(4).op(OP.i32Add).set(ctr);
    f.get(off).i32(256).op(OP.i32Add).set(off);
  });
  return f;
}
