/**
 * The benchmark harness: micro-benchmarks time a function with tinybench
 * (measure()) and report operations per second; the netns rows time whole
 * transfers themselves. Every row pairs wgts with a reference
 * measured in the same run, so the ratio survives a noisy machine.
 *
 *   module run() -> Row[] (+ skip() for rows it could not measure) -> run.ts
 *   -> printTable() (figure, reference, ratio = wgts / reference, target) + JSON
 */
import { Bench } from 'tinybench';

export interface Row {
  group: string;
  name: string;
  /** The wgts figure: a rate, or a value in `unit` (B, ms, ...). */
  opsPerSec: number;
  reference?: { name: string; opsPerSec: number };
  unit?: string;
  /** Further figures for the same row (p99, loss, counts), printed beneath it. */
  detail?: string;
  /** The target for this row and whether this run met it. */
  target?: { text: string; met: boolean };
}

/**
 * Ops per second of fn over roughly `ms` milliseconds, after a short warm-up,
 * timed by tinybench. One timed sample runs fn `batch` times: the functions
 * benchmarked here take well under a microsecond, where a timer read per call
 * would be most of what is measured.
 */
export function measure(fn: () => void, ms = 1000, batch = 64): number {
  const bench = new Bench({ time: ms, warmupTime: Math.min(200, ms / 5), iterations: 1, throws: true });
  bench.add('fn', () => {
    for (let i = 0; i < batch; i++) fn();
  });
  bench.runSync();
  const r = bench.tasks[0]!.result;
  if (r.state !== 'completed') throw new Error(`benchmark ended in state ${r.state}`);
  return (batch * 1000) / r.latency.mean;
}

export interface Skip { group: string; why: string }
const skips: Skip[] = [];

/** Record rows a module could not measure (printed loudly now and again under the table). */
export function skip(group: string, why: string): Row[] {
  skips.push({ group, why });
  process.stderr.write(`SKIP ${group} bench rows: ${why}\n`);
  return [];
}

export function takeSkips(): Skip[] {
  return skips.splice(0);
}

export function formatRate(n: number): string {
  if (n >= 1e6) return (n / 1e6).toFixed(2) + 'M';
  if (n >= 1e3) return (n / 1e3).toFixed(1) + 'k';
  if (n > 0 && n < 10) return n.toPrecision(3);
  return n.toFixed(0);
}

/** A figure in its unit: bytes as KiB/MiB, milliseconds with 3 decimals, anything else as a rate. */
export function formatValue(n: number, unit?: string): string {
  if (unit === 'B') {
    if (n >= 1 << 20) return (n / (1 << 20)).toFixed(1) + ' MiB';
    if (n >= 1 << 10) return (n / (1 << 10)).toFixed(1) + ' KiB';
    return n.toFixed(0) + ' B';
  }
  if (unit === 'ms') return n.toFixed(3) + ' ms';
  return formatRate(n) + (unit ? ' ' + unit : ' ops/s');
}

export function ratio(r: Row): number | null {
  return r.reference && r.reference.opsPerSec > 0 ? r.opsPerSec / r.reference.opsPerSec : null;
}

export function printTable(rows: Row[]): void {
  const lines = rows.map((r) => {
    const q = ratio(r);
    return [
      r.group,
      r.name,
      formatValue(r.opsPerSec, r.unit),
      r.reference ? `${r.reference.name}: ${formatValue(r.reference.opsPerSec, r.unit)}` : '',
      q === null ? '' : q.toFixed(2) + 'x',
      r.target ? `${r.target.text} ${r.target.met ? 'met' : 'MISSED'}` : '',
    ];
  });
  const head = ['group', 'wgts', 'figure', 'reference (same run)', 'ratio', 'target'];
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (l: string[]) => l.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  console.log(fmt(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  rows.forEach((r, i) => {
    console.log(fmt(lines[i]!));
    if (r.detail) console.log(' '.repeat(widths[0]! + 2) + '  ' + r.detail);
  });
}
