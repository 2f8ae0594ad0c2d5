/**
 * Link-local IPv6 through the addon's UDP sockets: a peer reached as
 * "fe80::b%IFNAME" answers to the scoped source it was told ("fe80::a%INDEX"),
 * as node:dgram's rinfo would have allowed, from the scoped address it was
 * sent to (sticky source, with the interface index). Two namespaces joined by a veth
 * with only link-local addresses (root only; skipped loudly without, failing
 * under WGTS_INTEROP=required).
 */
import { afterAll, describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { interopMode, which } from '../harness/interop.js';
import { Netns, vethPair } from '../harness/netns.js';
import { waitFor } from '../harness/wait.js';
import { nativeUdp } from '../../src/host/native-udp.js';

const why = !nativeUdp()
  ? 'native UDP unavailable (addon not built, or WGTS_NATIVE_UDP=0)'
  : process.getuid?.() !== 0
    ? 'not root: needs two network namespaces'
    : which('ip') ? null : '`ip` not found on PATH';

if (why && interopMode() === 'required') {
  it('link-local UDP: prerequisites (WGTS_INTEROP=required)', () => assert.fail(why));
}

const CHILD = fileURLToPath(new URL('./native-udp-linklocal-child.js', import.meta.url));

describe('native UDP: link-local IPv6 peers keep their scope', { skip: !!why }, () => {
  const spaces: Netns[] = [];
  afterAll(async () => { for (const ns of spaces) await ns.destroy(); });

  it('a datagram to fe80::b%if arrives with a scoped source, and the reply to that source comes back', async () => {
    const a = await Netns.create('llA');
    const b = await Netns.create('llB');
    spaces.push(a, b);
    const link = await vethPair(a, b, { aAddr4: '198.18.77.1/24', bAddr4: '198.18.77.2/24', aAddr6: 'fe80::a/64', bAddr6: 'fe80::b/64' });
    const echo = b.spawn([process.execPath, CHILD, 'echo', '47001'], { label: 'echo' });
    try {
      await waitFor(() => echo.output().includes('READY'), 10_000, 'the echo child');
      const r = await a.exec([process.execPath, CHILD, 'send', `fe80::b%${link.aIf}`, '47001'], { timeoutMs: 20_000 });
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { error?: string; reply?: string; from?: { address: string; port: number }; port?: number };
      assert.equal(out.error, undefined, r.stdout);
      assert.equal(out.reply, 'echo:ping');
      assert.match(out.from!.address, /^fe80::b%\d+$/, 'the reply is from b, scoped');
      assert.equal(out.from!.port, 47001);
      // b saw a's link-local address with b's interface index, and replied to exactly that.
      const seen = /FROM (\S+) (\d+) TO (\S+)/.exec(echo.output());
      assert.ok(seen, echo.output());
      // a's source is the kernel's pick among a's link-local addresses (fe80::a or the one the kernel made): scoped either way.
      assert.match(seen[1]!, /^fe80::[0-9a-f:]+%\d+$/);
      // ... and learnt the scoped address it was sent to, which it replied from.
      assert.match(seen[3]!, /^fe80::b%\d+$/);
      assert.equal(Number(seen[2]), out.port);
    } finally {
      await echo.stop(2000);
    }
  });
});
