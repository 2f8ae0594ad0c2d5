// Self-test of the interop harness: two namespaces joined by a veth (IPv4 and
// IPv6 outer addresses), wireguard-go in each with keys from `wg genkey`,
// pings over the tunnel on inner IPv4 and IPv6 (first with IPv4 endpoints,
// then re-pointed to IPv6 endpoints), `wg show dump` on both sides, the tunnel
// carried through a duplicating udp-relay child, and finally proof that
// cleanup removes the namespaces, daemons and UAPI sockets.
import { it } from 'vitest';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import {
  cleanupAll,
  exec,
  formatEndpoint,
  genKeyPair,
  interopSuite,
  listNamespacesSync,
  Netns,
  parseWgDump,
  pidAlive,
  ping,
  sweepStale,
  trackedNamespaces,
  trackNamespace,
  untrackNamespace,
  vethPair,
  WireguardGo,
  type VethPair,
  type WgKeyPair,
} from '../harness/netns.js';
import { spawnRelay } from '../harness/udp-relay.js';

// Outer link: RFC 2544 benchmarking range and a ULA prefix; inner tunnel
// addresses: a second /24 and ULA /64. All live only inside our namespaces.
const OUTER = { a4: '198.18.0.1/24', b4: '198.18.0.2/24', a6: 'fd77:7767:7473:1::1/64', b6: 'fd77:7767:7473:1::2/64' };
const INNER = { a4: '198.19.0.1', b4: '198.19.0.2', a6: 'fd77:7767:7473:2::1', b6: 'fd77:7767:7473:2::2' };
const PORT_A = 51820;
const PORT_B = 51821;

