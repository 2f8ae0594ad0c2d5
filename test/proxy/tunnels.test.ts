/**
 * wireproxy's tunnel sections and SOCKS5 UDP ASSOCIATE at run time, over
 * two library tunnels on loopback (test/lib/pair.ts): "b" has the sections,
 * "a" runs a TCP echo (7000) and a UDP echo (7001) on its tunnel address.
 *
 *   [TCPClientTunnel] 127.0.0.1:P -> a:7000      node:net client, echo
 *   [TCPServerTunnel] b:7100 -> 127.0.0.1:L      a.connect(7100, b) reaches a local server
 *   [UDPProxyTunnel]  127.0.0.1:P -> a:7001      node:dgram client, echo, idle close
 *   [Socks5] UDP ASSOCIATE                       PySocks (Debian python3-socks), a real client
 *   [STDIOTunnel]                                `wgts up` as a child: stdin/stdout <-> a:7000
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { skipUnlessPresent } from '../harness/interop.js';
import { Tunnel } from '../../src/lib/index.js';
import { getStats, getView, renderView, viewJson } from '../../src/cli/show.js';
import { renderMetrics } from '../../src/node/metrics.js';
import { A_ADDR, B_ADDR, pairConfigs, startPair, type Pair } from '../lib/pair.js';

const PY = '/usr/bin/python3';
const havePySocks = spawnSync(PY, ['-c', 'import socks'], { stdio: 'ignore' }).status === 0;
const MAIN = new URL('../../src/cli/main.js', import.meta.url).pathname;

async function echoes(p: Pair): Promise<void> {
  await once(p.a.createServer((s) => s.pipe(s)).listen(7000), 'listening');
  const u = p.a.createSocket('udp4');
  u.on('message', (m, r) => u.send(Buffer.concat([Buffer.from('echo:'), m]), r.port, r.address));
  await new Promise<void>((r) => u.bind(7001, r));
}

describe('wireproxy tunnel sections', { timeout: 90_000 }, () => {
  let p: Pair;
  const local = createServer((s) => s.end(`local saw ${s.remoteAddress}`));
  beforeAll(async () => {
    await once(local.listen(0, '127.0.0.1'), 'listening');
    p = await startPair(`
[TCPClientTunnel]
BindAddress = 127.0.0.1:0
Target = ${A_ADDR}:7000

[TCPServerTunnel]
ListenPort = 7100
Target = localhost:${(local.address() as AddressInfo).port}

[UDPProxyTunnel]
BindAddress = 127.0.0.1:0
Target = ${A_ADDR}:7001
InactivityTimeout = 1

[Socks5]
BindAddress = 127.0.0.1:0
Username = u1
Password = pw-udp-secret
`, '', { uapi: { name: `wgtp${process.pid % 100000}` } });
    await echoes(p);
  });
  afterAll(async () => {
    await p?.close();
    local.close();
  });
  const stat = (kind: string) => p.b.stats().proxies.find((s) => s.kind === kind)!;
  const hostPort = (s: string) => ({ host: s.slice(0, s.lastIndexOf(':')), port: Number(s.slice(s.lastIndexOf(':') + 1)) });

  it('[TCPClientTunnel]: a local connection reaches the target inside the tunnel', async () => {
    const s = stat('tcp-client');
    assert.equal(s.target, `${A_ADDR}:7000`);
    const c = connect(hostPort(s.listen));
    c.end('through the client tunnel');
    const chunks: Buffer[] = [];
    for await (const d of c) chunks.push(d as Buffer);
    assert.equal(Buffer.concat(chunks).toString(), 'through the client tunnel');
    assert.equal(stat('tcp-client').total, 1);
  });

  it('[TCPServerTunnel]: a peer connecting to our tunnel address reaches the local target', async () => {
    const s = p.a.connect(7100, B_ADDR);
    const chunks: Buffer[] = [];
    for await (const d of s) chunks.push(d as Buffer);
    assert.equal(Buffer.concat(chunks).toString(), 'local saw 127.0.0.1');
    assert.equal(stat('tcp-server').listen, 'tunnel:7100');
  });

  it('[UDPProxyTunnel]: datagrams go to the target and answers come back; the idle session closes', async () => {
    const { host, port } = hostPort(stat('udp').listen);
    const c = createSocket('udp4');
    c.send('ping', port, host);
    const [msg] = (await once(c, 'message')) as [Buffer];
    assert.equal(msg.toString(), 'echo:ping');
    assert.equal(stat('udp').active, 1);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(stat('udp').active, 0, 'InactivityTimeout = 1 closed the session');
    c.close();
  });

  it('[Socks5] UDP ASSOCIATE with PySocks: a datagram to the UDP echo inside the tunnel and its answer; a wrong password fails', { skip: skipUnlessPresent(!havePySocks && 'python3-socks (PySocks) is not installed') }, async () => {
    const { host, port } = hostPort(stat('socks5').listen);
    const script = `
import socks, socket, sys
s = socks.socksocket(socket.AF_INET, socket.SOCK_DGRAM)
s.set_proxy(socks.SOCKS5, "${host}", ${port}, username="u1", password=sys.argv[1])
s.settimeout(10)
s.sendto(b"over socks udp", ("${A_ADDR}", 7001))
data, src = s.recvfrom(2048)
print(data.decode(), src[0], src[1])
`;
    const run = (pw: string) =>
      new Promise<{ code: number; out: string; err: string }>((resolve) => {
        execFile(PY, ['-c', script, pw], { timeout: 20_000 }, (e, out, err) => resolve({ code: e ? 1 : 0, out, err }));
      });
    const ok = await run('pw-udp-secret');
    assert.equal(ok.code, 0, ok.err);
    assert.equal(ok.out.trim(), `echo:over socks udp ${A_ADDR} 7001`);
    const bad = await run('wrong');
    assert.notEqual(bad.code, 0);
    assert.ok(stat('socks5').refused['bad-credentials']! >= 1);
    assert.ok(stat('socks5').bytesIn >= 'echo:over socks udp'.length);
  });
});

describe('proxies and tunnels in wgts show, --json and /metrics', { timeout: 60_000 }, () => {
  it('each section with its counters, and never the password', async () => {
    const p = await startPair(`
[Socks5]
BindAddress = 127.0.0.1:0
Username = u2
Password = pw-never-shown

[TCPClientTunnel]
BindAddress = 127.0.0.1:0
Target = ${A_ADDR}:7000
`, '', { uapi: { name: `wgts${process.pid % 100000}` } });
    try {
      await echoes(p);
      const s = p.b.stats().proxies.find((x) => x.kind === 'tcp-client')!;
      const c = connect(Number(s.listen.split(':')[1]), '127.0.0.1');
      c.end('counted');
      for await (const _ of c) { /* drain */ }
      const path = p.b.iface.uapiPath!;
      const stats = await getStats(path);
      const text = renderView('libb', await getView(path), Date.now(), stats);
      assert.match(text, new RegExp(`tcp client tunnel ${s.listen.replace(/\./g, '\\.')} -> 10\\.77\\.0\\.1:7000: 0 active, 1 total, 7 B into the tunnel, 7 B back`));
      assert.match(text, /socks5 proxy 127\.0\.0\.1:\d+: 0 active, 0 total/);
      const json = viewJson('libb', await getView(path), stats) as { proxies: Array<{ kind: string; total: number }> };
      assert.deepEqual(json.proxies.map((x) => [x.kind, x.total]), [['socks5', 0], ['tcp-client', 1]]);
      const metrics = renderMetrics(p.b.stats());
      assert.match(metrics, /wgts_proxy_connections_total\{interface="libb",kind="tcp-client",listen="127\.0\.0\.1:\d+",target="10\.77\.0\.1:7000"\} 1/);
      assert.match(metrics, /wgts_proxy_bytes_total\{interface="libb",kind="tcp-client",[^}]*direction="into_tunnel"\} 7/);
      for (const out of [text, JSON.stringify(json), metrics]) assert.doesNotMatch(out, /pw-never-shown/);
    } finally {
      await p.close();
    }
  });
});

