/**
 * StackNet, the adapter the driver uses in userspace mode, over two real
 * userspace stacks joined back to back in memory (no WireGuard in between:
 * inner IP packets go straight from one stack's poll() to the other's
 * input(), pumped in real time). A Forwarder on "VPS" stack A reaches a
 * service listening on "home" stack B, and an Exposer on B publishes a
 * kernel-socket service to A. With Source = client, A sends from the
 * public client's loopback address and B sees it as the peer.
 */
import { test, type TestContext } from 'vitest';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Stack } from '../../src/netstack/stack.js';
import { Exposer, Forwarder } from '../../src/nat/forwarder.js';
import { StackNet } from '../../src/nat/stack-net.js';
import type { NetSocket } from '../../src/host/net.js';
import { decodeTcp, F_ACK, F_SYN } from '../netstack/helpers.js';
import { dial, drain, outcome, portOf, rule, sendRandom, statsOf, tcpServer, waitFor } from './helpers.js';

/**
 * Two stacks joined by an in-memory wire, pumped on setImmediate while either has output or a deadline; stopped after the test.
 * `wire.holdFromB`: b's packets wait until it is false again; `wire.fromA` logs a's packets.
 */
function pair(t: TestContext, wire: { holdFromB: boolean; fromA: Uint8Array[] } = { holdFromB: false, fromA: [] }) {
  const random = (n: number): Uint8Array => new Uint8Array(randomBytes(n));
  const a = new Stack({ addresses: [{ ip: '10.0.0.1', cidr: 24 }], random });
  const b = new Stack({ addresses: [{ ip: '10.0.0.2', cidr: 24 }], random });
  let queued = false;
  let stopped = false;
  const held: Uint8Array[] = [];
  const pump = (): void => {
    queued = false;
    if (stopped) return;
    for (let round = 0; round < 64; round++) {
      const now = performance.now();
      const fromA = a.poll(now);
      const fromB = held.splice(0).concat(b.poll(now));
      wire.fromA.push(...fromA);
      for (const p of fromA) b.input(p, now);
      if (wire.holdFromB) held.push(...fromB);
      else for (const p of fromB) a.input(p, now);
      if (fromA.length === 0 && (fromB.length === 0 || wire.holdFromB)) break;
    }
    wake();
  };
  const wake = (): void => {
    if (queued || stopped) return;
    queued = true;
    setImmediate(pump);
  };
  a.onWake = wake;
  b.onWake = wake;
  const timer = setInterval(wake, 5); // timers (retransmission, delayed ACK)
  wake();
  const stop = (): void => {
    stopped = true;
    clearInterval(timer);
  };
  t.onTestFinished(stop);
  return { a, b, stop };
}

/** An echo service on b's 10.0.0.2:8080 and a Forwarder on a in front of it (rules applied by the caller). */
async function echoBehindForwarder(t: TestContext, a: Stack, b: Stack): Promise<Forwarder> {
  await new StackNet(b).listenTcp({ host: '10.0.0.2', port: 8080 }, (s: NetSocket) => {
    s.pipe(s);
    s.resume();
  });
  const fw = new Forwarder({ tunnel: new StackNet(a) });
  t.onTestFinished(async () => { await fw.close(); });
  return fw;
}

test('Forwarder over StackNet: a public TCP port reaches a service on the other stack', async (t) => {
  const { a, b, stop } = pair(t);
  const fw = await echoBehindForwarder(t, a, b);
  const res = await fw.applyRules([rule({ target: { host: '10.0.0.2', port: 8080 } })]);
  assert.deepEqual(res.failed, []);
  const c = await dial(t, portOf(fw));
  const got = drain(c);
  const sent = await sendRandom(c, 2 * 1024 * 1024);
  const d = await got;
  assert.equal(d.sha256, sent);
  assert.equal(d.bytes, 2 * 1024 * 1024);
  await waitFor(() => statsOf(fw).active === 0, 'closed');
  assert.equal(statsOf(fw).bytesFromTarget, 2 * 1024 * 1024);
  await fw.close();
  stop();
});

