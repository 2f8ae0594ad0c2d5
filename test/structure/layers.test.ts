/**
 * The folders under src/ are layers, and imports point one way: down the
 * README's Layout table (bottom layer first). The order is written once,
 * in that table; this test reads it, parses every import under src/ and
 * fails on an import from a folder to one listed after it.
 *
 *   README "## Layout" rows -> layer order
 *   src/**.ts -> relative import specifiers -> (from folder, to folder)
 *   -> every arrow must point to the same or an earlier row
 */
import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, from dist/test/structure/ (compiled) or test/structure/ (sources). */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    try {
      if (statSync(join(dir, 'package.json')).isFile() && statSync(join(dir, 'src')).isDirectory()) return dir;
    } catch { /* keep climbing */ }
    dir = dirname(dir);
  }
  throw new Error('repository root not found above ' + fileURLToPath(import.meta.url));
}

/** The src/ folders named in the README's Layout table, in table order. */
export function layerOrder(readme: string): string[] {
  const at = readme.indexOf('\n## Layout');
  if (at < 0) return [];
  const next = readme.indexOf('\n## ', at + 1);
  const section = readme.slice(at, next < 0 ? undefined : next);
  return [...section.matchAll(/^\| `src\/([A-Za-z0-9_-]+)` \|/gm)].map((m) => m[1]!);
}

/** Relative module specifiers of one source file: static, re-export, side-effect and dynamic imports, and worker URLs. */
export function importSpecifiers(text: string): string[] {
  // Comments may quote import lines; drop them (block comments, then whole-line // comments).
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\bnew URL\(\s*)(['"])(\.{1,2}\/[^'"]+)\1/g;
  return [...code.matchAll(re)].map((m) => m[2]!);
}

export interface Arrow { from: string; to: string; fromFolder: string; toFolder: string }

/**
 * Imports that point up the order: from a file in folder A to a file in
 * folder B listed after A. Paths are relative to src/ ("nat/relay.ts").
 * A folder missing from the order is reported with to/toFolder = '?'.
 */
export function upwardArrows(files: Map<string, string>, order: readonly string[]): { up: Arrow[]; unplaced: string[]; arrows: number } {
  const rank = new Map(order.map((f, i) => [f, i]));
  const up: Arrow[] = [];
  const unplaced = new Set<string>();
  let arrows = 0;
  for (const [path, text] of files) {
    const fromFolder = path.split('/')[0]!;
    if (!rank.has(fromFolder)) unplaced.add(fromFolder);
    for (const spec of importSpecifiers(text)) {
      const to = normalize(join(dirname(path), spec)).split(sep).join('/');
      if (to.startsWith('..')) continue; // outside src/ (native/, package.json)
      const toFolder = to.split('/')[0]!;
      if (toFolder === fromFolder) continue;
      arrows++;
      if (!rank.has(toFolder)) { unplaced.add(toFolder); continue; }
      if ((rank.get(toFolder) ?? -1) > (rank.get(fromFolder) ?? Infinity)) up.push({ from: path, to, fromFolder, toFolder });
    }
  }
  return { up, unplaced: [...unplaced].sort(), arrows };
}

function sourceFiles(src: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.ts')) out.set(relative(src, p).split(sep).join('/'), readFileSync(p, 'utf8'));
    }
  };
  walk(src);
  return out;
}

describe('layers', () => {
  it('finds every kind of import and reports one that points up the order', () => {
    const files = new Map([
      ['low/a.ts', "import { x } from '../high/b.js';\nexport * from '../mid/c.js';"],
      ['mid/c.ts', "import '../low/a.js';\nconst m = await import('../high/b.js');\n// import { y } from '../high/b.js';\n"],
      ['high/b.ts', "import type {\n  Z,\n} from '../low/a.js';\nnew Worker(new URL('../mid/w.js', import.meta.url));"],
    ]);
    const r = upwardArrows(files, ['low', 'mid', 'high']);
    assert.deepEqual(r.up.map((a) => `${a.from} -> ${a.to}`), [
      'low/a.ts -> high/b.js',
      'low/a.ts -> mid/c.js',
      'mid/c.ts -> high/b.js',
    ]);
    assert.equal(r.arrows, 6, 'the commented-out import is not an arrow');
    assert.deepEqual(upwardArrows(files, ['low', 'mid']).unplaced, ['high']);
  });

  const root = repoRoot();
  const order = layerOrder(readFileSync(join(root, 'README.md'), 'utf8'));

  it('the README Layout table names every folder under src/, each once', () => {
    const folders = readdirSync(join(root, 'src')).filter((n) => statSync(join(root, 'src', n)).isDirectory()).sort();
    assert.deepEqual([...new Set(order)].sort(), folders);
    assert.equal(new Set(order).size, order.length, `a folder is listed twice: ${order.join(', ')}`);
  });

  it('no import under src/ points from a folder to one listed after it', () => {
    const r = upwardArrows(sourceFiles(join(root, 'src')), order);
    assert.ok(r.arrows > 50, `only ${r.arrows} cross-folder imports found: the parser is broken`);
    assert.deepEqual(r.unplaced, [], 'folders missing from the README Layout table');
    assert.deepEqual(r.up.map((a) => `${a.from} -> ${a.to} (${a.fromFolder} is below ${a.toFolder})`), []);
  });
});
