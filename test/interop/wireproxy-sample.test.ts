// wireproxy's README sample config (test/fixtures/wireproxy/readme-sample.conf,
// byte for byte) run by `wgts up` as uid 65534 with no capabilities, so
// userspace mode, against a server namespace with wireguard-go on the
// sample's own addresses (10.200.200.1, the sample's DNS server) and
// dnsmasq answering the sample's own target names. Only the placeholders
// change: the peer's PublicKey (we hold no private key for the sample's)
// and the Endpoint host. The sample's PrivateKey stays; the server peers
// with its public key. Through what the sample defines:
//   [Socks5] 127.0.0.1:25344   curl --socks5-hostname, a name resolved in the tunnel
//   [http]   127.0.0.1:25345   curl -x (plain) and curl -p -x (CONNECT)
//   [TCPClientTunnel] 127.0.0.1:25565 -> play.cubecraft.net:25565 (an echo)
//   [TCPServerTunnel] tunnel :3422 -> localhost:25545 (an echo in the client namespace)
//   [STDIOTunnel] wgts's stdin/stdout <-> ssh.myserver.net:22 (an echo); stdin's end ends wgts
import { afterAll, beforeAll, it } from 'vitest';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chownSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { genKeyPair, interopSuite, Netns, vethPair, WireguardGo, waitFor, type Proc } from '../harness/netns.js';
import { asNobody, NOBODY, pythonForNobody, tempDir, uidsOf } from './forward-topology.js';
import { CLI } from './wgts-proc.js';
import { decodeKey, encodeKey } from '../../src/crypto/util.js';
import { publicKey } from '../../src/crypto/x25519.js';

const SAMPLE = fileURLToPath(new URL('../../../test/fixtures/wireproxy/readme-sample.conf', import.meta.url));
const SRV = '10.200.200.1';
const SRV_OUTER = '198.18.23.2';

