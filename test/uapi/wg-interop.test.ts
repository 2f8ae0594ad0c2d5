// Interop with the real wg(8) (wireguard-tools) against our UAPI server, with
// an in-memory test double standing in for the device. wg(8) only looks in
// /var/run/wireguard, so this needs root: skipped (loudly) otherwise, and a
// failure when WGTS_INTEROP=required. Interface names are random per run and
// every socket is removed afterwards.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startUapiServer, SYSTEM_SOCKET_DIR, type UapiServer } from '../../src/uapi/server.js';
import { exec } from '../harness/exec.js';
import { InMemoryTestBackend } from './fake-backend.js';
import { parseIp, parseIpZone } from '../../src/ip/text.js';
import type { UapiEndpoint } from '../../src/uapi/types.js';
/** Address bytes of an IP literal (the UAPI types carry the codec's binary form). */
const ip = (s: string): Uint8Array => parseIp(s)!;
/** A UapiEndpoint from text. */
const ep = (s: string, port: number): UapiEndpoint => {
  const a = parseIpZone(s)!;
  return { ip: a.ip, zone: a.zone, port };
};


const WG = '/usr/bin/wg';
const required = process.env['WGTS_INTEROP'] === 'required';

function unavailable(): string | null {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'needs root (wg(8) only looks in /var/run/wireguard)';
  if (!existsSync(WG)) return `${WG} not installed`;
  return null;
}

async function wg(args: string[], input?: string): Promise<string> {
  const r = await exec([WG, ...args], { check: true, ...(input !== undefined ? { input } : {}) });
  return r.stdout;
}

async function wgFails(args: string[]): Promise<string> {
  const r = await exec([WG, ...args]);
  assert.notEqual(r.code, 0, `wg ${args.join(' ')} should fail`);
  return r.stderr;
}

/** One named step of the sequence below (vitest has no subtests): a failure says which step. */
async function step(name: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof Error) err.message = `step "${name}": ${err.message}`;
    throw err;
  }
}

const b64 = (k: Uint8Array | null): string => (k ? Buffer.from(k).toString('base64') : '(none)');

