/**
 * `wgts init`: the generated pair and added clients parse with parseConfig,
 * their keys match each other, files are 0600, nothing is overwritten (or
 * half-written) without --force, and --peer takes the next free address.
 * Runs runInit in-process on temp directories, plus one spawn of the CLI.
 */
import { describe, it, afterAll } from 'vitest';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { encodeKey } from '../../src/crypto/util.js';
import { clampPrivateKey, publicKey } from '../../src/crypto/x25519.js';
import { parseConfig } from '../../src/config/parse.js';
import type { WgConfig } from '../../src/config/types.js';
import type { NatRule } from '../../src/nat/rule.js';
import { INIT_HELP, generatePair, parseForwardSpec, parseInitArgs, runInit } from '../../src/cli/init.js';

const CLI = resolve('dist/src/cli/main.js');
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'wgts-init-'));
  dirs.push(d);
  return d;
}

async function init(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runInit(argv, (s) => (out += s), (s) => (err += s));
  return { code, out, err };
}

function load(path: string): WgConfig {
  const r = parseConfig(path, readFileSync(path, 'utf8'));
  assert.ok(r.ok, `${path} must parse: ${JSON.stringify(!r.ok && r.errors)}`);
  return r.config;
}

const mode = (p: string): number => statSync(p).mode & 0o777;
const pub = (k: Uint8Array): string => encodeKey(k);
const addrs = (c: WgConfig): string[] => c.iface.addresses.map((a) => `${a.ip}/${a.cidr}`);
const allowed = (c: WgConfig, i: number): string[] => c.peers[i]!.allowedIps.map((a) => `${a.ip}/${a.cidr}`);