interopSuite("wireproxy's README sample config runs unchanged with wgts up (uid 65534, no capabilities)", { timeout: 120_000, needs: ['curl', 'python3', 'setpriv', 'dnsmasq', 'socat'] }, () => {
  let srv: Netns;
  let cli: Netns;
  let wgts: Proc;
  let stdout = '';
  const page = `wireproxy sample ${randomBytes(6).toString('hex')}\n`;

  beforeAll(async () => {
    srv = await Netns.create('wpsrv');
    cli = await Netns.create('wpcli');
    await vethPair(cli, srv, { aAddr4: '198.18.23.1/24', bAddr4: `${SRV_OUTER}/24` });
    const sample = readFileSync(SAMPLE, 'utf8');
    const samplePriv = /^PrivateKey = (\S+)/m.exec(sample)![1]!;
    const kSrv = await genKeyPair();
    const wg = await WireguardGo.start(srv);
    await wg.setconf({ privateKey: kSrv.privateKey, listenPort: 51820, peers: [{ publicKey: encodeKey(publicKey(decodeKey(samplePriv)!)), allowedIps: ['10.200.200.2/32'] }] });
    await wg.addAddress(`${SRV}/24`);
    await wg.up();

    const served = tempDir(0o755, 'wpweb');
    writeFileSync(join(served, 'index.html'), page);
    const python = pythonForNobody();
    assert.ok(python, 'a python3 that uid 65534 can run');
    srv.spawn([python, '-m', 'http.server', '80', '--bind', SRV, '--directory', served], { label: 'http.server' });
    srv.spawn(['dnsmasq', '--keep-in-foreground', '--no-resolv', '--no-hosts', '--bind-interfaces', `--listen-address=${SRV}`,
      `--address=/play.cubecraft.net/${SRV}`, `--address=/ssh.myserver.net/${SRV}`, `--address=/web.wg.test/${SRV}`,
      '--pid-file', '--user=root', '--log-facility=-'], { label: 'dnsmasq' });
    srv.spawn(['socat', `TCP4-LISTEN:25565,bind=${SRV},fork,reuseaddr`, 'PIPE'], { label: 'game echo' });
    srv.spawn(['socat', `TCP4-LISTEN:22,bind=${SRV},fork,reuseaddr`, 'PIPE'], { label: 'ssh echo' });
    cli.spawn(['socat', 'TCP4-LISTEN:25545,bind=127.0.0.1,fork,reuseaddr', 'PIPE'], { label: 'local echo' });
    await waitFor(async () => {
      const l = (await srv.exec(['ss', '-lnt'])).stdout;
      return l.includes(`${SRV}:80`) && l.includes(`${SRV}:22`) && l.includes(`${SRV}:25565`);
    }, 10_000, 'the server side to listen');

    // The sample with its two placeholders filled in, nothing else touched.
    const text = sample
      .replace(/^PublicKey = \S+$/m, `PublicKey = ${kSrv.publicKey}`)
      .replace('Endpoint = my.ddns.example.com:51820', `Endpoint = ${SRV_OUTER}:51820`);
    assert.equal(text.split('\n').length, sample.split('\n').length);
    const dir = tempDir(0o755, 'wpcli');
    const runDir = join(dir, 'run');
    mkdirSync(runDir, { mode: 0o700 });
    chownSync(runDir, NOBODY, NOBODY);
    const file = join(dir, 'wireproxy.conf');
    writeFileSync(file, text, { mode: 0o600 });
    chownSync(file, NOBODY, NOBODY);
    wgts = cli.spawn([...asNobody(), '--inh-caps=-all', '--bounding-set=-all', process.execPath, CLI, 'up', file],
      { label: 'wgts up wireproxy.conf', stdin: true, env: { HOME: dir, XDG_RUNTIME_DIR: runDir } });
    wgts.child.stdout!.on('data', (b: Buffer) => void (stdout += b.toString()));
    await waitFor(() => {
      wgts.assertRunning();
      return wgts.output().includes('handshake complete');
    }, 30_000, 'wgts to complete a handshake');
  }, 90_000);
  afterAll(async () => {
    await srv?.destroy();
    await cli?.destroy();
  });

  it('runs as 65534 in userspace mode', () => {
    assert.deepEqual(uidsOf(wgts.pid), [NOBODY, NOBODY]);
    assert.match(wgts.output(), /userspace/i);
  });

  it('[Socks5] and [http]: curl reaches a page by a name resolved through the sample\'s DNS inside the tunnel', async () => {
    const curl = (args: string[]) => cli.exec(['curl', '-sS', '--max-time', '20', ...args], { timeoutMs: 30_000 });
    const socks = await curl(['--socks5-hostname', '127.0.0.1:25344', 'http://web.wg.test/index.html']);
    assert.equal(socks.stdout, page, socks.stderr);
    const plain = await curl(['-x', 'http://127.0.0.1:25345', 'http://web.wg.test/index.html']);
    assert.equal(plain.stdout, page, plain.stderr);
    const connect = await curl(['-p', '-x', 'http://127.0.0.1:25345', 'http://web.wg.test/index.html']);
    assert.equal(connect.stdout, page, connect.stderr);
  });

  it('[TCPClientTunnel] to play.cubecraft.net:25565 and [TCPServerTunnel] :3422 to localhost:25545 echo', async () => {
    const out = await cli.exec(['socat', '-t', '2', '-T', '10', '-', 'TCP4:127.0.0.1:25565'], { input: 'through the client tunnel\n', timeoutMs: 20_000 });
    assert.equal(out.stdout, 'through the client tunnel\n', out.stderr);
    const back = await srv.exec(['socat', '-t', '2', '-T', '10', '-', 'TCP4:10.200.200.2:3422'], { input: 'through the server tunnel\n', timeoutMs: 20_000 });
    assert.equal(back.stdout, 'through the server tunnel\n', back.stderr);
  });

  it('[STDIOTunnel]: stdin reaches ssh.myserver.net:22 and its answer comes out on stdout; stdin\'s end ends wgts', async () => {
    wgts.child.stdin!.write('through stdio\n');
    await waitFor(() => stdout.includes('through stdio\n'), 15_000, 'the echo on stdout');
    assert.equal(stdout, 'through stdio\n', 'stdout carries only the tunnel\'s bytes (logs go to stderr)');
    wgts.stopping = true;
    wgts.child.stdin!.end();
    const exit = await Promise.race([wgts.exited, new Promise<null>((r) => setTimeout(() => r(null), 15_000))]);
    assert.ok(exit, 'wgts exits once the STDIO tunnel is over');
  });
});