describe('[STDIOTunnel] through `wgts up`', { timeout: 150_000 }, () => {
  it('stdin/stdout carry a TCP connection inside the tunnel; the process exits when it closes', async () => {
    const cfg = pairConfigs(null);
    const a = await Tunnel.start(cfg.a, { name: 'stdioa', listenAddress: '127.0.0.1' });
    const dir = mkdtempSync(join(tmpdir(), 'wgts-stdio-'));
    try {
      await once(a.createServer((s) => s.pipe(s)).listen(7000), 'listening');
      const file = join(dir, 'stdio.conf');
      writeFileSync(file, `${cfg.b(a.listenPort)}\n[STDIOTunnel]\nTarget = ${A_ADDR}:7000\n`, { mode: 0o600 });
      const child = spawn(process.execPath, [MAIN, 'up', file, '--userspace', '-i', `wgstdio${process.pid % 100000}`], { stdio: ['pipe', 'pipe', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.stdin.write('line one\n');
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const deadline = Date.now() + 90_000; // a child node under a loaded machine starts slowly
      while (!out.includes('line one\n') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.equal(out, 'line one\n', err);
      child.stdin.end('line two\n');
      const [code] = (await once(child, 'exit')) as [number];
      assert.equal(out, 'line one\nline two\n');
      assert.equal(code, 0, err);
      assert.match(err, /STDIOTunnel to 10\.77\.0\.1:7000 closed: shutting down/);
    } finally {
      await a.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
