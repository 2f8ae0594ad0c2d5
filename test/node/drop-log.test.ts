/**
 * Drop counters explained in the log (issue 19 bug 13): a wrong public key,
 * which showed only as `bad-mac1 4`, gets a line saying a peer uses a wrong
 * key for us; source-not-allowed names the peer and the source; each cause
 * is said at most once a minute, with the count since its last line; no line
 * carries a private key. Real in-memory devices (test/transport/pair.ts);
 * DropLog gets the driver's clock as a number.
 */
import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { clampPrivateKey, publicKey } from '../../src/crypto/x25519.js';
import { encodeKey } from '../../src/crypto/util.js';
import { Logger } from '../../src/node/log.js';
import { Driver } from '../../src/node/driver.js';
import { parseConfig } from '../../src/config/parse.js';
import { DropLog, DROP_LOG_INTERVAL_MS } from '../../src/node/drop-log.js';
import { Pair, B_ADDR, ipv4Packet, v4 } from '../transport/pair.js';

function logged(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: new Logger('vps', 'info', (l) => lines.push(l)), lines };
}

describe('DropLog', () => {
  it('a peer with a wrong public key for us: one bad-mac1 line a minute that says so, with the count since the last', () => {
    const p = new Pair();
    // a has a wrong key for b: its initiations reach b with a MAC1 made for another key.
    p.a.removePeer(publicKey(p.bKey));
    p.a.upsertPeer({ publicKey: publicKey(clampPrivateKey(randomBytes(32))), presharedKey: null, endpoint: B_ADDR, allowedIps: [{ ip: v4('10.0.0.2'), cidr: 32 }] }, p.now);
    const ourKey = encodeKey(publicKey(p.bKey));
    const { log, lines } = logged();
    const dl = new DropLog(log, () => ourKey);
    const retry = () => { p.advance(5_100); p.sendFromA(); p.flush(); };

    p.sendFromA();
    p.flush();
    assert.equal(p.b.dropCount('bad-mac1'), 1);
    dl.check(p.b.drops, p.b.listPeers(), 0);
    assert.deepEqual(lines, [`vps: warn: 1 bad-mac1 drop: handshakes addressed to a public key that is not ours: a peer is using a wrong public key for us (ours is ${ourKey}), or someone is probing the port`]);

    for (let i = 0; i < 3; i++) retry();
    assert.equal(p.b.dropCount('bad-mac1'), 4);
    dl.check(p.b.drops, p.b.listPeers(), 30_000);
    assert.equal(lines.length, 1, 'rate-limited: nothing new within the minute');
    dl.check(p.b.drops, p.b.listPeers(), DROP_LOG_INTERVAL_MS);
    assert.equal(lines.length, 2);
    assert.match(lines[1]!, /^vps: warn: 3 bad-mac1 drops: handshakes addressed to a public key that is not ours/);
    dl.check(p.b.drops, p.b.listPeers(), 3 * DROP_LOG_INTERVAL_MS);
    assert.equal(lines.length, 2, 'no new drops, no line');

    const secrets = [encodeKey(p.aKey), encodeKey(p.bKey)];
    for (const l of lines) for (const s of secrets) assert.ok(!l.includes(s), 'no private key in the log');
  });

  it('source-not-allowed names the peer and the source it sent from', () => {
    const p = new Pair();
    p.handshake();
    p.sendFromA(ipv4Packet('10.0.0.9', '10.0.0.2'));
    p.sendFromA(ipv4Packet('10.0.0.9', '10.0.0.2'));
    p.flush();
    assert.equal(p.b.dropCount('source-not-allowed'), 2);
    const { log, lines } = logged();
    new DropLog(log, () => 'K').check(p.b.drops, p.b.listPeers(), 0);
    assert.deepEqual(lines, [
      `vps: warn: 2 source-not-allowed drops from peer ${p.peerOfB.label} (last source 10.0.0.9): packets whose source address is outside that peer's AllowedIPs: ` +
        'the AllowedIPs here for it do not include the address it sends from (its Address, or what it routes)',
    ]);
  });

  it('the host\'s own multicast is not logged', () => {
    const p = new Pair();
    p.sendFromA(ipv4Packet('10.0.0.1', '224.0.0.22'));
    assert.equal(p.a.dropCount('multicast'), 1);
    const { log, lines } = logged();
    new DropLog(log, () => 'K').check(p.a.drops, p.a.listPeers(), 0);
    assert.deepEqual(lines, []);
  });
});

describe('DropLog in the driver', { timeout: 20_000 }, () => {
  it('a client with a wrong public key for the server: the server log says so, not only a counter', async () => {
    const conf = (name: string, text: string) => {
      const r = parseConfig(`${name}.conf`, text);
      if (!r.ok) throw new Error(r.errors.map((e) => e.message).join('; '));
      return r.config;
    };
    const s = clampPrivateKey(randomBytes(32));
    const c = clampPrivateKey(randomBytes(32));
    const wrong = publicKey(clampPrivateKey(randomBytes(32)));
    const lines: string[] = [];
    const server = new Driver({
      config: conf('srv', `[Interface]\nPrivateKey = ${encodeKey(s)}\nListenPort = 0\n\n[Peer]\nPublicKey = ${encodeKey(publicKey(c))}\nAllowedIPs = 10.56.0.2/32\n`),
      log: new Logger('vps', 'info', (l) => lines.push(l)), bindAddress: '127.0.0.1', dropLogCheckMs: 50,
    });
    let client: Driver | null = null;
    try {
      await server.start();
      const port = Number(/listening on UDP port (\d+)/.exec(lines.join('\n'))![1]);
      client = new Driver({
        config: conf('cli', `[Interface]\nPrivateKey = ${encodeKey(c)}\nListenPort = 0\n\n[Peer]\nPublicKey = ${encodeKey(wrong)}\nEndpoint = 127.0.0.1:${port}\nAllowedIPs = 10.56.0.1/32\nPersistentKeepalive = 1\n`),
        log: new Logger('home', 'info', () => {}), bindAddress: '127.0.0.1',
      });
      await client.start();
      const end = Date.now() + 10_000;
      while (!lines.some((l) => l.includes('bad-mac1'))) {
        if (Date.now() > end) throw new Error(`no bad-mac1 line; log:\n${lines.join('\n')}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.ok(server.device.dropCount('bad-mac1') >= 1);
      assert.match(lines.find((l) => l.includes('bad-mac1'))!, new RegExp(`^vps: warn: \\d+ bad-mac1 drops?: .*a peer is using a wrong public key for us \\(ours is ${encodeKey(publicKey(s)).replace(/[+/]/g, '\\$&')}\\)`));
    } finally {
      await client?.stop();
      await server.stop();
    }
  });
});
