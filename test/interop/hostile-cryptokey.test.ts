// Cryptokey routing against wireguard-go as the sender: wireguard-go (ns g)
// owns an extra address outside wgts's AllowedIPs for it, and pings wgts's
// inner address from it. wireguard-go encrypts the packet (the destination is
// in its AllowedIPs); wgts (ns w, --userspace) must drop it after decryption
// as `source-not-allowed` (whitepaper section 2, "Cryptokey Routing") and
// count it in `wgts show NAME --json`, while a normal ping still works.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import {
  exec, formatEndpoint, genKeyPair, interopSuite, Netns, ping, vethPair, WireguardGo, type VethPair, type WgKeyPair,
} from '../harness/netns.js';
import { WgtsProc, CLI } from './wgts-proc.js';

const OUTER = { w4: '198.18.21.1/24', g4: '198.18.21.2/24' };
const INNER = { w4: '198.19.21.1', g4: '198.19.21.2', spoof: '198.19.22.99' };
const PORT_W = 51830;
const PORT_G = 51831;

interopSuite('hostile: cryptokey routing, wireguard-go as the sender', { timeout: 60_000, needs: ['ping'] }, () => {
  let w: Netns;
  let g: Netns;
  let link: VethPair;
  let wg: WireguardGo;
  let kw: WgKeyPair;
  let kg: WgKeyPair;
  let wgts: WgtsProc;

  async function drops(): Promise<Record<string, number>> {
    const r = await exec([process.execPath, CLI, 'show', wgts.name, '--json'], { timeoutMs: 5000 });
    assert.equal(r.code, 0, r.stderr);
    const v = JSON.parse(r.stdout) as { drops?: Record<string, number> };
    return v.drops ?? {};
  }

  it('sets up wgts <-> wireguard-go; wireguard-go has an extra address outside wgts AllowedIPs', { timeout: 20_000 }, async () => {
    w = await Netns.create('ckw');
    g = await Netns.create('ckg');
    link = await vethPair(w, g, { aAddr4: OUTER.w4, bAddr4: OUTER.g4 });
    [kw, kg] = await Promise.all([genKeyPair(), genKeyPair()]);
    wg = await WireguardGo.start(g);
    await wg.setconf({
      privateKey: kg.privateKey,
      listenPort: PORT_G,
      peers: [{ publicKey: kw.publicKey, endpoint: formatEndpoint(link.aAddr4, PORT_W), allowedIps: [`${INNER.w4}/32`] }],
    });
    await wg.addAddress(`${INNER.g4}/24`);
    await wg.addAddress(`${INNER.spoof}/32`);
    await wg.up();
    wgts = await WgtsProc.start(w, {
      privateKey: kw.privateKey,
      listenPort: PORT_W,
      addresses: [`${INNER.w4}/24`],
      peers: [{ publicKey: kg.publicKey, endpoint: formatEndpoint(link.bAddr4, PORT_G), allowedIps: [`${INNER.g4}/32`] }],
    });
  });

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
