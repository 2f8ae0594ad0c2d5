/**
 * The [Socks5] and [http] proxies against the real curl: two library
 * tunnels on loopback (test/lib/pair.ts), "b" with both proxies in its
 * config (credentials required), "a" serving node:http on its tunnel
 * address. curl reaches a's page and a 4 MB file only through b's proxies.
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { skipUnlessPresent } from '../harness/interop.js';
import { A_ADDR, startPair, type Pair } from '../lib/pair.js';

const haveCurl = spawnSync('curl', ['--version']).status === 0;
const skip = skipUnlessPresent(!haveCurl && 'curl is not installed');

const FILE = randomBytes(4 << 20);
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** curl in a child process (asynchronously: the proxies run in this process's event loop). */
function curl(args: string[]): Promise<{ status: number | null; body: Buffer; err: string }> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '--max-time', '30', ...args], { encoding: 'buffer', maxBuffer: 64 << 20, timeout: 40_000 }, (e, stdout, stderr) => {
      resolve({ status: e ? (typeof e.code === 'number' ? e.code : -1) : 0, body: stdout, err: stderr.toString() });
    });
  });
}

describe('proxies with curl', { skip, timeout: 120_000 }, () => {
  let p: Pair;
  let socks = '';
  let http = '';
  beforeAll(async () => {
    p = await startPair(`
[Socks5]
BindAddress = 127.0.0.1:0
Username = alice
Password = s3cret:pw

[http]
BindAddress = 127.0.0.1:0
Username = alice
Password = s3cret:pw
`);
    const web = createServer((req, res) => {
      if (req.url === '/file') res.end(FILE);
      else res.end(`page ${req.url} via ${req.socket.remoteAddress}`);
    });
    const server = p.a.createServer((s) => web.emit('connection', s));
    await once(server.listen(80), 'listening');
    const ps = p.b.stats().proxies;
    socks = ps.find((x) => x.kind === 'socks5')!.listen;
    http = ps.find((x) => x.kind === 'http')!.listen;
  });
  afterAll(async () => {
    await p?.close();
  });

  it('SOCKS5 with username/password: a page and 4 MB with equal SHA-256', async () => {
    const page = await curl(['--socks5-hostname', `alice:s3cret:pw@${socks}`, `http://${A_ADDR}/hello`]);
    assert.equal(page.status, 0, page.err);
    assert.equal(page.body.toString(), 'page /hello via 10.77.0.2');
    const file = await curl(['--socks5', `alice:s3cret:pw@${socks}`, `http://${A_ADDR}/file`]);
    assert.equal(file.status, 0, file.err);
    assert.equal(sha(file.body), sha(FILE));
  });

  it('SOCKS5: a wrong password, an unreachable address and a refused port fail', async () => {
    const bad = await curl(['--socks5-hostname', `alice:wrong@${socks}`, `http://${A_ADDR}/`]);
    assert.notEqual(bad.status, 0);
    assert.equal(bad.body.length, 0);
    const none = await curl(['--socks5-hostname', socks, `http://${A_ADDR}/`]);
    assert.notEqual(none.status, 0);
    const unreach = await curl(['--socks5', `alice:s3cret:pw@${socks}`, 'http://10.99.0.1/']);
    assert.notEqual(unreach.status, 0);
    assert.match(unreach.err, /\(4\)\s*$/); // RFC 1928 REP 4: host unreachable
    const refused = await curl(['--socks5', `alice:s3cret:pw@${socks}`, `http://${A_ADDR}:81/`]);
    assert.notEqual(refused.status, 0);
    assert.match(refused.err, /\(5\)\s*$/); // REP 5: connection refused
    const s = p.b.stats().proxies.find((x) => x.kind === 'socks5')!;
    assert.equal(s.refused['bad-credentials'], 1);
    assert.equal(s.refused['ECONNREFUSED'], 1);
    assert.equal(s.refused['EHOSTUNREACH'], 1);
  });

  it('HTTP proxy: absolute-URI and CONNECT (-p), 407 without credentials', async () => {
    const plain = await curl(['-x', `http://alice:s3cret:pw@${http}`, `http://${A_ADDR}/plain`]);
    assert.equal(plain.status, 0, plain.err);
    assert.equal(plain.body.toString(), 'page /plain via 10.77.0.2');
    const tunnel = await curl(['-p', '-x', `http://alice:s3cret:pw@${http}`, `http://${A_ADDR}/file`]);
    assert.equal(tunnel.status, 0, tunnel.err);
    assert.equal(sha(tunnel.body), sha(FILE));
    const noAuth = await curl(['-o', '/dev/null', '-w', '%{http_code}', '-x', `http://${http}`, `http://${A_ADDR}/`]);
    assert.equal(noAuth.body.toString(), '407');
    const badConnect = await curl(['-p', '-x', `http://alice:nope@${http}`, `http://${A_ADDR}/`]);
    assert.notEqual(badConnect.status, 0);
    assert.match(badConnect.err, /407/);
  });
});
