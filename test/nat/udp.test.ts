/**
 * UDP forwarding on loopback: clients -> the Forwarder's public socket ->
 * a session socket on the loopback test double (standing in for the
 * tunnel) -> a UDP target, and replies back to the right client.
 */
import { test, type TestContext } from 'vitest';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { readdirSync } from 'node:fs';
import { portOf, rig, rule, sleep, statsOf, waitFor } from './helpers.js';

/** A bound UDP socket, closed after the test unless the test closed it. */
async function udp(t: TestContext, address = '127.0.0.1'): Promise<Socket> {
  const s = createSocket('udp4');
  let open = true;
  s.once('close', () => (open = false));
  t.onTestFinished(() => {
    if (open) s.close();
  });
  await new Promise<void>((r) => s.bind(0, address, r));
  return s;
}

/** A UDP target; `answer` decides the reply (undefined: none). */
async function udpTarget(t: TestContext, answer: (msg: string, from: { address: string; port: number }) => string | undefined) {
  const s = await udp(t);
  const seen: { msg: string; address: string; port: number }[] = [];
  s.on('message', (m, rinfo) => {
    seen.push({ msg: m.toString(), address: rinfo.address, port: rinfo.port });
    const a = answer(m.toString(), rinfo);
    if (a !== undefined) s.send(a, rinfo.port, rinfo.address);
  });
  return { sock: s, port: s.address().port, seen, close: () => new Promise<void>((r) => s.close(() => r())) };
}

function received(s: Socket): string[] {
  const got: string[] = [];
  s.on('message', (m) => got.push(m.toString()));
  return got;
}

const closeAll = (socks: Socket[]): Promise<unknown> => Promise.all(socks.map((s) => new Promise<void>((r) => s.close(() => r()))));

test('UDP echo for several clients at once, each getting only its own replies', async (t) => {
  const target = await udpTarget(t, (m) => `echo ${m}`);
  const r = rig(t);
  await r.fw.applyRules([rule({ protocols: ['udp'], target: { host: '127.0.0.1', port: target.port } })]);
  const port = portOf(r.fw, 'udp');
  const clients = await Promise.all(Array.from({ length: 6 }, () => udp(t)));
  const got = clients.map(received);
  for (let j = 0; j < 20; j++) clients.forEach((c, i) => c.send(`client ${i} msg ${j}`, port, '127.0.0.1'));
  await waitFor(() => got.every((g) => g.length === 20), 'all replies');
  got.forEach((g, i) => assert.deepEqual([...g].sort(), Array.from({ length: 20 }, (_, j) => `echo client ${i} msg ${j}`).sort()));
  const st = statsOf(r.fw, 'udp');
  assert.equal(st.active, 6);
  assert.equal(st.total, 6);
  const sent = clients.length * 20;
  assert.equal(st.bytesFromTarget - st.bytesToTarget, sent * 'echo '.length);
  // Six sessions, six distinct source ports at the target.
  assert.equal(new Set(target.seen.map((x) => x.port)).size, 6);
  await closeAll(clients);
  await r.close();
  await target.close();
});

test('a flood of new source ports stays within MaxSessions; the answered session survives', async (t) => {
  const target = await udpTarget(t, (m) => (m.startsWith('ping') ? `pong ${m}` : undefined));
  const r = rig(t);
  const max = 20;
  await r.fw.applyRules([rule({ protocols: ['udp'], target: { host: '127.0.0.1', port: target.port }, maxSessions: max })]);
  const port = portOf(r.fw, 'udp');
  const legit = await udp(t);
  const got = received(legit);
  legit.send('ping 1', port, '127.0.0.1');
  await waitFor(() => got.length === 1, 'first pong');

  const fds = (): number => readdirSync('/proc/self/fd').length;
  const base = fds();
  let maxActive = 0;
  let maxSockets = 0;
  let maxFds = 0;
  const flood = 300;
  for (let i = 0; i < flood; i++) {
    const f = await udp(t);
    f.send(`flood ${i}`, port, '127.0.0.1');
    await sleep(0); // let the relay see it before the port is reused
    await new Promise<void>((res) => f.close(() => res()));
    const st = statsOf(r.fw, 'udp');
    maxActive = Math.max(maxActive, st.active);
    maxSockets = Math.max(maxSockets, st.sockets);
    maxFds = Math.max(maxFds, fds());
  }
  await waitFor(() => target.seen.length >= max, 'flood datagrams at the target');
  const st = statsOf(r.fw, 'udp');
  assert.ok(maxActive <= max, `sessions ${maxActive}`);
  assert.ok(maxSockets <= 2 * max, `session sockets ${maxSockets}`);
  assert.ok(maxFds - base <= 2 * max + 2, `descriptors grew by ${maxFds - base}`);
  assert.ok(st.evicted >= flood - max, `evicted ${st.evicted}`);
  assert.equal(st.refused['session-limit'], undefined);
  legit.send('ping 2', port, '127.0.0.1');
  await waitFor(() => got.length === 2, 'second pong');
  assert.deepEqual(got, ['pong ping 1', 'pong ping 2']);
  // The answered session kept its socket: both pings left from the same port.
  const pings = target.seen.filter((x) => x.msg.startsWith('ping'));
  assert.equal(pings[0]!.port, pings[1]!.port);
  await closeAll([legit]);
  await r.close();
  await target.close();
});

