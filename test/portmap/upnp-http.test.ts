/**
 * The IGD's HTTP side: the request parser's limits and refusals, the
 * connection adapter over real loopback sockets (one request, Content-Length,
 * Connection: close, then the socket ends), the IGD routes (descriptions,
 * SOAP control, 404/405), and a no-throw loop over random request bytes.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { formatHttpResponse, parseHttpRequest, serveHttpConnection, type HttpHandler } from '../../src/portmap/upnp/http.js';
import { createIgdHandler, igdLocation } from '../../src/portmap/upnp/igd.js';
import { PATHS } from '../../src/portmap/upnp/igd-devices.js';
import { CIF1, EXTERNAL, IP2, leafValues, makeCtx, mappingArgs, prng, soapBody } from './upnp-helpers.js';

const b = (s: string) => Buffer.from(s, 'latin1');

test('parseHttpRequest: GET, POST with body, absolute-form target, query dropped, incomplete with the length still needed', () => {
  const g = parseHttpRequest(b('GET /rootDesc.xml?x=1 HTTP/1.1\r\nHost: 10.0.0.1:5000\r\nConnection: Close\r\n\r\n'));
  assert.equal(g.kind, 'request');
  if (g.kind === 'request') {
    assert.equal(g.request.method, 'GET');
    assert.equal(g.request.path, '/rootDesc.xml');
    assert.equal(g.request.headers.get('connection'), 'Close');
    assert.equal(g.request.body, '');
  }
  const a = parseHttpRequest(b('GET http://10.0.0.1:5000/WANIPCn.xml HTTP/1.1\r\nHost: x\r\n\r\n'));
  assert.equal(a.kind === 'request' && a.request.path, '/WANIPCn.xml');
  const head = 'POST /ctl/IPConn HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nSOAPAction: "a#b"\r\n\r\n';
  const part = parseHttpRequest(b(head + 'ab'));
  assert.deepEqual(part, { kind: 'incomplete', need: head.length + 5, expectContinue: false });
  const p = parseHttpRequest(b(head + 'abcdeEXTRA'));
  assert.equal(p.kind === 'request' && p.request.body, 'abcde');
  assert.equal(p.kind === 'request' && p.request.headers.get('soapaction'), '"a#b"');
  assert.deepEqual(parseHttpRequest(b('GET / HTTP/1.1\r\nHost: x\r\n')), { kind: 'incomplete' });
  // UTF-8 bodies are decoded.
  const u = Buffer.concat([b('POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n'), Buffer.from('é', 'utf8')]);
  const pu = parseHttpRequest(u);
  assert.equal(pu.kind === 'request' && pu.request.body, 'é');
});

test('parseHttpRequest refusals: 400, 411, 413, 431, 501, 505', () => {
  const status = (s: string | Uint8Array, limits = {}) => {
    const r = parseHttpRequest(typeof s === 'string' ? b(s) : s, limits);
    return r.kind === 'error' ? r.status : r.kind;
  };
  assert.equal(status('GARBAGE\r\n\r\n'), 400);
  assert.equal(status('get / HTTP/1.1\r\nHost: x\r\n\r\n'), 400);
  assert.equal(status('GET relative HTTP/1.1\r\nHost: x\r\n\r\n'), 400);
  assert.equal(status('GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n'), 400);
  assert.equal(status('GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\n folded\r\n\r\n'), 400);
  assert.equal(status('GET / HTTP/1.1\r\n\r\n'), 400, 'HTTP/1.1 needs Host');
  assert.equal(status('GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n'), 400);
  assert.equal(status('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n'), 400);
  assert.equal(status('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n'), 400);
  assert.equal(status('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x10\r\n\r\n'), 400);
  assert.equal(status('GET / HTTP/1.1\r\nHost: x\r\nX: a\u0001b\r\n\r\n'), 400);
  assert.equal(status('POST / HTTP/1.1\r\nHost: x\r\n\r\n'), 411);
  assert.equal(status('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 70000\r\n\r\n'), 413);
  assert.equal(status('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n', { maxBodyBytes: 10 }), 413);
  assert.equal(status(`GET / HTTP/1.1\r\nHost: x\r\nX: ${'a'.repeat(9000)}\r\n\r\n`), 431);
  assert.equal(status(`GET / HTTP/1.1\r\nHost: x\r\nX: ${'a'.repeat(9000)}`), 431, 'no end of header in sight');
  assert.equal(status('GET / HTTP/1.1\r\nHost: x\r\nX: 123456789\r\n\r\n', { maxHeaderBytes: 20 }), 431);
  assert.equal(status('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'), 501);
  assert.equal(status('GET / HTTP/2.0\r\nHost: x\r\n\r\n'), 505);
  // HTTP/1.0 without Host is fine.
  assert.equal(status('GET / HTTP/1.0\r\n\r\n'), 'request');
});

test('formatHttpResponse: Content-Length and Connection: close are ours; header injection is stripped', () => {
  const out = Buffer.from(
    formatHttpResponse({ status: 200, headers: { 'Content-Length': '1', Connection: 'keep-alive', 'X-A': 'b\r\nEvil: 1' }, body: 'héllo' }),
  ).toString('latin1');
  const [head, body] = out.split('\r\n\r\n');
  const lines = head!.split('\r\n');
  assert.equal(lines[0], 'HTTP/1.1 200 OK');
  assert.ok(lines.includes('Content-Length: 6'));
  assert.ok(lines.includes('Connection: close'));
  assert.ok(lines.includes('X-A: bEvil: 1'));
  assert.equal(lines.filter((l) => /^content-length:/i.test(l)).length, 1);
  assert.equal(Buffer.from(body!, 'latin1').toString('utf8'), 'héllo');
});

interface Served {
  server: Server;
  port: number;
  rejects: Array<[number, string]>;
  remotes: string[];
  close(): Promise<void>;
}

async function serve(handler: HttpHandler, limits: { maxHeaderBytes?: number; maxBodyBytes?: number } = {}): Promise<Served> {
  const rejects: Array<[number, string]> = [];
  const remotes: string[] = [];
  const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (sock) =>
    serveHttpConnection(
      sock,
      (req, remote) => {
        remotes.push(remote.address);
        return handler(req, remote);
      },
      { ...limits, onReject: (s, r) => rejects.push([s, r]) },
    ),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    rejects,
    remotes,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** Send `parts` (with a pause between them), read until the server closes. */
