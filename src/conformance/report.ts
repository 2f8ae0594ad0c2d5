/**
 * Output of the conformance checker: one line per check as h2spec prints
 * them (status, whitepaper section, id, title), the evidence under a FAIL,
 * and a summary; or the same as JSON.
 *
 *   Result -> formatLine() -> stdout as each check ends
 *   Result[] -> summary() | JSON.stringify(report())
 */
import type { Result } from './checks.js';

export function formatLine(r: Result): string {
  const lines = [`${r.status.padEnd(4)}  [${r.section}] ${r.id}: ${r.title}`, `      ${r.detail} (${(r.ms / 1000).toFixed(1)} s)`];
  if (r.status === 'FAIL') {
    if (r.sent !== undefined) lines.push(`      sent:     ${r.sent}`);
    if (r.received !== undefined) lines.push(`      received: ${r.received}`);
  }
  return lines.join('\n');
}

export function counts(results: readonly Result[]): { pass: number; fail: number; skip: number } {
  return {
    pass: results.filter((r) => r.status === 'PASS').length,
    fail: results.filter((r) => r.status === 'FAIL').length,
    skip: results.filter((r) => r.status === 'SKIP').length,
  };
}

export function summary(results: readonly Result[]): string {
  const c = counts(results);
  return `${results.length} checks: ${c.pass} passed, ${c.fail} failed, ${c.skip} skipped`;
}

export function report(peer: string, results: readonly Result[]): object {
  return { peer, ...counts(results), results };
}
