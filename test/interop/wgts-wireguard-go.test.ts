// Interop: `wgts up --userspace` in one namespace, wireguard-go (the reference)
// in the other, joined by a veth with IPv4 and IPv6 outer addresses. Proves the
// wire format (handshake and transport), both handshake directions, PSK, ping
// over inner IPv4 and IPv6, `wg show` against wgts over the UAPI, restart,
// roaming, a refused config and full cleanup.
import { beforeAll, it } from 'vitest';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import {
  exec, formatEndpoint, genKeyPair, genPresharedKey, interopSuite, Netns, parseWgDump, ping, vethPair, waitFor,
  WireguardGo, type VethPair, type WgKeyPair, listNamespacesSync, pidAlive,
} from '../harness/netns.js';
import { WgtsProc, CLI, uniqueWgtsName, renderConf } from './wgts-proc.js';

const OUTER = { w4: '198.18.1.1/24', g4: '198.18.1.2/24', w6: 'fd77:7767:7473:11::1/64', g6: 'fd77:7767:7473:11::2/64' };
const INNER = { w4: '198.19.1.1', g4: '198.19.1.2', w6: 'fd77:7767:7473:12::1', g6: 'fd77:7767:7473:12::2' };
const PORT_W = 51820;
const PORT_G = 51821;

