/**
 * A tiny benchmark harness: run a function in batches for a fixed time,
 * report operations per second. Every row pairs wgts with a reference
 * measured in the same run, so the ratio survives a noisy machine.
 */
export interface Row {
  group: string;
  name: string;
  opsPerSec: number;
  reference?: { name: string; opsPerSec: number };
  unit?: string;
}

/** Ops per second of fn over roughly `ms` milliseconds (after a short warm-up). */
export function measure(fn: () => void, ms = 1000, batch = 64): number {
  const warm = performance.now() + Math.min(200, ms / 5);
  while (performance.now() < warm) for (let i = 0; i < batch; i++) fn();
  let ops = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < batch; i++) fn();
    ops += batch;
    now = performance.now();
  }
  return (ops * 1000) / (now - start);
}

export function formatRate(n: number): string {
  if (n >= 1e6) return (n / 1e6).toFixed(2) + 'M';
  if (n >= 1e3) return (n / 1e3).toFixed(1) + 'k';
  return n.toFixed(0);
}

export function printTable(rows: Row[]): void {
  const lines = rows.map((r) => [
    r.group,
    r.name,
    formatRate(r.opsPerSec) + (r.unit ? ' ' + r.unit : ' ops/s'),
    r.reference ? `${r.reference.name}: ${formatRate(r.reference.opsPerSec)}` : '',
    r.reference ? (r.opsPerSec / r.reference.opsPerSec).toFixed(2) + 'x' : '',
  ]);
  const head = ['group', 'wgts', 'rate', 'reference (same run)', 'ratio'];
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (l: string[]) => l.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  console.log(fmt(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const l of lines) console.log(fmt(l));
}