interopSuite('interop harness self-test (wireguard-go <-> wireguard-go)', { timeout: 25_000, needs: ['ping'] }, () => {
  let a: Netns;
  let b: Netns;
  let link: VethPair;
  let wgA: WireguardGo;
  let wgB: WireguardGo;
  let keyA: WgKeyPair;
  let keyB: WgKeyPair;

  it('creates two namespaces joined by a veth with IPv4 and IPv6', { timeout: 8000 }, async () => {
    a = await Netns.create('a');
    b = await Netns.create('b');
    assert.notEqual(a.name, b.name);
    assert.ok(a.exists() && b.exists(), 'both namespaces listed by ip netns list');
    link = await vethPair(a, b, { aAddr4: OUTER.a4, bAddr4: OUTER.b4, aAddr6: OUTER.a6, bAddr6: OUTER.b6 });
    const v4 = await ping(a, link.bAddr4, 2);
    assert.equal(v4.received, 2, v4.output);
    const v6 = await ping(b, link.aAddr6!, 2);
    assert.equal(v6.received, 2, v6.output);
  });

  it('runs wireguard-go in both and pings over the tunnel (IPv4 outer)', { timeout: 10_000 }, async () => {
    [keyA, keyB] = await Promise.all([genKeyPair(), genKeyPair()]);
    assert.notEqual(keyA.publicKey, keyB.publicKey);
    assert.ok(!JSON.stringify(keyA).includes(keyA.privateKey), 'private key stays out of JSON');
    [wgA, wgB] = await Promise.all([WireguardGo.start(a), WireguardGo.start(b)]);
    assert.notEqual(wgA.iface, wgB.iface);
    assert.ok(wgA.iface.length <= 15 && wgB.iface.length <= 15);

    await wgA.setconf({
      privateKey: keyA.privateKey,
      listenPort: PORT_A,
      peers: [{ publicKey: keyB.publicKey, endpoint: formatEndpoint(link.bAddr4, PORT_B), allowedIps: [`${INNER.b4}/32`, `${INNER.b6}/128`] }],
    });
    // The other side is configured piecewise through wg set, to exercise that path too.
    await wgB.setPrivateKey(keyB.privateKey);
    await wgB.setListenPort(PORT_B);
    await wgB.setPeer({ publicKey: keyA.publicKey, endpoint: formatEndpoint(link.aAddr4, PORT_A), allowedIps: [`${INNER.a4}/32`, `${INNER.a6}/128`] });
    for (const [wg, v4, v6] of [
      [wgA, INNER.a4, INNER.a6],
      [wgB, INNER.b4, INNER.b6],
    ] as const) {
      await wg.addAddress(`${v4}/24`);
      await wg.addAddress(`${v6}/64`);
      await wg.up();
    }

    const dumpA0 = await wgA.show();
    assert.equal(dumpA0.iface.publicKey, keyA.publicKey);
    assert.equal(dumpA0.iface.listenPort, PORT_A);
    assert.equal(dumpA0.peers.length, 1);
    assert.equal(dumpA0.peers[0]!.latestHandshake, 0, 'no handshake before any traffic');

    const p4 = await ping(a, INNER.b4, 3);
    assert.equal(p4.received, 3, p4.output);
    const p6 = await ping(b, INNER.a6, 3);
    assert.equal(p6.received, 3, p6.output);

    const [dumpA, dumpB] = await Promise.all([wgA.show(), wgB.show()]);
    for (const [dump, peerKey, endpoint] of [
      [dumpA, keyB.publicKey, formatEndpoint(link.bAddr4, PORT_B)],
      [dumpB, keyA.publicKey, formatEndpoint(link.aAddr4, PORT_A)],
    ] as const) {
      assert.equal(dump.peers.length, 1);
      const peer = dump.peers[0]!;
      assert.equal(peer.publicKey, peerKey);
      assert.equal(peer.endpoint, endpoint);
      assert.ok(peer.latestHandshake > 0, 'handshake recorded');
      assert.ok(peer.rxBytes > 0 && peer.txBytes > 0, `transfer counted (rx ${peer.rxBytes}, tx ${peer.txBytes})`);
    }
    assert.equal(dumpA.peers[0]!.allowedIps.sort().join(','), [`${INNER.b4}/32`, `${INNER.b6}/128`].sort().join(','));
  });

  it('re-points both endpoints to the IPv6 outer addresses and still pings', { timeout: 8000 }, async () => {
    await wgA.setPeer({ publicKey: keyB.publicKey, endpoint: formatEndpoint(link.bAddr6!, PORT_B) });
    await wgB.setPeer({ publicKey: keyA.publicKey, endpoint: formatEndpoint(link.aAddr6!, PORT_A) });
    const before = (await wgA.show()).peers[0]!;
    const p4 = await ping(b, INNER.a4, 3);
    assert.equal(p4.received, 3, p4.output);
    const p6 = await ping(a, INNER.b6, 3);
    assert.equal(p6.received, 3, p6.output);
    const after = (await wgA.show()).peers[0]!;
    assert.equal(after.endpoint, `[${link.bAddr6}]:${PORT_B}`);
    assert.ok(after.txBytes > before.txBytes && after.rxBytes > before.rxBytes, 'more bytes after the IPv6-outer pings');
    const bPeer = (await wgB.show()).peers[0]!;
    assert.equal(bPeer.endpoint, `[${link.aAddr6}]:${PORT_A}`);
  });

  it('carries the tunnel through a udp-relay child that duplicates half the datagrams', { timeout: 8000 }, async () => {
    // Relay inside a: wgA -> 127.0.0.1:portA -> relay -> (from aAddr4:portB) -> wgB; wgB roams to the relay.
    const relay = await spawnRelay(a, {
      listenA: { address: '127.0.0.1' },
      listenB: { address: link.aAddr4 },
      targetB: { address: link.bAddr4, port: PORT_B },
      seed: 7,
      impair: { duplicate: 0.5 },
    });
    await wgA.setPeer({ publicKey: keyB.publicKey, endpoint: formatEndpoint('127.0.0.1', relay.portA) });
    const p4 = await ping(a, INNER.b4, 5);
    assert.equal(p4.received, 5, p4.output);
    const bPeer = (await wgB.show()).peers[0]!;
    assert.equal(bPeer.endpoint, formatEndpoint(link.aAddr4, relay.portB), 'wgB roamed to the relay');
    const stats = await relay.stop();
    assert.ok(stats.aToB.received >= 5 && stats.bToA.received >= 5, JSON.stringify(stats));
    assert.ok(stats.aToB.duplicated + stats.bToA.duplicated > 0, 'duplicates were injected');
    assert.equal(stats.aToB.dropped + stats.bToA.dropped, 0);
  });

  it('cleanupAll removes namespaces, daemons and UAPI sockets', { timeout: 8000 }, async () => {
    const names = [a.name, b.name];
    const pids = [wgA.proc.pid, wgB.proc.pid];
    const sockets = [wgA.socketPath, wgB.socketPath];
    assert.ok(pids.every(pidAlive), 'daemons alive before cleanup');
    assert.ok(sockets.every((s) => existsSync(s)), 'UAPI sockets exist before cleanup');
    await cleanupAll();
    const listed = listNamespacesSync();
    for (const n of names) assert.ok(!listed.includes(n), `namespace ${n} deleted`);
    assert.deepEqual(trackedNamespaces(), []);
    for (const pid of pids) assert.ok(!pidAlive(pid), `pid ${pid} is dead`);
    for (const s of sockets) assert.ok(!existsSync(s), `socket ${s} removed`);
    assert.equal(wgA.proc.running, false);
  });

  it('sweepStale removes a leftover namespace of a dead owner, and only that', { timeout: 8000 }, async () => {
    // Simulate a crashed run: a namespace named like ours but owned by a PID that
    // is not alive (found by scanning down from the kernel's max), plus one of a live owner
    // (our parent) that must survive the sweep.
    let deadPid = 4_194_000;
    while (pidAlive(deadPid)) deadPid--;
    const stale = `wgts-crash-${deadPid}-1`;
    const live = `wgts-crash-${process.ppid}-1`;
    // Tracked so an interrupted run still deletes them.
    trackNamespace(stale);
    trackNamespace(live);
    await exec(['ip', 'netns', 'add', stale], { check: true });
    await exec(['ip', 'netns', 'add', live], { check: true });
    try {
      const removed = await sweepStale();
      assert.ok(removed.includes(`netns ${stale}`), `stale namespace swept: ${removed.join(', ')}`);
      const listed = listNamespacesSync();
      assert.ok(!listed.includes(stale));
      assert.ok(listed.includes(live), 'namespace of a live owner kept');
    } finally {
      await exec(['ip', 'netns', 'del', stale]);
      await exec(['ip', 'netns', 'del', live]);
      untrackNamespace(stale);
      untrackNamespace(live);
    }
  });
});

