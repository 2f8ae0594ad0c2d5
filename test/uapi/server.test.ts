// The UNIX-socket driver in a private temporary directory (no root needed):
// requests over a real socket, permissions, refusing a live socket, replacing
// a stale one, cleanup on close, the removal signal, and the client helper.
import { test, type TestContext } from 'vitest';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { socketDirs, startUapiServer, uapiClient, userSocketDir, validInterfaceName } from '../../src/uapi/server.js';
import { serializeGet } from '../../src/uapi/protocol.js';
import { InMemoryTestBackend } from './fake-backend.js';
import { exec } from '../harness/exec.js';
import { skipOrFail } from '../harness/interop.js';

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'wgts-uapi-test-'));
  t.onTestFinished(async () => { await rmSync(dir, { recursive: true, force: true }); });
  return dir;
}

/** Raw exchange: write `data`, optionally half-close, collect everything until the server closes. */
function rawExchange(path: string, data: string | Buffer, halfClose: boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ path, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    s.on('connect', () => {
      s.write(data);
      if (halfClose) s.end();
    });
    s.on('data', (b: Buffer) => chunks.push(b));
    s.on('end', () => s.end()); // the server hung up: finish our side too
    s.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
    s.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' || e.code === 'EPIPE' ? undefined : reject(e)));
  });
}

test('serves get and set over the socket; socket is owner-only; close removes it', async (t) => {
  const dir = tempDir(t);
  const b = new InMemoryTestBackend();
  const srv = await startUapiServer('wgtest0', b, { dir });
  assert.equal(srv.path, join(dir, 'wgtest0.sock'));
  const st = statSync(srv.path);
  assert.ok(st.isSocket());
  assert.equal(st.mode & 0o777, 0o700);

  assert.equal(await uapiClient(srv.path, 'set=1\nlisten_port=4242\n\n'), 'errno=0\n\n');
  assert.equal(b.state.listenPort, 4242);
  const got = await uapiClient(srv.path, 'get=1\n\n');
  assert.equal(got, serializeGet(b.state));
  assert.equal(got, 'listen_port=4242\nerrno=0\n\n');

  await srv.close();
  assert.equal(existsSync(srv.path), false);
  await srv.close(); // idempotent
});

test('several requests on one connection, and a half-closed set still gets its answer', async (t) => {
  const dir = tempDir(t);
  const b = new InMemoryTestBackend();
  const srv = await startUapiServer('wgtest1', b, { dir });
  t.onTestFinished(async () => { await srv.close(); });
  const out = await rawExchange(srv.path, 'set=1\nfwmark=3\n\nget=1\n\nset=1\nlisten_port=9', true);
  assert.equal(out, 'errno=0\n\nfwmark=3\nerrno=0\n\nerrno=0\n\n');
  assert.equal(b.state.listenPort, 9);
  // An unknown operation: the server hangs up without a word.
  assert.equal(await rawExchange(srv.path, 'bogus=1\n', false), '');
  // A bad set: errno, then the server hangs up.
  assert.equal(await rawExchange(srv.path, 'set=1\nlisten_port=x\n\nget=1\n\n', false), 'errno=-22\n\n');
});

