// TUN mode: `wgts up --tun` as a drop-in for wg-quick, against wireguard-go in
// another namespace. The kernel's own stack carries traffic through the wgts
// interface; `wgts down`, SIGTERM and kill -9 + recovery leave nothing behind;
// a full-tunnel config keeps its handshake through the fwmark policy rules.
import { beforeAll, it } from 'vitest';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  formatEndpoint, genKeyPair, interopSuite, Netns, ping, vethPair, waitFor, WireguardGo,
  type VethPair, type WgKeyPair,
} from '../harness/netns.js';
import { WgtsProc, CLI } from './wgts-proc.js';
import { tunAvailable } from '../../src/tun/index.js';

const OUTER = { w4: '198.18.3.1/24', g4: '198.18.3.2/24' };
const INNER = { w4: '198.19.3.1', g4: '198.19.3.2', w6: 'fd77:7767:7473:32::1', g6: 'fd77:7767:7473:32::2' };
const PORT_W = 51840;
const PORT_G = 51841;

const avail = tunAvailable();

interopSuite('wgts --tun <-> wireguard-go', { timeout: 120_000, needs: ['ping', 'nft'] }, () => {
  let w: Netns;
  let g: Netns;
  let link: VethPair;
  let wg: WireguardGo;
  let kw: WgKeyPair;
  let kg: WgKeyPair;
  let wgts: WgtsProc | null = null;

  const conf = (allowed: string[], extra = '') => ({
    privateKey: kw.privateKey, listenPort: PORT_W, addresses: [`${INNER.w4}/24`, `${INNER.w6}/64`],
    peers: [{ publicKey: kg.publicKey, endpoint: formatEndpoint(link.bAddr4, PORT_G), allowedIps: allowed, persistentKeepalive: 25 }],
    extra,
  });

  async function links(): Promise<string> {
    return (await w.exec(['ip', '-o', 'link', 'show'])).stdout;
  }

  it('TUN support is built and loadable here', () => {
    assert.ok(avail.ok, avail.ok ? '' : avail.why);
  });

  // Fixture: namespaces and wireguard-go.
  beforeAll(async () => {
    w = await Netns.create('tw');
    g = await Netns.create('tg');
    link = await vethPair(w, g, { aAddr4: OUTER.w4, bAddr4: OUTER.g4 });
    [kw, kg] = await Promise.all([genKeyPair(), genKeyPair()]);
    wg = await WireguardGo.start(g);
    await wg.setconf({ privateKey: kg.privateKey, listenPort: PORT_G, peers: [{ publicKey: kw.publicKey, allowedIps: [`${INNER.w4}/32`, `${INNER.w6}/128`] }] });
    await wg.addAddress(`${INNER.g4}/24`);
    await wg.addAddress(`${INNER.g6}/64`);
    await wg.up();
  }, 15_000);

  it('wgts up --tun creates the interface the wg-quick way and kernel traffic flows both ways', { timeout: 20_000 }, async () => {
    wgts = await WgtsProc.start(w, conf([`${INNER.g4}/32`, `${INNER.g6}/128`]), { mode: '--tun' });
    const out = wgts.output();
    assert.match(out, /TUN mode/);
    assert.match(out, new RegExp(`\\[#\\] ip -4 address add ${INNER.w4}/24 dev ${wgts.name}`));
    assert.match(out, /\[#\] ip link set mtu \d+ up dev/);
    // As wg-quick: no route for a /32 the interface's own /24 already covers.
    assert.doesNotMatch(out, new RegExp(`route add ${INNER.g4}/32`));
    assert.match(await links(), new RegExp(`${wgts.name}:`));
    const a = await ping(w, INNER.g4, 3);
    assert.equal(a.received, 3, a.output + wgts.output());
    const b = await ping(g, INNER.w6, 3);
    assert.equal(b.received, 3, b.output);
  });

  it('SIGTERM removes the interface and routes', { timeout: 15_000 }, async () => {
    const name = wgts!.name;
    assert.equal(await wgts!.stop(), 0);
    wgts = null;
    assert.doesNotMatch(await links(), new RegExp(`${name}:`));
  });

  it('wgts down NAME stops it from another process', { timeout: 20_000 }, async () => {
    wgts = await WgtsProc.start(w, conf([`${INNER.g4}/32`]), { mode: '--tun' });
    const name = wgts.name;
    const r = await w.exec([process.execPath, CLI, 'down', name], { timeoutMs: 15_000 });
    assert.equal(r.code, 0, r.stderr);
    await wgts.proc.exited;
    wgts = null;
    assert.doesNotMatch(await links(), new RegExp(`${name}:`));
  });

  it('after kill -9, the next wgts up recovers and runs', { timeout: 30_000 }, async () => {
    wgts = await WgtsProc.start(w, conf([`${INNER.g4}/32`]), { mode: '--tun' });
    const name = wgts.name;
    wgts.proc.signal('SIGKILL');
    await wgts.proc.exited;
    const again = await WgtsProc.start(w, conf([`${INNER.g4}/32`]), { mode: '--tun', name });
    wgts = again;
    assert.match(again.output(), /did not shut down; undoing/);
    const a = await ping(w, INNER.g4, 2);
    assert.equal(a.received, 2, a.output + again.output());
    assert.equal(await again.stop(), 0);
    wgts = null;
    assert.doesNotMatch(await links(), new RegExp(`${name}:`));
  });

  it('full tunnel (0.0.0.0/0, ::/0) keeps its handshake and routes other traffic into the tunnel', { timeout: 30_000 }, async () => {
    wgts = await WgtsProc.start(w, conf(['0.0.0.0/0', '::/0']), { mode: '--tun' });
    const out = wgts.output();
    assert.match(out, /suppress_prefixlength 0/);
    await wg.waitForHandshake(kw.publicKey, 8000);
    const a = await ping(w, INNER.g4, 3);
    assert.equal(a.received, 3, a.output + out);
    // An address that only exists beyond the tunnel: the kernel routes it into wgts (counted as tx).
    const before = (await wg.show()).peers[0]!.rxBytes;
    await w.exec(['ping', '-c', '1', '-W', '1', '203.0.113.77']);
    await waitFor(async () => (await wg.show()).peers[0]!.rxBytes > before, 5000, 'the packet to arrive through the tunnel');
    assert.equal(await wgts.stop(), 0);
    wgts = null;
    const rules = (await w.exec(['ip', 'rule', 'show'])).stdout;
    assert.doesNotMatch(rules, /suppress_prefixlength/);
  });

  it('cleans up', { timeout: 15_000 }, async () => {
    if (wgts) await wgts.stop();
    await wg.stop();
    await w.destroy();
    await g.destroy();
    assert.equal(spawnSync('ip', ['netns', 'list']).stdout.toString().includes(w.name), false);
  });
});
