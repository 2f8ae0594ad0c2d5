// Issue 15, checked against real clients: a server namespace with
// wireguard-go, dnsmasq as the tunnel's DNS server (home.internal), a
// python web server and TCP/UDP echoes (socat); a client namespace where a
// program runs as uid 65534 with no capabilities and no TUN, using wgts as
// a library (embed-child.ts) with [Socks5] proxies in its config. From that
// namespace, also as 65534: curl --socks5-hostname by name (a page and a
// 16 MB file with equal SHA-256, a wrong password refused), nc -X 5 through
// the SOCKS5 port, curl -x and -p -x through its [http] proxy (plain and
// CONNECT, https:// to a python TLS server whose certificate a private CA
// made here with openssl signs, a wrong password answered 407), and the
// server side reaching the library's createServer.
import { afterAll, beforeAll, it } from 'vitest';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { chownSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exec, genKeyPair, interopSuite, Netns, vethPair, WireguardGo, waitFor, type Proc } from '../harness/netns.js';
import { asNobody, NOBODY, pythonForNobody, tempDir, uidsOf } from './forward-topology.js';

const CHILD = new URL('./embed-child.js', import.meta.url).pathname;
const SRV = '10.88.0.1';
const CLI_TUN = '10.88.0.2';

/** A TLS web server on argv[1]:443 serving the folder argv[2] (srv.pem and srv.key from the folder argv[3]). */
const PY_TLS = `
import functools, http.server, os, ssl, sys
addr, root, certs = sys.argv[1], sys.argv[2], sys.argv[3]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(os.path.join(certs, 'srv.pem'), os.path.join(certs, 'srv.key'))
srv = http.server.ThreadingHTTPServer((addr, 443), functools.partial(http.server.SimpleHTTPRequestHandler, directory=root))
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
`;

/** A private CA and a certificate for home.internal it signs (srv.pem/srv.key in dir); returns the CA's path. */
async function privateCa(dir: string): Promise<string> {
  const ssl = (args: string[]) => exec(['openssl', ...args], { check: true, timeoutMs: 30_000 });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await ssl(['req', '-x509', ...ec, '-keyout', join(dir, 'ca.key'), '-out', join(dir, 'ca.pem'), '-days', '1', '-subj', '/CN=wgts test CA']);
  await ssl(['req', ...ec, '-keyout', join(dir, 'srv.key'), '-out', join(dir, 'srv.csr'), '-subj', '/CN=home.internal']);
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=DNS:home.internal\n');
  await ssl(['x509', '-req', '-in', join(dir, 'srv.csr'), '-CA', join(dir, 'ca.pem'), '-CAkey', join(dir, 'ca.key'), '-CAcreateserial', '-out', join(dir, 'srv.pem'), '-days', '1', '-extfile', join(dir, 'san.ext')]);
  return join(dir, 'ca.pem');
}

function noCaps(): string[] {
  return [...asNobody(), '--inh-caps=-all', '--bounding-set=-all'];
}

