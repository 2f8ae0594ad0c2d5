// The VPS setup people run today, with wgts --tun in place of wg-quick:
// client ns -> vps ns (wgts --tun, nftables DNAT in PostUp) -> home ns
// (wireguard-go + a web server). Then the same path with a [Forward] section
// instead of nftables, which in TUN mode uses kernel sockets.
import { beforeAll, it } from 'vitest';
import assert from 'node:assert/strict';
import {
  formatEndpoint, genKeyPair, interopSuite, Netns, vethPair, waitFor, WireguardGo,
  type VethPair, type WgKeyPair, type Proc,
} from '../harness/netns.js';
import { WgtsProc, renderConf } from './wgts-proc.js';

const PUB = { c: '198.18.20.2/24', v: '198.18.20.1/24' };
const LINK = { v: '198.18.21.1/24', h: '198.18.21.2/24' };
const INNER = { v: '10.0.0.1', h: '10.0.0.2' };

interopSuite('VPS with wgts --tun: nftables DNAT in PostUp, and [Forward] over kernel sockets', { timeout: 90_000, needs: ['nft', 'curl', 'python3'] }, () => {
  let client: Netns;
  let vps: Netns;
  let home: Netns;
  let pub: VethPair;
  let link: VethPair;
  let wg: WireguardGo;
  let kv: WgKeyPair;
  let kh: WgKeyPair;
  let web: Proc;
  let wgts: WgtsProc | null = null;
  const table = `wgts_dnat_${process.pid}`;

  const configureHome = () => wg.setconf({
    privateKey: kh.privateKey, listenPort: 51821,
    peers: [{ publicKey: kv.publicKey, endpoint: formatEndpoint(link.aAddr4, 51820), allowedIps: ['0.0.0.0/0'], persistentKeepalive: 25 }],
  });

  const vpsConf = (extra: string) => ({
    privateKey: kv.privateKey, listenPort: 51820, addresses: [`${INNER.v}/24`],
    peers: [{ publicKey: kh.publicKey, allowedIps: [`${INNER.h}/32`] }],
    extra,
  });

  // Fixture: client, vps and home.
  beforeAll(async () => {
    client = await Netns.create('vc');
    vps = await Netns.create('vv');
    home = await Netns.create('vh');
    pub = await vethPair(client, vps, { aAddr4: PUB.c, bAddr4: PUB.v });
    link = await vethPair(vps, home, { aAddr4: LINK.v, bAddr4: LINK.h });
    await vps.run(['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
    [kv, kh] = await Promise.all([genKeyPair(), genKeyPair()]);
    wg = await WireguardGo.start(home);
    // Home routes everything back through the tunnel (the usual DNAT setup without SNAT).
    await configureHome();
    await wg.addAddress(`${INNER.h}/24`);
    await wg.up();
    await home.run(['ip', 'route', 'add', `${pub.aAddr4}/32`, 'dev', wg.iface]);
    web = home.spawn(['python3', '-m', 'http.server', '--bind', INNER.h, '8080'], { label: 'home web' });
  }, 20_000);

  it('nftables DNAT from PostUp: curl from the client gets the home page; PostDown removes the table', { timeout: 30_000 }, async () => {
    const up = `nft add table ip ${table}; nft add chain ip ${table} pre '{ type nat hook prerouting priority -100; }'; nft add rule ip ${table} pre iifname != %i tcp dport 8080 dnat to ${INNER.h}:8080`;
    const down = `nft delete table ip ${table}`;
    // PostUp/PostDown belong to [Interface]: render and splice them in.
    const text = renderConf(vpsConf('')).replace(/^(Address = .*)$/m, `$1\nPostUp = ${up}\nPostDown = ${down}`);
    wgts = await WgtsProc.start(vps, text, { mode: '--tun' });
    assert.match(wgts.output(), /\[#\] nft add table/);
    await wg.waitForHandshake(kv.publicKey, 10_000);
    await waitFor(async () => (await client.exec(['curl', '-s', '-m', '3', '-o', '/dev/null', '-w', '%{http_code}', `http://${pub.bAddr4}:8080/`])).stdout === '200', 10_000, 'the page through DNAT');
    assert.match(web.output(), new RegExp(`${pub.aAddr4.replace(/\./g, '\\.')} .*GET / `), 'home sees the client address');
    assert.equal(await wgts.stop(), 0);
    wgts = null;
    const list = await vps.exec(['nft', 'list', 'tables']);
    assert.doesNotMatch(list.stdout, new RegExp(table), 'PostDown removed the table');
  });

  it('[Forward] in TUN mode uses kernel sockets: curl from the client gets the page', { timeout: 30_000 }, async () => {
    wgts = await WgtsProc.start(vps, vpsConf(`[Forward]\nProtocol = tcp\nListen = ${pub.bAddr4}:9090\nTarget = ${INNER.h}:8080\n`), { mode: '--tun' });
    // The restarted VPS has no session and no endpoint for home (home dials in), so
    // re-apply home's config: as after any VPS restart, home's keepalive re-handshakes.
    await configureHome();
    await waitFor(() => wgts!.output().includes('handshake complete'), 10_000, 'home to handshake with the restarted vps');
    const r = await client.exec(['curl', '-s', '-m', '5', '-o', '/dev/null', '-w', '%{http_code}', `http://${pub.bAddr4}:9090/`]);
    assert.equal(r.stdout, '200', r.stderr + wgts.output());
    assert.equal(await wgts.stop(), 0);
    wgts = null;
  });

  it('cleans up', { timeout: 20_000 }, async () => {
    if (wgts) await wgts.stop();
    await web.stop();
    await wg.stop();
    for (const n of [client, vps, home]) await n.destroy();
  });
});