describe('wgts init (pair)', () => {
  it('writes a VPS and a home config that parse, with matching keys and 0600 modes', async () => {
    const d = tmp();
    const r = await init(['--endpoint', 'vps.example.net', '--forward', 'tcp/8080', '--forward', 'udp/27015', '--dir', d]);
    assert.equal(r.code, 0, r.err);
    const vpsPath = join(d, 'vps.conf');
    const homePath = join(d, 'home.conf');
    assert.equal(mode(vpsPath), 0o600);
    assert.equal(mode(homePath), 0o600);
    const vps = load(vpsPath);
    const home = load(homePath);
    assert.equal(vps.warnings.length, 0, JSON.stringify(vps.warnings));
    assert.equal(home.warnings.length, 0, JSON.stringify(home.warnings));

    // Each side's [Peer] is the other side's public key.
    assert.equal(vps.peers.length, 1);
    assert.equal(home.peers.length, 1);
    assert.equal(pub(vps.peers[0]!.publicKey), pub(home.iface.publicKey));
    assert.equal(pub(home.peers[0]!.publicKey), pub(vps.iface.publicKey));
    assert.notEqual(pub(vps.iface.publicKey), pub(home.iface.publicKey));

    // VPS: ListenPort, IPv4 + ULA IPv6; home's AllowedIPs are exactly the VPS's addresses.
    assert.equal(vps.iface.listenPort, 51820);
    const [v4, v6] = vps.iface.addresses;
    assert.equal(`${v4!.ip}/${v4!.cidr}`, '10.100.0.1/24');
    assert.equal(v6!.family, 6);
    assert.equal(v6!.cidr, 64);
    assert.match(v6!.ip, /^fd[0-9a-f]{2}:/);
    assert.deepEqual(allowed(home, 0), [`${v4!.ip}/32`, `${v6!.ip}/128`]);
    assert.deepEqual(allowed(vps, 0), home.iface.addresses.map((a) => `${a.ip}/${a.family === 4 ? 32 : 128}`));
    assert.equal(home.iface.addresses[0]!.ip, '10.100.0.2');
    assert.deepEqual(home.peers[0]!.endpoint, { host: 'vps.example.net', port: 51820 });
    assert.equal(home.peers[0]!.persistentKeepalive, 25);

    // [Forward] on the VPS to the home tunnel address, [Expose] at home to 127.0.0.1, same ports.
    const fwd = vps.extensions['Forward'] as NatRule[];
    const exp = home.extensions['Expose'] as NatRule[];
    assert.deepEqual(fwd.map((f) => [f.protocols.join(), f.listen.port, f.target.host, f.target.port]), [
      ['tcp', 8080, '10.100.0.2', 8080],
      ['udp', 27015, '10.100.0.2', 27015],
    ]);
    assert.deepEqual(exp.map((f) => [f.protocols.join(), f.listen.host, f.listen.port, f.target.host, f.target.port]), [
      ['tcp', '10.100.0.2', 8080, '127.0.0.1', 8080],
      ['udp', '10.100.0.2', 27015, '127.0.0.1', 27015],
    ]);

    // The two commands, one per machine; no key text on stdout.
    assert.match(r.out, /wgts up vps\.conf/);
    assert.match(r.out, /wgts up home\.conf/);
    assert.ok(!/[A-Za-z0-9+/]{43}=/.test(r.out + r.err));
  });

  it('several --endpoint: one home config with a peer per VPS and shared [Expose], a config per VPS forwarding the same ports', async () => {
    const d = tmp();
    const r = await init(['--endpoint', 'vps1.example.net', '--endpoint', '198.51.100.7:4500', '--forward', 'tcp/443', '--forward', 'udp/27015', '--dir', d]);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(readdirSync(d).sort(), ['home.conf', 'vps1.conf', 'vps2.conf']);
    const home = load(join(d, 'home.conf'));
    const v = [load(join(d, 'vps1.conf')), load(join(d, 'vps2.conf'))];
    for (const c of [home, ...v]) assert.deepEqual(c.warnings, []);
    assert.deepEqual(home.peers.map((p) => p.endpoint), [{ host: 'vps1.example.net', port: 51820 }, { host: '198.51.100.7', port: 4500 }]);
    assert.deepEqual(home.peers.map((p) => p.persistentKeepalive), [25, 25]);
    assert.deepEqual(v.map((c) => c.iface.listenPort), [51820, 4500]);
    for (const [i, c] of v.entries()) {
      assert.equal(pub(home.peers[i]!.publicKey), pub(c.iface.publicKey), `home's peer ${i} is VPS ${i + 1}`);
      assert.equal(pub(c.peers[0]!.publicKey), pub(home.iface.publicKey), `VPS ${i + 1}'s peer is home`);
      assert.deepEqual(allowed(home, i), addrs(c).map((a) => a.replace(/\/\d+$/, () => (a.includes(':') ? '/128' : '/32'))));
      assert.deepEqual(allowed(c, 0), addrs(home).map((a) => a.replace(/\/\d+$/, () => (a.includes(':') ? '/128' : '/32'))));
      const fw = (c.extensions['Forward'] as NatRule[]).map((f) => `${f.protocols}:${f.listen.host}:${f.listen.port}=${f.target.host}:${f.target.port}`);
      assert.deepEqual(fw, ['tcp:0.0.0.0:443=10.100.0.2:443', 'udp:0.0.0.0:27015=10.100.0.2:27015']);
    }
    assert.notEqual(pub(v[0]!.iface.publicKey), pub(v[1]!.iface.publicKey));
    assert.deepEqual(v.map((c) => c.iface.addresses[0]!.ip), ['10.100.0.1', '10.100.0.254']);
    assert.equal((home.extensions['Expose'] as NatRule[]).length, 2, 'one [Expose] per port, shared by both VPSes');
    assert.match(r.out, /On VPS 1 \(vps1\.example\.net\).*\n +wgts up vps1\.conf/);
    assert.match(r.out, /On VPS 2 \(198\.51\.100\.7\): copy vps2\.conf there, allow UDP 4500 \(WireGuard\) and TCP 443, UDP 27015 \(forwarded\) in its firewall/);
    assert.match(r.out, /wgts up home\.conf/);
    // A phone added to VPS 1 takes .3, not VPS 2's address.
    const p = await init(['--peer', 'phone', '--config', join(d, 'vps1.conf'), '--endpoint', 'vps1.example.net']);
    assert.equal(p.code, 0, p.err);
    assert.deepEqual(addrs(load(join(d, 'phone.conf')))[0], '10.100.0.3/32');
    // Mistakes: a repeated endpoint, several endpoints with --peer.
    assert.match((await init(['--endpoint', 'a.example', '--endpoint', 'a.example:51820', '--dir', tmp()])).err, /--endpoint a\.example:51820 is given twice/);
    assert.match((await init(['--peer', 'x', '--endpoint', 'a', '--endpoint', 'b', '--config', join(d, 'vps1.conf')])).err, /--peer takes one --endpoint/);
  });

  it('fresh keys and a fresh ULA prefix on every run', () => {
    const rnd = (n: number): Uint8Array => new Uint8Array(randomBytes(n));
    const opts = { endpoint: { host: '192.0.2.1', port: 51820 }, forwards: [], homeKernel: false, vpsFile: 'vps.conf', homeFile: 'home.conf' };
    const a = generatePair(opts, rnd);
    const b = generatePair(opts, rnd);
    assert.ok(a.ok && b.ok);
    const ka = parseConfig('vps.conf', a.value.vps);
    const kb = parseConfig('vps.conf', b.value.vps);
    assert.ok(ka.ok && kb.ok);
    assert.notEqual(pub(ka.config.iface.publicKey), pub(kb.config.iface.publicKey));
    assert.notEqual(ka.config.iface.addresses[1]!.ip, kb.config.iface.addresses[1]!.ip);
  });

  it('--home-kernel: no [Expose]; an endpoint port becomes the VPS ListenPort; IPv6 endpoints', async () => {
    const d = tmp();
    const r = await init(['--endpoint', '[2001:db8::7]:4500', '--forward', 'tcp,udp/6000-6003', '--home-kernel', '--dir', d, '--vps-conf', 'wgvps.conf', '--home-conf', 'wghome.conf']);
    assert.equal(r.code, 0, r.err);
    const vps = load(join(d, 'wgvps.conf'));
    const home = load(join(d, 'wghome.conf'));
    assert.equal(vps.iface.listenPort, 4500);
    assert.deepEqual(home.peers[0]!.endpoint, { host: '2001:db8::7', port: 4500 });
    assert.equal(home.extensions['Expose']?.length ?? 0, 0);
    const f = (vps.extensions['Forward'] as NatRule[])[0]!;
    assert.deepEqual([f.protocols, f.listen.port, f.ports, f.target.port], [['tcp', 'udp'], 6000, 4, 6000]);
    assert.match(r.out, /wg-quick up \.\/wghome\.conf/);
  });

  it('never overwrites without --force, and writes neither file when either exists', async () => {
    const d = tmp();
    const home = join(d, 'home.conf');
    writeFileSync(home, 'mine\n', { mode: 0o644 });
    const r = await init(['--endpoint', 'vps.example.net', '--dir', d]);
    assert.equal(r.code, 1);
    assert.match(r.err, /home\.conf already exists; nothing was written/);
    assert.ok(!existsSync(join(d, 'vps.conf')), 'vps.conf must not be written when home.conf is taken');
    assert.equal(readFileSync(home, 'utf8'), 'mine\n');
    assert.deepEqual(readdirSync(d), ['home.conf'], 'no temp files left behind');

    const f = await init(['--endpoint', 'vps.example.net', '--dir', d, '--force']);
    assert.equal(f.code, 0, f.err);
    assert.equal(mode(home), 0o600, 'an overwritten file gets mode 0600 too');
    assert.notEqual(readFileSync(home, 'utf8'), 'mine\n');
    load(home);
    assert.deepEqual(readdirSync(d).sort(), ['home.conf', 'vps.conf']);
  });

  it('refuses bad input before writing anything', async () => {
    const d = tmp();
    for (const argv of [
      ['--forward', 'tcp/8080'], // no --endpoint
      ['--endpoint', 'vps.example.net', '--forward', 'sctp/80'],
      ['--endpoint', 'vps.example.net', '--forward', 'tcp/0'],
      ['--endpoint', 'vps.example.net', '--forward', 'tcp/90-80'],
      ['--endpoint', 'vps.example.net', '--forward', 'udp/51820'], // the WireGuard port itself
      ['--endpoint', 'not a host!'],
      ['--endpoint', 'vps.example.net', '--vps-conf', 'x/vps.conf'],
      ['--endpoint', 'vps.example.net', '--bogus'],
    ]) {
      const r = await init([...argv, '--dir', d]);
      assert.equal(r.code, 1, argv.join(' '));
      assert.match(r.err, /^wgts init: /);
    }
    assert.deepEqual(readdirSync(d), []);
  });

  it('parseForwardSpec reads PROTO/PORT and ranges', () => {
    assert.deepEqual(parseForwardSpec('tcp/8080'), { ok: true, value: { protocols: ['tcp'], port: 8080, ports: 1 } });
    assert.deepEqual(parseForwardSpec('UDP/27015'), { ok: true, value: { protocols: ['udp'], port: 27015, ports: 1 } });
    assert.deepEqual(parseForwardSpec('udp,tcp/6000-6010'), { ok: true, value: { protocols: ['tcp', 'udp'], port: 6000, ports: 11 } });
    for (const bad of ['8080', 'tcp:8080', 'tcp/', 'tcp/65536', 'tcp/tcp/1', 'tcp,tcp/1']) assert.equal(parseForwardSpec(bad).ok, false, bad);
  });

  it('every flag in --help is accepted by the argument parser', async () => {
    const flags = [...new Set(INIT_HELP.match(/--[a-z-]+/g))];
    assert.ok(flags.length >= 12);
    for (const f of flags) {
      const takesNoValue = f === '--force' || f === '--home-kernel' || f === '--full-tunnel' || f === '--help';
      const r = parseInitArgs(takesNoValue ? [f] : [f, 'x']);
      assert.ok(r.ok, `${f}: ${!r.ok && r.error}`);
    }
    const h = spawnSync(process.execPath, [CLI, 'init', '--help'], { encoding: 'utf8' });
    assert.equal(h.status, 0);
    assert.equal(h.stdout, INIT_HELP);
  });
});

