/** "Did you mean ...?": the closest candidate by case-insensitive Levenshtein distance. */

/** Longer inputs get no suggestion (keeps the O(n*m) table small on garbage). */
const MAX_LEN = 64;

export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost);
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/** The closest candidate within max(2, a third of its length) edits, or undefined. */
export function closest(input: string, candidates: readonly string[]): string | undefined {
  if (input.length === 0 || input.length > MAX_LEN) return undefined;
  const x = input.toLowerCase();
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(x, c.toLowerCase());
    if (d < bestD && d <= Math.max(2, Math.floor(c.length / 3))) {
      best = c;
      bestD = d;
    }
  }
  return best;
}
