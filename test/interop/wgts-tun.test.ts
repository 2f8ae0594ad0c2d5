// `wgts-tun` in wireguard-go's place, in namespaces, against wireguard-go
// peers: it daemonizes once its interface and UAPI socket exist, starts
// keyless and takes everything from `wg setconf`; replies leave from the
// address each peer sent to (two IPv4 and two IPv6 addresses on one veth,
// a peer on each), and fall back to the kernel's choice when that address
// is removed; the link moved to another namespace keeps working with the
// UDP socket left behind; `ip link del` ends it; and Debian's wg-quick
// drives it through WG_QUICK_USERSPACE_IMPLEMENTATION, full tunnel with its
// fwmark rules included, on this kernel without the WireGuard module.
import { afterAll, beforeAll, it } from 'vitest';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  exec, formatEndpoint, genKeyPair, interopSuite, Netns, ping, skipOrFail, sleep, uniqueWgIfName, vethPair, waitFor,
  withSecretFile, WireguardGo, wgShow, type Proc, type WgKeyPair,
} from '../harness/netns.js';
import { renderWgConfig } from '../harness/wireguard-go.js';

const BIN = fileURLToPath(new URL('../../src/cli/wgts-tun.js', import.meta.url));
const SOCK_DIR = '/var/run/wireguard';

/** A's veth carries two addresses of each family; G is where the wireguard-go peers live. */
const A4 = ['198.18.23.1', '198.18.23.3'];
const A6 = ['fd77:7767:7473:23::1', 'fd77:7767:7473:23::a']; // the kernel would pick ::1 for ::2, never ::a
const G4 = '198.18.23.2';
const G6 = 'fd77:7767:7473:23::2';

/** PIDs of wgts-tun processes serving `name` (cmdline match on our build and the unique name). */
function tunPids(name: string): number[] {
  const pids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const argv = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      if (argv.includes(BIN) && argv.includes(name)) pids.push(Number(d));
    } catch {
      /* gone */
    }
  }
  return pids;
}

const names: string[] = [];
function newName(): string {
  const n = uniqueWgIfName();
  names.push(n);
  return n;
}

