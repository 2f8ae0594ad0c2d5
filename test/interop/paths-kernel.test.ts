// wgts's userspace TCP against the Linux kernel's over an internet-like path:
// 20 ms RTT and 1 % loss each way, added by the impairing relay on the outer
// WireGuard UDP between a VPS (wgts --userspace with [Forward]s) and home
// (wireguard-go, kernel TCP servers on the tunnel address). On the lossy leg
// one end is the userspace stack and the other the kernel's TCP, so each
// transfer puts one of them in the sender's seat under loss and delay:
//
//   client (kernel TCP) -> vps public port -> wgts stack ==relay 10 ms + 1 %==> home kernel TCP
//
// A few MB each way must arrive with the SHA-256 the other end computed.
import { it, beforeAll } from 'vitest';
import assert from 'node:assert/strict';
import { interopSuite, type Proc, waitFor } from '../harness/netns.js';
import type { RelayChild } from '../harness/udp-relay.js';
import {
  createPathsTopology, describeRelay, startHomeKernel, startPathRelay, startProbeServer, startVpsWgts, waitForPath,
  P, PORT_PROBE, type PathsTopology,
} from './paths-topology.js';
import { PY_DIGEST_SINK } from './digest-sink.js';

const PATH = { rttMs: 20, loss: 0.01 };
const BYTES = 3 << 20;
const PORT_SINK = 9000;
const PORT_SOURCE = 9001;

// Home's kernel-TCP servers: the digest sink (digest-sink.ts), and a source of random bytes.
const PY_SOURCE = `
import socket, hashlib, os
s = socket.create_server(('0.0.0.0', ${PORT_SOURCE}))
print('LISTENING', flush=True)
while True:
    c, _ = s.accept()
    data = os.urandom(${BYTES})
    print('SENT', hashlib.sha256(data).hexdigest(), len(data), flush=True)
    c.sendall(data); c.close()
`;
// The client: 'send' writes random bytes and prints their digest and the sink's reply; 'recv' prints the digest of what it read.
const PY_CLIENT = `
import socket, hashlib, os, sys, time
mode, port = sys.argv[1], int(sys.argv[2])
t0 = time.monotonic()
c = socket.create_connection(('${P.vpsPub4}', port), timeout=60)
if mode == 'send':
    data = os.urandom(${BYTES})
    c.sendall(data); c.shutdown(socket.SHUT_WR)
    reply = c.makefile().read().strip()
    print(hashlib.sha256(data).hexdigest(), len(data), '|', reply)
elif mode == 'probe':
    c.recv(1)
    print(round((time.monotonic() - t0) * 1000, 1))
else:
    h = hashlib.sha256(); n = 0
    while True:
        d = c.recv(1 << 16)
        if not d: break
        h.update(d); n += len(d)
    print(h.hexdigest(), n)
`;

interopSuite('userspace TCP <-> Linux kernel TCP over a 20 ms RTT, 1 % loss path (relay on the outer UDP)', { timeout: 60_000, needs: ['python3'] }, () => {
  let t: PathsTopology;
  let relay: RelayChild;
  let source: Proc;

  async function client(mode: 'send' | 'recv' | 'probe', port: number): Promise<string> {
    const r = await t.client.exec(['python3', '-c', PY_CLIENT, mode, String(port)], { timeoutMs: 40_000 });
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim();
  }

  beforeAll(async () => {
    t = await createPathsTopology();
    relay = await startPathRelay(t, PATH, 21);
    await startHomeKernel(t);
    for (const [argv, label] of [[[PY_DIGEST_SINK, '0.0.0.0', String(PORT_SINK)], 'sink'], [[PY_SOURCE], 'source']] as const) {
      const p = t.home.spawn(['python3', '-c', ...argv], { label: `kernel ${label}` });
      await waitFor(() => {
        p.assertRunning();
        return p.output().includes('LISTENING');
      }, 5000, `the kernel ${label} to listen`);
      if (label === 'source') source = p;
    }
    await startProbeServer(t);
    await startVpsWgts(t, [PORT_SINK, PORT_SOURCE, PORT_PROBE]);
    await waitForPath(t);
  });

  it('a round trip through the path takes at least its 20 ms RTT', { timeout: 10_000 }, async () => {
    // The forwarder's connect to home (SYN, SYN-ACK) alone crosses the relay both ways.
    const ms = Number(await client('probe', PORT_PROBE));
    assert.ok(ms >= PATH.rttMs, `client -> home -> client took ${ms} ms, want >= ${PATH.rttMs}`);
  });

  it(`kernel client -> wgts stack sends under loss -> home kernel TCP: ${BYTES >> 20} MB, same SHA-256`, { timeout: 40_000 }, async () => {
    const [sent, reply] = (await client('send', PORT_SINK)).split(' | ');
    assert.equal(reply, sent, 'digest and length at home equal what the client sent');
    assert.equal(Number(sent!.split(' ')[1]), BYTES);
  });

  it(`home kernel TCP sends under loss -> wgts stack -> kernel client: ${BYTES >> 20} MB, same SHA-256`, { timeout: 40_000 }, async () => {
    const got = await client('recv', PORT_SOURCE);
    const line = await waitFor(() => source.output().split('\n').find((l) => l.startsWith('SENT ')) ?? null, 5000, 'the source to report its digest');
    assert.equal(got, line.slice('SENT '.length));
  });

  it('the relay delayed and dropped datagrams in both directions', { timeout: 10_000 }, async () => {
    const s = await relay.stop();
    for (const d of [s.aToB, s.bToA]) {
      assert.ok(d.dropped > 0 && d.queued === d.received - d.dropped, `dropped and delayed: ${describeRelay(s)}`);
    }
  });
});
