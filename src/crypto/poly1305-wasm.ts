/**
 * Poly1305 (RFC 8439 section 2.5) for the WebAssembly AEAD: five 26-bit
 * limbs in i64 arithmetic (the classic 32-bit "donna" layout), state kept in
 * memory at `state` between calls:
 *
 *   h[5] (i64) at +0 | r[5] (i64) at +40 | s = key[16..32] as 4 x u64 at +80
 *
 *   emitInit(key)       r := clamp(key[0..16]), h := 0, s := key[16..32]
 *   blocksFn()          absorb len/16 full 16-byte blocks (hibit set): h := (h + m) * r mod 2^130 - 5
 *   emitFinish(out)     full carry, h mod p, (h + s) mod 2^128 -> 16 bytes at out
 *
 * The AEAD feeds only whole blocks (its input is zero-padded to 16 bytes).
 * No branch or memory index depends on secret data.
 */
import { Fn, I32, I64, OP } from './wasm-encoder.js';

/** Bytes of state the functions below keep at `state`. */
export const POLY_STATE_BYTES = 112;
const MASK = 0x3ffffff;

type Expr = () => void;

/** Small expression helpers over i64 values for readable limb arithmetic. */
function exprs(f: Fn) {
  const bin = (op: number) => (...xs: Expr[]): Expr => () => {
    xs[0]!();
    for (const x of xs.slice(1)) { x(); f.op(op); }
  };
  return {
    get: (l: number): Expr => () => { f.get(l); },
    c: (n: number | bigint): Expr => () => { f.i64(n); },
    add: bin(OP.i64Add), sub: bin(OP.i64Sub), mul: bin(OP.i64Mul), and: bin(OP.i64And), or: bin(OP.i64Or), xor: bin(OP.i64Xor),
    shr: (a: Expr, n: number): Expr => () => { a(); f.i64(n).op(OP.i64ShrU); },
    shl: (a: Expr, n: number): Expr => () => { a(); f.i64(n).op(OP.i64Shl); },
    sar: (a: Expr, n: number): Expr => () => { a(); f.i64(n).op(OP.i64ShrS); },
    /** u32 at constant address `addr`, or at local `ptr` + addr, zero-extended. */
    load32: (addr: number, ptr?: number): Expr => () => {
      if (ptr === undefined) f.i32(0); else f.get(ptr);
      f.mem(OP.i64Load32U, 0, addr);
    },
    load64: (addr: number): Expr => () => { f.i32(0).mem(OP.i64Load, 3, addr); },
    store64: (addr: number, e: Expr): void => { f.i32(0); e(); f.mem(OP.i64Store, 3, addr); },
    set: (l: number, e: Expr): void => { e(); f.set(l); },
  };
}

/** Emit: initialise the state at `state` from the 32-byte one-time key at `key`. */
export function emitPolyInit(f: Fn, state: number, key: number): void {
  const E = exprs(f);
  // Clamped r in 26-bit limbs: (offset, shift, mask) per limb.
  const limbs: Array<[number, number, number]> = [[0, 0, 0x3ffffff], [3, 2, 0x3ffff03], [6, 4, 0x3ffc0ff], [9, 6, 0x3f03fff], [12, 8, 0x00fffff]];
  limbs.forEach(([off, sh, m], i) => E.store64(state + 40 + 8 * i, E.and(E.shr(E.load32(key + off), sh), E.c(m))));
  for (let i = 0; i < 5; i++) E.store64(state + 8 * i, E.c(0));
  for (let i = 0; i < 4; i++) E.store64(state + 80 + 8 * i, E.load32(key + 16 + 4 * i));
}

