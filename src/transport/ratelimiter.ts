/**
 * Per-source token bucket for handshake messages that carried a valid MAC2
 * while the device is under load (wireguard-go ratelimiter/, Linux
 * ratelimiter.c): 20 packets/s per source with a burst of 5. A source is an
 * IPv4 address or an IPv6 /64, as Linux groups them (one host commonly owns
 * a whole /64, so per-address buckets would hand it 2^64 of them).
 *
 *   allow(address, now): sourceKey -> bucket (a new source starts full; a
 *     full table evicts its least recently used entry) -> refill by the time
 *     elapsed -> spend one packet's credit, or refuse
 *
 * The table is bounded and never refuses a source because it is full:
 * eviction can only hand an old source a fresh bucket, which it would get
 * after a second of silence anyway. Idle entries are swept by `now`.
 */
import { parseIp } from '../ip/text.js';

const PACKETS_PER_SECOND = 20;
const BURST = 5;
const COST = 1000 / PACKETS_PER_SECOND; // ms of credit per packet
const MAX_CREDIT = COST * BURST;
const IDLE_SWEEP = 1000;

interface Bucket { credit: number; last: number }

/**
 * The bucket a source address falls in: IPv4 (also IPv4-mapped IPv6) by
 * address, other IPv6 by its /64; text that does not parse is its own key.
 */
export function sourceKey(address: string): string {
  const zone = address.indexOf('%');
  const b = parseIp(zone < 0 ? address : address.slice(0, zone));
  if (!b) return address;
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  let mapped = b[10] === 0xff && b[11] === 0xff;
  for (let i = 0; i < 10 && mapped; i++) if (b[i] !== 0) mapped = false;
  if (mapped) return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  return `${Buffer.from(b.subarray(0, 8)).toString('hex')}/64`;
}

export class RateLimiter {
  /** In least-recently-used order: every hit moves its entry to the end. */
  private readonly table = new Map<string, Bucket>();
  private lastSweep = 0;
  /** Entries pushed out by a full table. */
  evicted = 0;
  constructor(private readonly maxEntries = 8192) {}

  /** True if a packet from `address` (IP text) may be processed now. */
  allow(address: string, now: number): boolean {
    if (now - this.lastSweep >= IDLE_SWEEP) this.sweep(now);
    const key = sourceKey(address);
    let b = this.table.get(key);
    if (b) {
      this.table.delete(key);
    } else {
      if (this.table.size >= this.maxEntries) {
        this.table.delete(this.table.keys().next().value!);
        this.evicted++;
      }
      b = { credit: MAX_CREDIT, last: now };
    }
    this.table.set(key, b);
    b.credit = Math.min(MAX_CREDIT, b.credit + (now - b.last));
    b.last = now;
    if (b.credit < COST) return false;
    b.credit -= COST;
    return true;
  }

  get size(): number { return this.table.size; }

  private sweep(now: number): void {
    this.lastSweep = now;
    // Least recently used first: the idle entries are a prefix.
    for (const [k, b] of this.table) {
      if (now - b.last < IDLE_SWEEP) break;
      this.table.delete(k);
    }
  }
}
