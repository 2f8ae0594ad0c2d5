// The real NAT-PMP client of the Debian package natpmpc (libnatpmp) against
// handleNatPmp/handlePcp on a loopback UDP socket 127.0.0.71:5351, with the
// same first-byte dispatch as the driver (0 -> NAT-PMP, else PCP). Every
// 127.0.0.0/8 sender counts as one fake peer. Skipped loudly without
// /usr/bin/natpmpc, failing instead when WGTS_INTEROP=required.
import { afterAll, beforeAll, describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { interopMode } from '../harness/interop.js';
import { LeaseTable } from '../../src/portmap/leases.js';
import { defaultPolicy } from '../../src/portmap/policy.js';
import { handleNatPmp } from '../../src/portmap/natpmp.js';
import { handlePcp } from '../../src/portmap/pcp.js';
import type { PortMapContext } from '../../src/portmap/types.js';

const NATPMPC = '/usr/bin/natpmpc';
const GATEWAY = '127.0.0.71';
const PORT = 5351;
const EXTERNAL = '203.0.113.7';
const FAKE_PEER = 'bG9vcGJhY2stcGVlci1rZXktZm9yLXRlc3RzLi4uLi4=';
const SUITE = 'natpmpc (libnatpmp) against the NAT-PMP server on 127.0.0.71:5351';

interface Run {
  code: number | null;
  out: string;
}

/** Runs natpmpc with a timeout; on timeout execFile kills that child by its PID. */
function natpmpc(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(NATPMPC, ['-g', GATEWAY, ...args], { timeout: 20_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      resolve({ code, out: `${stdout}${stderr}` });
    });
  });
}

if (!existsSync(NATPMPC)) {
  const why = `${NATPMPC} not found (Debian package natpmpc)`;
  if (interopMode() === 'required') {
    describe(SUITE, () => {
      it('natpmpc prerequisite (WGTS_INTEROP=required)', () => {
        throw new Error(`interop tests are required (WGTS_INTEROP=required) but cannot run: ${why}`);
      });
    });
  } else {
    process.stderr.write(`SKIP natpmpc: ${why} (suite "${SUITE}"; set WGTS_INTEROP=required to make this fail)\n`);
    describe(SUITE, () => {
      it.skip(`natpmpc prerequisite: ${why}`, () => {});
    });
  }
} else {
  describe(SUITE, { timeout: 120_000 }, () => {
    const epochStart = performance.now();
    const store = new LeaseTable(defaultPolicy());
    const ctx: PortMapContext = {
      store,
      externalAddress: EXTERNAL,
      peerOf: (a) => (a.startsWith('127.') ? FAKE_PEER : null),
      epochStart,
    };
    const seen: Array<{ address: string; bytes: number[] }> = [];
    let sock: Socket;

    beforeAll(async () => {
      sock = createSocket('udp4');
      sock.on('message', (msg, rinfo) => {
        const bytes = new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength);
        seen.push({ address: rinfo.address, bytes: [...bytes] });
        const from = { address: rinfo.address, port: rinfo.port };
        const r = bytes[0] === 0 ? handleNatPmp(bytes, from, ctx, performance.now()) : handlePcp(bytes, from, ctx, performance.now());
        if (r.reply) sock.send(r.reply, rinfo.port, rinfo.address);
      });
      await new Promise<void>((resolve, reject) => {
        sock.once('error', reject);
        sock.bind(PORT, GATEWAY, () => {
          sock.off('error', reject);
          resolve();
        });
      });
    });

    afterAll(() => new Promise<void>((resolve) => sock.close(() => resolve())));

    it('natpmpc -g 127.0.0.71 prints our external address (RFC 6886 section 3.2)', async () => {
      const r = await natpmpc([]);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /Public IP address : 203\.0\.113\.7\b/);
      assert.deepEqual(seen.at(-1)?.bytes, [0, 0], 'natpmpc sent the 2-byte external address request');
    });

    it('natpmpc -a 8044 8044 udp 60 maps UDP 8044 for the sender, and the lease is in the table', async () => {
      const r = await natpmpc(['-a', '8044', '8044', 'udp', '60']);
      assert.equal(r.code, 0, r.out);
      // libnatpmp's natpmpc spells it "liftime".
      assert.match(r.out, /Mapped public port 8044 protocol UDP to local port 8044 life?time 60\b/);
      const sender = seen.at(-1)!.address;
      assert.match(sender, /^127\./);
      const l = store.findExternal('udp', 8044);
      assert.ok(l, 'lease udp 8044');
      assert.deepEqual(
        [l.internalAddress, l.internalPort, l.peer, l.origin, l.lifetime],
        [sender, 8044, FAKE_PEER, 'natpmp', 60],
      );
    });

    it('a taken port and a long lifetime: natpmpc is told the other port and the capped lifetime', async () => {
      const other = store.map(
        { protocol: 'tcp', internalAddress: '10.0.0.9', internalPort: 8045, externalPort: 8045, exact: true, lifetime: 600, peer: 'other=', origin: 'upnp' },
        performance.now(),
      );
      assert.ok(other.ok);
      const r = await natpmpc(['-a', '8045', '8045', 'tcp', '100000']);
      assert.equal(r.code, 0, r.out);
      const m = /Mapped public port (\d+) protocol TCP to local port 8045 life?time 7200\b/.exec(r.out);
      assert.ok(m, r.out);
      const port = Number(m[1]);
      assert.notEqual(port, 8045);
      const l = store.findExternal('tcp', port);
      assert.deepEqual([l?.internalPort, l?.lifetime, l?.origin], [8045, 7200, 'natpmp']);
    });

    it('natpmpc -a 8044 8044 udp 0 deletes the mapping (RFC 6886 section 3.4)', async () => {
      const r = await natpmpc(['-a', '8044', '8044', 'udp', '0']);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /Mapped public port 0 protocol UDP to local port 8044 life?time 0\b/);
      assert.equal(store.findExternal('udp', 8044), undefined);
    });

    it('a request the allow-list refuses: natpmpc reports "not authorized" (result 2) and fails', async () => {
      store.setPolicy(
        { ...defaultPolicy(), rules: [{ allow: false, external: [1, 65535], prefix: { ip: '127.0.0.0', cidr: 8, family: 4 }, internal: [1, 65535], line: 1 }] },
        performance.now(),
      );
      const before = store.list().length;
      const r = await natpmpc(['-a', '8047', '8047', 'udp', '60']);
      assert.notEqual(r.code, 0, r.out);
      assert.match(r.out, /not authorized/i);
      assert.equal(store.findExternal('udp', 8047), undefined);
      assert.equal(store.list().length, before);
      const last = seen.at(-1)!.bytes;
      assert.deepEqual(last.slice(0, 2), [0, 1], 'a NAT-PMP UDP map request reached the server');
    });
  });
}
