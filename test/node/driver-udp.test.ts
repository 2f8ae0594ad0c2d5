/**
 * A tunnel between two Drivers in one process on loopback, once over the
 * addon's batched UDP socket (sendmmsg/GSO out, recvmmsg/GRO in) and once
 * over node:dgram: 4 MiB through a TCP connection of the userspace stacks
 * arrives intact, which drives both sockets with bursts of full-sized and
 * small datagrams in both directions.
 */
import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { parseConfig } from '../../src/config/parse.js';
import { clampPrivateKey, publicKey } from '../../src/crypto/x25519.js';
import { encodeKey } from '../../src/crypto/util.js';
import { Driver } from '../../src/node/driver.js';
import { Logger } from '../../src/node/log.js';
import { nativeUdp } from '../../src/host/native-udp.js';
import { waitFor } from '../harness/wait.js';
import { skipUnlessPresent } from '../harness/interop.js';

function conf(text: string) {
  const r = parseConfig('t.conf', text);
  if (!r.ok) throw new Error(r.errors.map((e) => e.message).join('; '));
  return r.config;
}

const BYTES = 4 << 20;

describe('driver pair on loopback, by UDP socket kind', { timeout: 60_000 }, () => {
  for (const native of [true, false]) {
    const skip = skipUnlessPresent(native && !nativeUdp() && 'native UDP unavailable (addon not built, or WGTS_NATIVE_UDP=0)');
    it(`${native ? 'batched native' : 'node:dgram'} socket: 4 MiB through a tunnelled TCP connection arrive intact`, { skip }, async () => {
      const a = clampPrivateKey(randomBytes(32));
      const b = clampPrivateKey(randomBytes(32));
      const lines: string[] = [];
      const log = new Logger('t', 'info', (l) => lines.push(l));
      const server = new Driver({
        config: conf(`[Interface]\nPrivateKey = ${encodeKey(a)}\nListenPort = 0\nAddress = 10.56.0.1/24\n\n[Peer]\nPublicKey = ${encodeKey(publicKey(b))}\nAllowedIPs = 10.56.0.2/32\n`),
        log, bindAddress: '127.0.0.1', nativeUdp: native,
      });
      await server.start();
      const client = new Driver({
        config: conf(`[Interface]\nPrivateKey = ${encodeKey(b)}\nAddress = 10.56.0.2/24\n\n[Peer]\nPublicKey = ${encodeKey(publicKey(a))}\nEndpoint = 127.0.0.1:${server.bind.port}\nAllowedIPs = 10.56.0.1/32\n`),
        log, bindAddress: '127.0.0.1', nativeUdp: native,
      });
      await client.start();
      try {
        assert.match(server.bind.kind, native ? /^native/ : /^dgram$/);
        assert.ok(lines.some((l) => (native ? /listening on UDP port \d+ \(batched: native/ : /listening on UDP port \d+ \(node:dgram, which cannot see the address a datagram was sent to/).test(l)), lines.join('\n'));
        const payload = randomBytes(BYTES);
        const got: Buffer[] = [];
        let ended = false;
        server.stack!.tcp.listen(9, (sock) => {
          sock.on('data', (d: Buffer) => got.push(Buffer.from(d)));
          sock.on('end', () => { ended = true; sock.end(); });
        });
        const sock = client.stack!.tcp.connect({ host: '10.56.0.1', port: 9 });
        sock.on('connect', () => { sock.end(payload); });
        await waitFor(() => ended, 45_000, 'the whole transfer');
        const all = Buffer.concat(got);
        assert.equal(all.length, BYTES);
        assert.equal(createHash('sha256').update(all).digest('hex'), createHash('sha256').update(payload).digest('hex'));
        assert.deepEqual([...server.sendErrors, ...client.sendErrors], []);
      } finally {
        await client.stop();
        await server.stop();
      }
    });
  }
});
