/**
 * Per-source token bucket for handshake messages while the device is under
 * load (wireguard-go ratelimiter/). 20 packets/s per source IP with a burst
 * of 5; the table is bounded and idle entries are swept by `now`.
 */
const PACKETS_PER_SECOND = 20;
const BURST = 5;
const COST = 1000 / PACKETS_PER_SECOND; // ms of credit per packet
const MAX_CREDIT = COST * BURST;
const IDLE_SWEEP = 1000;

interface Bucket { credit: number; last: number }

export class RateLimiter {
  private readonly table = new Map<string, Bucket>();
  private lastSweep = 0;
  constructor(private readonly maxEntries = 8192) {}

  /** True if a packet from `source` (an IP string) may be processed now. */
  allow(source: string, now: number): boolean {
    if (now - this.lastSweep >= IDLE_SWEEP) this.sweep(now);
    let b = this.table.get(source);
    if (!b) {
      if (this.table.size >= this.maxEntries) return false; // full: refuse new sources until sweep
      b = { credit: MAX_CREDIT, last: now };
      this.table.set(source, b);
    }
    b.credit = Math.min(MAX_CREDIT, b.credit + (now - b.last));
    b.last = now;
    if (b.credit < COST) return false;
    b.credit -= COST;
    return true;
  }

  get size(): number { return this.table.size; }

  private sweep(now: number): void {
    this.lastSweep = now;
    for (const [k, b] of this.table) if (now - b.last >= IDLE_SWEEP) this.table.delete(k);
  }
}
