/**
 * `wgts show` and `wgts set` against a running `wgts up` on loopback: the
 * human and JSON views, a change made with `wgts set`, and (as root) the same
 * run by an unprivileged user whose socket lands in the per-user directory.
 */
import { describe, it, afterAll } from 'vitest';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, existsSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { clampPrivateKey, publicKey } from '../../src/crypto/x25519.js';
import { encodeKey } from '../../src/crypto/util.js';
import { formatAgo, formatBytes, parseSetArgs } from '../../src/cli/show.js';
import { skipUnlessPresent } from '../harness/interop.js';
import { waitFor, waitForOutput } from '../harness/wait.js';
import { parseIp, parseIpZone } from '../../src/ip/text.js';
import type { UapiEndpoint } from '../../src/uapi/types.js';
/** Address bytes of an IP literal (the UAPI types carry the codec's binary form). */
const ip = (s: string): Uint8Array => parseIp(s)!;
/** A UapiEndpoint from text. */
const ep = (s: string, port: number): UapiEndpoint => {
  const a = parseIpZone(s)!;
  return { ip: a.ip, zone: a.zone, port };
};


const CLI = resolve('dist/src/cli/main.js');
const isRoot = process.getuid?.() === 0;

function key(): { priv: string; pub: string } {
  const k = clampPrivateKey(randomBytes(32));
  return { priv: encodeKey(k), pub: encodeKey(publicKey(k)) };
}

describe('wgts show / set: formatting', () => {
  it('formats durations and sizes as wg(8) does', () => {
    assert.equal(formatAgo(0), 'Now');
    assert.equal(formatAgo(1), '1 second ago');
    assert.equal(formatAgo(63), '1 minute, 3 seconds ago');
    assert.equal(formatAgo(3600 * 2 + 1), '2 hours, 1 second ago');
    assert.equal(formatBytes(1023), '1023 B');
    assert.equal(formatBytes(1536), '1.50 KiB');
    assert.equal(formatBytes(5 * 1024 ** 3), '5.00 GiB');
  });

  it('parses wg set arguments and refuses bad ones', async () => {
    const k = key();
    const req = await parseSetArgs(['listen-port', '51999', 'peer', k.pub, 'endpoint', '[fd00::1]:51820', 'persistent-keepalive', 'off', 'allowed-ips', '10.0.0.0/8,fd00::/64']);
    assert.equal(req.listenPort, 51999);
    assert.equal(req.peers.length, 1);
    assert.deepEqual(req.peers[0]!.endpoint, ep('fd00::1', 51820));
    assert.equal(req.peers[0]!.persistentKeepalive, 0);
    assert.equal(req.peers[0]!.replaceAllowedIps, true);
    assert.deepEqual(req.peers[0]!.addAllowedIps, [{ ip: ip('10.0.0.0'), cidr: 8 }, { ip: ip('fd00::'), cidr: 64 }]);
    await assert.rejects(parseSetArgs(['listen-port', '70000']), /0-65535/);
    await assert.rejects(parseSetArgs(['peer', 'notakey']), /base64/);
    await assert.rejects(parseSetArgs(['peer', k.pub, 'endpoint', 'nohost']), /HOST:PORT/);
    await assert.rejects(parseSetArgs(['bogus']), /unexpected argument/);
  });
});