describe('wgts init --peer', () => {
  it('adds clients at the next free addresses; vps.conf keeps parsing and keeps its mode', async () => {
    const d = tmp();
    assert.equal((await init(['--endpoint', 'vps.example.net:51999', '--forward', 'tcp/8080', '--dir', d])).code, 0);
    const vpsPath = join(d, 'vps.conf');
    chmodSync(vpsPath, 0o640);
    const before = readFileSync(vpsPath, 'utf8');

    // No --endpoint: taken from home.conf next to vps.conf.
    const r1 = await init(['--peer', 'phone', '--config', vpsPath]);
    assert.equal(r1.code, 0, r1.err);
    const r2 = await init(['--peer', 'laptop', '--config', vpsPath, '--endpoint', 'vps.example.net', '--allowed-ips', '10.100.0.0/24', '--dns', '10.100.0.1']);
    assert.equal(r2.code, 0, r2.err);

    const after = readFileSync(vpsPath, 'utf8');
    assert.ok(after.startsWith(before), 'the original text is kept byte for byte');
    assert.equal(mode(vpsPath), 0o640, 'mode preserved');
    const vps = load(vpsPath);
    assert.equal(vps.peers.length, 3);
    assert.equal((vps.extensions['Forward'] as unknown[]).length, 1);
    const ula = vps.iface.addresses[1]!.ip.replace(/::1$/, '::');

    const phonePath = join(d, 'phone.conf');
    const laptopPath = join(d, 'laptop.conf');
    assert.equal(mode(phonePath), 0o600);
    assert.equal(mode(laptopPath), 0o600);
    const phone = load(phonePath);
    const laptop = load(laptopPath);
    assert.deepEqual(addrs(phone), ['10.100.0.3/32', `${ula}3/128`]);
    assert.deepEqual(addrs(laptop), ['10.100.0.4/32', `${ula}4/128`]);
    assert.deepEqual(allowed(vps, 1), addrs(phone));
    assert.deepEqual(allowed(vps, 2), addrs(laptop));
    assert.equal(pub(vps.peers[1]!.publicKey), pub(phone.iface.publicKey));
    assert.equal(pub(vps.peers[2]!.publicKey), pub(laptop.iface.publicKey));
    assert.equal(pub(phone.peers[0]!.publicKey), pub(vps.iface.publicKey));
    // Issue 19 bug 1b: a split tunnel by default (the tunnel's subnets), not 0.0.0.0/0 that a userspace VPS cannot carry.
    assert.deepEqual(allowed(phone, 0), ['10.100.0.0/24', `${ula}/${vps.iface.addresses[1]!.cidr}`]);
    assert.match(r1.out, /its own internet traffic stays direct \(--full-tunnel changes that\)/);
    assert.deepEqual(allowed(laptop, 0), ['10.100.0.0/24']);
    assert.deepEqual(laptop.iface.dns.servers, ['10.100.0.1']);
    assert.deepEqual(phone.peers[0]!.endpoint, { host: 'vps.example.net', port: 51999 });
    assert.deepEqual(laptop.peers[0]!.endpoint, { host: 'vps.example.net', port: 51999 }, 'port defaults to the VPS ListenPort');
    assert.ok(!readdirSync(d).some((f) => f.endsWith('.tmp')));
  });

  it('--full-tunnel routes everything to the VPS and says what the VPS then needs', async () => {
    const d = tmp();
    assert.equal((await init(['--endpoint', 'vps.example.net', '--dir', d])).code, 0);
    const r = await init(['--peer', 'phone', '--config', join(d, 'vps.conf'), '--full-tunnel']);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(allowed(load(join(d, 'phone.conf')), 0), ['0.0.0.0/0', '::/0']);
    assert.match(r.out, /TUN mode with IP forwarding and NAT/);
    assert.match(r.out, /\[Socks5\]\/\[http\] proxies/);
    const both = await init(['--peer', 'tablet', '--config', join(d, 'vps.conf'), '--full-tunnel', '--allowed-ips', '10.0.0.0/8']);
    assert.equal(both.code, 1);
    assert.match(both.err, /--full-tunnel and --allowed-ips: give one/);
  });

  it('a CRLF vps.conf gets CRLF lines appended (issue 19 bug 16)', async () => {
    const d = tmp();
    assert.equal((await init(['--endpoint', 'vps.example.net', '--dir', d])).code, 0);
    const vpsPath = join(d, 'vps.conf');
    writeFileSync(vpsPath, readFileSync(vpsPath, 'utf8').replace(/\r?\n/g, '\r\n'), { mode: 0o600 });
    const r = await init(['--peer', 'phone', '--config', vpsPath]);
    assert.equal(r.code, 0, r.err);
    const text = readFileSync(vpsPath, 'utf8');
    assert.equal(text.replace(/\r\n/g, '').includes('\n'), false, 'every line still ends in CRLF');
    assert.equal(load(vpsPath).peers.length, 2);
  });

  it('fills a gap left by a removed peer', async () => {
    const d = tmp();
    const k = (): { priv: string; pub: string } => {
      const p = clampPrivateKey(randomBytes(32));
      return { priv: encodeKey(p), pub: encodeKey(publicKey(p)) };
    };
    const vpsPath = join(d, 'vps.conf');
    const text = [
      '[Interface]', `PrivateKey = ${k().priv}`, 'ListenPort = 51820', 'Address = 10.9.0.1/24',
      '[Peer]', `PublicKey = ${k().pub}`, 'AllowedIPs = 10.9.0.2/32',
      '[Peer]', `PublicKey = ${k().pub}`, 'AllowedIPs = 10.9.0.4/32',
      '[Peer]', `PublicKey = ${k().pub}`, 'AllowedIPs = 0.0.0.0/0', // a wide route does not use up addresses
    ].join('\n'); // no final newline
    writeFileSync(vpsPath, text, { mode: 0o600 });
    const r = await init(['--peer', 'tab', '--config', vpsPath, '--endpoint', '198.51.100.5']);
    assert.equal(r.code, 0, r.err);
    const tab = load(join(d, 'tab.conf'));
    assert.deepEqual(addrs(tab), ['10.9.0.3/32']);
    assert.deepEqual(tab.peers[0]!.endpoint, { host: '198.51.100.5', port: 51820 });
    const vps = load(vpsPath);
    assert.deepEqual(allowed(vps, 3), ['10.9.0.3/32']);
  });

  it('refuses an existing client file or a missing endpoint, and leaves vps.conf alone', async () => {
    const d = tmp();
    assert.equal((await init(['--endpoint', 'vps.example.net', '--dir', d])).code, 0);
    const vpsPath = join(d, 'vps.conf');
    const before = readFileSync(vpsPath, 'utf8');
    writeFileSync(join(d, 'phone.conf'), 'old\n');
    const r = await init(['--peer', 'phone', '--config', vpsPath, '--endpoint', 'vps.example.net']);
    assert.equal(r.code, 1);
    assert.match(r.err, /phone\.conf already exists/);
    assert.equal(readFileSync(join(d, 'phone.conf'), 'utf8'), 'old\n');
    assert.equal(readFileSync(vpsPath, 'utf8'), before);

    rmSync(join(d, 'home.conf'));
    const n = await init(['--peer', 'tab', '--config', vpsPath]);
    assert.equal(n.code, 1);
    assert.match(n.err, /--endpoint HOST\[:PORT\] is required/);
    assert.ok(!existsSync(join(d, 'tab.conf')));
    assert.equal(readFileSync(vpsPath, 'utf8'), before);

    const bad = await init(['--peer', 'bad/name', '--config', vpsPath, '--endpoint', 'vps.example.net']);
    assert.equal(bad.code, 1);
    assert.equal(readFileSync(vpsPath, 'utf8'), before);
  });
});