test('an endless line is cut off and the connection closed', async (t) => {
  const dir = tempDir(t);
  const srv = await startUapiServer('wgtest2', new InMemoryTestBackend(), { dir });
  t.onTestFinished(async () => { await srv.close(); });
  const out = await new Promise<string>((resolve) => {
    const s = connect({ path: srv.path });
    const chunks: Buffer[] = [];
    const junk = Buffer.alloc(64 * 1024, 0x61);
    let sent = 0;
    const pump = (): void => {
      while (sent < 64 << 20 && !s.destroyed) {
        sent += junk.length;
        if (!s.write(junk)) {
          s.once('drain', pump);
          return;
        }
      }
    };
    s.on('connect', () => {
      s.write('set=1\nx=');
      pump();
    });
    s.on('data', (b: Buffer) => chunks.push(b));
    s.on('error', () => {});
    s.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
  assert.equal(out, 'errno=-5\n\n');
});

test('refuses to start over a live socket, replaces a stale one, leaves non-sockets alone', async (t) => {
  const dir = tempDir(t);
  const first = await startUapiServer('wgtest3', new InMemoryTestBackend(), { dir });
  await assert.rejects(startUapiServer('wgtest3', new InMemoryTestBackend(), { dir }), /in use/);
  assert.equal(await uapiClient(first.path, 'get=1\n\n'), 'errno=0\n\n', 'first server unharmed');
  await first.close();

  // A stale socket: a process that bound the path and died without cleaning up.
  const stale = join(dir, 'wgtest4.sock');
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(stale)}, () => process.exit(0))`], { stdio: 'ignore' });
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`child exit ${code}`))));
  });
  assert.ok(lstatSync(stale).isSocket(), 'stale socket left behind by the dead process');
  const b = new InMemoryTestBackend();
  b.state.listenPort = 77;
  const srv = await startUapiServer('wgtest4', b, { dir });
  assert.equal(await uapiClient(srv.path, 'get=1\n\n'), 'listen_port=77\nerrno=0\n\n');
  await srv.close();

  const file = join(dir, 'wgtest5.sock');
  writeFileSync(file, 'not a socket');
  await assert.rejects(startUapiServer('wgtest5', new InMemoryTestBackend(), { dir }), /not a socket/);
  assert.equal(lstatSync(file).isFile(), true);
});

test('reports deletion of the socket file (the userspace "interface down" signal)', async (t) => {
  const dir = tempDir(t);
  let removed!: () => void;
  const gone = new Promise<void>((r) => (removed = r));
  const srv = await startUapiServer('wgtest6', new InMemoryTestBackend(), { dir, onSocketRemoved: () => removed() });
  t.onTestFinished(async () => { await srv.close(); });
  rmSync(srv.path);
  const timeout = new Promise<never>((_, rej) => setTimeout(() => rej(new Error('no removal callback within 5 s')), 5000).unref());
  await Promise.race([gone, timeout]);
});

test('interface names and socket directories', () => {
  for (const n of ['wg0', 'a', 'wgts-test_1.x', '123456789012345']) assert.equal(validInterfaceName(n), true, n);
  for (const n of ['', '.', '..', 'a/b', 'a b', 'a:b', '1234567890123456', 'tab\there', 'nul\0']) assert.equal(validInterfaceName(n), false, JSON.stringify(n));
  const uid = process.getuid!();
  assert.equal(userSocketDir({ XDG_RUNTIME_DIR: '/run/user/1000' }), '/run/user/1000/wgts');
  assert.equal(userSocketDir({ XDG_RUNTIME_DIR: 'relative' }), `/tmp/wgts-${uid}`);
  assert.equal(userSocketDir({}), `/tmp/wgts-${uid}`);
  assert.deepEqual(socketDirs({ XDG_RUNTIME_DIR: '/run/user/1000' }), ['/var/run/wireguard', '/run/user/1000/wgts', `/tmp/wgts-${uid}`]);
  assert.deepEqual(socketDirs({}), ['/var/run/wireguard', `/tmp/wgts-${uid}`]);
});

test('startUapiServer rejects a bad name before touching the filesystem', async () => {
  await assert.rejects(startUapiServer('../evil', new InMemoryTestBackend()), /invalid interface name/);
});

test('uapiClient: missing socket and a server that hangs up', async (t) => {
  const dir = tempDir(t);
  await assert.rejects(uapiClient(join(dir, 'nope.sock'), 'get=1\n\n'), (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
  const srv = await startUapiServer('wgtest7', new InMemoryTestBackend(), { dir });
  t.onTestFinished(async () => { await srv.close(); });
  await assert.rejects(uapiClient(srv.path, 'nonsense\n'), /without a complete response/);
});

test('without write access to /var/run/wireguard, a private per-user directory is used', async (t) => {
  const runuser = '/usr/sbin/runuser';
  if (process.getuid?.() !== 0 || !existsSync(runuser)) {
    skipOrFail(t, 'needs root and runuser to act as an unprivileged user');
    return;
  }
  const NOBODY = 65534;
  const serverJs = fileURLToPath(new URL('../../src/uapi/server.js', import.meta.url));
  const script =
    `const { startUapiServer, uapiClient } = await import(${JSON.stringify(serverJs)});` +
    `const b = { view: () => ({ privateKey: null, listenPort: 7, fwmark: 0, peers: [] }), apply: () => ({ errno: 0 }) };` +
    `try { const s = await startUapiServer('wgnobody', b); const r = await uapiClient(s.path, 'get=1\\n\\n'); await s.close();` +
    ` console.log(JSON.stringify({ path: s.path, r })); } catch (e) { console.log(JSON.stringify({ error: e.message })); }`;
  const runAsNobody = async (xdg: string): Promise<{ path?: string; r?: string; error?: string }> => {
    const res = await exec([runuser, '-u', 'nobody', '--', process.execPath, '--input-type=module', '-e', script], {
      env: { XDG_RUNTIME_DIR: xdg },
      check: true,
    });
    return JSON.parse(res.stdout.trim()) as { path?: string; r?: string; error?: string };
  };
  const xdg = tempDir(t);
  chmodSync(xdg, 0o700);
  chownSync(xdg, NOBODY, NOBODY);
  const ok = await runAsNobody(xdg);
  assert.deepEqual(ok, { path: join(xdg, 'wgts', 'wgnobody.sock'), r: 'listen_port=7\nerrno=0\n\n' });
  assert.equal(statSync(join(xdg, 'wgts')).mode & 0o777, 0o700);
  assert.deepEqual(readdirSync(join(xdg, 'wgts')), [], 'socket removed on close');

  // A directory others can write to is refused.
  chmodSync(join(xdg, 'wgts'), 0o777);
  const refused = await runAsNobody(xdg);
  assert.match(refused.error ?? '', /no group\/other access/);
});