interopSuite('library and proxies as uid 65534 without capabilities, against wireguard-go + dnsmasq in netns', { timeout: 180_000, needs: ['curl', 'python3', 'setpriv', 'dnsmasq', 'socat', 'nc', 'openssl'] }, () => {
  let srv: Netns;
  let cli: Netns;
  let child: Proc;
  let result: Record<string, unknown> = {};
  let caFile = '';
  const big = randomBytes(16 << 20);
  const page = `home ${randomBytes(6).toString('hex')}\n`;

  beforeAll(async () => {
    srv = await Netns.create('embsrv');
    cli = await Netns.create('embcli');
    await vethPair(cli, srv, { aAddr4: '198.18.20.1/24', bAddr4: '198.18.20.2/24' });
    const [kSrv, kCli] = await Promise.all([genKeyPair(), genKeyPair()]);
    const wg = await WireguardGo.start(srv);
    await wg.setconf({ privateKey: kSrv.privateKey, listenPort: 51820, peers: [{ publicKey: kCli.publicKey, allowedIps: [`${CLI_TUN}/32`] }] });
    await wg.addAddress(`${SRV}/24`);
    await wg.up();
    const served = tempDir(0o755, 'embed');
    writeFileSync(join(served, 'index.html'), page);
    writeFileSync(join(served, 'big.bin'), big);
    const python = pythonForNobody();
    assert.ok(python, 'a python3 that uid 65534 can run');
    srv.spawn([python, '-m', 'http.server', '80', '--bind', SRV, '--directory', served], { label: 'http.server' });
    const certs = tempDir(0o755, 'embca');
    caFile = await privateCa(certs);
    srv.spawn([python, '-c', PY_TLS, SRV, served, certs], { label: 'https server' });
    srv.spawn(['dnsmasq', '--keep-in-foreground', '--no-resolv', '--no-hosts', '--bind-interfaces', `--listen-address=${SRV}`, '--address=/home.internal/10.88.0.1', '--pid-file', '--user=root', '--log-facility=-'], { label: 'dnsmasq' });
    srv.spawn(['socat', `TCP4-LISTEN:7000,bind=${SRV},fork,reuseaddr`, 'PIPE'], { label: 'tcp echo' });
    srv.spawn(['socat', `UDP4-RECVFROM:7001,bind=${SRV},fork`, 'PIPE'], { label: 'udp echo' });
    await waitFor(async () => {
      const listening = (await srv.exec(['ss', '-lnt'])).stdout;
      return listening.includes(`${SRV}:80`) && listening.includes(`${SRV}:443`);
    }, 10_000, 'the http and https servers to listen');

    const dir = tempDir(0o755, 'embedc');
    const conf = join(dir, 'home.conf');
    writeFileSync(conf, `[Interface]
PrivateKey = ${kCli.privateKey}
Address = ${CLI_TUN}/24
DNS = ${SRV}, internal

[Peer]
PublicKey = ${kSrv.publicKey}
Endpoint = 198.18.20.2:51820
AllowedIPs = 10.88.0.0/24
PersistentKeepalive = 5

[Socks5]
BindAddress = 127.0.0.1:1080
Username = emb
Password = emb-secret-pw

[Socks5]
BindAddress = 127.0.0.1:1081

[http]
BindAddress = 127.0.0.1:8080
Username = emb
Password = emb-secret-pw
`, { mode: 0o600 });
    chownSync(conf, NOBODY, NOBODY);
    child = cli.spawn([...noCaps(), process.execPath, CHILD, conf], { label: 'library as 65534', stdin: true, env: { HOME: dir } });
    await waitFor(() => {
      child.assertRunning();
      return child.output().includes('"uid"');
    }, 60_000, 'the library child to report');
    const line = child.output().split('\n').find((l) => l.startsWith('{"uid"'))!;
    result = JSON.parse(line) as Record<string, unknown>;
  }, 120_000);
  afterAll(async () => {
    await srv?.destroy();
    await cli?.destroy();
  });

  it('the library, without capabilities: lookup through dnsmasq, fetch by name, connect, createSocket', () => {
    assert.deepEqual(uidsOf(child.pid), [NOBODY, NOBODY]);
    assert.equal(result.error, undefined, child.output());
    assert.deepEqual(result.lookup, [SRV]);
    assert.deepEqual(result.fetch, { status: 200, body: page });
    assert.equal(result.connect, 'tcp echo');
    assert.equal(result.udp, 'udp echo');
  });

  it('createServer in the library is reached from the server namespace', async () => {
    const r = await srv.exec(['curl', '-sS', '--http0.9', '--max-time', '10', `http://${CLI_TUN}:9000/`], { timeoutMs: 15_000 });
    assert.match(r.stdout + r.stderr, /served by the library/);
  });

  it('curl --socks5-hostname by name: a page and 16 MB with equal SHA-256; a wrong password fails; nc -X 5', async () => {
    const asUser = [...noCaps()];
    const pageR = await cli.exec([...asUser, 'curl', '-sS', '--max-time', '20', '--socks5-hostname', 'emb:emb-secret-pw@127.0.0.1:1080', 'http://home.internal/index.html'], { timeoutMs: 30_000 });
    assert.equal(pageR.stdout, page, pageR.stderr);
    const sum = await cli.exec(['sh', '-c', `${asUser.join(' ')} curl -sS --max-time 60 --socks5-hostname emb:emb-secret-pw@127.0.0.1:1080 http://home.internal/big.bin | sha256sum`], { timeoutMs: 90_000 });
    assert.equal(sum.stdout.split(' ')[0], createHash('sha256').update(big).digest('hex'), sum.stderr);
    const bad = await cli.exec([...asUser, 'curl', '-sS', '--max-time', '10', '--socks5-hostname', 'emb:wrong@127.0.0.1:1080', 'http://home.internal/index.html'], { timeoutMs: 20_000 });
    assert.notEqual(bad.code, 0);
    const nc = await cli.exec(['sh', '-c', `printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | ${asUser.join(' ')} nc -q 5 -X 5 -x 127.0.0.1:1081 home.internal 80`], { timeoutMs: 20_000 });
    assert.match(nc.stdout, new RegExp(page.trim()));
    assert.doesNotMatch(child.output(), /emb-secret-pw/);
  });

  it('curl -x through [http]: plain and CONNECT (-p), https:// with a private CA; a wrong password gets 407', async () => {
    const proxy = 'http://emb:emb-secret-pw@127.0.0.1:8080';
    const curl = (args: string[]) => cli.exec([...noCaps(), 'curl', '-sS', '--max-time', '20', ...args], { timeoutMs: 30_000 });
    const plain = await curl(['-x', proxy, 'http://home.internal/index.html']);
    assert.equal(plain.stdout, page, plain.stderr);
    const connect = await curl(['-p', '-x', proxy, 'http://home.internal/index.html']);
    assert.equal(connect.stdout, page, connect.stderr);
    const tls = await curl(['--cacert', caFile, '-p', '-x', proxy, 'https://home.internal/index.html']);
    assert.equal(tls.stdout, page, tls.stderr);
    const sum = await cli.exec(['sh', '-c', `${noCaps().join(' ')} curl -sS --max-time 60 --cacert ${caFile} -x ${proxy} https://home.internal/big.bin | sha256sum`], { timeoutMs: 90_000 });
    assert.equal(sum.stdout.split(' ')[0], createHash('sha256').update(big).digest('hex'), sum.stderr);
    const untrusted = await curl(['-x', proxy, 'https://home.internal/index.html']);
    assert.notEqual(untrusted.code, 0, 'curl without --cacert must refuse the private CA');
    const bad = await curl(['-o', '/dev/null', '-w', '%{http_code}', '-x', 'http://emb:wrong@127.0.0.1:8080', 'http://home.internal/index.html']);
    assert.equal(bad.stdout, '407', bad.stderr);
    const badConnect = await curl(['--cacert', caFile, '-x', 'http://emb:wrong@127.0.0.1:8080', 'https://home.internal/index.html']);
    assert.notEqual(badConnect.code, 0);
    assert.match(badConnect.stderr, /407/);
    assert.doesNotMatch(child.output(), /emb-secret-pw/);
  });

  it('close() lets the process exit by itself', async () => {
    child.stopping = true; // the exit is this test's to check, not the harness's to report
    child.child.stdin!.end();
    const exit = await child.exited;
    assert.equal(exit.code, 0, child.output());
  });
});
