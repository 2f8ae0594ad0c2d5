// Port mapping with the vps in TUN mode (`wgts up --tun`, the kernel's IP
// stack on the tunnel side): SSDP discovery joins 239.255.255.250 on the TUN
// interface, so upnpc and external-ip in home find the IGD without -u, and a
// lease is a kernel-socket forward into the tunnel.
//
//   client --public veth--> vps (wgts --tun, [PortMapping]) --WireGuard--> home (wireguard-go, upnpc, socat)
import { beforeAll, it } from 'vitest';
import assert from 'node:assert/strict';
import { interopSuite, waitFor, WireguardGo } from '../harness/netns.js';
import { WgtsProc, renderConf } from './wgts-proc.js';
import { A, createTopology, startHomeBehindVps, WG_PORT_HOME, WG_PORT_VPS, type Topology } from './forward-topology.js';

const REPORTED = '192.0.3.7'; // see portmap.test.ts: upnpc refuses reserved external addresses

interopSuite('port mapping with the vps in TUN mode: SSDP on the TUN interface, upnpc maps a public port', { timeout: 90_000, needs: ['socat', 'upnpc', 'external-ip'] }, () => {
  let t: Topology;
  let wg: WireguardGo;
  let vps: WgtsProc;

  // Fixture: home (wireguard-go, routes via the tunnel) and the vps with wgts --tun and [PortMapping].
  beforeAll(async () => {
    t = await createTopology();
    wg = await startHomeBehindVps(t);
    const conf = renderConf({
      privateKey: t.kVps.privateKey,
      listenPort: WG_PORT_VPS,
      addresses: [`${A.vpsTun4}/24`],
      peers: [{ publicKey: t.kHome.publicKey, endpoint: `${A.homeBack4}:${WG_PORT_HOME}`, allowedIps: [`${A.homeTun4}/32`], persistentKeepalive: 25 }],
      extra: ['[PortMapping]', 'Protocols = upnp', `ExternalAddress = ${REPORTED}`, `Allow = 8000-8999 ${A.homeTun4}/32 8000-8999`].join('\n'),
    });
    vps = await WgtsProc.start(t.vps, conf, { mode: '--tun' });
    assert.match(vps.output(), /portmap: UPnP IGD at http:\/\/198\.19\.10\.1:5000\/rootDesc\.xml; SSDP on 239\.255\.255\.250:1900/, vps.output());
    await wg.waitForHandshake(t.kVps.publicKey, 15_000);
  }, 30_000);

  it('external-ip discovers the IGD by SSDP through the tunnel into the TUN interface', { timeout: 30_000 }, async () => {
    const r = await t.home.exec(['external-ip'], { timeoutMs: 25_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), REPORTED, `external-ip: ${r.stdout}${r.stderr}\nwgts: ${vps.output().slice(-2000)}`);
  });

  it('upnpc -n maps TCP 8043 (discovered, no -u); the client reaches home through the kernel-socket forward', { timeout: 30_000 }, async () => {
    t.home.spawn(['socat', `TCP4-LISTEN:8043,bind=${A.homeTun4},reuseaddr,fork`, 'SYSTEM:echo hello-tun-8043'], { label: 'socat 8043' });
    const r = await t.home.exec(['upnpc', '-n', A.homeTun4, '8043', '8043', 'tcp', '300'], { timeoutMs: 25_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /external 192\.0\.3\.7:8043 TCP is redirected to internal 198\.19\.10\.2:8043/, r.stdout);
    const hello = await waitFor(async () => {
      const c = await t.client.exec(['socat', '-T', '5', '-', `TCP4:${A.vpsPub4}:8043,connect-timeout=5`], { timeoutMs: 15_000, input: '' });
      return c.stdout.trim() === 'hello-tun-8043' ? c.stdout.trim() : undefined;
    }, 10_000, 'the mapped port to answer');
    assert.equal(hello, 'hello-tun-8043');
    for (const k of [t.kVps.privateKey, t.kHome.privateKey]) assert.ok(!vps.output().includes(k), 'no private key in the log');
    await vps.stop();
  });
});
