// Unit test of the kernel guest's initramfs cache pruning (no qemu needed):
// a fresh build supersedes older builds of the same kernel and builds of
// kernels no longer installed; a young temporary file (a concurrent build)
// and foreign names stay.
import { it } from 'vitest';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pruneInitramfsCache } from './kernel-guest.js';

it('pruneInitramfsCache keeps the new build, other installed kernels, young temp files and foreign names', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wgts-kcache-'));
  t.onTestFinished(async () => { await rmSync(dir, { recursive: true, force: true }); });
  const names = {
    keep: 'initramfs-6.1.0-57-amd64-3182dfab8602b01d.cpio',
    sameVersionOlder: 'initramfs-6.1.0-57-amd64-0000000000000001.cpio',
    otherInstalled: 'initramfs-6.1.0-58-amd64-aaaaaaaaaaaaaaaa.cpio',
    removedKernel: 'initramfs-5.10.0-9-amd64-bbbbbbbbbbbbbbbb.cpio',
    oldTmp: 'initramfs-6.1.0-57-amd64-3182dfab8602b01d.cpio.123.tmp',
    youngTmp: 'initramfs-6.1.0-58-amd64-aaaaaaaaaaaaaaaa.cpio.456.tmp',
    foreign: 'notes.txt',
  };
  for (const n of Object.values(names)) writeFileSync(join(dir, n), 'x');
  const now = Date.now();
  utimesSync(join(dir, names.oldTmp), new Date(now - 2 * 3600_000), new Date(now - 2 * 3600_000));
  const installed = (v: string) => v.startsWith('6.1.0-');
  const removed = pruneInitramfsCache(dir, join(dir, names.keep), installed, now);
  assert.deepEqual(removed.sort(), [names.oldTmp, names.removedKernel, names.sameVersionOlder].sort());
  assert.deepEqual(readdirSync(dir).sort(), [names.foreign, names.keep, names.otherInstalled, names.youngTmp].sort());
  // Idempotent: a second pass finds nothing more.
  assert.deepEqual(pruneInitramfsCache(dir, join(dir, names.keep), installed, now), []);
});

it('pruneInitramfsCache on a missing directory removes nothing', () => {
  assert.deepEqual(pruneInitramfsCache(join(tmpdir(), 'wgts-kcache-missing-' + process.pid), '/x/initramfs-1-0000000000000000.cpio'), []);
});
