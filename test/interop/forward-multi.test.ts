// Issue 20 in network namespaces, each side a real `wgts up` process:
//
//   1. client -> vps ([Forward] with three targets, HealthCheck = http:/)
//      -> home1, home2, home3 (each its own wgts, [Expose] to a web server
//      on 127.0.0.1 that names its home). Requests spread round robin;
//      home3's wgts is stopped mid-run; once the health check marks it down
//      (within HealthInterval x HealthFailures) no request fails and the
//      other two share the load.
//   2. a UDP [Forward] with ProxyProtocol = v2 to an echo at home1 that
//      parses the PROXY v2 header byte by byte: it sees the client's
//      address and port.
//   3. `wgts init --endpoint VPS1 --endpoint VPS2`: vps1, vps2 and home
//      from the generated files; the page is served through both; vps1
//      stopped, vps2 still serves.
import { it } from 'vitest';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeKey } from '../../src/crypto/util.js';
import { clampPrivateKey, publicKey } from '../../src/crypto/x25519.js';
import { randomBytes } from 'node:crypto';
import { exec, interopSuite, Netns, trackPath, vethPair, waitFor, type Proc } from '../harness/netns.js';
import { CLI, uniqueWgtsName } from './wgts-proc.js';
import { tempDir } from './forward-topology.js';
import { startHttpServer } from './forward-scripts.js';

const WEB = 8080;
const UDP = 5353;

interface Side { ns: Netns; name: string; proc: Proc }

/** `wgts up FILE --userspace` in `ns`, from a file written into a fresh directory (or `dir`). */
async function up(ns: Netns, text: string | null, name: string, dir?: string): Promise<Side> {
  const d = dir ?? tempDir(0o700, 'multi');
  if (text !== null) writeFileSync(join(d, `${name}.conf`), text, { mode: 0o600 });
  trackPath(`/var/run/wireguard/${name}.sock`);
  const proc = ns.spawn(['sh', '-c', 'cd "$1" && shift && exec "$@"', 'sh', d, process.execPath, CLI, 'up', `${name}.conf`, '--userspace'], { label: `wgts up ${name}` });
  await waitFor(() => {
    proc.assertRunning();
    return proc.output().includes('UAPI socket');
  }, 10_000, `wgts up ${name} to serve its UAPI socket`);
  return { ns, name, proc };
}

interface ShowJson {
  peers: Array<{ latestHandshake: number }>;
  forwards: Array<{ rule: string; protocol: string; targets: Array<{ target: string; state: string; reason: string; total: number }> }>;
}

