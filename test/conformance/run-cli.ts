// Runs the built `wgts conformance` CLI inside a test namespace, with the
// checker's private key in a 0600 file, and parses its PASS/FAIL/SKIP lines;
// the whole output goes to stderr so a run's table is in the test log.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trackPath, type Netns, type WgKeyPair } from '../harness/netns.js';
import { CLI } from '../interop/wgts-proc.js';

export interface ConformanceRun {
  code: number | null;
  stdout: string;
  lines: Array<{ status: string; id: string }>;
}

/** Run `wgts conformance` in `ns` against HOST:PORT with our key in a 0600 file. */
export async function runConformance(ns: Netns, target: string, peerPublicKey: string, ours: WgKeyPair, addrs: { ours: string; theirs: string }, timeoutMs = 120_000): Promise<ConformanceRun> {
  const dir = mkdtempSync(join(tmpdir(), 'wgts-conf-'));
  trackPath(dir);
  const keyFile = join(dir, 'key');
  writeFileSync(keyFile, ours.privateKey + '\n', { mode: 0o600 });
  const r = await ns.exec([process.execPath, CLI, 'conformance', target, '--public-key', peerPublicKey, '--private-key-file', keyFile,
    '--address', addrs.ours, '--peer-address', addrs.theirs], { timeoutMs });
  process.stderr.write(`---- wgts conformance ${target} (exit ${r.code}) ----\n${r.stdout}${r.stderr}`);
  const lines = [...r.stdout.matchAll(/^(PASS|FAIL|SKIP)\s+\[[^\]]*\] ([\w-]+):/gm)].map((m) => ({ status: m[1]!, id: m[2]! }));
  return { code: r.code, stdout: r.stdout + r.stderr, lines };
}
