/**
 * TCP forwarding end to end on loopback: a client -> the Forwarder's public
 * listener -> the loopback test double standing in for the tunnel -> a
 * target server. Also the Exposer (listener on the tunnel side).
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { Socket } from 'node:net';
import { KernelNet } from '../../src/host/kernel-net.js';
import type { NetListener, NetSocket } from '../../src/host/net.js';
import { Forwarder } from '../../src/nat/forwarder.js';
import type { NatRule } from '../../src/nat/rule.js';
import { LoopbackTunnel } from './loopback-tunnel.js';
import { dial, drain, outcome, portOf, rig, rule, sendRandom, refusingPort, sleep, statsOf, tcpServer, waitFor } from './helpers.js';

test('a large payload crosses both ways intact (SHA-256), byte counts match', async (t) => {
  const MB = 1024 * 1024;
  let serverGot: Promise<{ sha256: string; bytes: number }> | undefined;
  let serverSent: Promise<string> | undefined;
  const target = await tcpServer(t, '127.0.0.1', (s) => {
    serverGot = drain(s);
    serverSent = sendRandom(s, 12 * MB);
  });
  const r = rig(t);
  await r.fw.applyRules([rule({ target: { host: '127.0.0.1', port: target.port } })]);
  const c = await dial(t, portOf(r.fw));
  const got = drain(c);
  const sent = await sendRandom(c, 16 * MB);
  const back = await got;
  await waitFor(() => serverGot !== undefined, 'target connection');
  const atTarget = await serverGot!;
  assert.equal(atTarget.bytes, 16 * MB);
  assert.equal(atTarget.sha256, sent);
  assert.equal(back.bytes, 12 * MB);
  assert.equal(back.sha256, await serverSent!);
  assert.equal(back.error, undefined);
  await waitFor(() => statsOf(r.fw).active === 0, 'connection closed');
  const st = statsOf(r.fw);
  assert.equal(st.bytesToTarget, 16 * MB);
  assert.equal(st.bytesFromTarget, 12 * MB);
  assert.equal(st.total, 1);
  await r.close();
  await target.close();
});

test('backpressure: a target that does not read holds the relay to one buffer, then everything arrives', async (t) => {
  let held: Socket | undefined;
  const target = await tcpServer(t, '127.0.0.1', (s) => {
    held = s; // not reading: its receive window closes
  });
  const r = rig(t);
  await r.fw.applyRules([rule({ target: { host: '127.0.0.1', port: target.port } })]);
  const c = await dial(t, portOf(r.fw));
  // Offer 48 MB without waiting for 'drain': the client side buffers, the relay must not.
  const chunk = Buffer.alloc(1024 * 1024, 7);
  for (let i = 0; i < 48; i++) c.write(chunk);
  c.end();
  await waitFor(() => held !== undefined && r.tunnel.sockets.length === 1, 'connection');
  const tun = r.tunnel.sockets[0]!;
  let maxBuffered = 0;
  let lastTo = -1;
  // Sample until the byte count stops moving: the pipeline is full.
  for (let still = 0; still < 10; ) {
    await sleep(20);
    maxBuffered = Math.max(maxBuffered, tun.writableLength);
    const to = statsOf(r.fw).bytesToTarget;
    still = to === lastTo ? still + 1 : 0;
    lastTo = to;
  }
  assert.ok(lastTo < 48 * 1024 * 1024, `relay read ${lastTo} bytes although the target reads nothing`);
  assert.ok(maxBuffered <= 256 * 1024, `relay buffered ${maxBuffered} bytes in user space`);
  const d = await drain(held!);
  assert.equal(d.bytes, 48 * 1024 * 1024);
  held!.end();
  await waitFor(() => statsOf(r.fw).active === 0, 'connection closed');
  await waitFor(() => c.destroyed, 'the client socket closed after the relay'); // the FIN reaches it a moment after the relay counts the connection gone
  await r.close();
  await target.close();
});

test('half-close is kept: the client ends, the target still answers, and the reverse', async (t) => {
  const MB = 1024 * 1024;
  const target = await tcpServer(t, '127.0.0.1', (s) => {
    const chunks: Buffer[] = [];
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('end', async () => {
      // Only after the client's FIN: answer with its request echoed, then a megabyte.
      s.write(Buffer.concat(chunks));
      await sendRandom(s, MB);
    });
  });
  const r = rig(t);
  await r.fw.applyRules([rule({ target: { host: '127.0.0.1', port: target.port } })]);
  const c = await dial(t, portOf(r.fw));
  const got = drain(c);
  c.end('request');
  const d = await got;
  assert.equal(d.error, undefined);
  assert.equal(d.bytes, 'request'.length + MB);

  // Reverse: the target ends first; the client keeps sending and the target receives it all.
  let atTarget: Promise<{ bytes: number; sha256: string }> | undefined;
  const t2 = await tcpServer(t, '127.0.0.1', (s) => {
    atTarget = drain(s);
    s.end('bye');
  });
  await r.fw.applyRules([rule({ target: { host: '127.0.0.1', port: target.port } }), rule({ target: { host: '127.0.0.1', port: t2.port } })]);
  const port2 = r.fw.stats().find((s) => s.rule.includes(`=127.0.0.1:${t2.port}`))!.listeners[0]!.port;
  const c2 = await dial(t, port2);
  const ended = new Promise<string>((res) => {
    let text = '';
    c2.on('data', (b: Buffer) => (text += b.toString()));
    c2.on('end', () => res(text));
  });
  assert.equal(await ended, 'bye');
  const sent = await sendRandom(c2, MB);
  await waitFor(() => atTarget !== undefined, 'target connection');
  const a = await atTarget!;
  assert.equal(a.bytes, MB);
  assert.equal(a.sha256, sent);
  await r.close();
  await target.close();
  await t2.close();
});

test('200 concurrent connections all complete with their own data', async (t) => {
  const target = await tcpServer(t, '127.0.0.1', (s) => s.pipe(s));
  const r = rig(t);
  await r.fw.applyRules([rule({ target: { host: '127.0.0.1', port: target.port } })]);
  const port = portOf(r.fw);
  const results = await Promise.all(
    Array.from({ length: 200 }, async (_, i) => {
      const c = await dial(t, port);
      const got = drain(c);
      const sent = await sendRandom(c, 8 * 1024 + i);
      const d = await got;
      return d.sha256 === sent && d.bytes === 8 * 1024 + i;
    }),
  );
  assert.equal(results.filter((x) => x).length, 200);
  await waitFor(() => statsOf(r.fw).active === 0, 'all closed');
  assert.equal(statsOf(r.fw).total, 200);
  await r.close();
  await target.close();
});

test('a refused target resets the client (ECONNRESET) and a burst is logged once', async (t) => {
  const dead = await refusingPort(t);
  const r = rig(t, 'forward', { burstWindowMs: 1000 });
  await r.fw.applyRules([rule({ target: { host: '127.0.0.1', port: dead } })]);
  const port = portOf(r.fw);
  const outcomes = await Promise.all(Array.from({ length: 20 }, () => outcome(port)));
  assert.deepEqual(new Set(outcomes), new Set(['ECONNRESET']));
  assert.equal(statsOf(r.fw).refused['ECONNREFUSED'], 20);
  const lines = () => r.log.filter((l) => l.includes('ECONNREFUSED'));
  assert.equal(lines().length, 1, lines().join('\n'));
  assert.match(lines()[0]!, /refused the connection \(ECONNREFUSED\); client connection reset/);
  await waitFor(() => lines().length === 2, 'burst summary', 2000);
  assert.match(lines()[1]!, /\(19 more like this in the last 1 s\)/);
  await r.close();
});

test('MaxConnections: excess connections are reset and counted; a slot frees when one closes', async (t) => {
  const target = await tcpServer(t, '127.0.0.1', (s) => s.pipe(s));
  const r = rig(t);
  await r.fw.applyRules([rule({ target: { host: '127.0.0.1', port: target.port }, maxConnections: 3 })]);
  const port = portOf(r.fw);
  const echo = async (c: Socket, text: string): Promise<string> => {
    c.write(text);
    return await new Promise((res) => c.once('data', (b: Buffer) => res(b.toString())));
  };
  const open = [await dial(t, port), await dial(t, port), await dial(t, port)];
  for (const [i, c] of open.entries()) assert.equal(await echo(c, `hello ${i}`), `hello ${i}`);
  assert.equal(await outcome(port), 'ECONNRESET');
  assert.equal(statsOf(r.fw).refused['max-connections'], 1);
  assert.equal(statsOf(r.fw).active, 3);
  open[0]!.destroy();
  await waitFor(() => statsOf(r.fw).active === 2, 'a slot to free');
  const again = await dial(t, port);
  assert.equal(await echo(again, 'back'), 'back');
  for (const c of [...open, again]) c.destroy();
  await r.close();
  await target.close();
});

test('IdleTimeout resets a quiet connection, not a busy one', async (t) => {
  const target = await tcpServer(t, '127.0.0.1', (s) => s.pipe(s));
  const r = rig(t);
  // 0.3 s: the API takes fractional seconds; the config file takes whole seconds.
  await r.fw.applyRules([rule({ target: { host: '127.0.0.1', port: target.port }, idleTimeout: 0.3 })]);
  const port = portOf(r.fw);
  const quiet = await dial(t, port);
  const busy = await dial(t, port);
  const quietEnd = drain(quiet);
  let busyClosed = false;
  busy.on('close', () => (busyClosed = true));
  busy.on('error', () => {});
  quiet.write('x');
  const started = Date.now();
  const ticker = setInterval(() => busy.write('.'), 60);
  const q = await quietEnd;
  clearInterval(ticker);
  assert.equal(q.error, 'ECONNRESET');
  assert.ok(Date.now() - started >= 250, 'closed too early');
  assert.equal(busyClosed, false);
  assert.equal(statsOf(r.fw).timeouts, 1);
  busy.destroy();
  await r.close();
  await target.close();
});

test('Source = client: the tunnel-side connection carries the client address and port', async (t) => {
  let seen: { address?: string; port?: number } = {};
  const target = await tcpServer(t, '127.0.0.1', (s) => {
    seen = { address: s.remoteAddress, port: s.remotePort };
    s.end('ok');
  });
  const r = rig(t);
  await r.fw.applyRules([rule({ target: { host: '127.0.0.1', port: target.port }, source: 'client' })]);
  const c = await dial(t, portOf(r.fw), { localAddress: '127.0.0.9' });
  const d = await drain(c);
  assert.equal(d.bytes, 2);
  assert.deepEqual(seen, { address: '127.0.0.9', port: c.localPort });
  assert.deepEqual(r.tunnel.calls.connectTcp[0], { host: '127.0.0.1', port: target.port, localAddress: '127.0.0.9', localPort: c.localPort });
  await r.close();
  await target.close();
});

test('Source = client is refused on a tunnel that cannot use foreign addresses', async (t) => {
  const { Forwarder } = await import('../../src/nat/forwarder.js');
  const { KernelNet } = await import('../../src/host/kernel-net.js');
  const fw = new Forwarder({ tunnel: new KernelNet('plain kernel sockets') });
  const res = await fw.applyRules([rule({ target: { host: '127.0.0.1', port: 9 }, source: 'client' })]);
  assert.equal(res.added.length, 0);
  assert.equal(res.failed.length, 1);
  assert.match(res.failed[0]!.error, /^Source = client needs a tunnel that can send from the client's address; plain kernel sockets cannot/);
  await fw.close();
});

test('a port range maps each listening port onto the same offset at the target', async (t) => {
  const r = rig(t);
  // Three consecutive free ports: try bases until the whole range binds (a range binds all or nothing).
  let res;
  for (let base = 40000 + (process.pid % 1000) * 7, tries = 0; tries < 50; base += 11, tries++) {
    res = await r.fw.applyRules([rule({ listen: { host: '127.0.0.1', port: base }, ports: 3, target: { host: '127.0.0.1', port: base + 10000 } })]);
    if (res.added.length === 1) break;
    assert.match(res.failed[0]!.error, /EADDRINUSE/);
    assert.equal(r.fw.stats().length, 0);
  }
  const st = statsOf(r.fw);
  const base = st.listeners[0]!.port;
  assert.deepEqual(st.listeners.map((l) => l.port), [base, base + 1, base + 2]);
  for (const i of [2, 0, 1]) assert.equal(await outcome(base + i), 'ECONNRESET'); // nothing listens at the target
  assert.deepEqual(r.tunnel.calls.connectTcp.map((o) => o.port), [base + 10002, base + 10000, base + 10001]);
  await r.close();
});

test('Exposer: a listener on the tunnel side reaches a local service', async (t) => {
  const target = await tcpServer(t, '127.0.0.1', (s) => s.pipe(s));
  const r = rig(t, 'expose');
  await r.fw.applyRules([rule({ kind: 'expose', listen: { host: '127.0.0.3', port: 0 }, target: { host: '127.0.0.1', port: target.port } })]);
  assert.deepEqual(r.tunnel.calls.listenTcp, [{ host: '127.0.0.3', port: 0 }]);
  const c = await dial(t, portOf(r.fw), { host: '127.0.0.3' });
  const got = drain(c);
  const sent = await sendRandom(c, 100_000);
  assert.equal((await got).sha256, sent);
  await r.close();
  await target.close();
});

test('the client\'s address (a getpeername) is asked for only by rules that use it: Source = client, Balance = source, ProxyProtocol', async (t) => {
  /** Host side: the production KernelNet, counting reads of each accepted socket's remoteAddress. */
  class CountingHost extends KernelNet {
    asked = 0;
    override listenTcp(o: { host: string; port: number }, cb: (s: NetSocket) => void): Promise<NetListener> {
      const desc = Object.getOwnPropertyDescriptor(Socket.prototype, 'remoteAddress')!;
      return super.listenTcp(o, (s) => {
        Object.defineProperty(s, 'remoteAddress', { get: () => { this.asked++; return desc.get!.call(s); } });
        cb(s);
      });
    }
  }
  const target = await tcpServer(t, '127.0.0.1', (s) => s.end('hi'));
  const round = async (extra: Partial<NatRule>, localAddress?: string): Promise<number> => {
    const host = new CountingHost();
    const fw = new Forwarder({ tunnel: new LoopbackTunnel(), host });
    t.onTestFinished(() => fw.close());
    await fw.applyRules([rule({ target: { host: '127.0.0.1', port: target.port }, ...extra })]);
    const c = await dial(t, portOf(fw), localAddress ? { localAddress } : {});
    const d = await drain(c);
    assert.ok(d.bytes >= 2);
    await fw.close();
    return host.asked;
  };
  assert.equal(await round({}), 0, 'a plain rule');
  assert.ok(await round({ balance: 'source' }) > 0, 'Balance = source hashes it');
  assert.ok(await round({ proxyProtocol: 'v1' }) > 0, 'the PROXY header carries it');
  assert.ok(await round({ source: 'client' }, '127.0.0.9') > 0, 'Source = client connects from it');
});
