/**
 * Replay filter for transport-data counters: the RFC 6479 sliding-window
 * bitmap as WireGuard uses it (whitepaper section 5.4.6; Linux
 * drivers/net/wireguard/receive.c `counter_validate`).
 *
 * Data flow: the receive path calls `canAccept(counter)` on the counter
 * read from a transport header before decrypting (cheap, no state change),
 * then `markReceived(counter)` once the AEAD tag verified; that call checks
 * again (other packets may have moved the window meanwhile) and records the
 * counter, returning false if it is a replay or fell out of the window.
 *
 * Layout: a ring of REPLAY_RING_BITS (8192) bits in 256 blocks of 32 bits
 * (a Uint32Array; the kernel uses 128 blocks of 64). One block is kept as
 * slack so that advancing the window clears whole blocks, which makes the
 * usable window REPLAY_WINDOW = 8192 - 32 = 8160 counters: with `max` the
 * highest counter accepted so far, a counter c is acceptable iff it has not
 * been seen and c + 8160 >= max. Counters >= REJECT_AFTER_MESSAGES are
 * always refused.
 *
 * As in the kernel, positions are kept off by one (`last` = max + 1, 0 when
 * nothing was received yet). Counters are bigint (u64); while both the
 * counter and the window's top stay below 2^53 the arithmetic runs on
 * doubles, above that on bigint, with identical results.
 */
import { REJECT_AFTER_MESSAGES, REPLAY_RING_BITS } from './constants.js';

const BLOCK_BITS = 32;
const RING_BLOCKS = REPLAY_RING_BITS / BLOCK_BITS; // 256
/** How far below the highest accepted counter a counter may still be accepted. */
export const REPLAY_WINDOW = REPLAY_RING_BITS - BLOCK_BITS; // 8160

/** Largest counter handled on the double path: counter + 1 stays a safe integer. */
const FAST_MAX = BigInt(Number.MAX_SAFE_INTEGER - 1);
const BIG_SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER);
const BIG_WINDOW = BigInt(REPLAY_WINDOW);
const BIG_BLOCK_SHIFT = 5n;
const BIG_RING = BigInt(RING_BLOCKS);

export class ReplayFilter {
  private readonly ring = new Uint32Array(RING_BLOCKS);
  /** max accepted counter + 1 (0: none yet), valid while !big. */
  private last = 0;
  /** Same as `last` once it exceeded 2^53 - 1 (then `big` is set). */
  private lastBig = 0n;
  private big = false;

  /** Forget everything (new keypair). */
  reset(): void {
    this.ring.fill(0);
    this.last = 0;
    this.lastBig = 0n;
    this.big = false;
  }

  /** Would `counter` be accepted now? Does not change state. */
  canAccept(counter: bigint): boolean {
    return this.check(counter, false);
  }

  /** Record `counter` as received; false if it is a replay, too old or out of range. */
  markReceived(counter: bigint): boolean {
    return this.check(counter, true);
  }

  private check(counter: bigint, commit: boolean): boolean {
    if (!this.big && counter >= 0n && counter <= FAST_MAX) {
      // Double path: every value below is an exact integer < 2^53.
      const t = Number(counter) + 1;
      const last = this.last;
      if (last - t > REPLAY_WINDOW) return false;
      const block = Math.floor(t / BLOCK_BITS);
      if (t > last) {
        // Newer than anything seen: its bit may still hold stale ring data
        // that advancing clears, so it is acceptable without looking.
        if (!commit) return true;
        const cur = Math.floor(last / BLOCK_BITS);
        this.advance(cur % RING_BLOCKS, Math.min(block - cur, RING_BLOCKS));
        this.last = t;
      }
      return this.testAndSet(block % RING_BLOCKS, t % BLOCK_BITS, commit);
    }
    return this.checkBig(counter, commit);
  }

  /** The same rule as `check`, in bigint arithmetic (counters near 2^64). */
  private checkBig(counter: bigint, commit: boolean): boolean {
    if (counter < 0n || counter >= REJECT_AFTER_MESSAGES) return false;
    const last = this.big ? this.lastBig : BigInt(this.last);
    if (last > REJECT_AFTER_MESSAGES) return false;
    const t = counter + 1n;
    if (last - t > BIG_WINDOW) return false;
    const block = t >> BIG_BLOCK_SHIFT;
    if (t > last) {
      if (!commit) return true;
      const cur = last >> BIG_BLOCK_SHIFT;
      const gap = block - cur;
      this.advance(Number(cur % BIG_RING), gap > BIG_RING ? RING_BLOCKS : Number(gap));
      if (t > BIG_SAFE_MAX) {
        this.lastBig = t;
        this.big = true;
      } else {
        this.last = Number(t);
      }
    }
    return this.testAndSet(Number(block % BIG_RING), Number(t & 31n), commit);
  }

  /** Clear the `count` blocks that follow ring slot `from` (the window moved forward). */
  private advance(from: number, count: number): void {
    const ring = this.ring;
    for (let i = 1; i <= count; i++) ring[(from + i) % RING_BLOCKS] = 0;
  }

  private testAndSet(slot: number, bit: number, commit: boolean): boolean {
    const mask = 1 << bit;
    const word = this.ring[slot]!;
    if ((word & mask) !== 0) return false;
    if (commit) this.ring[slot] = word | mask;
    return true;
  }
}
