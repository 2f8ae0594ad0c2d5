/**
 * UDP GSO where the route's MTU is below the datagram size: the kernel
 * refuses such a GSO message (EINVAL), and the addon must then send the run
 * one datagram at a time (the kernel fragments them) instead of losing it.
 * Runs in a private network namespace whose loopback MTU is set to 1280
 * (root only; skipped loudly without, failing under WGTS_INTEROP=required).
 */
import { afterAll, describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { interopMode, which } from '../harness/interop.js';
import { Netns } from '../harness/netns.js';
import { nativeUdp } from '../../src/host/native-udp.js';

const why = !nativeUdp()
  ? 'native UDP unavailable (addon not built, or WGTS_NATIVE_UDP=0)'
  : process.getuid?.() !== 0
    ? 'not root: needs a private network namespace to lower the loopback MTU'
    : which('ip') ? null : '`ip` not found on PATH';

if (why && interopMode() === 'required') {
  it('GSO below the path MTU: prerequisites (WGTS_INTEROP=required)', () => assert.fail(why));
}

describe('native UDP: GSO runs larger than the path MTU', { skip: !!why }, () => {
  let ns: Netns | undefined;
  afterAll(async () => { await ns?.destroy(); });

  it('with lo at MTU 1280, runs of 1400-byte datagrams still arrive whole, in order, none dropped', async () => {
    ns = await Netns.create('gsomtu');
    await ns.exec(['ip', 'link', 'set', 'lo', 'mtu', '1280', 'up'], { check: true });
    const child = fileURLToPath(new URL('./native-udp-mtu-child.js', import.meta.url));
    const r = await ns.exec([process.execPath, child], { timeoutMs: 20_000 });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
      error?: string; sent: number; received: number; same: boolean; sizes: string; dropped: Record<string, number>; gso: boolean;
    };
    assert.equal(out.error, undefined);
    assert.equal(out.received, out.sent, out.sizes);
    assert.equal(out.same, true, 'contents and boundaries');
    assert.deepEqual(out.dropped, {});
    assert.equal(out.gso, true, 'EINVAL for one oversized run does not turn GSO off for the socket');
  });
});