describe('wgts show / set against a running wgts', { timeout: 30_000 }, () => {
  const dirs: string[] = [];
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  function startUp(name: string, conf: string, asNobody: boolean): ChildProcess {
    const dir = mkdtempSync(join(tmpdir(), 'wgts-show-'));
    dirs.push(dir);
    const file = join(dir, `${name}.conf`);
    writeFileSync(file, conf, { mode: 0o600 });
    if (asNobody) { chmodSync(dir, 0o755); spawnSync('chown', ['65534:65534', file]); }
    const argv = [CLI, 'up', file, '--userspace'];
    const child = asNobody
      ? spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, ...argv], { env: { PATH: process.env['PATH'] ?? '' } })
      : spawn(process.execPath, argv);
    children.push(child);
    return child;
  }

  function run(args: string[], asNobody: boolean) {
    return asNobody
      ? spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI, ...args], { encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '' } })
      : spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  }

  it('deleting the UAPI socket stops wgts up, as wireguard-go does', async () => {
    const me = key();
    const name = `wgtsd${process.pid % 10000}`;
    const child = startUp(name, `[Interface]\nPrivateKey = ${me.priv}\nListenPort = 0\nAddress = 10.89.0.1/24\n`, false);
    const log = await waitForOutput(child, /UAPI socket (\S+)/, 10_000);
    const sock = /UAPI socket (\S+)/.exec(log)![1]!;
    rmSync(sock);
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    assert.equal(code, 0);
  });

  for (const asNobody of [false, true]) {
    it(`shows and changes an interface${asNobody ? ' run by an unprivileged user (per-user socket directory)' : ''}`, { skip: skipUnlessPresent(asNobody && !isRoot && 'needs root to switch to uid 65534') }, async () => {
      const me = key();
      const peer = key();
      const name = `wgtss${process.pid % 10000}${asNobody ? 'n' : 'r'}`;
      const child = startUp(name, `[Interface]\nPrivateKey = ${me.priv}\nListenPort = 0\nAddress = 10.88.0.1/24\n\n[Peer]\nPublicKey = ${peer.pub}\nAllowedIPs = 10.88.0.2/32\n`, asNobody);
      const log = await waitForOutput(child, /UAPI socket (\S+)/, 10_000);
      const sock = /UAPI socket (\S+)/.exec(log)![1]!;
      if (asNobody) {
        assert.ok(sock.startsWith('/tmp/wgts-65534/') || sock.includes('/wgts/'), `per-user socket directory, got ${sock}`);
      } else if (isRoot) {
        assert.equal(sock, `/var/run/wireguard/${name}.sock`);
      }
      assert.ok(!log.includes(me.priv), 'private key never logged');

      // Garbage to the listening port is dropped and counted by reason.
      const port = Number(/listening on UDP port (\d+)/.exec(log)![1]);
      const { createSocket } = await import('node:dgram');
      const u = createSocket('udp4');
      for (let i = 0; i < 3; i++) await new Promise<void>((r) => u.send(Uint8Array.of(0xff, 1, 2, 3, 4), port, '127.0.0.1', () => r()));
      u.close();
      await waitFor(() => {
        const r = run(['show', name, '--json'], asNobody);
        return r.status === 0 && (JSON.parse(r.stdout) as { drops: Record<string, number> }).drops['unknown-type'] === 3;
      }, 10_000, 'wgts to count the 3 garbage datagrams');

      const human = run(['show', name], asNobody);
      assert.equal(human.status, 0, human.stderr);
      assert.match(human.stdout, new RegExp(`interface: ${name}`));
      assert.ok(human.stdout.includes(`public key: ${me.pub}`));
      assert.ok(human.stdout.includes(`peer: ${peer.pub}`));
      assert.match(human.stdout, /allowed ips: 10\.88\.0\.2\/32/);
      assert.ok(!human.stdout.includes(me.priv));
      assert.match(human.stdout, /dropped: .*unknown-type 3/);

      const set = run(['set', name, 'peer', peer.pub, 'allowed-ips', '10.88.0.2/32,10.99.0.0/16', 'endpoint', '127.0.0.1:9', 'persistent-keepalive', '25'], asNobody);
      assert.equal(set.status, 0, set.stderr);
      const json = run(['show', name, '--json'], asNobody);
      assert.equal(json.status, 0, json.stderr);
      const view = JSON.parse(json.stdout) as { publicKey: string; peers: Array<{ publicKey: string; allowedIps: string[]; endpoint: string; persistentKeepalive: number }> };
      assert.equal(view.publicKey, me.pub);
      assert.equal((view as unknown as { drops: Record<string, number> }).drops['unknown-type'], 3);
      assert.deepEqual(view.peers[0]!.allowedIps.sort(), ['10.88.0.2/32', '10.99.0.0/16']);
      assert.equal(view.peers[0]!.endpoint, '127.0.0.1:9');
      assert.equal(view.peers[0]!.persistentKeepalive, 25);
      assert.ok(!json.stdout.includes(me.priv));

      const list = run(['show', 'interfaces'], asNobody);
      assert.ok(list.stdout.split(/\s+/).includes(name));

      const missing = run(['show', 'nosuchif0'], asNobody);
      assert.equal(missing.status, 1);
      assert.match(missing.stderr, /no interface named nosuchif0/);

      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      assert.equal(child.exitCode, 0);
      assert.ok(!existsSync(sock), 'socket removed on SIGTERM');
    });
  }
});
