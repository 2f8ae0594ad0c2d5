// Replay filter: the numbered cases of the Linux selftest
// (drivers/net/wireguard/selftest/counter.c) re-expressed for our window,
// plus a randomized comparison against a naive Set-based reference.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { ReplayFilter, REPLAY_WINDOW } from '../../src/transport/replay.js';
import { REJECT_AFTER_MESSAGES, REPLAY_RING_BITS } from '../../src/transport/constants.js';

const W = BigInt(REPLAY_WINDOW);
const T_LIM = W + 1n; // as the kernel test: window + 1
const REJ = REJECT_AFTER_MESSAGES;

/** Runs [counter, expected] steps; canAccept must predict markReceived. */
function run(f: ReplayFilter, steps: Array<[bigint, boolean]>, label: string): void {
  steps.forEach(([n, want], i) => {
    assert.equal(f.canAccept(n), want, `${label} step ${i + 1}: canAccept(${n})`);
    assert.equal(f.markReceived(n), want, `${label} step ${i + 1}: markReceived(${n})`);
  });
}

test('window is ring bits minus one 32-bit block', () => {
  assert.equal(REPLAY_WINDOW, REPLAY_RING_BITS - 32);
  assert.equal(REPLAY_WINDOW, 8160);
});

test('kernel selftest cases 1-34', () => {
  const f = new ReplayFilter();
  run(
    f,
    [
      [0n, true], // 1
      [1n, true],
      [1n, false],
      [9n, true],
      [8n, true], // 5
      [7n, true],
      [7n, false],
      [T_LIM, true],
      [T_LIM - 1n, true],
      [T_LIM - 1n, false], // 10
      [T_LIM - 2n, true],
      [2n, true],
      [2n, false],
      [T_LIM + 16n, true],
      [3n, false], // 15
      [T_LIM + 16n, false],
      [T_LIM * 4n, true],
      [T_LIM * 4n - (T_LIM - 1n), true],
      [10n, false],
      [T_LIM * 4n - T_LIM, false], // 20
      [T_LIM * 4n - (T_LIM + 1n), false],
      [T_LIM * 4n - (T_LIM - 2n), true],
      [T_LIM * 4n + 1n - T_LIM, false],
      [0n, false],
      [REJ, false], // 25
      [REJ - 1n, true],
      [REJ, false],
      [REJ - 1n, false],
      [REJ - 2n, true],
      [REJ + 1n, false], // 30
      [REJ + 2n, false],
      [REJ - 2n, false],
      [REJ - 3n, true],
      [0n, false], // 34
    ],
    'cases',
  );
});

test('kernel selftest bulk: 1..W in order, then 0 once', () => {
  const f = new ReplayFilter();
  for (let i = 1n; i <= W; i++) assert.equal(f.markReceived(i), true, `counter ${i}`);
  run(f, [[0n, true], [0n, false]], 'tail');
});

test('kernel selftest bulk: 2..W+1 in order, then 1 accepted, 0 too old', () => {
  const f = new ReplayFilter();
  for (let i = 2n; i <= W + 1n; i++) assert.equal(f.markReceived(i), true, `counter ${i}`);
  run(f, [[1n, true], [0n, false]], 'tail');
});

test('kernel selftest bulk: W..0 in reverse order all accepted', () => {
  const f = new ReplayFilter();
  for (let i = W; i >= 0n; i--) {
    assert.equal(f.canAccept(i), true, `canAccept ${i}`);
    assert.equal(f.markReceived(i), true, `counter ${i}`);
  }
});

test('kernel selftest bulk: W+1..1 in reverse order, then 0 too old', () => {
  const f = new ReplayFilter();
  for (let i = W + 1n; i >= 1n; i--) assert.equal(f.markReceived(i), true, `counter ${i}`);
  run(f, [[0n, false]], 'tail');
});

test('kernel selftest bulk: W..1 reverse, then W+1 accepted, 0 too old', () => {
  const f = new ReplayFilter();
  for (let i = W; i >= 1n; i--) assert.equal(f.markReceived(i), true, `counter ${i}`);
  run(f, [[W + 1n, true], [0n, false]], 'tail');
});

test('kernel selftest bulk: W..1 reverse, then 0 and W+1 accepted', () => {
  const f = new ReplayFilter();
  for (let i = W; i >= 1n; i--) assert.equal(f.markReceived(i), true, `counter ${i}`);
  run(f, [[0n, true], [W + 1n, true]], 'tail');
});

test('canAccept does not change state', () => {
  const f = new ReplayFilter();
  assert.equal(f.canAccept(5n), true);
  assert.equal(f.canAccept(5n), true);
  assert.equal(f.markReceived(5n), true);
  assert.equal(f.canAccept(5n), false);
  // A far jump seen only through canAccept must not move the window.
  assert.equal(f.canAccept(1_000_000n), true);
  assert.equal(f.markReceived(4n), true);
});

test('negative counters are refused', () => {
  const f = new ReplayFilter();
  assert.equal(f.canAccept(-1n), false);
  assert.equal(f.markReceived(-1n), false);
  assert.equal(f.markReceived(0n), true);
});

test('reset forgets the window', () => {
  const f = new ReplayFilter();
  assert.equal(f.markReceived(REJ - 1n), true);
  assert.equal(f.markReceived(0n), false);
  f.reset();
  run(f, [[0n, true], [0n, false], [REJ - 1n, true], [REJ - 1n, false]], 'after reset');
});