test('when every session is answered, a new client is refused rather than evicting one', async (t) => {
  const target = await udpTarget(t, (m) => `re ${m}`);
  const r = rig(t);
  await r.fw.applyRules([rule({ protocols: ['udp'], target: { host: '127.0.0.1', port: target.port }, maxSessions: 3 })]);
  const port = portOf(r.fw, 'udp');
  const clients = await Promise.all(Array.from({ length: 4 }, () => udp(t)));
  const got = clients.map(received);
  for (const [i, c] of clients.slice(0, 3).entries()) c.send(`hi ${i}`, port, '127.0.0.1');
  await waitFor(() => got.slice(0, 3).every((g) => g.length === 1), 'three answers');
  clients[3]!.send('hi 3', port, '127.0.0.1');
  await waitFor(() => statsOf(r.fw, 'udp').refused['session-limit'] === 1, 'refusal');
  await sleep(50);
  assert.deepEqual(got[3], []);
  assert.equal(statsOf(r.fw, 'udp').active, 3);
  assert.equal(statsOf(r.fw, 'udp').evicted, 0);
  assert.equal(r.log.filter((l) => l.includes('MaxSessions (3) reached')).length, 1);
  await closeAll(clients);
  await r.close();
  await target.close();
});

test('UdpTimeout forgets an idle session; the next datagram opens a new one', async (t) => {
  const target = await udpTarget(t, (m) => m);
  const r = rig(t);
  await r.fw.applyRules([rule({ protocols: ['udp'], target: { host: '127.0.0.1', port: target.port }, udpTimeout: 0.2 })]);
  const port = portOf(r.fw, 'udp');
  const c = await udp(t);
  const got = received(c);
  c.send('a', port, '127.0.0.1');
  await waitFor(() => got.length === 1, 'reply');
  assert.equal(statsOf(r.fw, 'udp').active, 1);
  await waitFor(() => statsOf(r.fw, 'udp').active === 0, 'idle expiry', 2000);
  assert.equal(statsOf(r.fw, 'udp').timeouts, 1);
  await waitFor(() => statsOf(r.fw, 'udp').sockets === 0, 'session socket closed');
  c.send('b', port, '127.0.0.1');
  await waitFor(() => got.length === 2, 'reply on a new session');
  assert.equal(statsOf(r.fw, 'udp').total, 2);
  await closeAll([c]);
  await r.close();
  await target.close();
});

test('datagrams to a session socket from anyone but the target are dropped', async (t) => {
  const target = await udpTarget(t, () => undefined);
  const r = rig(t);
  await r.fw.applyRules([rule({ protocols: ['udp'], target: { host: '127.0.0.1', port: target.port } })]);
  const port = portOf(r.fw, 'udp');
  const c = await udp(t);
  const got = received(c);
  c.send('hello', port, '127.0.0.1');
  await waitFor(() => target.seen.length === 1, 'datagram at the target');
  const session = target.seen[0]!;
  const stranger = await udp(t);
  stranger.send('spoofed', session.port, session.address);
  await waitFor(() => statsOf(r.fw, 'udp').drops['foreign-source'] === 1, 'drop');
  target.sock.send('genuine', session.port, session.address);
  await waitFor(() => got.length === 1, 'genuine reply');
  assert.deepEqual(got, ['genuine']);
  await closeAll([c, stranger]);
  await r.close();
  await target.close();
});

test('UDP Source = client: the session socket uses the client address', async (t) => {
  const target = await udpTarget(t, (m) => m);
  const r = rig(t);
  await r.fw.applyRules([rule({ protocols: ['udp'], target: { host: '127.0.0.1', port: target.port }, source: 'client' })]);
  const port = portOf(r.fw, 'udp');
  const c = await udp(t, '127.0.0.9');
  const got = received(c);
  c.send('x', port, '127.0.0.1');
  await waitFor(() => got.length === 1, 'reply');
  assert.equal(target.seen[0]!.address, '127.0.0.9');
  // The double binds the address only (see loopback-tunnel.ts); the relay asked for the port too.
  assert.deepEqual(r.tunnel.calls.udpSocket, [{ family: 4, address: '127.0.0.9', port: c.address().port }]);
  await closeAll([c]);
  await r.close();
  await target.close();
});
