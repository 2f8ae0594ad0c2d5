/**
 * /livez and /readyz beside /healthz (issue 19, "what users expect"): a
 * running interface with MetricsListen answers both probes with 200 before
 * any peer has handshaken (a pod is live and ready as soon as it listens,
 * while /healthz still says 503 and why); unknown paths name all four.
 */
import { describe, it, afterAll } from 'vitest';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { parseConfig } from '../../src/config/parse.js';
import { clampPrivateKey, publicKey } from '../../src/crypto/x25519.js';
import { encodeKey } from '../../src/crypto/util.js';
import { Logger } from '../../src/node/log.js';
import { Interface } from '../../src/interface/interface.js';

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('probes', { timeout: 20_000 }, () => {
  let iface: Interface | null = null;
  afterAll(async () => { await iface?.stop(); });

  it('/livez and /readyz answer 200 once started; /healthz still waits for a handshake', async () => {
    const k = clampPrivateKey(randomBytes(32));
    const peer = encodeKey(publicKey(clampPrivateKey(randomBytes(32))));
    const r = parseConfig('probe.conf', `[Interface]\nPrivateKey = ${encodeKey(k)}\nListenPort = 0\nAddress = 10.57.0.1/24\nMetricsListen = 127.0.0.1:0\n\n[Peer]\nPublicKey = ${peer}\nAllowedIPs = 10.57.0.2/32\n`, { interfaceName: 'probe' });
    assert.ok(r.ok);
    const lines: string[] = [];
    iface = await Interface.start(r.config, { log: new Logger('probe', 'info', (l) => lines.push(l)), mode: 'userspace', uapi: false, driver: { bindAddress: '127.0.0.1' } });
    const line = lines.find((l) => l.includes('metrics on http://'));
    assert.ok(line, lines.join('\n'));
    assert.match(line, /probes: \/livez, \/readyz/);
    const port = Number(/127\.0\.0\.1:(\d+)\/metrics/.exec(line)![1]);
    assert.deepEqual(await get(port, '/livez'), { status: 200, body: 'ok\n' });
    assert.deepEqual(await get(port, '/readyz'), { status: 200, body: 'ok\n' });
    assert.equal((await get(port, '/healthz')).status, 503);
    const nf = await get(port, '/nope');
    assert.equal(nf.status, 404);
    assert.match(nf.body, /\/metrics, \/healthz, \/livez or \/readyz/);
  });
});
