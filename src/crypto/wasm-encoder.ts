/**
 * Just enough of the WebAssembly binary format (WebAssembly Core
 * Specification 2.0, chapter 5) to emit the transport's AEAD kernels from
 * TypeScript: functions are written as instruction sequences (Fn), then
 * module() lays out the type, function, memory, export and code sections.
 * One memory, exported as "mem"; functions are exported by name in order.
 */

export const I32 = 0x7f;
export const I64 = 0x7e;
export const V128 = 0x7b;
export type ValType = typeof I32 | typeof I64 | typeof V128;

export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 of any 64-bit value (i32.const and i64.const immediates). */
export function sleb(v: number | bigint): number[] {
  let n = BigInt(v);
  const out: number[] = [];
  for (;;) {
    const b = Number(n & 0x7fn);
    n >>= 7n;
    if ((n === 0n && (b & 0x40) === 0) || (n === -1n && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

/** Opcodes used (section 5.4). */
export const OP = {
  block: 0x02, loop: 0x03, if: 0x04, end: 0x0b, br: 0x0c, brIf: 0x0d, call: 0x10,
  localGet: 0x20, localSet: 0x21, localTee: 0x22,
  i32Load: 0x28, i64Load: 0x29, i64Load32U: 0x35, i32Store: 0x36, i64Store: 0x37, i32Store8: 0x3a, i64Store32: 0x3e,
  i32Const: 0x41, i64Const: 0x42,
  i32Eqz: 0x45, i32GeU: 0x4f,
  i32Add: 0x6a, i32Sub: 0x6b, i32And: 0x71, i32Or: 0x72, i32Xor: 0x73,
  i64Add: 0x7c, i64Sub: 0x7d, i64Mul: 0x7e, i64And: 0x83, i64Or: 0x84, i64Xor: 0x85, i64Shl: 0x86, i64ShrS: 0x87, i64ShrU: 0x88,
  i64ExtendI32U: 0xad,
  void: 0x40,
} as const;

/** 128-bit SIMD opcodes, after the 0xfd prefix. */
export const SIMD = {
  load: 0, store: 11, shuffle: 13, i32x4Splat: 17, i32x4ReplaceLane: 28,
  or: 80, xor: 81, i32x4Shl: 171, i32x4ShrU: 173, i32x4Add: 174,
} as const;

/** One function body under construction. Parameters are locals 0..n-1. */
export class Fn {
  private readonly locals: ValType[] = [];
  private readonly code: number[] = [];

  constructor(readonly params: ValType[], readonly results: ValType[]) {}

  local(t: ValType): number {
    this.locals.push(t);
    return this.params.length + this.locals.length - 1;
  }

  op(...bytes: number[]): this {
    for (const b of bytes) this.code.push(b);
    return this;
  }

  get(i: number): this { return this.op(OP.localGet, ...uleb(i)); }
  set(i: number): this { return this.op(OP.localSet, ...uleb(i)); }
  tee(i: number): this { return this.op(OP.localTee, ...uleb(i)); }
  i32(n: number): this { return this.op(OP.i32Const, ...sleb(n | 0)); }
  i64(n: number | bigint): this { return this.op(OP.i64Const, ...sleb(n)); }
  /** A memory access with its alignment exponent and constant offset. */
  mem(opcode: number, align: number, offset = 0): this { return this.op(opcode, ...uleb(align), ...uleb(offset)); }
  simd(opcode: number, ...immediates: number[]): this { return this.op(0xfd, ...uleb(opcode), ...immediates); }
  /** v128.load / v128.store with alignment exponent and offset. */
  simdMem(opcode: number, align: number, offset: number): this { return this.simd(opcode, ...uleb(align), ...uleb(offset)); }

  /** `while (!cond) { body }` as block/loop/br_if/br; cond leaves an i32 on the stack. */
  until(cond: () => void, body: () => void): this {
    this.op(OP.block, OP.void, OP.loop, OP.void);
    cond();
    this.op(OP.brIf, 1);
    body();
    return this.op(OP.br, 0, OP.end, OP.end);
  }

  encode(): number[] {
    const groups: Array<[number, ValType]> = [];
    for (const t of this.locals) {
      const last = groups[groups.length - 1];
      if (last && last[1] === t) last[0]++;
      else groups.push([1, t]);
    }
    const body = [...uleb(groups.length), ...groups.flatMap(([n, t]) => [...uleb(n), t]), ...this.code, OP.end];
    return [...uleb(body.length), ...body];
  }
}

function section(id: number, bytes: number[]): number[] {
  return [id, ...uleb(bytes.length), ...bytes];
}

function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

function name(s: string): number[] {
  return [...uleb(s.length), ...[...s].map((c) => c.charCodeAt(0))];
}

/** A module with one memory of `pages` 64 KiB pages and the functions exported under `names`. */
export function module(fns: Fn[], names: string[], pages: number): Uint8Array {
  const types = fns.map((f) => [0x60, ...vec(f.params.map((t) => [t])), ...vec(f.results.map((t) => [t]))]);
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec(types)),
    ...section(3, vec(fns.map((_, i) => uleb(i)))),
    ...section(5, vec([[0x00, ...uleb(pages)]])),
    ...section(7, vec([[...name('mem'), 0x02, 0x00], ...names.map((n, i) => [...name(n), 0x00, ...uleb(i)])])),
    ...section(10, vec(fns.map((f) => f.encode()))),
  ]);
}
