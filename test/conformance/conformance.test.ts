// `wgts conformance` (the built CLI) against real peers: wgts itself
// (`wgts up --userspace`) and wireguard-go, each in its own namespace joined
// to the checker's by a veth, must pass every check; peers that are not
// WireGuard (a UDP echo, a black hole) must produce FAILs and never a PASS.
// The kernel's run lives in test/interop/kernel-wireguard.test.ts, which
// already has a guest booted.
import { it } from 'vitest';
import assert from 'node:assert/strict';
import {
  formatEndpoint, genKeyPair, interopSuite, Netns, vethPair, WireguardGo,
  type VethPair, type WgKeyPair,
} from '../harness/netns.js';
import { WgtsProc } from '../interop/wgts-proc.js';
import { runConformance } from './run-cli.js';

const OUTER = { c4: '198.18.80.1/24', p4: '198.18.80.2/24' };
const INNER = { c4: '198.19.80.1', p4: '198.19.80.2' };
const PORT = 51880;

interopSuite('wgts conformance against wgts, wireguard-go and non-WireGuard peers', { timeout: 400_000, needs: ['socat'] }, () => {
  let c: Netns;
  let p: Netns;
  let link: VethPair;
  let kc: WgKeyPair;
  let kp: WgKeyPair;

  it('sets up the checker and peer namespaces', { timeout: 15_000 }, async () => {
    c = await Netns.create('cc');
    p = await Netns.create('cp');
    link = await vethPair(c, p, { aAddr4: OUTER.c4, bAddr4: OUTER.p4 });
    [kc, kp] = await Promise.all([genKeyPair(), genKeyPair()]);
  });

  it('wgts (userspace) passes every check', { timeout: 120_000 }, async () => {
    const wgts = await WgtsProc.start(p, {
      privateKey: kp.privateKey, listenPort: PORT, addresses: [`${INNER.p4}/24`],
      peers: [{ publicKey: kc.publicKey, allowedIps: [`${INNER.c4}/32`] }],
    });
    try {
      const r = await runConformance(c, formatEndpoint(link.bAddr4, PORT), kp.publicKey, kc, { ours: INNER.c4, theirs: INNER.p4 });
      assert.equal(r.code, 0, r.stdout + wgts.output());
      assert.ok(r.lines.filter((l) => l.status === 'PASS').length >= 11, r.stdout);
      assert.ok(!r.stdout.includes(kc.privateKey), 'our private key is never printed');
    } finally {
      await wgts.stop();
    }
  });

  it('wireguard-go passes every check', { timeout: 120_000 }, async () => {
    const wg = await WireguardGo.start(p);
    try {
      await wg.setconf({ privateKey: kp.privateKey, listenPort: PORT + 1, peers: [{ publicKey: kc.publicKey, allowedIps: [`${INNER.c4}/32`] }] });
      await wg.addAddress(`${INNER.p4}/24`);
      await wg.up();
      const r = await runConformance(c, formatEndpoint(link.bAddr4, PORT + 1), kp.publicKey, kc, { ours: INNER.c4, theirs: INNER.p4 });
      assert.equal(r.code, 0, r.stdout);
      assert.ok(r.lines.filter((l) => l.status === 'PASS').length >= 11, r.stdout);
    } finally {
      await wg.stop();
    }
  });

  for (const kind of ['UDP echo', 'black hole'] as const) {
    it(`a ${kind} is not WireGuard: FAILs, never a PASS`, { timeout: 120_000 }, async () => {
      const port = kind === 'UDP echo' ? PORT + 2 : PORT + 3;
      const peer = p.spawn(kind === 'UDP echo'
        ? ['socat', `UDP4-RECVFROM:${port},fork`, 'EXEC:cat']
        : ['socat', '-u', `UDP4-RECV:${port}`, 'OPEN:/dev/null'], { label: `socat ${kind}` });
      try {
        await new Promise((r) => setTimeout(r, 300));
        const r = await runConformance(c, formatEndpoint(link.bAddr4, port), kp.publicKey, kc, { ours: INNER.c4, theirs: INNER.p4 });
        assert.equal(r.code, 1, r.stdout);
        assert.ok(r.lines.length >= 11, `every check reported\n${r.stdout}`);
        assert.deepEqual(r.lines.filter((l) => l.status === 'PASS'), [], `no PASS against a ${kind}\n${r.stdout}`);
        assert.ok(r.lines.some((l) => l.id === 'handshake' && l.status === 'FAIL'), r.stdout);
      } finally {
        await peer.stop();
      }
    });
  }

  it('cleans up', { timeout: 15_000 }, async () => {
    await c.destroy();
    await p.destroy();
  });
});