function exchange(port: number, parts: Array<string | Buffer>, endAfter = false): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = connect(port, '127.0.0.1');
    const got: Buffer[] = [];
    c.on('data', (d) => got.push(d));
    c.on('error', reject);
    c.on('close', () => resolve(Buffer.concat(got).toString('utf8')));
    c.on('connect', async () => {
      for (const p of parts) {
        if (c.destroyed) break;
        c.write(p);
        await new Promise((r) => setTimeout(r, 2));
      }
      if (endAfter) c.end();
    });
    setTimeout(() => {
      c.destroy();
      reject(new Error('exchange timed out'));
    }, 5000).unref();
  });
}

function statusOf(resp: string): number {
  return Number(/^HTTP\/1\.1 ([0-9]{3}) /.exec(resp)?.[1]);
}

test('serveHttpConnection: a request split into tiny pieces gets one response, then the server closes', async () => {
  const s = await serve((req) => ({ status: 200, headers: { 'Content-Type': 'text/plain' }, body: `${req.method} ${req.path} ${req.body}` }));
  try {
    const req = 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nping';
    const resp = await exchange(s.port, req.split('').map((c) => c));
    assert.equal(statusOf(resp), 200);
    assert.match(resp, /\r\nConnection: close\r\n/);
    assert.match(resp, /\r\nContent-Length: 15\r\n/);
    assert.ok(resp.endsWith('\r\n\r\nPOST /echo ping'));
    assert.deepEqual(s.remotes, ['127.0.0.1']);
  } finally {
    await s.close();
  }
});

test('serveHttpConnection: malformed, oversize, early close, and a throwing handler are answered, never thrown', async () => {
  let calls = 0;
  const s = await serve(
    (req) => {
      calls++;
      if (req.path === '/throw') throw new Error('boom');
      return { status: 200, body: 'ok' };
    },
    { maxHeaderBytes: 1024, maxBodyBytes: 100 },
  );
  try {
    assert.equal(statusOf(await exchange(s.port, ['NOT HTTP AT ALL\r\n\r\n'])), 400);
    assert.equal(statusOf(await exchange(s.port, [`GET / HTTP/1.1\r\nHost: x\r\nX: ${'a'.repeat(2000)}\r\n\r\n`])), 431);
    assert.equal(statusOf(await exchange(s.port, ['POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n'])), 413);
    assert.equal(statusOf(await exchange(s.port, ['POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n'])), 501);
    assert.equal(statusOf(await exchange(s.port, ['POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc'], true)), 400);
    assert.equal(statusOf(await exchange(s.port, ['GET /throw HTTP/1.1\r\nHost: x\r\n\r\n'])), 500);
    // Expect: 100-continue gets the interim response before the final one.
    const cont = await exchange(s.port, ['POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n', 'hi']);
    assert.ok(cont.startsWith('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n'));
    assert.equal(calls, 2);
    assert.deepEqual(
      s.rejects.map(([st]) => st),
      [400, 431, 413, 501, 400, 500],
    );
  } finally {
    await s.close();
  }
});

