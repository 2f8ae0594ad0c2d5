// The userspace TCP/IP stack against the Linux kernel's, the real reference:
// wgts (userspace mode, stack-peer.ts services) in one namespace, wireguard-go
// with a TUN and kernel tools (python3, socat, curl) in the other. Large
// transfers both ways keep their SHA-256, passive and active open, half-close,
// UDP echo; then the same through a UDP relay that drops, reorders and
// duplicates the outer datagrams, so the kernel's TCP sees real loss.
import { beforeAll, it } from 'vitest';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  formatEndpoint, genKeyPair, interopSuite, Netns, vethPair, waitFor, WireguardGo, trackPath,
  type VethPair, type WgKeyPair, type Proc,
} from '../harness/netns.js';
import { spawnRelay, type RelayChild } from '../harness/udp-relay.js';
import { renderConf } from './wgts-proc.js';
import { chunks } from './stack-peer.js';
import { PY_DIGEST_SINK } from './digest-sink.js';

const OUTER = { w4: '198.18.2.1/24', g4: '198.18.2.2/24' };
const INNER = { w4: '198.19.2.1', g4: '198.19.2.2', w6: 'fd77:7767:7473:22::1', g6: 'fd77:7767:7473:22::2' };
const PORT_W = 51830;
const PORT_G = 51831;
const PEER = resolve('dist/test/interop/stack-peer.js');
const BIG = 16 << 20;
const IMPAIRED = 4 << 20;

function shaOf(total: number): string {
  const h = createHash('sha256');
  for (const c of chunks(total)) h.update(c);
  return h.digest('hex');
}

const PY_CLIENT = `
import socket, hashlib, sys
host, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.create_connection((host, port), timeout=60)
if mode == 'recv':
    h = hashlib.sha256(); n = 0
    while True:
        d = s.recv(1 << 16)
        if not d: break
        h.update(d); n += len(d)
    print(h.hexdigest(), n)
else:
    data = open(mode, 'rb').read()
    s.sendall(data); s.shutdown(socket.SHUT_WR)
    print(s.makefile().read().strip())
`;

