/**
 * `npm run bench`: runs every benchmark module (or those named), prints one
 * table and writes JSON to bench/results/. Each module exports
 * `run(): Promise<Row[]>`, optionally `about` (one line for --help) and
 * `needsRoot`. A module that throws is reported and the others still run;
 * rows a module could not measure (no root, a tool missing) are listed as
 * SKIPPED under the table and in the JSON.
 *
 *   argv -> modules -> run() each (stderr SKIP lines kept) -> table + JSON
 */
import { mkdirSync, writeFileSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { printTable, ratio, takeSkips, type Row, type Skip } from './harness.js';

interface BenchModule { run: () => Promise<Row[]>; about?: string; needsRoot?: boolean }

const here = dirname(fileURLToPath(import.meta.url));
const stem = (f: string) => f.replace(/\.bench\.js$/, '');
const all = readdirSync(here).filter((f) => f.endsWith('.bench.js')).sort();

/** The module's `about`, else the first sentence of its file-top comment. */
function describe(file: string, mod: BenchModule): string {
  if (mod.about) return mod.about;
  const src = readFileSync(join(here, file), 'utf8');
  const m = /\/\*\*([\s\S]*?)\*\//.exec(src);
  const text = (m?.[1] ?? '').replace(/^\s*\* ?/gm, ' ').replace(/\s+/g, ' ').trim();
  const flat = text.replace(/\s*\([^)]*\)/g, '');
  const first = (/^(.*?)[.:;](\s|$)/.exec(flat)?.[1] ?? flat).trim();
  return first.length > 110 ? first.slice(0, 107) + '...' : first;
}

async function help(): Promise<void> {
  console.log(`Usage: npm run bench [-- [--row NAME]... [NAME...]]
       node dist/bench/run.js [--row NAME]... [NAME...]

Runs the named benchmark modules (all without a name), prints one table
(wgts figure, a reference measured in the same run, ratio = wgts / reference,
the issue's target) and writes JSON to bench/results/. NAME is a module below
(exact, else the modules whose name contains it). Rows marked "root" build
network namespaces: without root they are skipped and listed as SKIPPED.

Rows:`);
  const width = Math.max(...all.map((f) => stem(f).length));
  for (const f of all) {
    const mod = (await import(join(here, f))) as BenchModule;
    const src = readFileSync(join(here, f), 'utf8');
    const root = mod.needsRoot ?? /canRunInterop|getuid/.test(src);
    console.log(`  ${stem(f).padEnd(width)}  ${root ? 'root' : '    '}  ${describe(f, mod)}`);
  }
}

function parseArgs(argv: string[]): { names: string[]; help: boolean } | string {
  const names: string[] = [];
  let wantHelp = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--help' || a === '-h' || a === '--list') wantHelp = true;
    else if (a === '--row' || a === '--rows') {
      const v = argv[++i];
      if (!v) return `${a} needs a NAME`;
      names.push(...v.split(',').filter(Boolean));
    } else if (a.startsWith('--row=') || a.startsWith('--rows=')) names.push(...a.slice(a.indexOf('=') + 1).split(',').filter(Boolean));
    else if (a.startsWith('-')) return `unknown option ${a}`;
    else names.push(a);
  }
  return { names, help: wantHelp };
}

function select(names: string[]): string[] | string {
  if (names.length === 0) return all;
  const chosen = new Set<string>();
  for (const n of names) {
    const exact = all.filter((f) => stem(f) === n);
    const hits = exact.length > 0 ? exact : all.filter((f) => f.includes(n));
    if (hits.length === 0) return `no bench row "${n}"; available: ${all.map(stem).join(', ')}`;
    hits.forEach((h) => chosen.add(h));
  }
  return all.filter((f) => chosen.has(f));
}

const args = parseArgs(process.argv.slice(2));
if (typeof args === 'string') {
  process.stderr.write(`bench: ${args} (see --help)\n`);
  process.exit(2);
}
if (args.help) {
  await help();
  process.exit(0);
}
const modules = select(args.names);
if (typeof modules === 'string') {
  process.stderr.write(`bench: ${modules}\n`);
  process.exit(2);
}
if (process.getuid?.() !== 0) {
  process.stderr.write('bench: not root: rows that need network namespaces will be SKIPPED (run as root for them)\n');
}

const rows: Row[] = [];
const skipped: Skip[] = [];
const failed: Array<{ module: string; error: string }> = [];
const seconds: Record<string, number> = {};
for (const m of modules) {
  const name = stem(m);
  process.stderr.write(`running ${m}...\n`);
  // Keep the SKIP lines older modules print on stderr, for the summary.
  const said: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    for (const line of text.split('\n')) if (/\bSKIP\b|\bskipped\b/i.test(line)) said.push(line.trim());
    return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stderr.write;
  const t0 = performance.now();
  try {
    const mod = (await import(join(here, m))) as BenchModule;
    const got = await mod.run();
    rows.push(...got);
    const own = takeSkips();
    skipped.push(...own.map((s) => ({ group: s.group.startsWith(name) ? s.group : `${name}: ${s.group}`, why: s.why })));
    if (got.length === 0 && own.length === 0) {
      skipped.push({ group: name, why: said.join('; ') || 'the module returned no rows (see its output above)' });
    }
  } catch (err) {
    const e = err as Error;
    failed.push({ module: name, error: e.message.split('\n')[0]! });
    write(`bench ${name} FAILED: ${e.stack ?? e.message}\n`);
    // Whatever the module left running is stopped before the next one starts.
    const { cleanupAll } = await import('../test/harness/registry.js');
    await cleanupAll().catch((c: Error) => write(`cleanup after ${name}: ${c.message}\n`));
  } finally {
    process.stderr.write = write;
    seconds[name] = Math.round((performance.now() - t0) / 100) / 10;
  }
}

console.log('');
printTable(rows);
for (const s of skipped) console.log(`SKIPPED ${s.group}: ${s.why}`);
for (const f of failed) console.log(`FAILED  ${f.module}: ${f.error}`);
const outDir = join(here, '..', '..', 'bench', 'results');
mkdirSync(outDir, { recursive: true });
const date = new Date().toISOString();
const file = join(outDir, `${date.replace(/[:.]/g, '-')}.json`);
const out = rows.map((r) => ({ ...r, ratio: ratio(r) }));
try {
  writeFileSync(file, JSON.stringify({ node: process.version, date, argv: process.argv.slice(2), seconds, rows: out, skipped, failed }, null, 2));
  console.log(`\nwrote ${file}`);
} catch (err) {
  console.log(`\ncould not write ${file}: ${(err as Error).message}`);
  process.exitCode = 1;
}
if (failed.length > 0) process.exitCode = 1;
