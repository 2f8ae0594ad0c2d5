/**
 * The library against itself: two tunnels in one process (test/lib/pair.ts)
 * use every entry point on each other — connect and echo, createServer,
 * createSocket, fetch and the http agent against node:http served on the
 * tunnel, and the error codes node:net gives.
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer as createHttpServer, get as httpGet } from 'node:http';
import { once } from 'node:events';
import { A_ADDR, B_ADDR, startPair, type Pair } from './pair.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('Tunnel (two in one process)', { timeout: 120_000 }, () => {
  let p: Pair;
  beforeAll(async () => {
    p = await startPair();
  });
  afterAll(async () => {
    await p?.close();
  });

  it('connect: echoes 4 MB with equal SHA-256, half-closing, with net.Socket fields', async () => {
    const server = p.a.createServer((s) => s.pipe(s));
    await once(server.listen(7000), 'listening');
    assert.deepEqual(server.address(), { address: A_ADDR, family: 'IPv4', port: 7000 });
    const data = randomBytes(4 << 20);
    const sock = p.b.connect({ port: 7000, host: A_ADDR, allowHalfOpen: true });
    assert.equal(sock.connecting, true);
    await once(sock, 'connect');
    assert.equal(sock.remoteAddress, A_ADDR);
    assert.equal(sock.remotePort, 7000);
    assert.equal(sock.localAddress, B_ADDR);
    sock.setNoDelay(true).setKeepAlive(true, 1000);
    const chunks: Buffer[] = [];
    sock.on('data', (d: Buffer) => chunks.push(d));
    let sawFalse = false;
    for (let off = 0; off < data.length; off += 256 << 10) {
      if (!sock.write(data.subarray(off, off + (256 << 10)))) {
        sawFalse = true;
        await once(sock, 'drain');
      }
    }
    sock.end(); // half-close: the echo still comes back
    await once(sock, 'end');
    assert.equal(sha(Buffer.concat(chunks)), sha(data));
    assert.ok(sawFalse, 'write() returned false at some point (backpressure)');
    server.close();
  });

  it('connect over IPv6 and connect({ port, host })', async () => {
    const server = p.b.createServer((s) => s.end('six'));
    await once(server.listen({ port: 7001, host: 'fd77::2' }), 'listening');
    const sock = p.a.connect({ port: 7001, host: 'fd77::2' });
    const got: Buffer[] = [];
    sock.on('data', (d: Buffer) => got.push(d));
    await once(sock, 'close');
    assert.equal(Buffer.concat(got).toString(), 'six');
    assert.equal(sock.remoteFamily, 'IPv6');
    server.close();
  });

  it('errors carry node:net codes: ECONNREFUSED, EHOSTUNREACH, ENOTFOUND', async () => {
    const refused = p.b.connect(7999, A_ADDR);
    const [e1] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
    assert.equal(e1.code, 'ECONNREFUSED');
    const unreach = p.b.connect(80, '10.99.0.1');
    const [e2] = (await once(unreach, 'error')) as [NodeJS.ErrnoException];
    assert.equal(e2.code, 'EHOSTUNREACH');
    const noName = p.b.connect(80, 'db.internal');
    const [e3] = (await once(noName, 'error')) as [NodeJS.ErrnoException];
    assert.equal(e3.code, 'ENOTFOUND');
  });

  it('setTimeout emits timeout on an idle connection', async () => {
    const server = p.a.createServer(() => {});
    await once(server.listen(7002), 'listening');
    const sock = p.b.connect(7002, A_ADDR);
    await once(sock, 'connect');
    const t0 = Date.now();
    sock.setTimeout(200);
    await once(sock, 'timeout');
    assert.ok(Date.now() - t0 >= 150);
    sock.destroy();
    server.close();
  });

  it('createSocket: a UDP round trip', async () => {
    const srv = p.a.createSocket('udp4');
    srv.on('message', (msg, rinfo) => srv.send(Buffer.concat([Buffer.from('re:'), msg]), rinfo.port, rinfo.address));
    await once(srv.bind(5300), 'listening');
    const cli = p.b.createSocket('udp4');
    cli.send('ping', 5300, A_ADDR);
    const [msg, rinfo] = (await once(cli, 'message')) as [Buffer, { address: string; port: number }];
    assert.equal(msg.toString(), 're:ping');
    assert.equal(rinfo.address, A_ADDR);
    assert.equal(rinfo.port, 5300);
    cli.close();
    srv.close();
  });

  it('fetch and httpAgent reach node:http served on the tunnel', async () => {
    const web = createHttpServer((req, res) => res.end(`hello ${req.method} ${req.url} from ${req.socket.remoteAddress}`));
    const server = p.a.createServer((s) => web.emit('connection', s));
    await once(server.listen(80), 'listening');
    const res = await p.b.fetch(`http://${A_ADDR}/page?x=1`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), `hello GET /page?x=1 from ${B_ADDR}`);
    const body = await new Promise<string>((resolve, reject) => {
      httpGet({ host: A_ADDR, path: '/agent', agent: p.b.httpAgent() }, (r) => {
        let s = '';
        r.on('data', (d: Buffer) => (s += d.toString()));
        r.on('end', () => resolve(s));
      }).on('error', reject);
    });
    assert.equal(body, `hello GET /agent from ${B_ADDR}`);
    server.close();
    web.close();
  });

  it('stats() counts the peer and its bytes', () => {
    const s = p.b.stats();
    assert.equal(s.peers.length, 1);
    assert.ok(s.peers[0]!.rxBytes > 4 << 20);
  });
});
