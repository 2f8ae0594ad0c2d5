/**
 * Randomness for the core, drawn from a pool refilled 4 KiB at a time: one
 * randomBytes call costs about as much as sealing a packet, and the handshake
 * and cookie paths ask for 24-32 bytes per message. Each draw is a fresh
 * copy, and the pool forgets every byte it hands out.
 *
 *   random(n) -> n bytes from the pool (refilled from node:crypto when short)
 */
import { randomBytes } from 'node:crypto';

const POOL_SIZE = 4096;
let pool = randomBytes(POOL_SIZE);
let poolAt = 0;

export function random(n: number): Uint8Array {
  if (n > POOL_SIZE) return new Uint8Array(randomBytes(n));
  if (poolAt + n > POOL_SIZE) { pool = randomBytes(POOL_SIZE); poolAt = 0; }
  const out = new Uint8Array(n);
  out.set(pool.subarray(poolAt, poolAt + n));
  pool.fill(0, poolAt, poolAt + n); // a byte handed out is not kept
  poolAt += n;
  return out;
}
