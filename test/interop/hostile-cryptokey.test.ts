// Cryptokey routing against wireguard-go as the sender: wireguard-go (ns g)
// owns an extra address outside wgts's AllowedIPs for it, and pings wgts's
// inner address from it. wireguard-go encrypts the packet (the destination is
// in its AllowedIPs); wgts (ns w, --userspace) must drop it after decryption
// as `source-not-allowed` (whitepaper section 2, "Cryptokey Routing") and
// count it in `wgts show NAME --json`, while a normal ping still works. wgts
// also knows a third peer (no endpoint) owning INNER.third; wireguard-go
// pinging from that address impersonates it and must be dropped the same way.
import { beforeAll, it } from 'vitest';
import assert from 'node:assert/strict';
import {
  exec, formatEndpoint, genKeyPair, interopSuite, Netns, ping, vethPair, waitFor, WireguardGo, type VethPair, type WgKeyPair,
} from '../harness/netns.js';
import { WgtsProc, CLI } from './wgts-proc.js';

const OUTER = { w4: '198.18.21.1/24', g4: '198.18.21.2/24' };
const INNER = { w4: '198.19.21.1', g4: '198.19.21.2', spoof: '198.19.22.99', third: '198.19.21.3' };
const PORT_W = 51830;
const PORT_G = 51831;

interopSuite('hostile: cryptokey routing, wireguard-go as the sender', { timeout: 60_000, needs: ['ping'] }, () => {
  let w: Netns;
  let g: Netns;
  let link: VethPair;
  let wg: WireguardGo;
  let kw: WgKeyPair;
  let kg: WgKeyPair;
  let kc: WgKeyPair;
  let wgts: WgtsProc;

  async function drops(): Promise<Record<string, number>> {
    const r = await exec([process.execPath, CLI, 'show', wgts.name, '--json'], { timeoutMs: 5000 });
    assert.equal(r.code, 0, r.stderr);
    const v = JSON.parse(r.stdout) as { drops?: Record<string, number> };
    return v.drops ?? {};
  }

  // wgts <-> wireguard-go; wireguard-go also holds an address outside wgts's
  // AllowedIPs and one that wgts routes to a third peer.
  beforeAll(async () => {
    w = await Netns.create('ckw');
    g = await Netns.create('ckg');
    link = await vethPair(w, g, { aAddr4: OUTER.w4, bAddr4: OUTER.g4 });
    [kw, kg, kc] = await Promise.all([genKeyPair(), genKeyPair(), genKeyPair()]);
    wg = await WireguardGo.start(g);
    await wg.setconf({
      privateKey: kg.privateKey,
      listenPort: PORT_G,
      peers: [{ publicKey: kw.publicKey, endpoint: formatEndpoint(link.aAddr4, PORT_W), allowedIps: [`${INNER.w4}/32`] }],
    });
    await wg.addAddress(`${INNER.g4}/24`);
    await wg.addAddress(`${INNER.spoof}/32`);
    await wg.addAddress(`${INNER.third}/32`);
    await wg.up();
    wgts = await WgtsProc.start(w, {
      privateKey: kw.privateKey,
      listenPort: PORT_W,
      addresses: [`${INNER.w4}/24`],
      peers: [
        { publicKey: kg.publicKey, endpoint: formatEndpoint(link.bAddr4, PORT_G), allowedIps: [`${INNER.g4}/32`] },
        { publicKey: kc.publicKey, allowedIps: [`${INNER.third}/32`] },
      ],
    });
  }, 20_000);

  it('a normal ping works (session up)', { timeout: 15_000 }, async () => {
    const p = await ping(g, INNER.w4, 3);
    assert.equal(p.received, 3, p.output + '\n' + wgts.output());
  });

  it('a ping sourced outside AllowedIPs is encrypted by wireguard-go, dropped by wgts and counted', { timeout: 20_000 }, async () => {
    const before = (await drops())['source-not-allowed'] ?? 0;
    const txBefore = (await wg.show()).peers[0]!.txBytes;
    const r = await g.exec(['ping', '-n', '-q', '-c', '5', '-i', '0.2', '-W', '1', '-I', INNER.spoof, INNER.w4], { timeoutMs: 15_000 });
    const m = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(r.stdout);
    assert.ok(m, r.stdout + r.stderr);
    assert.equal(Number(m[1]), 5, r.stdout);
    assert.equal(Number(m[2]), 0, `no reply to a spoofed source:\n${r.stdout}`);
    // wireguard-go did send them through the tunnel (its transfer counter grew by
    // at least 5 encrypted echo requests of 84 inner bytes).
    const sent = (await wg.show()).peers[0]!.txBytes - txBefore;
    assert.ok(sent >= 5 * 84, `wireguard-go sent ${sent} bytes to wgts`);
    const after = (await drops())['source-not-allowed'] ?? 0;
    assert.ok(after - before >= 5, `source-not-allowed ${before} -> ${after}\n${wgts.output()}`);
  });

  it('a ping from the address of another peer of wgts is dropped once and not delivered', { timeout: 20_000 }, async () => {
    const before = await drops();
    const txBefore = (await wg.show()).peers[0]!.txBytes;
    const r = await g.exec(['ping', '-n', '-q', '-c', '1', '-W', '1', '-I', INNER.third, INNER.w4], { timeoutMs: 10_000 });
    assert.match(r.stdout, /1 packets transmitted, 0 (?:packets )?received/, r.stdout + r.stderr);
    const sent = (await wg.show()).peers[0]!.txBytes - txBefore;
    assert.ok(sent >= 84, `wireguard-go sent ${sent} bytes to wgts`);
    const count = (d: Record<string, number>, k: string) => (d[k] ?? 0) - (before[k] ?? 0);
    const after = await waitFor(async () => {
      const d = await drops();
      return count(d, 'source-not-allowed') >= 1 ? d : null;
    }, 5000, 'wgts to count the spoofed packet');
    assert.equal(count(after, 'source-not-allowed'), 1, `exactly one drop\n${wgts.output()}`);
    // Delivered, wgts's stack would answer towards the third peer, which has no endpoint.
    assert.equal(count(after, 'no-endpoint'), 0, 'no echo reply was routed to the third peer');
  });

  it('a normal ping still works afterwards', { timeout: 15_000 }, async () => {
    const p = await ping(g, INNER.w4, 3);
    assert.equal(p.received, 3, p.output);
    assert.ok(wgts.proc.running, 'wgts still running');
  });

  it('stops cleanly', { timeout: 15_000 }, async () => {
    assert.equal(await wgts.stop(), 0);
    await wg.stop();
  });
});
