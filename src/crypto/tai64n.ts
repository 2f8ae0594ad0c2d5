/**
 * TAI64N timestamps (cr.yp.to/libtai/tai64.html) for handshake initiations.
 * 8 bytes big-endian seconds (2^62 + 10 + unix seconds, as wireguard-go) and
 * 4 bytes big-endian nanoseconds, rounded down to a multiple of 2^24 ns so the
 * timestamp leaks less about the sender's clock (as wireguard-go "whitens").
 */
export const TAI64N_LEN = 12;
const BASE = 0x400000000000000an;
const WHITENER_MASK = 0x1000000 - 1;

/** Timestamp for a wall-clock time in milliseconds since the Unix epoch. */
export function tai64n(wallMs: number): Uint8Array {
  const out = new Uint8Array(TAI64N_LEN);
  const dv = new DataView(out.buffer);
  const secs = Math.floor(wallMs / 1000);
  const nanos = Math.floor((wallMs - secs * 1000) * 1e6);
  dv.setBigUint64(0, BASE + BigInt(secs), false);
  dv.setUint32(8, (nanos & ~WHITENER_MASK) >>> 0, false);
  return out;
}

/** True if a is strictly later than b (byte-wise big-endian compare). */
export function tai64nAfter(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < TAI64N_LEN; i++) {
    if (a[i]! !== b[i]!) return a[i]! > b[i]!;
  }
  return false;
}
