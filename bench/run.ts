/**
 * `npm run bench`: runs every benchmark module, prints one table and writes
 * JSON to bench/results/. Each module exports `run(): Promise<Row[]>`.
 */
import { mkdirSync, writeFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { printTable, type Row } from './harness.js';

const here = dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const modules = readdirSync(here)
  .filter((f) => f.endsWith('.bench.js'))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort();

const rows: Row[] = [];
for (const m of modules) {
  const mod = (await import(join(here, m))) as { run: () => Promise<Row[]> };
  process.stderr.write(`running ${m}...\n`);
  rows.push(...(await mod.run()));
}
printTable(rows);
const outDir = join(here, '..', '..', 'bench', 'results');
mkdirSync(outDir, { recursive: true });
const file = join(outDir, `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, JSON.stringify({ node: process.version, date: new Date().toISOString(), rows }, null, 2));
console.log(`\nwrote ${file}`);