test('wg(8) configures and inspects a wgts UAPI socket', async (t) => {
  const why = unavailable();
  if (why !== null) {
    if (required) assert.fail(`WGTS_INTEROP=required but wg interop cannot run: ${why}`);
    console.warn(`\n*** SKIPPING wg(8) UAPI interop test: ${why} ***\n`);
    t.skip(why);
    return;
  }
  const name = `wgts${randomBytes(4).toString('hex')}`;
  const work = mkdtempSync(join(tmpdir(), 'wgts-uapi-wg-'));
  const backend = new InMemoryTestBackend();
  let srv: UapiServer | null = null;
  t.onTestFinished(async () => {
    await srv?.close();
    rmSync(join(SYSTEM_SOCKET_DIR, `${name}.sock`), { force: true });
    rmSync(work, { recursive: true, force: true });
  });
  srv = await startUapiServer(name, backend);
  assert.equal(srv.path, `${SYSTEM_SOCKET_DIR}/${name}.sock`);

  assert.ok((await wg(['show', 'interfaces'])).split(/\s+/).includes(name));
  assert.equal(await wg(['show', name]), `interface: ${name}\n`);

  // Keys from the real tool.
  const priv = (await wg(['genkey'])).trim();
  const pub = (await wg(['pubkey'], priv + '\n')).trim();
  const peerPub = (await wg(['pubkey'], (await wg(['genkey'])).trim() + '\n')).trim();
  const psk = (await wg(['genpsk'])).trim();
  const privFile = join(work, 'private');
  const pskFile = join(work, 'psk');
  writeFileSync(privFile, priv + '\n', { mode: 0o600 });
  writeFileSync(pskFile, psk + '\n', { mode: 0o600 });

  await step('private-key', async () => {
    await wg(['set', name, 'private-key', privFile]);
    assert.equal(b64(backend.state.privateKey), priv);
    assert.equal((await wg(['show', name, 'public-key'])).trim(), pub, 'wg derives the same public key from what we report');
    assert.equal((await wg(['show', name, 'private-key'])).trim(), priv);
  });

  await step('listen-port', async () => {
    await wg(['set', name, 'listen-port', '51999']);
    assert.equal(backend.state.listenPort, 51999);
    assert.equal(await wg(['show', name, 'listen-port']), '51999\n');
  });

  await step('peer with allowed-ips, endpoint, persistent-keepalive', async () => {
    await wg(['set', name, 'peer', peerPub, 'allowed-ips', '10.0.0.2/32,fd00::2/128', 'endpoint', '127.0.0.1:51821', 'persistent-keepalive', '25']);
    const last = backend.requests.at(-1)!;
    assert.equal(last.peers.length, 1);
    assert.equal(last.peers[0]!.replaceAllowedIps, true, 'wg sends replace_allowed_ips with allowed-ips');
    const p = backend.state.peers[0]!;
    assert.equal(backend.state.peers.length, 1);
    assert.equal(b64(p.publicKey), peerPub);
    assert.deepEqual(p.endpoint, ep('127.0.0.1', 51821));
    assert.deepEqual(p.allowedIps, [
      { ip: ip('10.0.0.2'), cidr: 32 },
      { ip: ip('fd00::2'), cidr: 128 },
    ]);
    assert.equal(p.persistentKeepalive, 25);
    assert.equal(p.presharedKey, null);
  });

  await step('show dump, show, showconf', async () => {
    const p = backend.state.peers[0]!;
    p.rxBytes = 1234;
    p.txBytes = 5678;
    p.lastHandshakeWallMs = 1_700_000_000_123;
    assert.equal(
      await wg(['show', name, 'dump']),
      `${priv}\t${pub}\t51999\toff\n${peerPub}\t(none)\t127.0.0.1:51821\t10.0.0.2/32,fd00::2/128\t1700000000\t1234\t5678\t25\n`,
    );
    const human = await wg(['show', name]);
    assert.match(human, new RegExp(`^interface: ${name}\n  public key: ${pub.replace(/[+/]/g, '\\$&')}\n  private key: \\(hidden\\)\n  listening port: 51999\n\npeer: `));
    assert.ok(human.includes(`peer: ${peerPub}\n  endpoint: 127.0.0.1:51821\n  allowed ips: 10.0.0.2/32, fd00::2/128\n  latest handshake: `));
    // 1234 B = 1.21 KiB, 5678 B = 5.54 KiB (wg prints %.2f of bytes / 1024).
    assert.ok(human.includes('  transfer: 1.21 KiB received, 5.54 KiB sent\n  persistent keepalive: every 25 seconds\n'), human);
    assert.equal(
      await wg(['showconf', name]),
      `[Interface]\nListenPort = 51999\nPrivateKey = ${priv}\n\n[Peer]\nPublicKey = ${peerPub}\nAllowedIPs = 10.0.0.2/32, fd00::2/128\nEndpoint = 127.0.0.1:51821\nPersistentKeepalive = 25\n`,
    );
  });

  await step('preshared-key, IPv6 endpoint, fwmark', async () => {
    await wg(['set', name, 'fwmark', '0x1234', 'peer', peerPub, 'preshared-key', pskFile, 'endpoint', '[fd00::1]:51821']);
    assert.equal(backend.state.fwmark, 0x1234);
    const p = backend.state.peers[0]!;
    assert.equal(b64(p.presharedKey), psk);
    assert.deepEqual(p.endpoint, ep('fd00::1', 51821));
    assert.equal(await wg(['show', name, 'endpoints']), `${peerPub}\t[fd00::1]:51821\n`);
    assert.equal(await wg(['show', name, 'preshared-keys']), `${peerPub}\t${psk}\n`);
    assert.equal(await wg(['show', name, 'fwmark']), '0x1234\n');
    await wg(['set', name, 'fwmark', 'off']);
    assert.equal(backend.state.fwmark, 0);
    assert.equal(await wg(['show', name, 'fwmark']), 'off\n');
  });

  await step('a port the device cannot bind: wg reports EADDRINUSE, nothing changes', async () => {
    backend.busyPorts.add(51998);
    const err = await wgFails(['set', name, 'listen-port', '51998']);
    assert.match(err, /Address already in use/);
    assert.equal(backend.state.listenPort, 51999);
  });

  await step('peer remove', async () => {
    await wg(['set', name, 'peer', peerPub, 'remove']);
    assert.equal(backend.state.peers.length, 0);
    assert.equal(await wg(['show', name, 'peers']), '');
  });

  await step('setconf replaces all peers', async () => {
    await wg(['set', name, 'peer', peerPub, 'allowed-ips', '10.9.9.9/32']);
    const other = (await wg(['pubkey'], (await wg(['genkey'])).trim() + '\n')).trim();
    const conf = join(work, 'wg.conf');
    writeFileSync(conf, `[Interface]\nPrivateKey = ${priv}\nListenPort = 51997\n\n[Peer]\nPublicKey = ${other}\nAllowedIPs = 192.168.50.0/24\n`, { mode: 0o600 });
    await wg(['setconf', name, conf]);
    assert.equal(backend.requests.at(-1)!.replacePeers, true);
    assert.deepEqual(
      backend.state.peers.map((p) => [b64(p.publicKey), p.allowedIps]),
      [[other, [{ ip: ip('192.168.50.0'), cidr: 24 }]]],
    );
    assert.equal(backend.state.listenPort, 51997);
  });

  await step('closing removes the socket', async () => {
    await srv!.close();
    assert.equal(existsSync(`${SYSTEM_SOCKET_DIR}/${name}.sock`), false);
    assert.ok(!(await wg(['show', 'interfaces'])).split(/\s+/).includes(name));
    assert.deepEqual(
      readdirSync(SYSTEM_SOCKET_DIR).filter((f) => f.startsWith(name)),
      [],
    );
  });
});
