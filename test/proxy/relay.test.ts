/**
 * The proxies' two-way relay (src/proxy/relay.ts): what the tunnel side
 * hands over in one tick (the userspace stack gives one chunk per TCP
 * segment, all the segments of a UDP batch in one tick) reaches the
 * client's kernel socket in one write, every byte in order, counted in the
 * proxy's stats; the end of the tunnel side ends the client side.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { Duplex } from 'node:stream';
import type { NetSocket } from '../../src/host/net.js';
import { newStats, relay } from '../../src/proxy/relay.js';
import { TunnelSocket } from '../../src/proxy/socket.js';
import { countWrites, drain, pushSegmentTicks, tcpServer, waitFor } from '../nat/helpers.js';

test('segments the tunnel side hands over in one tick leave to the client in one write, all counted', async (t) => {
  let got: ReturnType<typeof drain> | undefined;
  const server = await tcpServer(t, '127.0.0.1', (s) => { got = drain(s); });
  const client = connect(server.port, '127.0.0.1');
  await new Promise<void>((r) => client.once('connect', () => r()));
  // The tunnel side: a dialled TunnelSocket over a stream that behaves as the stack's socket
  // (chunks pushed in, writes accepted).
  const inner = new Duplex({ read() {}, write(_c, _e, cb) { cb(); } });
  const tunnel = new TunnelSocket();
  tunnel.attach(inner as unknown as NetSocket, true);
  const stats = newStats({ kind: 'socks5' }, '127.0.0.1:1080');
  let closed = false;
  relay(client, tunnel, stats, () => { closed = true; });
  const writes = countWrites(client);
  const sent = await pushSegmentTicks(inner);
  await waitFor(() => got !== undefined, 'the client side');
  const at = await got!;
  assert.equal(at.bytes, 30 * 1368);
  assert.equal(at.sha256, sent);
  assert.equal(stats.bytesIn, 30 * 1368);
  // 10 segments per tick, under the socket's high-water mark: one write a tick (a write a segment before).
  assert.equal(writes.calls, 3);
  client.destroy(); // the drain server keeps its half open
  tunnel.destroy();
  await waitFor(() => closed, 'both sides to close');
  assert.equal(stats.active, 0);
});
