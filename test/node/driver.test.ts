/**
 * Two Drivers in one process on loopback: hostname endpoints resolved at
 * start, and re-resolved when the peer has had no handshake for a while (the
 * dynamic-DNS case), with an injected resolver and short intervals.
 */
import { describe, it, afterAll } from 'vitest';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { parseConfig } from '../../src/config/parse.js';
import { clampPrivateKey, publicKey } from '../../src/crypto/x25519.js';
import { encodeKey } from '../../src/crypto/util.js';
import { Driver } from '../../src/node/driver.js';
import { Logger } from '../../src/node/log.js';

function conf(name: string, text: string) {
  const r = parseConfig(`${name}.conf`, text);
  if (!r.ok) throw new Error(r.errors.map((e) => e.message).join('; '));
  return r.config;
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timeout: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('driver on loopback', { timeout: 20_000 }, () => {
  const drivers: Driver[] = [];
  afterAll(async () => { for (const d of drivers) await d.stop(); });

  function pair(endpointHost: string, resolver?: (h: string) => Promise<string>, reresolve?: { everyMs: number; afterMs: number }, firstHandshakeWarnMs?: number) {
    const a = clampPrivateKey(randomBytes(32));
    const b = clampPrivateKey(randomBytes(32));
    const lines: string[] = [];
    const log = new Logger('t', 'debug', (l) => lines.push(l));
    const server = new Driver({
      config: conf('srv', `[Interface]\nPrivateKey = ${encodeKey(a)}\nListenPort = 0\nAddress = 10.55.0.1/24\n\n[Peer]\nPublicKey = ${encodeKey(publicKey(b))}\nAllowedIPs = 10.55.0.2/32\n`),
      log, bindAddress: '127.0.0.1',
    });
    drivers.push(server);
    return {
      server, lines,
      async client(port: number) {
        const c = new Driver({
          config: conf('cli', `[Interface]\nPrivateKey = ${encodeKey(b)}\nAddress = 10.55.0.2/24\n\n[Peer]\nPublicKey = ${encodeKey(publicKey(a))}\nEndpoint = ${endpointHost}:${port}\nAllowedIPs = 10.55.0.1/32\nPersistentKeepalive = 1\n`),
          log, bindAddress: '127.0.0.1',
          ...(resolver ? { resolver } : {}), ...(reresolve ? { reresolve } : {}),
          ...(firstHandshakeWarnMs ? { firstHandshakeWarnMs } : {}),
        });
        drivers.push(c);
        await c.start();
        return c;
      },
    };
  }

  it('resolves a hostname endpoint at start (localhost)', async () => {
    const p = pair('localhost', async () => '127.0.0.1');
    await p.server.start();
    const c = await p.client(p.server.bind.port);
    await until(() => c.device.listPeers()[0]!.lastHandshake !== null, 5000, 'handshake');
    assert.ok(p.lines.some((l) => l.includes('resolved localhost to 127.0.0.1')));
    assert.equal(c.device.listPeers()[0]!.endpoint!.address, '127.0.0.1');
  });

  it('re-resolves a hostname when the peer has gone quiet (dynamic DNS)', async () => {
    let answer = '127.0.0.2'; // nobody listens there: the first address is "stale"
    const p = pair('vps.example.test', async () => answer, { everyMs: 100, afterMs: 500 });
    await p.server.start();
    const c = await p.client(p.server.bind.port);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(c.device.listPeers()[0]!.lastHandshake, null, 'no handshake with the wrong address');
    answer = '127.0.0.1'; // the DNS record changes
    await until(() => c.device.listPeers()[0]!.lastHandshake !== null, 8000, 'handshake after re-resolution');
    assert.ok(p.lines.some((l) => l.includes('endpoint re-resolved to 127.0.0.1')));
  });

  it('says what it waits for, and explains a missing first handshake', async () => {
    const p = pair('127.0.0.3', undefined, undefined, 300); // nobody answers at 127.0.0.3
    await p.server.start();
    await p.client(p.server.bind.port);
    assert.ok(p.lines.some((l) => /waiting for the first handshake with 127\.0\.0\.3:\d+/.test(l)), p.lines.join('\n'));
    await until(() => p.lines.some((l) => /no handshake after 0\.3 s with 127\.0\.0\.3:\d+: is that UDP port reachable/.test(l)), 3000, 'the explanation');
  });

  it('a resolution failure at start is a warning and is retried', async () => {
    let fail = true;
    const p = pair('nxdomain.example.test', async () => { if (fail) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' }); return '127.0.0.1'; }, { everyMs: 100, afterMs: 500 });
    await p.server.start();
    const c = await p.client(p.server.bind.port);
    assert.ok(p.lines.some((l) => /cannot resolve endpoint nxdomain\.example\.test: ENOTFOUND; will retry/.test(l)));
    fail = false;
    await until(() => c.device.listPeers()[0]!.endpoint !== null, 5000, 'endpoint after retry');
  });

  it('a name that does not resolve is named in the hints, not "it has no Endpoint here"', async () => {
    const p = pair('nxdomain.example.test', async () => { throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' }); }, { everyMs: 100, afterMs: 500 }, 300);
    await p.server.start();
    await p.client(p.server.bind.port);
    assert.ok(p.lines.some((l) => /waiting for its Endpoint nxdomain\.example\.test to resolve/.test(l)), p.lines.join('\n'));
    await until(() => p.lines.some((l) => /no handshake after 0\.3 s: its Endpoint name nxdomain\.example\.test does not resolve.*keeps retrying every 0\.1 s/.test(l)), 3000, 'the hint');
    assert.ok(!p.lines.some((l) => /it has no Endpoint here/.test(l)), p.lines.join('\n'));
    // The failure is a warning once, not again at every retry.
    assert.equal(p.lines.filter((l) => /warn: cannot resolve endpoint nxdomain/.test(l)).length, 1, p.lines.join('\n'));
  });
});