/** Builds blocks(ptr: i32, len: i32) over the state at `state`. */
export function poly1305BlocksFn(state: number): Fn {
  const f = new Fn([I32, I32], []);
  const [PTR, LEN] = [0, 1];
  const E = exprs(f);
  const h = Array.from({ length: 5 }, () => f.local(I64));
  const r = Array.from({ length: 5 }, () => f.local(I64));
  const s = Array.from({ length: 5 }, () => f.local(I64)); // s[i] = 5 r[i], i >= 1
  const d = Array.from({ length: 5 }, () => f.local(I64));
  const c = f.local(I64);
  const end = f.local(I32);
  for (let i = 0; i < 5; i++) {
    E.set(h[i]!, E.load64(state + 8 * i));
    E.set(r[i]!, E.load64(state + 40 + 8 * i));
  }
  for (let i = 1; i < 5; i++) E.set(s[i]!, E.mul(E.get(r[i]!), E.c(5)));
  f.get(PTR).get(LEN).op(OP.i32Add).set(end);
  const H = (i: number) => E.get(h[i]!);
  const R = (i: number) => E.get(r[i]!);
  const S = (i: number) => E.get(s[i]!);
  f.until(() => f.get(PTR).get(end).op(OP.i32GeU), () => {
    // h += m (with the 2^128 bit of a full block)
    E.set(h[0]!, E.add(H(0), E.and(E.load32(0, PTR), E.c(MASK))));
    E.set(h[1]!, E.add(H(1), E.and(E.shr(E.load32(3, PTR), 2), E.c(MASK))));
    E.set(h[2]!, E.add(H(2), E.and(E.shr(E.load32(6, PTR), 4), E.c(MASK))));
    E.set(h[3]!, E.add(H(3), E.and(E.shr(E.load32(9, PTR), 6), E.c(MASK))));
    E.set(h[4]!, E.add(H(4), E.or(E.shr(E.load32(12, PTR), 8), E.c(1 << 24))));
    // h *= r mod 2^130 - 5 (2^130 = 5 mod p folds the high products through s = 5 r)
    E.set(d[0]!, E.add(E.mul(H(0), R(0)), E.mul(H(1), S(4)), E.mul(H(2), S(3)), E.mul(H(3), S(2)), E.mul(H(4), S(1))));
    E.set(d[1]!, E.add(E.mul(H(0), R(1)), E.mul(H(1), R(0)), E.mul(H(2), S(4)), E.mul(H(3), S(3)), E.mul(H(4), S(2))));
    E.set(d[2]!, E.add(E.mul(H(0), R(2)), E.mul(H(1), R(1)), E.mul(H(2), R(0)), E.mul(H(3), S(4)), E.mul(H(4), S(3))));
    E.set(d[3]!, E.add(E.mul(H(0), R(3)), E.mul(H(1), R(2)), E.mul(H(2), R(1)), E.mul(H(3), R(0)), E.mul(H(4), S(4))));
    E.set(d[4]!, E.add(E.mul(H(0), R(4)), E.mul(H(1), R(3)), E.mul(H(2), R(2)), E.mul(H(3), R(1)), E.mul(H(4), R(0))));
    E.set(c, E.shr(E.get(d[0]!), 26));
    E.set(h[0]!, E.and(E.get(d[0]!), E.c(MASK)));
    for (let i = 1; i < 5; i++) {
      E.set(d[i]!, E.add(E.get(d[i]!), E.get(c)));
      E.set(c, E.shr(E.get(d[i]!), 26));
      E.set(h[i]!, E.and(E.get(d[i]!), E.c(MASK)));
    }
    E.set(h[0]!, E.add(H(0), E.mul(E.get(c), E.c(5))));
    E.set(c, E.shr(H(0), 26));
    E.set(h[0]!, E.and(H(0), E.c(MASK)));
    E.set(h[1]!, E.add(H(1), E.get(c)));
    f.get(PTR).i32(16).op(OP.i32Add).set(PTR);
  });
  for (let i = 0; i < 5; i++) E.store64(state + 8 * i, H(i));
  return f;
}

/** Emit: the 16-byte tag of the state at `state` into memory at `out`. */
export function emitPolyFinish(f: Fn, state: number, out: number): void {
  const E = exprs(f);
  const h = Array.from({ length: 5 }, () => f.local(I64));
  const g = Array.from({ length: 5 }, () => f.local(I64));
  const c = f.local(I64);
  const m = f.local(I64);
  const t = f.local(I64);
  const H = (i: number) => E.get(h[i]!);
  for (let i = 0; i < 5; i++) E.set(h[i]!, E.load64(state + 8 * i));
  // Full carry.
  for (let i = 1; i < 5; i++) {
    E.set(c, E.shr(H(i), 26));
    E.set(h[i]!, E.and(H(i), E.c(MASK)));
    if (i < 4) E.set(h[i + 1]!, E.add(H(i + 1), E.get(c)));
  }
  E.set(h[0]!, E.add(H(0), E.mul(E.get(c), E.c(5))));
  E.set(c, E.shr(H(0), 26));
  E.set(h[0]!, E.and(H(0), E.c(MASK)));
  E.set(h[1]!, E.add(H(1), E.get(c)));
  // g = h + 5 - 2^130; take g when it is not negative (h >= p), without branching.
  E.set(g[0]!, E.add(H(0), E.c(5)));
  E.set(c, E.shr(E.get(g[0]!), 26));
  E.set(g[0]!, E.and(E.get(g[0]!), E.c(MASK)));
  for (let i = 1; i < 4; i++) {
    E.set(g[i]!, E.add(H(i), E.get(c)));
    E.set(c, E.shr(E.get(g[i]!), 26));
    E.set(g[i]!, E.and(E.get(g[i]!), E.c(MASK)));
  }
  E.set(g[4]!, E.sub(E.add(H(4), E.get(c)), E.c(1 << 26)));
  E.set(m, E.xor(E.sar(E.get(g[4]!), 63), E.c(-1)));
  for (let i = 0; i < 5; i++) E.set(h[i]!, E.or(E.and(E.get(g[i]!), E.get(m)), E.and(H(i), E.xor(E.get(m), E.c(-1)))));
  // (h + s) mod 2^128, as four little-endian words with carries.
  const M32 = 0xffffffff;
  const words: Expr[] = [
    E.and(E.or(H(0), E.shl(H(1), 26)), E.c(M32)),
    E.and(E.or(E.shr(H(1), 6), E.shl(H(2), 20)), E.c(M32)),
    E.and(E.or(E.shr(H(2), 12), E.shl(H(3), 14)), E.c(M32)),
    E.and(E.or(E.shr(H(3), 18), E.shl(H(4), 8)), E.c(M32)),
  ];
  E.set(t, E.c(0));
  for (let i = 0; i < 4; i++) {
    E.set(t, E.add(words[i]!, E.load64(state + 80 + 8 * i), E.shr(E.get(t), 32)));
    f.i32(0).get(t).mem(OP.i64Store32, 2, out + 4 * i);
  }
}