test('Forwarder over StackNet: nothing listening in the tunnel resets the public client', async (t) => {
  const { a, stop } = pair(t);
  const fw = new Forwarder({ tunnel: new StackNet(a) });
  t.onTestFinished(async () => { await fw.close(); });
  await fw.applyRules([rule({ target: { host: '10.0.0.2', port: 9 } })]);
  assert.equal(await outcome(portOf(fw)), 'ECONNRESET');
  assert.equal(statsOf(fw).refused['ECONNREFUSED'], 1);
  await fw.close();
  stop();
});

test('Exposer over StackNet: a tunnel port on one stack reaches a kernel service; UDP too', async (t) => {
  const { a, b, stop } = pair(t);
  const svc = await tcpServer(t, '127.0.0.1', (s) => s.end('hello from home'));
  const { createSocket } = await import('node:dgram');
  const usvc = createSocket('udp4');
  t.onTestFinished(async () => { await usvc.close(); });
  await new Promise<void>((r) => usvc.bind(0, '127.0.0.1', r));
  usvc.on('message', (m, ri) => usvc.send(Buffer.concat([Buffer.from('re:'), m]), ri.port, ri.address));
  const ex = new Exposer({ tunnel: new StackNet(b) });
  t.onTestFinished(async () => { await ex.close(); });
  const res = await ex.applyRules([
    rule({ kind: 'expose', listen: { host: '10.0.0.2', port: 80 }, target: { host: '127.0.0.1', port: svc.port } }),
    rule({ kind: 'expose', protocols: ['udp'], listen: { host: '10.0.0.2', port: 53 }, target: { host: '127.0.0.1', port: usvc.address().port } }),
  ]);
  assert.deepEqual(res.failed, []);
  const vps = new StackNet(a);
  const s = vps.connectTcp({ host: '10.0.0.2', port: 80 });
  let text = '';
  s.on('data', (d: Buffer) => (text += d.toString()));
  await new Promise<void>((r) => s.once('end', () => r()));
  assert.equal(text, 'hello from home');
  s.end();

  const u = await vps.udpSocket({ family: 4 });
  const replies: string[] = [];
  u.on('message', (m) => replies.push(m.toString()));
  u.send(Buffer.from('q1'), 53, '10.0.0.2');
  await waitFor(() => replies.length === 1, 'udp reply');
  assert.deepEqual(replies, ['re:q1']);
  u.close();
  await ex.close();
  await svc.close();
  stop();
});

test('Forwarder over StackNet, Source = client: the home service sees the public client address and port (TCP and UDP)', async (t) => {
  const { a, b, stop } = pair(t);
  const fw = new Forwarder({ tunnel: new StackNet(a) });
  try {
    const home = new StackNet(b);
    let seen: { address?: string; port?: number } = {};
    await home.listenTcp({ host: '10.0.0.2', port: 8080 }, (s: NetSocket) => {
      seen = { address: s.remoteAddress, port: s.remotePort };
      s.pipe(s);
      s.resume();
    });
    const usvc = await home.udpSocket({ family: 4, address: '10.0.0.2', port: 5353 });
    const useen: Array<{ address: string; port: number }> = [];
    usvc.on('message', (m, ri) => {
      useen.push({ address: ri.address, port: ri.port });
      usvc.send(Buffer.concat([Buffer.from('re:'), m]), ri.port, ri.address);
    });
    const res = await fw.applyRules([
      rule({ target: { host: '10.0.0.2', port: 8080 }, source: 'client' }),
      rule({ protocols: ['udp'], target: { host: '10.0.0.2', port: 5353 }, source: 'client' }),
    ]);
    assert.deepEqual(res.failed, []);

    const c = await dial(t, portOf(fw), { localAddress: '127.0.0.9' });
    const clientPort = c.localPort;
    const got = drain(c);
    const sent = await sendRandom(c, 512 * 1024);
    const d = await got;
    assert.equal(d.sha256, sent);
    assert.deepEqual(seen, { address: '127.0.0.9', port: clientPort });
    await waitFor(() => statsOf(fw).active === 0, 'closed');

    const { createSocket } = await import('node:dgram');
    const u = createSocket('udp4');
    t.onTestFinished(async () => { await u.close(); });
    await new Promise<void>((r) => u.bind(0, '127.0.0.9', r));
    const replies: string[] = [];
    u.on('message', (m) => replies.push(m.toString()));
    u.send('q1', portOf(fw, 'udp'), '127.0.0.1');
    await waitFor(() => replies.length === 1, 'udp reply');
    assert.deepEqual(replies, ['re:q1']);
    assert.deepEqual(useen, [{ address: '127.0.0.9', port: u.address().port }]);
    usvc.close();
  } finally {
    await fw.close();
    stop();
  }
});

