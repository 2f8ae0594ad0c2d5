/**
 * The real miniupnpc client (`upnpc`, Debian package miniupnpc) against our
 * IGD served by serveHttpConnection on 127.0.0.1: `-u URL` skips SSDP and
 * reads our root description, then drives SOAP. Checks upnpc's printed
 * results and the lease table behind them. Then discovery: `upnpc -m
 * 127.0.0.1 -s` multicasts its M-SEARCH on lo inside a network namespace this
 * test creates (so no search leaves the namespace) and must find the IGD
 * through our SSDP answers. Skipped with a SKIP line when upnpc (or, for
 * discovery, root and `ip`) is missing, unless WGTS_INTEROP=required.
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import { exec } from '../harness/exec.js';
import { interopMode, skipUnlessPresent, which } from '../harness/interop.js';
import { Netns } from '../harness/netns.js';
import { waitFor } from '../harness/wait.js';
import { serveHttpConnection } from '../../src/portmap/upnp/http.js';
import { createIgdHandler, igdLocation } from '../../src/portmap/upnp/igd.js';
import { EXTERNAL, makeCtx, type TestCtx } from './upnp-helpers.js';

const UPNPC = which('upnpc');
const TIMEOUT_MS = 15_000;

/** describe() that runs when `why` is null, else skips loudly (or fails under WGTS_INTEROP=required). */
function suite(name: string, why: string | null, fn: () => void): void {
  if (why === null) {
    describe(name, { timeout: 120_000 }, fn);
    return;
  }
  if (interopMode() === 'required') {
    describe(name, () => {
      it('prerequisites (WGTS_INTEROP=required)', () => {
        throw new Error(`interop tests are required (WGTS_INTEROP=required) but cannot run: ${why}`);
      });
    });
    return;
  }
  process.stderr.write(`SKIP interop: ${why} (suite "${name}"; set WGTS_INTEROP=required to make this fail)\n`);
  describe(name, () => {
    it.skip(`prerequisites: ${why}`, () => {});
  });
}

const NO_UPNPC = UPNPC ? null : '`upnpc` not found on PATH (Debian package miniupnpc)';

