/**
 * Sequence number arithmetic modulo 2^32 (RFC 9293 section 3.4): a < b when
 * the signed 32-bit difference a - b is negative.
 */

/**
 * The initial value of a field that will hold a sequence number or a TSval.
 * -0 equals 0 in every comparison and in the arithmetic below, but it is not
 * a small integer, so V8 stores the field as a double from the start.
 * Initialised with 0, the field would change representation the first time
 * a value of 2^31 or more arrives (half of all random ISNs): that gives the
 * connection's objects a new hidden class mid-run and throws away the
 * compiled code of every function that touched them (a deoptimization and
 * recompilation storm that cost more instructions than the transfer itself
 * in scripts/stack-workload.mjs).
 */
export const SEQ0 = -0;
export function seqAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}

/** b - a as a signed 32-bit distance. */
export function seqDiff(b: number, a: number): number {
  return (b - a) | 0;
}

export function seqLt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

export function seqLe(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0;
}

export function seqGt(a: number, b: number): boolean {
  return ((a - b) | 0) > 0;
}

export function seqGe(a: number, b: number): boolean {
  return ((a - b) | 0) >= 0;
}

export function seqMax(a: number, b: number): number {
  return seqGt(a, b) ? a : b;
}

export function seqMin(a: number, b: number): number {
  return seqLt(a, b) ? a : b;
}

/** lo <= x < hi */
export function seqInRange(x: number, lo: number, hi: number): boolean {
  return seqLe(lo, x) && seqLt(x, hi);
}