interopSuite('userspace TCP/IP stack <-> Linux kernel TCP (through wireguard-go)', { timeout: 240_000, needs: ['python3', 'socat'] }, () => {
  let w: Netns;
  let g: Netns;
  let link: VethPair;
  let wg: WireguardGo;
  let kw: WgKeyPair;
  let kg: WgKeyPair;
  let peer: Proc;
  let dir: string;
  let relay: RelayChild | null = null;
  let sink: Proc;
  let http: Proc;
  let lineCursor = 0;

  async function nextLine(prefix: string, timeoutMs: number): Promise<string> {
    return waitFor(() => {
      peer.assertRunning();
      const lines = peer.output().split('\n');
      for (let i = lineCursor; i < lines.length - 1; i++) {
        if (lines[i]!.startsWith(prefix)) { lineCursor = i + 1; return lines[i]!; }
      }
      return null;
    }, timeoutMs, `stack peer to print ${prefix}`);
  }

  async function startPeer(endpoint: string) {
    const conf = renderConf({
      privateKey: kw.privateKey, listenPort: PORT_W, addresses: [`${INNER.w4}/24`, `${INNER.w6}/64`],
      peers: [{ publicKey: kg.publicKey, endpoint, allowedIps: [`${INNER.g4}/32`, `${INNER.g6}/128`], persistentKeepalive: 25 }],
    });
    const file = join(dir, 'peer.conf');
    writeFileSync(file, conf, { mode: 0o600 });
    peer = w.spawn([process.execPath, PEER, file], { label: 'stack-peer', stdin: true, env: { SOURCE_BYTES: String(BIG) } });
    lineCursor = 0;
    await nextLine('READY', 8000);
    await wg.waitForHandshake(kw.publicKey, 8000);
  }

  async function kernelClient(host: string, port: number, mode: string, timeoutMs = 90_000): Promise<string> {
    const r = await g.exec(['python3', '-c', PY_CLIENT, host, String(port), mode], { timeoutMs });
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim();
  }

  // Fixture: wgts stack peer, wireguard-go and kernel servers.
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wgts-netstack-'));
    trackPath(dir);
    w = await Netns.create('sw');
    g = await Netns.create('sg');
    link = await vethPair(w, g, { aAddr4: OUTER.w4, bAddr4: OUTER.g4 });
    [kw, kg] = await Promise.all([genKeyPair(), genKeyPair()]);
    wg = await WireguardGo.start(g);
    await wg.setconf({ privateKey: kg.privateKey, listenPort: PORT_G, peers: [{ publicKey: kw.publicKey, allowedIps: [`${INNER.w4}/32`, `${INNER.w6}/128`] }] });
    await wg.addAddress(`${INNER.g4}/24`);
    await wg.addAddress(`${INNER.g6}/64`);
    await wg.up();
    // Kernel-side servers: a digest sink, and python's http.server over a file of known content.
    sink = g.spawn(['python3', '-c', PY_DIGEST_SINK, '::', '9000'], { label: 'py-sink' });
    writeFileSync(join(dir, 'big.bin'), Buffer.concat([...chunks(BIG)]));
    http = g.spawn(['python3', '-m', 'http.server', '--bind', '::', '--directory', dir, '8000'], { label: 'http.server' });
    await waitFor(() => sink.output().includes('LISTENING'), 5000, 'python sink');
    await waitFor(async () => (await g.exec(['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:8000/big.bin`])).stdout === '200', 8000, 'http.server');
    await startPeer(formatEndpoint(link.bAddr4, PORT_G));
  }, 30_000);

  it('kernel ping reaches the stack over IPv4 and IPv6', { timeout: 15_000 }, async () => {
    for (const addr of [INNER.w4, INNER.w6]) {
      const r = await g.exec(['ping', '-c', '2', '-W', '2', addr]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
    }
  });

  it(`kernel client <- stack (passive open): ${BIG >> 20} MB arrive with the same SHA-256`, { timeout: 120_000 }, async () => {
    const got = await kernelClient(INNER.w4, 19, 'recv');
    const sent = await nextLine('SENT', 10_000);
    assert.equal(got.split(' ')[0], sent.split(' ')[1]);
    assert.equal(Number(got.split(' ')[1]), BIG);
  });

  it(`kernel client -> stack, then half-close and a reply: ${BIG >> 20} MB`, { timeout: 120_000 }, async () => {
    const reply = await kernelClient(INNER.w4, 9, join(dir, 'big.bin'));
    assert.equal(reply, `${shaOf(BIG)} ${BIG}`);
  });

  it('kernel TCP over IPv6 to the stack (echo via socat)', { timeout: 30_000 }, async () => {
    const r = await g.exec(['socat', '-t', '5', '-', `TCP6:[${INNER.w6}]:7`], { input: 'hello over v6\n', timeoutMs: 15_000 });
    assert.equal(r.stdout, 'hello over v6\n');
  });

  it(`stack (active open) -> kernel http.server: GET ${BIG >> 20} MB`, { timeout: 120_000 }, async () => {
    peer.child.stdin!.write(`get ${INNER.g4} 8000 /big.bin\n`);
    const line = await nextLine('GOT', 110_000);
    assert.equal(line, `GOT 200 ${shaOf(BIG)} ${BIG}`);
  });

  it(`stack (active open) -> kernel sink over IPv6, half-close, reply: ${BIG >> 20} MB`, { timeout: 120_000 }, async () => {
    peer.child.stdin!.write(`put ${INNER.g6} 9000 ${BIG}\n`);
    const line = await nextLine('PUT', 110_000);
    assert.equal(line, `PUT ${shaOf(BIG)} ${shaOf(BIG)} ${BIG}`);
  });

  it('closed ports: kernel gets a RST for TCP and ICMP port-unreachable for UDP', { timeout: 20_000 }, async () => {
    const t = await g.exec(['python3', '-c', `import socket\ntry:\n  socket.create_connection(('${INNER.w4}', 4444), timeout=5)\n  print('open')\nexcept ConnectionRefusedError:\n  print('refused')\nexcept Exception as e:\n  print(type(e).__name__)`]);
    assert.equal(t.stdout.trim(), 'refused');
    const u = await g.exec(['python3', '-c', `import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.connect(('${INNER.w4}',4444))\ns.settimeout(3)\ns.send(b'x')\ntry:\n  s.recv(10)\n  print('data')\nexcept ConnectionRefusedError:\n  print('refused')\nexcept Exception as e:\n  print(type(e).__name__)`]);
    assert.equal(u.stdout.trim(), 'refused');
  });

  it('UDP echo on the stack answers the kernel', { timeout: 20_000 }, async () => {
    const r = await g.exec(['socat', '-t', '2', '-', `UDP:${INNER.w4}:7`], { input: 'ping-udp', timeoutMs: 10_000 });
    assert.equal(r.stdout, 'ping-udp');
  });

  it('through an impairing relay (2% drop, 2% reorder, 1% duplicate) both directions keep their digests', { timeout: 200_000 }, async () => {
    await peer.stop();
    relay = await spawnRelay(w, {
      listenA: { address: '127.0.0.1' }, listenB: { address: link.aAddr4 },
      targetB: { address: link.bAddr4, port: PORT_G }, seed: 42,
      impair: { drop: 0.02, reorder: 0.02, duplicate: 0.01, holdMs: 5 },
    });
    // Point the peer at the relay: rewrite the config's endpoint.
    const conf = renderConf({
      privateKey: kw.privateKey, listenPort: PORT_W, addresses: [`${INNER.w4}/24`, `${INNER.w6}/64`],
      peers: [{ publicKey: kg.publicKey, endpoint: formatEndpoint('127.0.0.1', relay.portA), allowedIps: [`${INNER.g4}/32`, `${INNER.g6}/128`], persistentKeepalive: 25 }],
    });
    writeFileSync(join(dir, 'peer.conf'), conf, { mode: 0o600 });
    peer = w.spawn([process.execPath, PEER, join(dir, 'peer.conf')], { label: 'stack-peer', stdin: true, env: { SOURCE_BYTES: String(IMPAIRED) } });
    lineCursor = 0;
    await nextLine('READY', 8000);
    await waitFor(async () => (await wg.show()).peers[0]!.endpoint === formatEndpoint(link.aAddr4, relay!.portB), 15_000, 'wireguard-go to roam to the relay');

    const got = await kernelClient(INNER.w4, 19, 'recv', 150_000);
    assert.equal(got, `${shaOf(IMPAIRED)} ${IMPAIRED}`, 'stack -> kernel under loss');
    writeFileSync(join(dir, 'mid.bin'), Buffer.concat([...chunks(IMPAIRED)]));
    const reply = await kernelClient(INNER.w4, 9, join(dir, 'mid.bin'), 150_000);
    assert.equal(reply, `${shaOf(IMPAIRED)} ${IMPAIRED}`, 'kernel -> stack under loss');
    const stats = await relay.stop();
    relay = null;
    assert.ok(stats.aToB.dropped + stats.bToA.dropped > 0, `loss was injected: ${JSON.stringify(stats)}`);
    assert.ok(stats.aToB.reordered + stats.bToA.reordered > 0, 'reordering was injected');
  });

  it('cleans up', { timeout: 20_000 }, async () => {
    await peer.stop();
    await sink.stop();
    await http.stop();
    await wg.stop();
    await w.destroy();
    await g.destroy();
    rmSync(dir, { recursive: true, force: true });
  });
});
