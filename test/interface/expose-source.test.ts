/**
 * `Source = client` into a userspace home with [Expose]: the home server
 * sees 127.0.0.1, not the visitor (a relay connects from this host). Two
 * userspace interfaces on loopback: a vps with a Source = client [Forward]
 * and a home whose vps peer has AllowedIPs 0.0.0.0/0, as the README's setup
 * says. Without a PROXY header the home server sees 127.0.0.1 and the home
 * side warns at start, once, naming its file and the fixes; with
 * ProxyProtocol = v1 on the [Expose] the server reads the visitor's address
 * (127.0.0.2) from the header and there is no warning.
 */
import { describe, it, afterAll } from 'vitest';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, createServer } from 'node:net';
import { clampPrivateKey } from '../../src/crypto/x25519.js';
import { Logger } from '../../src/node/log.js';
import { Interface } from '../../src/interface/interface.js';
import { conf, freeLoopbackPort, listenLoopback, wgText } from './loopback.js';

const VPS = '10.79.0.1';
const HOME = '10.79.0.2';

describe('Source = client into a userspace [Expose]', { timeout: 60_000 }, () => {
  const cleanup: Array<() => Promise<void> | void> = [];
  afterAll(async () => { for (const f of cleanup.reverse()) await f(); });

  /** vps -> home -> a server on 127.0.0.1 that reports the peer address and the first line; a client from 127.0.0.2. */
  async function visit(exposeOptions: string): Promise<{ remote: string; firstLine: string; homeLog: string[] }> {
    const kVps = clampPrivateKey(randomBytes(32));
    const kHome = clampPrivateKey(randomBytes(32));
    let seen: { remote: string; firstLine: string } | null = null;
    const server = createServer((s) => {
      let buf = '';
      s.on('error', () => {});
      s.on('data', (d) => {
        buf += d.toString('latin1');
        if (buf.includes('\n') && !seen) { seen = { remote: s.remoteAddress!, firstLine: buf.split('\r\n')[0]!.split('\n')[0]! }; s.end('ok\n'); }
      });
    });
    const local = await listenLoopback(server);
    cleanup.push(() => new Promise<void>((r) => server.close(() => r())));
    const fwd = await freeLoopbackPort();
    const vps = await Interface.start(conf('srcvps', wgText(kVps, `${VPS}/24`, [{ key: kHome, allowedIps: `${HOME}/32` }],
      `[Forward]\nListen = 127.0.0.1:${fwd}\nTarget = ${HOME}:8080\nSource = client\n`)),
    { log: new Logger('vps', 'error'), mode: 'userspace', uapi: false, driver: { bindAddress: '127.0.0.1' } });
    cleanup.push(() => vps.stop());
    const homeLog: string[] = [];
    const home = await Interface.start(conf('srchome', wgText(kHome, `${HOME}/24`, [{ key: kVps, allowedIps: '0.0.0.0/0', endpointPort: vps.driver.bind.port }],
      `[Expose]\nListen = ${HOME}:8080\nTarget = 127.0.0.1:${local}\n${exposeOptions}`)),
    { log: new Logger('home', 'warn', (l) => homeLog.push(l)), mode: 'userspace', uapi: false, source: '/etc/wgts/home.conf', driver: { bindAddress: '127.0.0.1' } });
    cleanup.push(() => home.stop());

    const deadline = Date.now() + 20_000;
    while (!seen && Date.now() < deadline) {
      // The first attempts may come before the handshake; each is a fresh connection.
      await new Promise<void>((res) => {
        const c = connect({ host: '127.0.0.1', port: fwd, localAddress: '127.0.0.2' }, () => c.write('hello\n'));
        c.setTimeout(2000, () => c.destroy());
        c.on('data', () => c.end());
        c.on('close', () => res());
        c.on('error', () => res());
      });
      if (!seen) await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(seen, `the home server got no connection; home log:\n${homeLog.join('\n')}`);
    return { ...(seen as { remote: string; firstLine: string }), homeLog };
  }

  it('without a PROXY header the server sees 127.0.0.1, and home warns once at start with the fixes', async () => {
    const r = await visit('');
    assert.equal(r.remote, '127.0.0.1', 'a userspace [Expose] connects from this host');
    assert.equal(r.firstLine, 'hello');
    const warnings = r.homeLog.filter((l) => l.includes('Source = client'));
    assert.equal(warnings.length, 1, r.homeLog.join('\n'));
    assert.match(warnings[0]!, /^home: warn: \/etc\/wgts\/home\.conf: \[Expose\] tcp:10\.79\.0\.2:8080=127\.0\.0\.1:\d+ connects to its target from this host/);
    assert.match(warnings[0]!, /ProxyProtocol = v1 or v2 on this \[Expose\]/);
    assert.match(warnings[0]!, /TUN mode \(wgts up --tun, or wg-quick\)/);
  });

  it('with ProxyProtocol = v1 on the [Expose] the server reads the visitor (127.0.0.2), and there is no warning', async () => {
    const r = await visit('ProxyProtocol = v1\n');
    assert.match(r.firstLine, /^PROXY TCP4 127\.0\.0\.2 10\.79\.0\.2 \d+ 8080$/);
    assert.equal(r.homeLog.filter((l) => l.includes('Source = client')).length, 0, r.homeLog.join('\n'));
  });
});
