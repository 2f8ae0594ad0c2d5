/**
 * Which target a new connection or UDP session goes to, without I/O: given
 * each target's weight, state and open connections, and the client's
 * address, the order in which to try the targets.
 *
 *   healthy targets (none healthy: all of them, as nginx does, since
 *   refusing every client is never better than trying)
 *     -> first: the Balance rule's choice
 *          roundrobin  smooth weighted round robin (nginx): over any
 *                      window, each target gets its weight's share, spread
 *          leastconn   fewest open connections per unit of weight; ties
 *                      take turns
 *          source      weighted rendezvous hashing of the client address:
 *                      one address keeps its target while that target is
 *                      healthy; a target going down moves only its clients
 *     -> then the other healthy ones (failover order)
 */
import type { Balance } from './rule.js';

export interface Candidate {
  /** Identity for `source` hashing (host:port): stable across reloads. */
  id: string;
  weight: number;
  up: boolean;
  /** Open connections or sessions. */
  active: number;
}

export class Balancer {
  /** Smooth weighted round robin: each target's running score. */
  private current: number[] = [];
  private turn = 0;

  constructor(readonly mode: Balance) {}

  /** Indices into `cands`, first the choice, then the failover order. Empty only for an empty list. */
  order(cands: readonly Candidate[], client: string): number[] {
    let pool = cands.map((_, i) => i).filter((i) => cands[i]!.up);
    if (pool.length === 0) pool = cands.map((_, i) => i);
    if (pool.length === 0) return [];
    const first = this.choose(cands, pool, client);
    const at = pool.indexOf(first);
    return [first, ...pool.slice(at + 1), ...pool.slice(0, at)];
  }

  private choose(cands: readonly Candidate[], pool: number[], client: string): number {
    switch (this.mode) {
      case 'roundrobin':
        return this.smooth(cands, pool);
      case 'leastconn': {
        const load = (i: number): number => cands[i]!.active / cands[i]!.weight;
        const least = Math.min(...pool.map(load));
        const ties = pool.filter((i) => load(i) === least);
        return ties[this.turn++ % ties.length]!;
      }
      case 'source': {
        let best = pool[0]!;
        let bestScore = -Infinity;
        for (const i of pool) {
          // Weighted rendezvous: score = -w / ln(u), u uniform in (0, 1) from the hash.
          const u = (hash32(`${client}|${cands[i]!.id}`) + 0.5) / 4294967296;
          const score = -cands[i]!.weight / Math.log(u);
          if (score > bestScore) {
            bestScore = score;
            best = i;
          }
        }
        return best;
      }
    }
  }

  private smooth(cands: readonly Candidate[], pool: number[]): number {
    if (this.current.length !== cands.length) this.current = cands.map(() => 0);
    let total = 0;
    let best = pool[0]!;
    for (const i of pool) {
      this.current[i]! += cands[i]!.weight;
      total += cands[i]!.weight;
      if (this.current[i]! > this.current[best]!) best = i;
    }
    this.current[best]! -= total;
    return best;
  }
}

/** FNV-1a over UTF-16 code units, then murmur3's finalizer so close inputs spread. */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
