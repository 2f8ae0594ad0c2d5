// Issue 8, "How it is checked": the real clients of the Debian packages
// natpmpc and miniupnpc, run in the home namespace behind wireguard-go, ask
// the vps's wgts (userspace mode, [PortMapping]) for public ports.
//
//   client --public veth--> vps (wgts --userspace, [PortMapping]) --WireGuard--> home (wireguard-go,
//                                                                                natpmpc, upnpc, socat)
// Home routes its default route and the SSDP group through the tunnel
// (`default via <vps tunnel address> dev wg`), as a LAN host routes through
// its gateway, so natpmpc finds the gateway without -g and upnpc/external-ip
// discover the IGD by SSDP without -u.
import { beforeAll, it } from 'vitest';
import assert from 'node:assert/strict';
import { interopSuite, waitFor, WireguardGo, type Netns, type Proc } from '../harness/netns.js';
import { CLI, WgtsProc, renderConf } from './wgts-proc.js';
import { A, createTopology, startHomeBehindVps, WG_PORT_HOME, WG_PORT_VPS, type Topology } from './forward-topology.js';
import { startUdpEcho } from './forward-scripts.js';

const ALLOWED = '8000-8999';
/**
 * The public address wgts reports. upnpc refuses an IGD whose external
 * address is private or reserved (as the harness's 198.18.0.0/15 is), so the
 * test reports an ordinary-looking address, as a VPS would its public one.
 * Nothing is ever sent to it: clients use the vps veth address.
 */
const REPORTED = '192.0.3.7';

interface MappingJson { protocol: string; externalPort: number; internal: string; origin: string; description: string; expiresIn: number }

function vpsPortmapConf(t: Topology): string {
  return renderConf({
    privateKey: t.kVps.privateKey,
    listenPort: WG_PORT_VPS,
    addresses: [`${A.vpsTun4}/24`],
    peers: [{ publicKey: t.kHome.publicKey, endpoint: `${A.homeBack4}:${WG_PORT_HOME}`, allowedIps: [`${A.homeTun4}/32`], persistentKeepalive: 25 }],
    extra: [
      '[PortMapping]',
      `ExternalAddress = ${REPORTED}`,
      `Allow = ${ALLOWED} ${A.homeTun4}/32 ${ALLOWED}`,
      'MaxLifetime = 600',
      'MaxMappingsPerPeer = 8',
    ].join('\n'),
  });
}

/** A TCP service in home that answers each connection with a line naming itself. */
function startTcpGreeter(ns: Netns, host: string, port: number, word: string): Proc {
  return ns.spawn(['socat', `TCP4-LISTEN:${port},bind=${host},reuseaddr,fork`, `SYSTEM:echo ${word}`], { label: `socat tcp ${host}:${port}` });
}