async function show(s: Side): Promise<ShowJson> {
  const r = await s.ns.exec([process.execPath, CLI, 'show', s.name, '--json']);
  if (r.code !== 0) throw new Error(`wgts show ${s.name} failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as ShowJson;
}

function key(): { priv: string; pub: string } {
  const k = clampPrivateKey(new Uint8Array(randomBytes(32)));
  return { priv: encodeKey(k), pub: encodeKey(publicKey(k)) };
}

/** N sequential GETs in one python process: each body, or ERR and the reason. */
const FETCH_SEQ = String.raw`
import json, sys, urllib.request
url, n = sys.argv[1], int(sys.argv[2])
out = []
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
for i in range(n):
    try:
        out.append(opener.open(url, timeout=10).read().decode().strip())
    except Exception as e:
        out.append('ERR %s' % e)
print(json.dumps(out))
`;

async function fetchSeq(ns: Netns, url: string, n: number): Promise<string[]> {
  const r = await ns.exec(['python3', '-c', FETCH_SEQ, url, String(n)], { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`fetch failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as string[];
}

const tally = (xs: string[]): Record<string, number> => xs.reduce<Record<string, number>>((a, x) => ((a[x] = (a[x] ?? 0) + 1), a), {});

/**
 * UDP receiver: every datagram must start with a PROXY v2 header (HAProxy
 * proxy-protocol.txt 2.2), parsed byte by byte; the answer names what it
 * carried: `v2 DGRAM4 SRC SPORT DST DPORT payload=...` or `error WHY`.
 */
const PROXY_UDP_ECHO = String.raw`
import socket, struct, sys, ipaddress
SIG = b'\r\n\r\n\x00\r\nQUIT\n'
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
print('ready', flush=True)
while True:
    d, peer = s.recvfrom(65535)
    try:
        if d[0:12] != SIG: raise ValueError('no v2 signature')
        if d[12] >> 4 != 2: raise ValueError('version %d' % (d[12] >> 4))
        if d[12] & 0xf != 1: raise ValueError('command %d, want PROXY' % (d[12] & 0xf))
        fam, proto = d[13] >> 4, d[13] & 0xf
        if proto != 2: raise ValueError('transport %d, want DGRAM' % proto)
        if fam != 1: raise ValueError('family %d, want AF_INET' % fam)
        ln = struct.unpack('!H', d[14:16])[0]
        if ln != 12: raise ValueError('length %d' % ln)
        src, dst = ipaddress.IPv4Address(d[16:20]), ipaddress.IPv4Address(d[20:24])
        sp, dp = struct.unpack('!HH', d[24:28])
        ans = 'v2 DGRAM4 %s %d %s %d payload=%s' % (src, sp, dst, dp, d[16 + ln:].decode())
    except Exception as e:
        ans = 'error %s' % e
    s.sendto(ans.encode(), peer)
`;

/** One datagram from a fixed source port; prints the reply. */
const UDP_ASK = String.raw`
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('0.0.0.0', int(sys.argv[3])))
s.settimeout(2)
for i in range(5):
    s.sendto(b'hello', (sys.argv[1], int(sys.argv[2])))
    try:
        print(s.recvfrom(2048)[0].decode()); break
    except socket.timeout:
        pass
`;

interopSuite('several targets behind one VPS with health checks; PROXY v2 over UDP', { timeout: 180_000, needs: ['python3'] }, () => {
  let client: Netns;
  let vpsNs: Netns;
  const homes: Netns[] = [];
  let vps: Side;
  const home: Side[] = [];
  const procs: Proc[] = [];
  const vpsName = uniqueWgtsName();
  const pub4 = { client: '198.18.30.1', vps: '198.18.30.2' };

  it('starts a VPS forwarding to three homes, each with its own wgts and web server', { timeout: 60_000 }, async () => {
    client = await Netns.create('mclient');
    vpsNs = await Netns.create('mvps');
    for (let i = 0; i < 3; i++) homes.push(await Netns.create(`mhome${i + 1}`));
    await vethPair(client, vpsNs, { aAddr4: `${pub4.client}/24`, bAddr4: `${pub4.vps}/24` });
    for (let i = 0; i < 3; i++) await vethPair(vpsNs, homes[i]!, { aAddr4: `198.18.${31 + i}.1/24`, bAddr4: `198.18.${31 + i}.2/24` });
    const vk = key();
    const hk = [key(), key(), key()];
    const vpsConf = [
      '[Interface]', `PrivateKey = ${vk.priv}`, 'ListenPort = 51820', 'Address = 10.101.0.1/24',
      ...hk.flatMap((k, i) => ['', '[Peer]', `PublicKey = ${k.pub}`, `AllowedIPs = 10.101.0.${i + 2}/32`]),
      '', '[Forward]', `Listen = 0.0.0.0:${WEB}`, `Target = ${[2, 3, 4].map((n) => `10.101.0.${n}:${WEB}`).join(', ')}`,
      'Balance = roundrobin', 'HealthCheck = http:/', 'HealthInterval = 1', 'HealthTimeout = 1', 'HealthFailures = 2', 'HealthSuccesses = 1',
      '', '[Forward]', 'Protocol = udp', `Listen = 0.0.0.0:${UDP}`, `Target = 10.101.0.2:${UDP}`, 'ProxyProtocol = v2',
    ].join('\n') + '\n';
    for (let i = 0; i < 3; i++) {
      const served = tempDir(0o755, `mweb${i + 1}`);
      writeFileSync(join(served, 'index.html'), `home${i + 1}\n`, { mode: 0o644 });
      procs.push(await startHttpServer(homes[i]!, '127.0.0.1', WEB, served));
    }
    const echo = homes[0]!.spawn(['python3', '-u', '-c', PROXY_UDP_ECHO, '127.0.0.1', String(UDP)], { label: 'proxy v2 udp echo' });
    procs.push(echo);
    await waitFor(() => echo.output().includes('ready'), 5000, 'udp echo ready');
    vps = await up(vpsNs, vpsConf, vpsName);
    for (let i = 0; i < 3; i++) {
      const conf = [
        '[Interface]', `PrivateKey = ${hk[i]!.priv}`, `Address = 10.101.0.${i + 2}/24`,
        '', '[Peer]', `PublicKey = ${vk.pub}`, `Endpoint = 198.18.${31 + i}.1:51820`, 'AllowedIPs = 10.101.0.1/32', 'PersistentKeepalive = 5',
        '', '[Expose]', `Listen = 10.101.0.${i + 2}:${WEB}`, `Target = 127.0.0.1:${WEB}`,
        ...(i === 0 ? ['', '[Expose]', 'Protocol = udp', `Listen = 10.101.0.2:${UDP}`, `Target = 127.0.0.1:${UDP}`] : []),
      ].join('\n') + '\n';
      home.push(await up(homes[i]!, conf, uniqueWgtsName()));
    }
    await waitFor(async () => {
      vps.proc.assertRunning();
      const s = await show(vps);
      const tcp = s.forwards.find((f) => f.protocol === 'tcp');
      return s.peers.every((p) => p.latestHandshake > 0) && tcp !== undefined && tcp.targets.every((x) => x.state === 'up' && x.reason === 'checks pass');
    }, 20_000, 'three handshakes and three targets up by their checks');
  });

  it('requests spread round robin over the three homes', { timeout: 60_000 }, async () => {
    const got = await fetchSeq(client, `http://${pub4.vps}:${WEB}/`, 30);
    assert.deepEqual(tally(got), { home1: 10, home2: 10, home3: 10 }, got.join(', '));
  });

  it('home3 stops: the check marks it down within HealthInterval x HealthFailures, and no request fails after that', { timeout: 60_000 }, async () => {
    await home[2]!.proc.stop(5000);
    const stoppedAt = Date.now();
    await waitFor(async () => (await show(vps)).forwards.find((f) => f.protocol === 'tcp')!.targets[2]!.state === 'down', 15_000, 'home3 marked down');
    const took = (Date.now() - stoppedAt) / 1000;
    // 1 s x 2 failures, each probe up to 1 s HealthTimeout, on a 1 s sweep: at most about 5 s; 4 s of slack for a loaded machine.
    assert.ok(took < 9, `marked down after ${took} s`);
    const t = (await show(vps)).forwards.find((f) => f.protocol === 'tcp')!.targets[2]!;
    assert.match(t.reason, /^2 failed checks \(last: /);
    assert.match(vps.proc.output(), new RegExp(`forward target 10\\.101\\.0\\.4:${WEB} is down: 2 failed checks`));
    const got = await fetchSeq(client, `http://${pub4.vps}:${WEB}/`, 30);
    assert.deepEqual(tally(got), { home1: 15, home2: 15 }, got.join(', '));
  });

  it('a UDP echo behind ProxyProtocol = v2 sees the client\'s address and port', { timeout: 30_000 }, async () => {
    const r = await client.exec(['python3', '-c', UDP_ASK, pub4.vps, String(UDP), '40123'], { timeoutMs: 20_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), `v2 DGRAM4 ${pub4.client} 40123 0.0.0.0 ${UDP} payload=hello`, vps.proc.output());
  });

  it('cleans up', { timeout: 30_000 }, async () => {
    for (const s of [vps, ...home]) await s.proc.stop(5000);
    for (const p of procs) await p.stop(2000);
    for (const s of [vps, ...home]) assert.ok(!existsSync(`/var/run/wireguard/${s.name}.sock`));
    await Promise.all([client, vpsNs, ...homes].map((n) => n.destroy()));
  });
});

interopSuite('wgts init with two VPSes: the home serves both; one VPS stops, the other still serves', { timeout: 120_000, needs: ['python3', 'curl'] }, () => {
  let client: Netns;
  let homeNs: Netns;
  const vpsNs: Netns[] = [];
  const sides: Side[] = [];
  let web: Proc;
  let dir = '';
  const names = [uniqueWgtsName(), uniqueWgtsName()];
  const pub = ['198.18.40.2', '198.18.41.2'];
  const back = ['198.18.42.1', '198.18.43.1'];

  it('wgts init writes two VPS configs and one home config; all three start', { timeout: 60_000 }, async () => {
    const homeName = uniqueWgtsName();
    dir = tempDir(0o700, 'init2');
    const r = await exec([process.execPath, CLI, 'init', '--endpoint', back[0]!, '--endpoint', back[1]!, '--forward', `tcp/${WEB}`, '--dir', dir, '--vps-conf', 'v.conf', '--home-conf', `${homeName}.conf`], { timeoutMs: 10_000 });
    assert.equal(r.code, 0, r.stderr);
    // The numbered names init chose, renamed to unique interface names for this machine.
    const { renameSync } = await import('node:fs');
    renameSync(join(dir, 'v1.conf'), join(dir, `${names[0]}.conf`));
    renameSync(join(dir, 'v2.conf'), join(dir, `${names[1]}.conf`));
    client = await Netns.create('iclient');
    homeNs = await Netns.create('ihome');
    for (let i = 0; i < 2; i++) vpsNs.push(await Netns.create(`ivps${i + 1}`));
    for (let i = 0; i < 2; i++) {
      await vethPair(client, vpsNs[i]!, { aAddr4: `198.18.${40 + i}.1/24`, bAddr4: `${pub[i]}/24` });
      await vethPair(vpsNs[i]!, homeNs, { aAddr4: `${back[i]}/24`, bAddr4: `198.18.${42 + i}.2/24` });
    }
    const served = tempDir(0o755, 'init2web');
    writeFileSync(join(served, 'index.html'), 'home via either\n', { mode: 0o644 });
    web = await startHttpServer(homeNs, '127.0.0.1', WEB, served);
    for (let i = 0; i < 2; i++) sides.push(await up(vpsNs[i]!, null, names[i]!, dir));
    sides.push(await up(homeNs, null, homeName, dir));
    await waitFor(async () => {
      for (const s of sides) s.proc.assertRunning();
      return (await show(sides[2]!)).peers.filter((p) => p.latestHandshake > 0).length === 2;
    }, 20_000, 'the home handshakes with both VPSes');
  });

  it('the home page is served through each VPS', { timeout: 30_000 }, async () => {
    for (const p of pub) {
      const r = await client.exec(['curl', '-sS', '--noproxy', '*', '--max-time', '10', `http://${p}:${WEB}/`], { timeoutMs: 15_000 });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'home via either\n');
    }
  });

  it('vps1 stops: vps2 still serves', { timeout: 30_000 }, async () => {
    await sides[0]!.proc.stop(5000);
    const dead = await client.exec(['curl', '-sS', '--noproxy', '*', '--max-time', '3', `http://${pub[0]}:${WEB}/`], { timeoutMs: 10_000 });
    assert.notEqual(dead.code, 0, 'nothing answers on the stopped VPS');
    for (let i = 0; i < 3; i++) {
      const r = await client.exec(['curl', '-sS', '--noproxy', '*', '--max-time', '10', `http://${pub[1]}:${WEB}/`], { timeoutMs: 15_000 });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'home via either\n');
    }
  });

  it('cleans up', { timeout: 30_000 }, async () => {
    for (const s of sides) await s.proc.stop(5000);
    await web.stop(2000);
    await Promise.all([client, homeNs, ...vpsNs].map((n) => n.destroy()));
  });
});
