/**
 * Several targets per rule, on loopback (the test double stands in for the
 * tunnel): failover before the client sees an error, health checks (tcp,
 * http) steering new connections, the peer's handshake, reloads that keep
 * connections and health, UDP sessions sticking to their target, and the
 * PROXY v2 header on UDP datagrams read byte by byte.
 */
import { test, type TestContext } from 'vitest';
import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { HEALTH_DEFAULTS, units, type HealthSpec, type NatRule, type WeightedTarget } from '../../src/nat/rule.js';
import { closeAfter, dial, drain, outcome, portOf, probedPort, refusingPort, rig, rule, sleep, statsOf, tcpServer, waitFor } from './helpers.js';

/** A TCP server on 127.0.0.1 that answers each connection with its name and closes. */
async function named(t: TestContext, name: string, port = 0) {
  const server = createServer((s) => {
    s.on('error', () => {});
    s.end(name);
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return { port: (server.address() as { port: number }).port, close: closeAfter(t, () => new Promise<void>((r) => server.close(() => r()))) };
}

const tgt = (port: number, weight = 1): WeightedTarget => ({ host: '127.0.0.1', port, weight });
const multi = (targets: WeightedTarget[], more: Partial<NatRule> = {}): NatRule => rule({ target: targets[0]!, targets, ...more });
const fast = (p: Partial<HealthSpec> = {}): HealthSpec => ({ ...HEALTH_DEFAULTS, check: 'tcp', interval: 0.1, timeout: 1, failures: 2, successes: 2, ...p });

async function fetchName(port: number): Promise<string> {
  const c = await new Promise<Socket>((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
  const chunks: Buffer[] = [];
  c.on('data', (d: Buffer) => chunks.push(d));
  const d = await drain(c);
  if (d.error) throw new Error(d.error);
  return Buffer.concat(chunks).toString();
}

test('a refused connect goes on to the next target before the client sees anything', async (t) => {
  const dead = await refusingPort(t);
  const b = await named(t, 'b');
  const r = rig(t);
  await r.fw.applyRules([multi([tgt(dead), tgt(b.port)])]);
  const port = portOf(r.fw);
  for (let i = 0; i < 6; i++) assert.equal(await fetchName(port), 'b');
  const s = statsOf(r.fw);
  assert.deepEqual(s.refused, {}, 'no client was reset');
  assert.deepEqual(s.targets.map((x) => [x.target, x.total]), [[`127.0.0.1:${dead}`, 0], [`127.0.0.1:${b.port}`, 6]]);
  assert.ok(r.tunnel.calls.connectTcp.filter((c) => c.port === dead).length >= 3, 'round robin sent some first attempts to the dead target');
  assert.ok(r.log.some((l) => /refused the connection \(ECONNREFUSED\); trying 127\.0\.0\.1:/.test(l)), r.log.join('\n'));
});

test('when every target refuses, the client is reset and the refusal counted once', async (t) => {
  const d1 = await refusingPort(t);
  const d2 = await refusingPort(t);
  const r = rig(t);
  await r.fw.applyRules([multi([tgt(d1), tgt(d2)])]);
  assert.equal(await outcome(portOf(r.fw)), 'ECONNRESET');
  await waitFor(() => statsOf(r.fw).active === 0, 'connection gone');
  assert.deepEqual(statsOf(r.fw).refused, { ECONNREFUSED: 1 });
  assert.equal(r.tunnel.calls.connectTcp.length, 2, 'each target tried once');
  assert.deepEqual(statsOf(r.fw).targets.map((x) => x.active), [0, 0]);
});

test('requests spread by weight under roundrobin, and by open connections under leastconn', async (t) => {
  const a = await named(t, 'a');
  const b = await named(t, 'b');
  const r = rig(t);
  await r.fw.applyRules([multi([tgt(a.port, 3), tgt(b.port, 1)])]);
  const got: string[] = [];
  for (let i = 0; i < 8; i++) got.push(await fetchName(portOf(r.fw)));
  assert.deepEqual(got.filter((x) => x === 'a').length, 6);
  assert.deepEqual(got.filter((x) => x === 'b').length, 2);

  // leastconn: hold two connections open on the first target; the next ones go to the second.
  const hold = await tcpServer(t, '127.0.0.1', () => {});
  const c = await named(t, 'c');
  const lc = rig(t);
  await lc.fw.applyRules([multi([tgt(hold.port), tgt(c.port)], { balance: 'leastconn' })]);
  const p = portOf(lc.fw);
  const h1 = await dial(t, p);
  await waitFor(() => statsOf(lc.fw).targets.some((x) => x.active === 1), 'first held');
  const second = await fetchName(p);
  assert.equal(second, 'c', 'the idle target gets the next connection');
  h1.destroy();
});

test('a tcp health check marks a dead target down within Interval x Failures; new connections avoid it; it comes back', async (t) => {
  const dead = await refusingPort(t);
  const b = await named(t, 'b');
  const r = rig(t);
  await r.fw.applyRules([multi([tgt(dead), tgt(b.port)], { health: fast() })]);
  await waitFor(() => statsOf(r.fw).targets[0]!.state === 'down', 'dead target marked down', 3000);
  const t0 = statsOf(r.fw).targets[0]!;
  assert.match(t0.reason, /^2 failed checks \(last: ECONNREFUSED\)$/);
  assert.ok(Math.abs(t0.lastChange - Date.now()) < 3000);
  assert.equal(r.log.filter((l) => l.includes(`target 127.0.0.1:${dead} is down`)).length, 1, 'logged once');
  const before = r.tunnel.calls.connectTcp.length;
  for (let i = 0; i < 5; i++) assert.equal(await fetchName(portOf(r.fw)), 'b');
  const clientAttempts = r.tunnel.calls.connectTcp.slice(before).filter((c) => c.port === b.port).length;
  assert.ok(clientAttempts >= 5, 'every client went to the live target');
  // The service comes up on the dead target's port (127.0.0.1; the holder is on 127.0.0.2).
  await named(t, 'a', dead);
  await waitFor(() => statsOf(r.fw).targets[0]!.state === 'up', 'target back up', 3000);
  assert.equal(statsOf(r.fw).targets[0]!.reason, '2 good checks');
  const got = new Set<string>();
  for (let i = 0; i < 4; i++) got.add(await fetchName(portOf(r.fw)));
  assert.deepEqual([...got].sort(), ['a', 'b']);
  assert.equal(r.log.filter((l) => l.includes(`target 127.0.0.1:${dead} is up`)).length, 1);
});

/** An HTTP server on 127.0.0.1 answering every request with `status()`; records request lines. */
async function httpStatus(t: TestContext, status: () => number) {
  const lines: string[] = [];
  const server = createServer((s) => {
    s.on('error', () => {});
    s.once('data', (d) => {
      lines.push(d.toString('latin1').split('\r\n')[0]!);
      s.end(`HTTP/1.1 ${status()} X\r\nContent-Length: 0\r\n\r\n`);
    });
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  closeAfter(t, () => new Promise<void>((res) => server.close(() => res())));
  return { port: (server.address() as { port: number }).port, lines };
}

test('an http health check wants 2xx or 3xx from the path', async (t) => {
  let status = 503;
  const a = await httpStatus(t, () => status);
  const b = await httpStatus(t, () => 200);
  const r = rig(t);
  await r.fw.applyRules([multi([tgt(a.port), tgt(b.port)], { health: fast({ check: 'http', path: '/healthz?x=1' }) })]);
  await waitFor(() => statsOf(r.fw).targets[0]!.state === 'down', 'down on 503', 3000);
  assert.equal(statsOf(r.fw).targets[0]!.reason, '2 failed checks (last: HTTP 503)');
  assert.equal(a.lines[0], 'GET /healthz?x=1 HTTP/1.1');
  status = 302;
  await waitFor(() => statsOf(r.fw).targets[0]!.state === 'up', 'up on 302', 3000);
  assert.equal(statsOf(r.fw).targets[1]!.state, 'up');
  assert.ok(b.lines.length >= 2, 'the other target is probed too');
});

test('a target whose peer has no fresh handshake is down without being probed', async (t) => {
  const b = await named(t, 'b');
  // 127.0.0.3 stands for an address behind a peer whose handshake is stale.
  const r = rig(t, 'forward', { peerFresh: (host) => host !== '127.0.0.3' });
  const stale = createServer((x) => x.end('stale'));
  await new Promise<void>((res) => stale.listen(0, '127.0.0.3', res));
  closeAfter(t, () => new Promise<void>((res) => stale.close(() => res())));
  const stalePort = (stale.address() as { port: number }).port;
  await r.fw.applyRules([multi([{ host: '127.0.0.3', port: stalePort, weight: 1 }, tgt(b.port)], { health: fast() })]);
  assert.deepEqual(statsOf(r.fw).targets.map((x) => [x.state, x.reason]), [['down', 'no fresh handshake with its peer'], ['up', 'not checked yet']]);
  // A VPS starts before home dials in: that is said once, calmly, not warned as a fault.
  const stale3 = r.log.filter((l) => l.includes('target 127.0.0.3'));
  assert.equal(stale3.length, 1, stale3.join('\n'));
  assert.match(stale3[0]!, new RegExp(`^info: .*target 127\\.0\\.0\\.3:${stalePort} waits for its peer's first handshake$`));
  for (let i = 0; i < 4; i++) assert.equal(await fetchName(portOf(r.fw)), 'b');
  await sleep(300);
  assert.equal(r.tunnel.calls.connectTcp.filter((x) => x.host === '127.0.0.3').length, 0, 'never probed nor connected');
  assert.ok(r.tunnel.calls.connectTcp.filter((x) => x.port === b.port).length > 4, 'the fresh one is probed as well as used');
});

test('a peer that had a handshake and loses it is warned about; before its first one it is not', async (t) => {
  let fresh = false;
  const r = rig(t, 'forward', { peerFresh: () => fresh });
  const b = await named(t, 'b');
  await r.fw.applyRules([multi([tgt(b.port)], { health: fast() })]);
  const name = `target 127.0.0.1:${b.port}`;
  await waitFor(() => r.log.some((l) => l.includes(`${name} waits for its peer's first handshake`)), 'first-handshake note', 3000);
  fresh = true;
  await waitFor(() => statsOf(r.fw).targets[0]!.state === 'up', 'up once the peer is fresh', 3000);
  fresh = false;
  await waitFor(() => statsOf(r.fw).targets[0]!.state === 'down', 'down when the handshake goes stale', 3000);
  const mine = r.log.filter((l) => l.includes(name));
  assert.ok(mine.every((l) => !l.startsWith('warn:') || l.endsWith(`${name} is down: no fresh handshake with its peer`)), mine.join('\n'));
  assert.equal(mine.filter((l) => l.startsWith('warn:')).length, 1, mine.join('\n'));
  assert.equal(mine.filter((l) => l.startsWith('info:') && l.includes('waits for')).length, 1, mine.join('\n'));
});

test('a reload that changes the targets keeps open connections and the health of unchanged targets', async (t) => {
  const dead = await refusingPort(t);
  const hold = await tcpServer(t, '127.0.0.1', (s) => s.pipe(s));
  const c = await named(t, 'c');
  const r = rig(t);
  // A fixed port: rules on port 0 are ephemeral listeners, never the same unit across a reload.
  const listen = { host: '127.0.0.1', port: await probedPort() };
  const before = multi([tgt(dead), tgt(hold.port)], { health: fast(), listen });
  await r.fw.applyRules([before]);
  await waitFor(() => statsOf(r.fw).targets[0]!.state === 'down', 'marked down', 3000);
  const downSince = statsOf(r.fw).targets[0]!.lastChange;
  const open = await dial(t, portOf(r.fw));
  const echoed = drain(open);
  open.write('before');
  await waitFor(() => statsOf(r.fw).targets[1]!.active === 1, 'open connection to the live target');

  const after = multi([tgt(dead), tgt(hold.port), tgt(c.port)], { health: fast(), balance: 'leastconn', listen });
  const res = await r.fw.applyRules([after]);
  assert.deepEqual(res, { added: [], removed: [], kept: [], updated: [units(after)[0]!.text], failed: [] });
  const s = statsOf(r.fw);
  assert.equal(s.rule, units(after)[0]!.text);
  assert.equal(s.active, 1, 'the open connection is still counted');
  assert.deepEqual(s.targets.map((x) => [x.state, x.active]), [['down', 0], ['up', 1], ['up', 0]]);
  assert.equal(s.targets[0]!.lastChange, downSince, 'health state kept, not re-learned');
  assert.equal(await fetchName(portOf(r.fw)), 'c', 'leastconn: the new target has no connections');
  open.end('after');
  const d = await echoed;
  assert.equal(d.error, undefined);
  assert.equal(d.bytes, 'beforeafter'.length);
});

async function udp(t: TestContext): Promise<UdpSocket> {
  const s = createSocket('udp4');
  let open = true;
  s.once('close', () => (open = false));
  t.onTestFinished(() => {
    if (open) s.close();
  });
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  return s;
}

test('UDP sessions stay on the target they started on; new sessions spread', async (t) => {
  const names = ['x', 'y'];
  const servers = await Promise.all(names.map(async (n) => {
    const s = await udp(t);
    s.on('message', (m, ri) => s.send(`${n}:${m}`, ri.port, ri.address));
    return s;
  }));
  const r = rig(t);
  await r.fw.applyRules([multi(servers.map((s) => tgt(s.address().port)), { protocols: ['udp'] })]);
  const port = portOf(r.fw, 'udp');
  const clients = [await udp(t), await udp(t)];
  const seen = clients.map(() => new Set<string>());
  clients.forEach((c, i) => c.on('message', (m) => seen[i]!.add(m.toString().split(':')[0]!)));
  for (let round = 0; round < 5; round++) for (const c of clients) c.send(`hi${round}`, port, '127.0.0.1');
  await waitFor(() => seen.every((s) => s.size > 0) && statsOf(r.fw, 'udp').bytesFromTarget >= 10 * 5, 'replies');
  assert.deepEqual(seen.map((s) => s.size), [1, 1], 'each session answered by one target only');
  assert.notDeepEqual([...seen[0]!], [...seen[1]!], 'two sessions, two targets (round robin)');
  assert.deepEqual(statsOf(r.fw, 'udp').targets.map((x) => [x.active, x.total]), [[1, 1], [1, 1]]);
});

test('ProxyProtocol = v2 on UDP: each datagram to the target starts with a PROXY v2 DGRAM header; replies come back plain', async (t) => {
  const target = await udp(t);
  const got: Buffer[] = [];
  target.on('message', (m, ri) => {
    got.push(m);
    target.send(Buffer.from('plain reply'), ri.port, ri.address);
  });
  const r = rig(t);
  await r.fw.applyRules([rule({ protocols: ['udp'], target: { host: '127.0.0.1', port: target.address().port }, proxyProtocol: 'v2' })]);
  const port = portOf(r.fw, 'udp');
  const client = await udp(t);
  const replies: string[] = [];
  client.on('message', (m) => replies.push(m.toString()));
  client.send('one', port, '127.0.0.1');
  client.send('two', port, '127.0.0.1');
  await waitFor(() => got.length === 2 && replies.length === 2, 'both datagrams and replies');
  assert.deepEqual(replies, ['plain reply', 'plain reply']);
  for (const [i, m] of got.entries()) {
    // HAProxy proxy-protocol.txt section 2.2, read byte by byte.
    assert.deepEqual([...m.subarray(0, 12)], [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a], 'signature');
    assert.equal(m[12], 0x21, 'version 2 (high nibble), command PROXY (low nibble)');
    assert.equal(m[13], 0x12, 'AF_INET (0x1_) over DGRAM (0x_2)');
    assert.equal(m[14]! * 256 + m[15]!, 12, 'address block length for AF_INET: 4 + 4 + 2 + 2');
    assert.deepEqual([...m.subarray(16, 20)], [127, 0, 0, 1], 'source address: the client');
    assert.deepEqual([...m.subarray(20, 24)], [127, 0, 0, 1], 'destination address: where the client sent it');
    assert.equal(m[24]! * 256 + m[25]!, client.address().port, 'source port');
    assert.equal(m[26]! * 256 + m[27]!, port, 'destination port: the listening port');
    assert.equal(m.subarray(28).toString(), i === 0 ? 'one' : 'two', 'the payload follows the header unchanged');
  }
  const s = statsOf(r.fw, 'udp');
  assert.equal(s.bytesToTarget, 6, 'headers not counted as payload');
  assert.equal(s.rule, units(rule({ protocols: ['udp'], target: { host: '127.0.0.1', port: target.address().port }, proxyProtocol: 'v2' }))[0]!.text);
  assert.match(s.rule, /ProxyProtocol=v2/);
});