interopSuite('wgts-tun: a drop-in for wireguard-go', { timeout: 180_000, needs: ['ping', 'wg-quick'] }, () => {
  let a: Netns;
  let g: Netns;
  let c: Netns;
  let ka: WgKeyPair;
  let aIf = '';
  const peers: Array<{ wg: WireguardGo; k: WgKeyPair; port: number; inner4: string; target: string }> = [];
  let daemon = '';
  const PORT_A = 51900;

  async function setconfA(name: string, cfg: Parameters<typeof renderWgConfig>[0]): Promise<void> {
    await withSecretFile(renderWgConfig(cfg), (path) => a.run(['wg', 'setconf', name, path]));
  }

  beforeAll(async () => {
    a = await Netns.create('tunA');
    g = await Netns.create('tunG');
    c = await Netns.create('tunC');
    const link = await vethPair(a, g, { aAddr4: `${A4[0]}/24`, bAddr4: `${G4}/24`, aAddr6: `${A6[0]}/64`, bAddr6: `${G6}/64` });
    aIf = link.aIf;
    await a.ip(['addr', 'add', `${A4[1]}/24`, 'dev', link.aIf]);
    await a.ip(['addr', 'add', `${A6[1]}/64`, 'dev', link.aIf, 'nodad']);
    ka = await genKeyPair();
    // One wireguard-go per address of A: the first and the second of each family.
    const targets = [A4[0]!, A4[1]!, A6[0]!, A6[1]!];
    for (let i = 0; i < targets.length; i++) {
      const k = await genKeyPair();
      const wg = await WireguardGo.start(g, { logLevel: 'error' });
      const port = 51910 + i;
      const inner4 = `198.19.23.${11 + i}`;
      await wg.setconf({
        privateKey: k.privateKey, listenPort: port,
        peers: [{ publicKey: ka.publicKey, endpoint: formatEndpoint(targets[i]!, PORT_A), allowedIps: ['198.19.23.1/32'], persistentKeepalive: 1 }],
      });
      await wg.addAddress(`${inner4}/32`);
      await wg.up();
      peers.push({ wg, k, port, inner4, target: targets[i]! });
    }
  }, 60_000);

  afterAll(async () => {
    for (const n of names) for (const pid of tunPids(n)) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    for (const n of names) rmSync(join(SOCK_DIR, `${n}.sock`), { force: true });
  });

  it('this kernel has no WireGuard module (so wg-quick takes the userspace slot)', async (t) => {
    const r = await a.exec(['ip', 'link', 'add', 'wgtsprobe0', 'type', 'wireguard']);
    if (r.code === 0) {
      await a.exec(['ip', 'link', 'del', 'wgtsprobe0']);
      skipOrFail(t, 'the WireGuard kernel module is loaded here: wg-quick would not use its userspace slot');
    }
  });

  it('wgts-tun NAME returns once the interface and NAME.sock exist; it has no key until UAPI gives one', { timeout: 30_000 }, async () => {
    daemon = newName();
    const r = await a.exec([process.execPath, BIN, daemon], { timeoutMs: 25_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout + r.stderr, '', 'silent by default (LOG_LEVEL unset: errors only)');
    assert.ok(existsSync(join(SOCK_DIR, `${daemon}.sock`)), 'the UAPI socket is there when the launcher returns');
    assert.equal((await a.exec(['ip', 'link', 'show', 'dev', daemon])).code, 0, 'the interface exists in the launcher\'s namespace');
    assert.equal(tunPids(daemon).length, 1, 'one daemon left running');
    const dump = await wgShow(a, daemon);
    assert.equal(dump.iface.hasPrivateKey, false);
    assert.equal(dump.peers.length, 0);
  });

  it('replies leave from the address each peer sent to: two IPv4 and two IPv6 addresses, a peer on each', { timeout: 30_000 }, async () => {
    await setconfA(daemon, {
      privateKey: ka.privateKey, listenPort: PORT_A,
      peers: peers.map((p) => ({ publicKey: p.k.publicKey, allowedIps: [`${p.inner4}/32`] })),
    });
    await a.ip(['addr', 'add', '198.19.23.1/24', 'dev', daemon]);
    await a.ip(['link', 'set', 'dev', daemon, 'up']);
    for (const p of peers) await p.wg.waitForHandshake(ka.publicKey, 15_000);
    // Keepalives and handshake responses have gone both ways; wireguard-go takes the source of
    // every authenticated datagram as its endpoint, so a reply from the other address shows here.
    await sleep(1500);
    for (const p of peers) {
      const seen = (await p.wg.show()).peers.find((x) => x.publicKey === ka.publicKey)!;
      assert.equal(seen.endpoint, formatEndpoint(p.target, PORT_A), `the peer that sent to ${p.target}`);
    }
    const ours = await wgShow(a, daemon);
    for (const p of peers) {
      const e = ours.peers.find((x) => x.publicKey === p.k.publicKey)!.endpoint;
      assert.equal(e, formatEndpoint(p.target.includes(':') ? G6 : G4, p.port));
    }
    // Traffic through the kernel's stack both ways.
    await g.ip(['route', 'add', '198.19.23.1/32', 'dev', peers[1]!.wg.iface]);
    const r = await ping(a, peers[1]!.inner4, 2);
    assert.equal(r.received, 2, r.output);
  });

  it('when that address leaves the host, replies come from the kernel\'s choice and the peer follows', { timeout: 30_000 }, async () => {
    const [, second4, , second6] = peers;
    await a.ip(['addr', 'del', `${A4[1]}/24`, 'dev', aIf]);
    await a.ip(['addr', 'del', `${A6[1]}/64`, 'dev', aIf]);
    // Something to send: pings into the tunnel go out as transport data from A (no answer needed).
    await ping(a, second4!.inner4, 2, { waitSec: 1 });
    await ping(a, second6!.inner4, 2, { waitSec: 1 });
    for (const [p, want] of [[second4!, A4[0]!], [second6!, A6[0]!]] as const) {
      await waitFor(async () => (await p.wg.show()).peers.find((x) => x.publicKey === ka.publicKey)?.endpoint === formatEndpoint(want, PORT_A), 10_000,
        `the peer that sent to ${p.target} to roam to ${want}`);
    }
  });

  it('`ip link del NAME` ends the daemon and removes NAME.sock', { timeout: 20_000 }, async () => {
    await a.ip(['link', 'del', daemon]);
    await waitFor(() => tunPids(daemon).length === 0, 10_000, 'the daemon to exit');
    assert.ok(!existsSync(join(SOCK_DIR, `${daemon}.sock`)));
  });

  it('-f, LOG_LEVEL=silent: moved to another namespace the link keeps working with the UDP socket left behind; deleted there, the process ends', { timeout: 40_000 }, async () => {
    const name = newName();
    const proc: Proc = a.spawn([process.execPath, BIN, '-f', name], { label: 'wgts-tun -f', env: { LOG_LEVEL: 'silent' } });
    await waitFor(() => existsSync(join(SOCK_DIR, `${name}.sock`)) || !proc.running, 20_000, 'NAME.sock');
    assert.ok(proc.running, proc.output());
    const p = peers[0]!;
    const kb = await genKeyPair();
    await p.wg.setPeer({ publicKey: kb.publicKey, allowedIps: ['198.19.24.1/32'] });
    await g.ip(['route', 'add', '198.19.24.1/32', 'dev', p.wg.iface]);
    await setconfA(name, {
      privateKey: kb.privateKey,
      peers: [{ publicKey: p.k.publicKey, endpoint: formatEndpoint(G4, p.port), allowedIps: [`${p.inner4}/32`] }],
    });
    await a.ip(['link', 'set', 'dev', name, 'netns', c.name]);
    assert.notEqual((await a.exec(['ip', 'link', 'show', 'dev', name])).code, 0, 'gone from A');
    await c.ip(['addr', 'add', '198.19.24.1/24', 'dev', name]);
    await c.ip(['link', 'set', 'dev', name, 'up']);
    await c.ip(['route', 'add', `${p.inner4}/32`, 'dev', name]);
    // C has no other link: the tunnel's UDP can only leave from A, where the socket stayed.
    const r = await ping(c, p.inner4, 3);
    assert.equal(r.received, 3, r.output + proc.output());
    const dump = await wgShow(a, name);
    assert.ok(dump.peers[0]!.latestHandshake > 0, 'wg in A still reaches it over UAPI');
    await c.ip(['link', 'del', name]);
    const exit = await Promise.race([proc.exited, sleep(10_000).then(() => null)]);
    assert.deepEqual(exit, { code: 0, signal: null }, proc.output());
    assert.equal(proc.output(), '', 'LOG_LEVEL=silent prints nothing');
  });

  it('wg-quick up/down with WG_QUICK_USERSPACE_IMPLEMENTATION=wgts-tun: a full tunnel with its fwmark rules', { timeout: 60_000 }, async () => {
    const name = newName();
    const p = peers[2]!; // reached at G's IPv4 address, inner 198.19.23.13
    const kq = await genKeyPair();
    await p.wg.setPeer({ publicKey: kq.publicKey, allowedIps: ['198.19.25.1/32', 'fd77:7767:7473:25::1/128'] });
    await p.wg.addAddress('fd77:7767:7473:25::13/128');
    await g.ip(['route', 'add', '198.19.25.1/32', 'dev', p.wg.iface]);
    await g.ip(['-6', 'route', 'add', 'fd77:7767:7473:25::1/128', 'dev', p.wg.iface]);
    const dir = mkdtempSync(join(tmpdir(), 'wgts-wgquick-'));
    try {
      chmodSync(dir, 0o700);
      symlinkSync(BIN, join(dir, 'wgts-tun'));
      const conf = join(dir, `${name}.conf`);
      writeFileSync(conf, [
        '[Interface]', `PrivateKey = ${kq.privateKey}`, 'Address = 198.19.25.1/32, fd77:7767:7473:25::1/128', '',
        '[Peer]', `PublicKey = ${p.k.publicKey}`, `Endpoint = ${formatEndpoint(G4, p.port)}`, 'AllowedIPs = 0.0.0.0/0, ::/0', '',
      ].join('\n'), { mode: 0o600 });
      const env = { PATH: `${dir}:${dirname(process.execPath)}:${process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`, WG_QUICK_USERSPACE_IMPLEMENTATION: 'wgts-tun' };
      const up = await a.exec(['wg-quick', 'up', conf], { env, timeoutMs: 40_000 });
      assert.equal(up.code, 0, up.stdout + up.stderr);
      assert.match(up.stderr, /Falling back to slow userspace implementation/, 'wg-quick used its userspace slot');
      assert.match(up.stderr, /\[#\] wgts-tun /);
      assert.match(up.stderr, /ip -4 rule add not fwmark \d+ table \d+/);
      assert.doesNotMatch(up.stdout + up.stderr, new RegExp(kq.privateKey.replace(/[+/=]/g, '\\$&')), 'no key in the output');
      const fw = (await a.exec(['wg', 'show', name, 'fwmark'])).stdout.trim();
      assert.match(fw, /^0x[0-9a-f]+$/, 'wg-quick set the fwmark over UAPI');
      // Everything goes through the tunnel, the tunnel's own UDP by the fwmark rule around it.
      const r4 = await ping(a, p.inner4, 3);
      assert.equal(r4.received, 3, r4.output);
      const r6 = await ping(a, 'fd77:7767:7473:25::13', 2);
      assert.equal(r6.received, 2, r6.output);
      assert.equal(tunPids(name).length, 1);
      const down = await a.exec(['wg-quick', 'down', conf], { env, timeoutMs: 30_000 });
      assert.equal(down.code, 0, down.stdout + down.stderr);
      assert.notEqual((await a.exec(['ip', 'link', 'show', 'dev', name])).code, 0, 'the interface is gone');
      await waitFor(() => tunPids(name).length === 0, 10_000, 'wgts-tun to exit after wg-quick down');
      assert.doesNotMatch((await a.exec(['ip', '-4', 'rule'])).stdout, /fwmark/, 'the policy rules are gone');
      assert.ok(!existsSync(join(SOCK_DIR, `${name}.sock`)));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('WG_UAPI_FD: serves UAPI on a listening socket it inherits', { timeout: 30_000 }, async (t) => {
    if ((await exec(['python3', '-c', 'pass'])).code !== 0) return skipOrFail(t, 'python3 not found (it hands over the socket)');
    const name = newName();
    const sock = join(SOCK_DIR, `${name}.sock`);
    // python3 makes NAME.sock, then execs wgts-tun with the listening descriptor, as a supervisor would.
    const script = [
      'import os, socket, sys',
      's = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)',
      `s.bind(${JSON.stringify(sock)}); s.listen(8); os.set_inheritable(s.fileno(), True)`,
      'os.environ["WG_UAPI_FD"] = str(s.fileno())',
      `os.execv(${JSON.stringify(process.execPath)}, [${JSON.stringify(process.execPath)}, ${JSON.stringify(BIN)}, "-f", ${JSON.stringify(name)}])`,
    ].join('\n');
    const proc = a.spawn(['python3', '-c', script], { label: 'wgts-tun via WG_UAPI_FD', env: { LOG_LEVEL: 'verbose' } });
    await waitFor(async () => !proc.running || (await a.exec(['wg', 'show', name, 'listen-port'])).code === 0, 20_000, 'UAPI over the inherited socket');
    assert.ok(proc.running, proc.output());
    assert.match(proc.output(), /UAPI listener started/);
    rmSync(sock); // as wg-quick down does for userspace devices: the daemon stops
    const exit = await Promise.race([proc.exited, sleep(10_000).then(() => null)]);
    assert.deepEqual(exit, { code: 0, signal: null }, proc.output());
  });
});
