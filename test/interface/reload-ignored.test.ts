/**
 * SIGHUP names what it cannot apply (issue 19 bug 8): adding MetricsListen
 * (or changing ListenPort) to a running interface's config logs one warning
 * per key and a "reload done" that lists them, instead of a bare "reload
 * done"; a reload that changes only peers lists nothing.
 */
import { describe, it, afterAll } from 'vitest';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { parseConfig } from '../../src/config/parse.js';
import { clampPrivateKey, publicKey } from '../../src/crypto/x25519.js';
import { encodeKey } from '../../src/crypto/util.js';
import { Logger } from '../../src/node/log.js';
import { Interface } from '../../src/interface/interface.js';

describe('reload names the changes it cannot apply', { timeout: 20_000 }, () => {
  let iface: Interface | null = null;
  afterAll(async () => { await iface?.stop(); });
  const key = encodeKey(clampPrivateKey(randomBytes(32)));
  const peer = () => encodeKey(publicKey(clampPrivateKey(randomBytes(32))));
  const conf = (extra: string, peers: string[]) => {
    const r = parseConfig('rl.conf', `[Interface]\nPrivateKey = ${key}\nAddress = 10.58.0.1/24\n${extra}\n${peers.map((p, i) => `[Peer]\nPublicKey = ${p}\nAllowedIPs = 10.58.0.${i + 2}/32\n`).join('\n')}`, { interfaceName: 'rl' });
    if (!r.ok) throw new Error(r.errors.map((e) => e.message).join('; '));
    return r.config;
  };

  it('MetricsListen and ListenPort added by a reload are named; a peer change is not', async () => {
    const lines: string[] = [];
    const p1 = peer();
    iface = await Interface.start(conf('ListenPort = 0', [p1]), { log: new Logger('rl', 'info', (l) => lines.push(l)), mode: 'userspace', uapi: false, driver: { bindAddress: '127.0.0.1' } });
    lines.length = 0;
    await iface.reload(conf('ListenPort = 0', [p1, peer()]));
    assert.ok(lines.some((l) => /reload done$/.test(l)), lines.join('\n'));
    assert.ok(!lines.some((l) => l.includes('takes a restart')), lines.join('\n'));
    lines.length = 0;
    await iface.reload(conf('ListenPort = 51999\nMetricsListen = 127.0.0.1:0', [p1]));
    assert.ok(lines.some((l) => l.includes('reload: MetricsListen changed; that takes a restart')), lines.join('\n'));
    assert.ok(lines.some((l) => l.includes('reload: ListenPort changed; that takes a restart')), lines.join('\n'));
    assert.ok(lines.some((l) => l.endsWith('reload done; not applied until a restart: ListenPort, MetricsListen')), lines.join('\n'));
  });
});
