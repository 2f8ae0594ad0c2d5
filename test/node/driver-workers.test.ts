/**
 * Two Drivers on loopback with crypto worker threads (cryptoWorkers: 1 on
 * both): a TCP transfer through their userspace stacks arrives intact and in
 * order, most transport messages were sealed/opened on the workers, and the
 * drivers stop cleanly (the threads do not keep the process alive).
 */
import { describe, it, afterAll } from 'vitest';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
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

describe('driver with crypto worker threads', { timeout: 60_000 }, () => {
  const drivers: Driver[] = [];
  afterAll(async () => { for (const d of drivers) await d.stop(); });

  it('moves 8 MiB of TCP through both stacks intact, sealing and opening on the workers', async () => {
    const a = clampPrivateKey(randomBytes(32));
    const b = clampPrivateKey(randomBytes(32));
    const log = new Logger('t', 'warn', () => {});
    const server = new Driver({
      config: conf('srv', `[Interface]\nPrivateKey = ${encodeKey(a)}\nListenPort = 0\nAddress = 10.56.0.1/24\n\n[Peer]\nPublicKey = ${encodeKey(publicKey(b))}\nAllowedIPs = 10.56.0.2/32\n`),
      log, bindAddress: '127.0.0.1', cryptoWorkers: 1,
    });
    drivers.push(server);
    await server.start();
    const client = new Driver({
      config: conf('cli', `[Interface]\nPrivateKey = ${encodeKey(b)}\nAddress = 10.56.0.2/24\n\n[Peer]\nPublicKey = ${encodeKey(publicKey(a))}\nEndpoint = 127.0.0.1:${server.bind.port}\nAllowedIPs = 10.56.0.1/32\n`),
      log, bindAddress: '127.0.0.1', cryptoWorkers: 1,
    });
    drivers.push(client);
    await client.start();
    assert.equal(server.cryptoPool?.workers, 1);
    assert.equal(client.cryptoPool?.workers, 1);

    const data = randomBytes(8 << 20);
    const want = createHash('sha256').update(data).digest('hex');
    const got = new Promise<{ sha: string; n: number }>((resolve) => {
      server.stack!.tcp.listen(9, (s) => {
        const h = createHash('sha256');
        let n = 0;
        s.on('data', (d: Buffer) => { h.update(d); n += d.length; });
        s.on('end', () => { resolve({ sha: h.digest('hex'), n }); s.end(); });
      });
    });
    const s = client.stack!.tcp.connect({ host: '10.56.0.1', port: 9 });
    s.on('connect', () => {
      let at = 0;
      const pump = (): void => {
        while (at < data.length) {
          const chunk = data.subarray(at, at + 65536);
          at += chunk.length;
          if (!s.write(chunk)) { s.once('drain', pump); return; }
        }
        s.end();
      };
      pump();
    });
    const r = await got;
    assert.equal(r.n, data.length);
    assert.equal(r.sha, want);
    const cs = client.cryptoPool!;
    const ss = server.cryptoPool!;
    assert.ok(cs.offloaded > cs.inline, `client: most seals on the worker (${cs.offloaded} offloaded, ${cs.inline} inline)`);
    assert.ok(ss.offloaded > 0, `server: opens on the worker (${ss.offloaded})`);
  });
});
