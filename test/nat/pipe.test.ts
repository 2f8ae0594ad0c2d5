/**
 * The relay's one-way splice (pipeOneWay): what a source hands over in one
 * tick reaches a kernel socket in one write, and every byte arrives in
 * order. The userspace stack hands the relay one chunk per TCP segment, all
 * the segments of a received UDP batch in one tick.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { Duplex } from 'node:stream';
import { pipeOneWay } from '../../src/nat/tcp-relay.js';
import type { NetSocket } from '../../src/host/net.js';
import { countWrites, drain, pushSegmentTicks, tcpServer, waitFor } from './helpers.js';

/** A source the test pushes chunks into, as the stack's TcpSocket does. */
function source(): Duplex {
  return new Duplex({ read() {}, write(_c, _e, cb) { cb(); } });
}

test('segments handed over in one tick leave in one write, and arrive intact', async (t) => {
  let got: ReturnType<typeof drain> | undefined;
  const server = await tcpServer(t, '127.0.0.1', (s) => { got = drain(s); });
  const dst = connect(server.port, '127.0.0.1');
  await new Promise<void>((r) => dst.once('connect', () => r()));
  const src = source();
  let counted = 0;
  pipeOneWay(src as unknown as NetSocket, dst as unknown as NetSocket, (n) => { counted += n; });
  const writes = countWrites(dst);
  const sent = await pushSegmentTicks(src);
  await waitFor(() => got !== undefined, 'the server side');
  const at = await got!;
  assert.equal(at.bytes, 30 * 1368);
  assert.equal(at.sha256, sent);
  assert.equal(counted, 30 * 1368);
  // 10 segments per tick under the socket's 16 KiB high-water mark: one write each tick (was 30).
  assert.equal(writes.calls, 3);
});