it('parseWgDump reads the interface and peer columns and drops the private key', () => {
  // Line layout per wg(8) "dump"; keys are made-up byte patterns.
  const key = (byte: number): string => Buffer.alloc(32, byte).toString('base64');
  const priv = key(1);
  const text =
    [priv, key(2), '51820', '0x1f'].join('\t') +
    '\n' +
    [key(3), '(none)', '[fd00::2]:51821', '198.19.0.2/32,fd00::2/128', '1700000000', '1184', '1240', 'off'].join('\t') +
    '\n' +
    [key(4), key(5), '(none)', '(none)', '0', '0', '0', '25'].join('\t') +
    '\n';
  const d = parseWgDump(text);
  assert.deepEqual(d.iface, { hasPrivateKey: true, publicKey: key(2), listenPort: 51820, fwmark: 31 });
  assert.equal(d.peers.length, 2);
  assert.deepEqual(d.peers[0], {
    publicKey: key(3),
    hasPresharedKey: false,
    endpoint: '[fd00::2]:51821',
    allowedIps: ['198.19.0.2/32', 'fd00::2/128'],
    latestHandshake: 1700000000,
    rxBytes: 1184,
    txBytes: 1240,
    persistentKeepalive: null,
  });
  assert.equal(d.peers[1]!.hasPresharedKey, true);
  assert.equal(d.peers[1]!.endpoint, null);
  assert.deepEqual(d.peers[1]!.allowedIps, []);
  assert.equal(d.peers[1]!.persistentKeepalive, 25);
  assert.ok(!JSON.stringify(d).includes(priv), 'private key not in parsed output');
  assert.throws(() => parseWgDump(`${priv}\tpub\n`), (e: Error) => !e.message.includes(priv));
});