interopSuite('wgts (userspace) <-> wireguard-go', { timeout: 90_000, needs: ['ping'] }, () => {
  let w: Netns;
  let g: Netns;
  let link: VethPair;
  let wg: WireguardGo;
  let kw: WgKeyPair;
  let kg: WgKeyPair;
  let wgts: WgtsProc | null = null;
  const procs: number[] = [];

  async function configureGo(opts: { psk?: string; endpoint?: string; port?: number } = {}) {
    await wg.setconf({
      privateKey: kg.privateKey,
      listenPort: opts.port ?? PORT_G,
      peers: [{
        publicKey: kw.publicKey,
        ...(opts.psk ? { presharedKey: opts.psk } : {}),
        ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
        allowedIps: [`${INNER.w4}/32`, `${INNER.w6}/128`],
      }],
    });
  }

  async function startWgts(opts: { psk?: string; endpoint?: string; keepalive?: number } = {}) {
    wgts = await WgtsProc.start(w, {
      privateKey: kw.privateKey,
      listenPort: PORT_W,
      addresses: [`${INNER.w4}/24`, `${INNER.w6}/64`],
      peers: [{
        publicKey: kg.publicKey,
        ...(opts.psk ? { presharedKey: opts.psk } : {}),
        endpoint: opts.endpoint ?? formatEndpoint(link.bAddr4, PORT_G),
        allowedIps: [`${INNER.g4}/32`, `${INNER.g6}/128`],
        ...(opts.keepalive ? { persistentKeepalive: opts.keepalive } : {}),
      }],
    });
    procs.push(wgts.proc.pid);
    return wgts;
  }

  async function stopWgts() {
    if (!wgts) return;
    const code = await wgts.stop();
    assert.equal(code, 0, 'clean exit on SIGTERM');
    assert.ok(!existsSync(wgts.socketPath), 'UAPI socket removed on shutdown');
    wgts = null;
  }

  async function wgShowWgts(): Promise<string> {
    const r = await exec(['wg', 'show', wgts!.name]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  }

  // Fixture: the namespaces, veth and wireguard-go.
  beforeAll(async () => {
    w = await Netns.create('w');
    g = await Netns.create('g');
    link = await vethPair(w, g, { aAddr4: OUTER.w4, bAddr4: OUTER.g4, aAddr6: OUTER.w6, bAddr6: OUTER.g6 });
    [kw, kg] = await Promise.all([genKeyPair(), genKeyPair()]);
    wg = await WireguardGo.start(g);
    await configureGo({ endpoint: formatEndpoint(link.aAddr4, PORT_W) });
    await wg.addAddress(`${INNER.g4}/24`);
    await wg.addAddress(`${INNER.g6}/64`);
    await wg.up();
  }, 15_000);

  it('wireguard-go initiates; ping over inner IPv4 and IPv6 reaches wgts', { timeout: 20_000 }, async () => {
    await startWgts();
    const p4 = await ping(g, INNER.w4, 3);
    assert.equal(p4.received, 3, p4.output + '\n' + wgts!.output());
    const p6 = await ping(g, INNER.w6, 3);
    assert.equal(p6.received, 3, p6.output + '\n' + wgts!.output());
    assert.match(wgts!.output(), /handshake complete \(responder\)/);
  });

  it('wg show works against wgts: peer, endpoint, latest handshake, transfer', { timeout: 10_000 }, async () => {
    const text = await wgShowWgts();
    assert.match(text, new RegExp(`interface: ${wgts!.name}`));
    assert.match(text, new RegExp(`peer: ${kg.publicKey.replace(/[+/]/g, '\\$&')}`));
    assert.match(text, new RegExp(`endpoint: ${link.bAddr4.replace(/\./g, '\\.')}:${PORT_G}`));
    assert.match(text, /latest handshake: (Now|.*ago)/);
    assert.match(text, /transfer: .* received, .* sent/);
    assert.match(text, /listening port: 51820/);
    const dump = parseWgDump((await exec(['wg', 'show', wgts!.name, 'dump'])).stdout);
    assert.equal(dump.peers.length, 1);
    assert.ok(dump.peers[0]!.latestHandshake > 0);
    assert.ok(dump.peers[0]!.rxBytes > 0 && dump.peers[0]!.txBytes > 0);
    const conf = await exec(['wg', 'showconf', wgts!.name]);
    assert.match(conf.stdout, /AllowedIPs = /);
    // wireguard-go sees wgts the same way.
    const goPeer = (await wg.show()).peers[0]!;
    assert.equal(goPeer.endpoint, formatEndpoint(link.aAddr4, PORT_W));
    assert.ok(goPeer.latestHandshake > 0);
  });

  it('wgts restarts and handshakes again; wireguard-go accepts the newer timestamp', { timeout: 20_000 }, async () => {
    const before = (await wg.show()).peers[0]!.latestHandshake;
    await stopWgts();
    await new Promise((r) => setTimeout(r, 1100)); // wg show has 1 s resolution
    // wireguard-go still holds the old session; the restarted wgts has none, so it
    // initiates (PersistentKeepalive fires at start) with a fresh TAI64N timestamp.
    await startWgts({ keepalive: 25 });
    await waitFor(async () => (await wg.show()).peers[0]!.latestHandshake > before, 8000, 'a newer handshake at wireguard-go');
    const p4 = await ping(g, INNER.w4, 3);
    assert.equal(p4.received, 3, p4.output + '\n' + wgts!.output());
  });

  it('wgts initiates (PersistentKeepalive on start) with a preshared key', { timeout: 20_000 }, async () => {
    await stopWgts();
    const psk = await genPresharedKey();
    await configureGo({ psk }); // no endpoint: wireguard-go can only learn it from wgts
    await startWgts({ psk, keepalive: 25 });
    await wg.waitForHandshake(kw.publicKey, 8000);
    assert.match(wgts!.output(), /handshake complete \(initiator\)/);
    const p6 = await ping(g, INNER.w6, 3);
    assert.equal(p6.received, 3, p6.output);
  });

  it('wireguard-go initiates with a preshared key', { timeout: 20_000 }, async () => {
    await stopWgts();
    const psk = await genPresharedKey();
    await configureGo({ psk, endpoint: formatEndpoint(link.aAddr4, PORT_W) });
    await startWgts({ psk });
    const p4 = await ping(g, INNER.w4, 3);
    assert.equal(p4.received, 3, p4.output + '\n' + wgts!.output());
    assert.match(wgts!.output(), /handshake complete \(responder\)/);
  });

  it('wgts initiates without a preshared key', { timeout: 20_000 }, async () => {
    await stopWgts();
    await configureGo({});
    await startWgts({ keepalive: 25 });
    await wg.waitForHandshake(kw.publicKey, 8000);
    assert.match(wgts!.output(), /handshake complete \(initiator\)/);
    const p4 = await ping(g, INNER.w4, 3);
    assert.equal(p4.received, 3, p4.output);
  });

  it('a PSK mismatch gives no session', { timeout: 20_000 }, async () => {
    await stopWgts();
    await configureGo({ psk: await genPresharedKey(), endpoint: formatEndpoint(link.aAddr4, PORT_W) });
    await startWgts({ psk: await genPresharedKey() });
    const p = await ping(g, INNER.w4, 2, { waitSec: 1 });
    assert.equal(p.received, 0);
  });

  it('outer transport over IPv6', { timeout: 20_000 }, async () => {
    await stopWgts();
    await configureGo({ endpoint: formatEndpoint(link.aAddr6!, PORT_W) });
    await startWgts({ endpoint: formatEndpoint(link.bAddr6!, PORT_G) });
    const p4 = await ping(g, INNER.w4, 3);
    assert.equal(p4.received, 3, p4.output + '\n' + wgts!.output());
    const text = await wgShowWgts();
    assert.match(text, new RegExp(`endpoint: \\[${link.bAddr6!}\\]:${PORT_G}`));
  });

  it('wgts roams when wireguard-go changes its listen port', { timeout: 20_000 }, async () => {
    await wg.setListenPort(PORT_G + 7);
    const p = await ping(g, INNER.w4, 3);
    assert.equal(p.received, 3, p.output);
    await waitFor(async () => (await wgShowWgts()).includes(`:${PORT_G + 7}`), 5000, 'wgts to learn the new endpoint port');
  });

  it('wg set against wgts: allowed-ips and listen-port', { timeout: 15_000 }, async () => {
    const r1 = await exec(['wg', 'set', wgts!.name, 'peer', kg.publicKey, 'allowed-ips', `${INNER.g4}/32,${INNER.g6}/128,10.99.0.0/16`]);
    assert.equal(r1.code, 0, r1.stderr);
    assert.match(await wgShowWgts(), /10\.99\.0\.0\/16/);
    const r2 = await exec(['wg', 'set', wgts!.name, 'listen-port', String(PORT_W + 5)]);
    assert.equal(r2.code, 0, r2.stderr);
    await waitFor(async () => (await wgShowWgts()).includes(`listening port: ${PORT_W + 5}`), 5000, 'new listen port');
    // Traffic still flows: wgts re-initiates or wireguard-go roams to the new port.
    await wg.setPeer({ publicKey: kw.publicKey, endpoint: formatEndpoint(link.aAddr6!, PORT_W + 5) });
    const p = await ping(g, INNER.w4, 3, { waitSec: 2 });
    assert.ok(p.received >= 2, p.output);
  });

  it('a config with a typo is refused with its file and line, and nothing starts', { timeout: 10_000 }, () => {
    const good = renderConf({ privateKey: kw.privateKey, addresses: [`${INNER.w4}/24`], peers: [{ publicKey: kg.publicKey, allowedIps: ['0.0.0.0/0'] }] });
    const bad = good.replace('ListenPort', 'ListenPrt').replace('[Peer]', '[Peer]\nAllowedIP = 10.0.0.0/8');
    const { file } = WgtsProc.writeConf(bad, 'typo.conf');
    const name = uniqueWgtsName();
    const r = spawnSync(process.execPath, [CLI, 'up', file, '--userspace', '--interface', name], { encoding: 'utf8', timeout: 8000 });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /typo\.conf:\d+: .*AllowedIP/);
    assert.match(r.stderr, /AllowedIPs/, 'suggests the fix');
    assert.ok(!r.stderr.includes(kw.privateKey), 'no private key in errors');
    assert.ok(!existsSync(`/var/run/wireguard/${name}.sock`), 'nothing started');
  });

  it('never logs the private or preshared key', () => {
    assert.ok(wgts);
    assert.ok(!wgts.output().includes(kw.privateKey));
  });

  it('cleans up: wgts stopped, namespaces and processes gone', { timeout: 15_000 }, async () => {
    await stopWgts();
    await wg.stop();
    const names = [w.name, g.name];
    await w.destroy();
    await g.destroy();
    const listed = listNamespacesSync();
    for (const n of names) assert.ok(!listed.includes(n));
    for (const pid of procs) assert.ok(!pidAlive(pid), `wgts pid ${pid} gone`);
  });
});