test('crossing 2^53 keeps the window exact', () => {
  const f = new ReplayFilter();
  const b = 2n ** 53n;
  run(
    f,
    [
      [b - 3n, true],
      [b - 2n, true],
      [b - 1n, true], // first counter handled in bigint arithmetic
      [b - 2n, false],
      [b - 4n, true],
      [b + 5n, true],
      [b + 5n - W, true],
      [b + 4n - W, false],
      [b - 3n, false],
      [b + 5n - W + 1n, true],
    ],
    '2^53',
  );
});

// ---- randomized comparison ----

/** Naive reference: every counter ever accepted, plus the maximum. */
class NaiveFilter {
  private seen = new Set<bigint>();
  private max = -1n;
  ok(c: bigint): boolean {
    if (c < 0n || c >= REJ) return false;
    if (this.seen.has(c)) return false;
    if (this.max >= 0n && c + W < this.max) return false;
    return true;
  }
  mark(c: bigint): boolean {
    if (!this.ok(c)) return false;
    this.seen.add(c);
    if (c > this.max) this.max = c;
    return true;
  }
  get top(): bigint {
    return this.max;
  }
}

/** xorshift128+ with a fixed seed, so failures reproduce. */
function rng(seed: number): () => number {
  let a = BigInt(seed) | 1n;
  let b = 0x9e3779b97f4a7c15n;
  const M = (1n << 64n) - 1n;
  return () => {
    let x = a;
    const y = b;
    a = y;
    x ^= (x << 23n) & M;
    b = x ^ y ^ (x >> 17n) ^ (y >> 26n);
    return Number(((b + y) & M) >> 11n) / 2 ** 53;
  };
}

function randomSequence(rand: () => number, base: bigint, len: number, cmp: (c: bigint) => void, top: () => bigint): void {
  let next = base;
  for (let i = 0; i < len; i++) {
    const r = rand();
    const t = top() < 0n ? base : top();
    let c: bigint;
    if (r < 0.45) c = next++; // in order
    else if (r < 0.6) c = t - BigInt(Math.floor(rand() * 64)); // recent, often replays
    else if (r < 0.7) c = t - W + BigInt(Math.floor(rand() * 5) - 2); // the window's lower edge
    else if (r < 0.8) c = t - BigInt(Math.floor(rand() * (REPLAY_WINDOW + 200))); // anywhere near the window
    else if (r < 0.88) c = t + BigInt(1 + Math.floor(rand() * 40)); // small jump ahead
    else if (r < 0.94) c = t + BigInt(Math.floor(rand() * 3 * REPLAY_RING_BITS)); // jump past the ring
    else if (r < 0.97) c = t + BigInt(REPLAY_WINDOW + Math.floor(rand() * 70) - 35); // about one window ahead
    else c = base + BigInt(Math.floor(rand() * 100)); // old
    if (c > next) next = c + 1n;
    cmp(c);
  }
}

test('randomized: matches the naive reference (bases 0, 2^32, 2^53, 2^64)', () => {
  const bases: bigint[] = [0n, 2n ** 32n - 5000n, 2n ** 53n - 20000n, REJ - 200_000n];
  let seqs = 0;
  for (const base of bases) {
    for (let seed = 1; seed <= 25; seed++) {
      const rand = rng(seed * 7919 + Number(base % 100000n));
      const f = new ReplayFilter();
      const ref = new NaiveFilter();
      let step = 0;
      randomSequence(
        rand,
        base,
        4000,
        (c) => {
          step++;
          const want = ref.ok(c);
          assert.equal(f.canAccept(c), want, `base ${base} seed ${seed} step ${step}: canAccept(${c}), top ${ref.top}`);
          // Sometimes only look: both sides must stay unchanged.
          if (rand() < 0.1) return;
          assert.equal(f.markReceived(c), ref.mark(c), `base ${base} seed ${seed} step ${step}: markReceived(${c})`);
        },
        () => ref.top,
      );
      seqs++;
    }
  }
  assert.equal(seqs, 100);
});

test('randomized near REJECT_AFTER_MESSAGES: counters at and past the limit refused', () => {
  const rand = rng(4242);
  const f = new ReplayFilter();
  const ref = new NaiveFilter();
  for (let i = 0; i < 20000; i++) {
    const c = REJ - 10_000n + BigInt(Math.floor(rand() * 10_010));
    assert.equal(f.markReceived(c), ref.mark(c), `markReceived(${c})`);
  }
  for (const c of [REJ, REJ + 1n, 2n ** 64n - 1n]) assert.equal(f.canAccept(c), false);
});

test('2^53 - 1 and 2^53 are two counters: the double path stops where counter + 1 is still exact', () => {
  // As doubles, 2^53 + 1 rounds to 2^53: had 2^53 taken the double path, it would land on 2^53 - 1's bit.
  const f = new ReplayFilter();
  const top = 2n ** 53n;
  assert.equal(f.markReceived(top - 1n), true);
  assert.equal(f.markReceived(top), true);
  assert.equal(f.markReceived(top), false, 'a replay of 2^53');
  assert.equal(f.markReceived(top - 1n), false, 'a replay of 2^53 - 1');
});