interopSuite('port mapping: natpmpc and upnpc in home (behind wireguard-go) map public ports on the vps wgts', { timeout: 120_000, needs: ['socat', 'natpmpc', 'upnpc', 'external-ip', 'ss'] }, () => {
  let t: Topology;
  let wg: WireguardGo;
  let vps: WgtsProc;

  async function mappings(): Promise<MappingJson[]> {
    const r = await t.vps.exec([process.execPath, CLI, 'show', vps.name, '--json']);
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as { portMappings: MappingJson[] }).portMappings;
  }

  async function listening(proto: 'tcp' | 'udp', port: number): Promise<boolean> {
    const r = await t.vps.exec(['ss', proto === 'tcp' ? '-Hltn' : '-Hlun', `sport = :${port}`]);
    return r.stdout.trim() !== '';
  }

  async function tcpHello(port: number): Promise<{ code: number | null; out: string }> {
    const r = await t.client.exec(['socat', '-T', '5', '-', `TCP4:${A.vpsPub4}:${port},connect-timeout=5`], { timeoutMs: 15_000, input: '' });
    return { code: r.code, out: r.stdout.trim() + r.stderr.trim() };
  }

  // Fixture: the namespaces, wireguard-go in home with routes through the tunnel, wgts with [PortMapping] in vps.
  beforeAll(async () => {
    t = await createTopology();
    wg = await startHomeBehindVps(t);
    vps = await WgtsProc.start(t.vps, vpsPortmapConf(t), { mode: '--userspace' });
    assert.match(vps.output(), /portmap: NAT-PMP\/PCP on 198\.19\.10\.1:5351; UPnP IGD at http:\/\/198\.19\.10\.1:5000\/rootDesc\.xml; SSDP/);
    await wg.waitForHandshake(t.kVps.publicKey, 15_000);
  }, 30_000);

  it('external-ip (SSDP discovery, then SOAP through the tunnel) prints the configured public address', { timeout: 30_000 }, async () => {
    const r = await t.home.exec(['external-ip'], { timeoutMs: 25_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), REPORTED, `external-ip output: ${r.stdout}${r.stderr}\nwgts: ${vps.output().slice(-2000)}`);
  });

  it('upnpc -n maps TCP 8043; socat from the client reaches socat TCP-LISTEN:8043 in home', { timeout: 30_000 }, async () => {
    startTcpGreeter(t.home, A.homeTun4, 8043, 'hello-from-home-8043');
    const r = await t.home.exec(['upnpc', '-e', 'wgts test', '-n', A.homeTun4, '8043', '8043', 'tcp', '300'], { timeoutMs: 25_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /external 192\.0\.3\.7:8043 TCP is redirected to internal 198\.19\.10\.2:8043/, r.stdout);
    await waitFor(() => listening('tcp', 8043), 5000, 'the vps to listen on 8043');
    const hello = await tcpHello(8043);
    assert.equal(hello.out, 'hello-from-home-8043');
    const m = (await mappings()).find((x) => x.externalPort === 8043);
    assert.ok(m, 'wgts show lists the mapping');
    assert.equal(m.protocol, 'tcp');
    assert.equal(m.internal, `${A.homeTun4}:8043`);
    assert.equal(m.origin, 'upnp');
    assert.equal(m.description, 'wgts test');
    assert.ok(m.expiresIn > 250 && m.expiresIn <= 300, `lease ${m.expiresIn} s`);
  });

  it('natpmpc -a maps UDP 8044 (gateway found from the default route); a datagram round-trips', { timeout: 30_000 }, async () => {
    await startUdpEcho(t.home, A.homeTun4, 8044);
    const r = await t.home.exec(['natpmpc', '-a', '8044', '8044', 'udp', '60'], { timeoutMs: 20_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /Public IP address : 192\.0\.3\.7/, r.stdout);
    assert.match(r.stdout, /Mapped public port 8044 protocol UDP to local port 8044 liftime 60/, r.stdout);
    await waitFor(() => listening('udp', 8044), 5000, 'the vps to listen on udp 8044');
    const echo = await t.client.exec(['socat', '-T', '3', '-', `UDP4:${A.vpsPub4}:8044`], { timeoutMs: 10_000, input: 'ping-8044\n' });
    assert.equal(echo.stdout.trim(), 'ping-8044', echo.stderr);
    const m = (await mappings()).find((x) => x.externalPort === 8044);
    assert.equal(m?.origin, 'natpmp');
    assert.equal(m?.protocol, 'udp');
  });

  it('requests outside the allow-list are refused with each protocol\'s error, and nothing is opened', { timeout: 40_000 }, async () => {
    const n = await t.home.exec(['natpmpc', '-a', '9050', '9050', 'tcp', '60'], { timeoutMs: 20_000 });
    assert.notEqual(n.code, 0, n.stdout);
    // RFC 6886 result code 2: Not Authorized/Refused.
    assert.match(n.stdout + n.stderr, /Not Authorized|result code 2|refused/i, n.stdout + n.stderr);
    const u = await t.home.exec(['upnpc', '-a', A.homeTun4, '9051', '9051', 'tcp', '60'], { timeoutMs: 20_000 });
    assert.match(u.stdout + u.stderr, /AddPortMapping\(9051, 9051, 198\.19\.10\.2\) failed with code (606|718)/, u.stdout + u.stderr);
    // A host may map only to itself.
    const other = await t.home.exec(['upnpc', '-a', '198.19.10.77', '8050', '8050', 'tcp', '60'], { timeoutMs: 20_000 });
    assert.match(other.stdout + other.stderr, /failed with code 606/, other.stdout + other.stderr);
    for (const [p, port] of [['tcp', 9050], ['tcp', 9051], ['tcp', 8050]] as const) assert.equal(await listening(p, port), false, `nothing listens on ${p} ${port}`);
    const ports = (await mappings()).map((m) => m.externalPort).sort();
    assert.deepEqual(ports, [8043, 8044]);
  });

  it('a public port another program holds: natpmpc gets Network Failure (3), no lease is kept', { timeout: 30_000 }, async () => {
    const squatter = t.vps.spawn(['socat', 'TCP4-LISTEN:8048,bind=0.0.0.0', 'SYSTEM:echo squatter'], { label: 'socat squatter 8048' });
    await waitFor(() => listening('tcp', 8048), 5000, 'the squatter to listen on 8048');
    const r = await t.home.exec(['natpmpc', '-a', '8048', '8048', 'tcp', '60'], { timeoutMs: 20_000 });
    assert.notEqual(r.code, 0, r.stdout);
    assert.match(r.stdout + r.stderr, /Network Failure|result code 3/i, r.stdout + r.stderr);
    assert.ok(!(await mappings()).some((m) => m.externalPort === 8048), 'no lease for 8048');
    assert.match(vps.output(), /cannot open public tcp port 8048/);
    await squatter.stop(1000);
  });

  it('mappings survive a SIGHUP reload', { timeout: 20_000 }, async () => {
    const before = vps.output().length;
    vps.proc.signal('SIGHUP');
    await waitFor(() => vps.output().slice(before).includes('reload done'), 10_000, 'the reload');
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual((await mappings()).map((m) => m.externalPort).sort(), [8043, 8044]);
    assert.equal((await tcpHello(8043)).out, 'hello-from-home-8043');
  });

  it('a short lease is gone after it runs out: no listener, no entry', { timeout: 30_000 }, async () => {
    startTcpGreeter(t.home, A.homeTun4, 8047, 'short');
    const r = await t.home.exec(['natpmpc', '-a', '8047', '8047', 'tcp', '3'], { timeoutMs: 20_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    await waitFor(() => listening('tcp', 8047), 5000, 'the vps to listen on 8047');
    assert.equal((await tcpHello(8047)).out, 'short');
    await waitFor(async () => !(await listening('tcp', 8047)), 8000, 'the 3 s lease to lapse');
    assert.ok(!(await mappings()).some((m) => m.externalPort === 8047), 'wgts show no longer lists 8047');
    assert.match(vps.output(), /lease expired: tcp 8047/);
    assert.notEqual((await tcpHello(8047)).out, 'short');
  });

  it('upnpc -d deletes a mapping; wgts logged no key', { timeout: 20_000 }, async () => {
    const r = await t.home.exec(['upnpc', '-d', '8043', 'tcp'], { timeoutMs: 20_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    await waitFor(async () => !(await listening('tcp', 8043)), 5000, 'the vps to stop listening on 8043');
    for (const k of [t.kVps.privateKey, t.kHome.privateKey]) assert.ok(!vps.output().includes(k), 'no private key in the log');
    await vps.stop();
  });
});
