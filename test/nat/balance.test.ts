/**
 * Target choice (src/nat/balance.ts): weighted round robin spreads by
 * weight, least connections, source stickiness, failover order and the
 * fallback when no target is healthy.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { Balancer, type Candidate } from '../../src/nat/balance.js';

const cands = (weights: number[], up: boolean[] = weights.map(() => true), active: number[] = weights.map(() => 0)): Candidate[] =>
  weights.map((weight, i) => ({ id: `10.0.0.${i + 2}:80`, weight, up: up[i]!, active: active[i]! }));

function counts(b: Balancer, c: Candidate[], n: number, client = (i: number) => '192.0.2.1'): number[] {
  const got = c.map(() => 0);
  for (let i = 0; i < n; i++) got[b.order(c, client(i))[0]!]!++;
  return got;
}

test('roundrobin: shares follow the weights in every window of one cycle, interleaved (smooth)', () => {
  const b = new Balancer('roundrobin');
  const c = cands([5, 1, 1]);
  const seq = Array.from({ length: 7 }, () => b.order(c, 'x')[0]);
  // nginx's smooth weighted round robin for 5,1,1 (ngx_http_upstream_round_robin.c's comment): a a b a c a a
  assert.deepEqual(seq, [0, 0, 1, 0, 2, 0, 0]);
  assert.deepEqual(counts(b, c, 700), [500, 100, 100]);
});

test('roundrobin skips a down target and the others share its part', () => {
  const b = new Balancer('roundrobin');
  assert.deepEqual(counts(b, cands([1, 1, 1], [true, false, true]), 100), [50, 0, 50]);
});

test('the failover order is the choice, then the other healthy targets; with none healthy, all of them', () => {
  const b = new Balancer('roundrobin');
  assert.deepEqual(b.order(cands([1, 1, 1, 1], [true, false, true, true]), 'x'), [0, 2, 3]);
  assert.deepEqual(b.order(cands([1, 1, 1, 1], [true, false, true, true]), 'x'), [2, 3, 0]);
  assert.deepEqual(new Balancer('roundrobin').order(cands([1, 1], [false, false]), 'x'), [0, 1]);
  assert.deepEqual(new Balancer('roundrobin').order([], 'x'), []);
});

test('leastconn: the target with the fewest connections per weight; ties take turns', () => {
  const b = new Balancer('leastconn');
  assert.equal(b.order(cands([1, 1, 1], undefined, [3, 1, 2]), 'x')[0], 1);
  assert.equal(b.order(cands([1, 4], undefined, [1, 3]), 'x')[0], 1, '3/4 < 1/1');
  assert.equal(b.order(cands([1, 1, 1], [true, false, true], [3, 0, 2]), 'x')[0], 2, 'a down target is not chosen however idle');
  const ties = counts(b, cands([1, 1, 1]), 30);
  assert.deepEqual(ties, [10, 10, 10]);
});

test('source: one address always gets the same target; addresses spread by weight; a down target moves only its clients', () => {
  const b = new Balancer('source');
  const c = cands([1, 1, 2]);
  const client = (i: number) => `198.51.100.${i % 250}:${Math.floor(i / 250)}`;
  const first = new Map<string, number>();
  for (let i = 0; i < 4000; i++) first.set(client(i), b.order(c, client(i))[0]!);
  for (let i = 0; i < 4000; i++) assert.equal(b.order(c, client(i))[0], first.get(client(i)), 'sticky');
  const share = [0, 0, 0];
  for (const v of first.values()) share[v]!++;
  // Expected 1000/1000/2000; allow 10% either way for the hash's spread.
  assert.ok(Math.abs(share[0]! - 1000) < 100 && Math.abs(share[1]! - 1000) < 100 && Math.abs(share[2]! - 2000) < 200, `share ${share}`);
  const down = cands([1, 1, 2], [true, false, true]);
  for (const [k, v] of first) {
    const now = b.order(down, k)[0]!;
    if (v !== 1) assert.equal(now, v, 'clients of healthy targets stay');
    else assert.notEqual(now, 1);
  }
});