suite('upnpc against the IGD', NO_UPNPC, () => {
  let server: Server;
  let url: string;
  let t: TestCtx;
  let clock = 5_000_000;
  let changes = 0;

  beforeAll(async () => {
    t = makeCtx({ maxLifetime: 3600 });
    server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (sock) => serveHttpConnection(sock, handler));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    url = igdLocation(base);
    const handler = createIgdHandler({ ctx: () => t.ctx, uuid: '5b1f0c2e-7a4d-4e8b-9c3f-a1b2c3d4e5f6', baseUrl: base, now: () => clock, onChange: () => changes++ });
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
  });

  async function upnpc(...args: string[]): Promise<string> {
    const r = await exec([UPNPC!, '-u', url, ...args], { timeoutMs: TIMEOUT_MS });
    return r.stdout + r.stderr;
  }

  it('-s: status, link properties and the external address', async () => {
    const out = await upnpc('-s');
    assert.match(out, /Found valid IGD : http:\/\/127\.0\.0\.1:[0-9]+\/ctl\/IPConn/);
    assert.match(out, /^Connection Type : IP_Routed$/m);
    assert.match(out, /^Status : Connected, uptime=[0-9]+s, LastConnectionError : ERROR_NONE$/m);
    assert.match(out, /^MaxBitRateDown : 1000000000 bps/m);
    assert.match(out, /^Bytes:\s+Sent:\s+0\s+Recv:\s+0$/m);
    // What /usr/bin/external-ip extracts: sed -n 's/^ExternalIPAddress = \([0-9.]*\)$/\1/p'
    const ext = [...out.matchAll(/^ExternalIPAddress = ([0-9.]*)$/gm)].map((m) => m[1]);
    assert.deepEqual(ext, [EXTERNAL]);
  });

  it('external-ip (the real script, its upnpc pointed at our URL)', { skip: skipUnlessPresent(!which('external-ip') && '`external-ip` not found on PATH (Debian package miniupnpc)') }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wgts-upnpc-'));
    try {
      const shim = join(dir, 'upnpc');
      writeFileSync(shim, `#!/bin/sh\nexec ${UPNPC} -u '${url}' "$@"\n`);
      chmodSync(shim, 0o755);
      const r = await exec([which('external-ip')!], { timeoutMs: TIMEOUT_MS, env: { PATH: `${dir}:${process.env.PATH ?? ''}` } });
      assert.equal(r.stdout, `${EXTERNAL}\n`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('-n 127.0.0.1 8043 8043 tcp 300 (AddAnyPortMapping, IGD:2)', async () => {
    const before = changes;
    const out = await upnpc('-n', '127.0.0.1', '8043', '8043', 'tcp', '300');
    assert.doesNotMatch(out, /failed/);
    assert.match(out, /^InternalIP:Port = 127\.0\.0\.1:8043$/m);
    assert.match(out, new RegExp(`^external ${EXTERNAL.replace(/\./g, '\\.')}:8043 TCP is redirected to internal 127\\.0\\.0\\.1:8043 \\(duration=300\\)$`, 'm'));
    const l = t.store.findExternal('tcp', 8043);
    assert.ok(l);
    assert.equal(l.internalAddress, '127.0.0.1');
    assert.equal(l.internalPort, 8043);
    assert.equal(l.lifetime, 300);
    assert.equal(l.origin, 'upnp');
    assert.equal(l.peer, 'loopback=');
    assert.equal(l.description, 'libminiupnpc');
    assert.equal(changes, before + 1);
  });

  it('-a 127.0.0.1 8045 8045 udp 60 (AddPortMapping) with -e description', async () => {
    // upnpc writes the description into the XML unescaped; a bare "&" is taken literally.
    const out = await upnpc('-e', 'game & chat', '-a', '127.0.0.1', '8045', '8045', 'udp', '60');
    assert.doesNotMatch(out, /failed/);
    assert.match(out, /is redirected to internal 127\.0\.0\.1:8045 \(duration=60\)$/m);
    const l = t.store.findExternal('udp', 8045);
    assert.equal(l?.lifetime, 60);
    assert.equal(l?.description, 'game & chat');
  });

  it('-n on a port another host holds gets a different port', async () => {
    const other = t.store.map(
      { protocol: 'tcp', internalAddress: '10.0.0.3', internalPort: 8047, externalPort: 8047, exact: true, lifetime: 600, peer: 'peerB=', origin: 'upnp' },
      clock,
    );
    assert.ok(other.ok);
    const out = await upnpc('-n', '127.0.0.1', '8047', '8047', 'tcp', '120');
    const m = /^external [0-9.]+:([0-9]+) TCP is redirected to internal 127\.0\.0\.1:8047 \(duration=120\)$/m.exec(out);
    assert.ok(m, out);
    assert.notEqual(m[1], '8047');
    assert.equal(t.store.findExternal('tcp', Number(m[1]))?.internalAddress, '127.0.0.1');
    assert.equal(t.store.findExternal('tcp', 8047)?.internalAddress, '10.0.0.3');
  });

  it('-l lists every mapping through GetGenericPortMappingEntry until 713', async () => {
    clock += 10_000;
    const out = await upnpc('-l');
    const rows = [...out.matchAll(/^ ?([0-9]+) (TCP|UDP) +([0-9]+)->([0-9.]+):([0-9]+) +'([^']*)' '([^']*)' ([0-9]+)$/gm)].map((m) => ({
      proto: m[2]!.toLowerCase(),
      ext: Number(m[3]),
      client: m[4],
      port: Number(m[5]),
      desc: m[6],
      remote: m[7],
      left: Number(m[8]),
    }));
    const list = t.store.list();
    assert.equal(rows.length, list.length);
    rows.forEach((r, i) => {
      const l = list[i]!;
      assert.deepEqual([r.proto, r.ext, r.client, r.port, r.remote], [l.protocol, l.externalPort, l.internalAddress, l.internalPort, '']);
      assert.equal(r.left, Math.ceil((l.expiresAt - clock) / 1000));
    });
    assert.ok(rows.some((r) => r.ext === 8043 && r.left === 290));
    assert.match(out, /^GetGenericPortMappingEntry\(\) returned 713 \(SpecifiedArrayIndexInvalid\)$/m);
  });

  it('-L lists through GetListOfPortMappings (IGD:2)', async () => {
    const out = await upnpc('-L');
    assert.match(out, /^ ?[0-9]+ TCP +8043->127\.0\.0\.1:8043 +'libminiupnpc' '' [0-9]+$/m);
    assert.match(out, /^ ?[0-9]+ UDP +8045->127\.0\.0\.1:8045 +'game &amp; chat' '' [0-9]+$/m);
  });

  it('refused: a foreign internal client (606), the allow-list (606), a held port (718)', async () => {
    const n = t.store.list().length;
    const foreign = await upnpc('-a', '10.9.9.9', '8046', '8046', 'tcp', '60');
    assert.match(foreign, /AddPortMapping\(8046, 8046, 10\.9\.9\.9\) failed with code 606 \(Action not authorized\)/);
    const low = await upnpc('-a', '127.0.0.1', '80', '80', 'tcp', '60');
    assert.match(low, /AddPortMapping\(80, 80, 127\.0\.0\.1\) failed with code 606 \(Action not authorized\)/);
    const held = await upnpc('-a', '127.0.0.1', '8047', '8047', 'tcp', '60');
    assert.match(held, /AddPortMapping\(8047, 8047, 127\.0\.0\.1\) failed with code 718 \(ConflictInMappingEntry\)/);
    assert.equal(t.store.list().length, n);
  });

  it('-d 8043 tcp deletes; a second -d reports 714; another host\'s mapping cannot be deleted', async () => {
    assert.match(await upnpc('-d', '8043', 'tcp'), /^UPNP_DeletePortMapping\(\) returned : 0$/m);
    assert.equal(t.store.findExternal('tcp', 8043), undefined);
    // upnpc 2.2.4 prints "failed with code : N" for errors (older ones "returned : N").
    assert.match(await upnpc('-d', '8043', 'tcp'), /^UPNP_DeletePortMapping\(\) (returned|failed with code) : 714$/m);
    assert.match(await upnpc('-d', '8047', 'tcp'), /^UPNP_DeletePortMapping\(\) (returned|failed with code) : 606$/m);
    assert.ok(t.store.findExternal('tcp', 8047));
  });

  it('-N 8000 9000 udp (DeletePortMappingRange, IGD:2)', async () => {
    assert.ok(t.store.findExternal('udp', 8045));
    assert.match(await upnpc('-N', '8000', '9000', 'udp'), /^UPNP_DeletePortMappingRange\(\) returned : 0$/m);
    assert.equal(t.store.findExternal('udp', 8045), undefined);
  });
});

const NO_NETNS =
  NO_UPNPC ??
  (process.getuid?.() !== 0
    ? 'not root: the SSDP test needs its own network namespace so the multicast search stays inside it'
    : which('ip')
      ? null
      : '`ip` not found on PATH');

suite('upnpc discovers the IGD by SSDP (inside a private network namespace)', NO_NETNS, () => {
  let ns: Netns;
  afterAll(async () => {
    await ns?.destroy();
  });

  async function discover(external: string, extra: string[]): Promise<{ out: string; code: number | null; child: string; port: string }> {
    ns ??= await Netns.create('upnp');
    const child = ns.spawn([process.execPath, fileURLToPath(new URL('./upnp-ssdp-child.js', import.meta.url)), external], { label: 'igd' });
    try {
      const port = await waitFor(() => /READY ([0-9]+)/.exec(child.output())?.[1], 10_000, 'the IGD child');
      const r = await ns.exec([UPNPC!, '-m', '127.0.0.1', ...extra, '-s'], { timeoutMs: 30_000 });
      return { out: r.stdout + r.stderr, code: r.code, child: child.output(), port };
    } finally {
      await child.stop(2000);
    }
  }

  it('upnpc -m 127.0.0.1 -s finds the IGD through our answer to its IGD:1 search', async () => {
    const { out, code, child, port } = await discover('11.22.33.44', []);
    assert.equal(code, 0, out);
    assert.ok(out.includes(` desc: http://127.0.0.1:${port}/rootDesc.xml`), out);
    assert.match(out, /^ st: urn:schemas-upnp-org:device:InternetGatewayDevice:1$/m);
    assert.match(out, /^Found valid IGD : http:\/\/127\.0\.0\.1:[0-9]+\/ctl\/IPConn$/m);
    assert.deepEqual([...out.matchAll(/^ExternalIPAddress = ([0-9.]*)$/gm)].map((m) => m[1]), ['11.22.33.44']);
    assert.match(child, /ssdp 127\.0\.0\.1:[0-9]+ ST=urn:schemas-upnp-org:device:InternetGatewayDevice:1 -> 1/);
  });

  it('a reserved external address (203.0.113.7): upnpc flags the IGD, and -i uses it anyway', async () => {
    // 2.2.4 (Debian 12) says "not connected?" and stops; 2.2.5+ says "reserved IP address" and goes on.
    const plain = await discover(EXTERNAL, []);
    assert.match(plain.out, /^Found (a \(not connected\?\) IGD|an IGD with a reserved IP address \(203\.0\.113\.7\)) : /m);
    const forced = await discover(EXTERNAL, ['-i']);
    assert.equal(forced.code, 0, forced.out);
    assert.deepEqual([...forced.out.matchAll(/^ExternalIPAddress = ([0-9.]*)$/gm)].map((m) => m[1]), [EXTERNAL]);
  });
});