test('Congestion of a [Forward] / [Expose] rule picks the controller of the stack connections that rule opens and accepts', async (t) => {
  const { a, b, stop } = pair(t);
  const accepted: string[] = [];
  const fw = await echoBehindForwarder(t, a, b);
  await fw.applyRules([rule({ target: { host: '10.0.0.2', port: 8080 }, congestion: 'bbr' })]);
  const c = await dial(t, portOf(fw));
  const toHome = () => [...a.tcp.connections()].find((conn) => conn.remotePort === 8080);
  await waitFor(() => toHome() !== undefined, 'the tunnel-side connection');
  accepted.push(`a->8080 ${toHome()!.snd.cc.name}`);
  c.destroy();
  const ex = new Exposer({ tunnel: new StackNet(b) });
  t.onTestFinished(async () => { await ex.close(); });
  const svc = await tcpServer(t, '127.0.0.1', (s) => s.end('x'));
  await ex.applyRules([rule({ kind: 'expose', listen: { host: '10.0.0.2', port: 81 }, target: { host: '127.0.0.1', port: svc.port }, congestion: 'newreno' })]);
  const s = new StackNet(a).connectTcp({ host: '10.0.0.2', port: 81 });
  await new Promise<void>((r) => s.once('connect', () => r()));
  for (const conn of b.tcp.connections()) if (conn.localPort === 81) accepted.push(`b:81 ${conn.snd.cc.name}`);
  assert.deepEqual(accepted.sort(), ['a->8080 bbr', 'b:81 newreno']);
  s.destroy();
  await fw.close();
  await ex.close();
  stop();
});

test('Forwarder over StackNet: the client\'s first bytes are taken before the tunnel side connects and leave in the segment that completes its handshake', async (t) => {
  const wire = { holdFromB: true, fromA: [] as Uint8Array[] };
  const { a, b, stop } = pair(t, wire);
  const fw = await echoBehindForwarder(t, a, b);
  await fw.applyRules([rule({ target: { host: '10.0.0.2', port: 8080 } })]);
  const c = await dial(t, portOf(fw));
  c.write('GET /');
  // b's SYN-ACK is held: the tunnel side is still connecting.
  await waitFor(() => statsOf(fw).bytesToTarget === 5, 'the relay to take the request before the tunnel side connects');
  wire.holdFromB = false;
  const echoed = new Promise<string>((r) => c.once('data', (d: Buffer) => r(d.toString())));
  assert.equal(await echoed, 'GET /');
  const segs = wire.fromA.map((p) => decodeTcp(p)!).filter((x) => x.dport === 8080);
  assert.equal(segs[0]!.flags, F_SYN);
  assert.equal(segs[1]!.flags & (F_SYN | F_ACK), F_ACK, 'the handshake\'s ACK');
  assert.equal(segs[1]!.len, 5, 'carries the request');
  c.destroy();
  await fw.close();
  stop();
});