test('IGD routes: descriptions by GET, SOAP by POST to the listed control URLs, 404 and 405 otherwise', async () => {
  const t = makeCtx();
  let changes = 0;
  const handler = createIgdHandler({
    ctx: () => t.ctx,
    uuid: '3f2c6a1e-9b7d-4c1a-8e55-0123456789ab',
    baseUrl: 'http://127.0.0.1:5000/',
    friendlyName: 'wgts <test>',
    now: () => 10_000,
    onChange: () => changes++,
  });
  assert.equal(igdLocation('http://127.0.0.1:5000/'), 'http://127.0.0.1:5000/rootDesc.xml');
  const req = (method: string, path: string, body = '', headers: Record<string, string> = {}) =>
    handler({ method, path, headers: new Map(Object.entries(headers)), body }, { address: '10.0.0.2' });

  const root = req('GET', PATHS.rootDesc);
  assert.equal(root.status, 200);
  assert.match(root.headers!['Content-Type']!, /^text\/xml/);
  assert.ok(root.body.includes('<URLBase>http://127.0.0.1:5000</URLBase>'));
  assert.ok(root.body.includes('<friendlyName>wgts &lt;test&gt;</friendlyName>'));
  // Every URL the description lists is served with the right method.
  const listed = [...root.body.matchAll(/<(controlURL|eventSubURL|SCPDURL)>([^<]*)<\/\1>/g)].map((m) => [m[1]!, m[2]!]);
  assert.equal(listed.length, 6);
  for (const [kind, path] of listed) {
    if (kind === 'SCPDURL') {
      const r = req('GET', path);
      assert.equal(r.status, 200, path);
      assert.ok(r.body.startsWith('<?xml') && r.body.includes('<scpd xmlns="urn:schemas-upnp-org:service-1-0">'));
      assert.equal(req('POST', path).status, 405);
    } else if (kind === 'controlURL') {
      assert.equal(req('GET', path).status, 405);
    } else {
      assert.equal(req('SUBSCRIBE', path).status, 405);
    }
  }
  assert.equal(req('GET', '/').status, 404);
  assert.equal(req('GET', '/etc/passwd').status, 404);
  assert.equal(req('POST', '/rootDesc.xml').status, 405);

  // SOAP on the WANIPConnection control URL.
  const add = req('POST', PATHS.ipControl, soapBody(IP2, 'AddPortMapping', mappingArgs({ ext: 8043, intPort: 8043, client: '10.0.0.2', lease: 60 })), {
    soapaction: `"${IP2}#AddPortMapping"`,
  });
  assert.equal(add.status, 200);
  assert.equal(add.headers!['EXT'], '');
  assert.equal(changes, 1);
  assert.equal(t.store.findExternal('tcp', 8043)?.internalAddress, '10.0.0.2');
  const ip = req('POST', PATHS.ipControl, soapBody(IP2, 'GetExternalIPAddress'), { soapaction: `"${IP2}#GetExternalIPAddress"` });
  assert.equal(leafValues(ip.body).get('NewExternalIPAddress'), EXTERNAL);
  assert.equal(changes, 1);
  // An action of the other service at this control URL is refused.
  const wrong = req('POST', PATHS.ipControl, soapBody(CIF1, 'GetTotalBytesSent'), { soapaction: `"${CIF1}#GetTotalBytesSent"` });
  assert.equal(wrong.status, 500);
  assert.equal(leafValues(wrong.body).get('errorCode'), '401');
  const cif = req('POST', PATHS.cifControl, soapBody(CIF1, 'GetTotalBytesSent'), { soapaction: `"${CIF1}#GetTotalBytesSent"` });
  assert.equal(cif.status, 200);
  const none = req('POST', PATHS.ipControl, soapBody(IP2, 'GetExternalIPAddress'));
  assert.equal(leafValues(none.body).get('errorCode'), '401');
});

test('random request bytes through parseHttpRequest never throw', () => {
  const rnd = prng(80);
  const valid = b(`POST /ctl/IPConn HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nSOAPAction: "${IP2}#GetStatusInfo"\r\n\r\n0123456789`);
  const kinds = new Set<string>();
  for (let i = 0; i < 5000; i++) {
    const r = rnd(3);
    let msg: Uint8Array;
    if (r[0]! & 1) msg = rnd(r[1]! * 4);
    else {
      const m = Buffer.from(valid);
      m[((r[1]! << 8) | r[2]!) % m.length] = rnd(1)[0]!;
      msg = m.subarray(0, m.length - (r[2]! % 8));
    }
    kinds.add(parseHttpRequest(msg).kind);
  }
  assert.deepEqual([...kinds].sort(), ['error', 'incomplete', 'request']);
});
