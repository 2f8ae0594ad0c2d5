/**
 * The package installs and runs like one (issue 19: "what users expect", and
 * bug 5): `npm pack`, the tarball installed into an empty directory, then
 * `wgts --help`, `wgts demo --once` and a TUN-mode start (as root, in a test
 * namespace) through the installed bin, with nothing in the installed
 * package rebuilt or rewritten at first use; the tarball holds only what
 * runs. And `npx wgts` in this checkout does not rebuild it (tsc, the
 * addon) for each new user: a second user's first run leaves dist/ and the
 * addon untouched.
 *
 * The install is `npm ci --offline` from a lockfile made of this checkout's
 * own (so the dependencies come from the npm cache `npm ci` filled, with no
 * registry traffic); without them in the cache the suite skips loudly.
 */
import { describe, it, beforeAll, afterAll } from 'vitest';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { skipUnlessPresent } from '../harness/interop.js';
import { Netns, waitFor } from '../harness/netns.js';
import { renderConf } from '../interop/wgts-proc.js';
import { encodeKey } from '../../src/crypto/util.js';
import { clampPrivateKey, publicKey } from '../../src/crypto/x25519.js';
import { randomBytes } from 'node:crypto';

const ROOT = resolve('.');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string; dependencies: Record<string, string>; bin: Record<string, string>; engines: Record<string, string> };
const quietNpm = { ...process.env, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' };

function npm(args: string[], cwd: string, env: NodeJS.ProcessEnv = quietNpm, timeout = 600_000): { code: number | null; out: string } {
  const r = spawnSync('npm', args, { cwd, env, encoding: 'utf8', timeout });
  return { code: r.status, out: (r.stdout ?? '') + (r.stderr ?? '') };
}

/** path -> mtime and size of every file under dir: a first use must not change any. */
function snapshot(dir: string): Map<string, string> {
  const m = new Map<string, string>();
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) { const s = statSync(p); m.set(p, `${s.mtimeMs} ${s.size}`); }
    }
  };
  walk(dir);
  return m;
}

function changed(a: Map<string, string>, b: Map<string, string>): string[] {
  const keys = new Set([...a.keys(), ...b.keys()]);
  return [...keys].filter((k) => a.get(k) !== b.get(k));
}

const work = mkdtempSync(join(tmpdir(), 'wgts-pkg-'));
const inst = join(work, 'inst');
let tarball = '';
let installOut = '';
let unavailable: string | null = null;

describe('the npm package', { timeout: 900_000 }, () => {
  beforeAll(() => {
    const packed = npm(['pack', '--ignore-scripts', '--json', '--pack-destination', work], ROOT);
    assert.equal(packed.code, 0, packed.out);
    const name = (JSON.parse(packed.out.slice(packed.out.indexOf('['))) as Array<{ filename: string }>)[0]!.filename;
    tarball = join(work, name);
    // A lockfile for an empty project depending on the tarball, with this checkout's resolved runtime dependencies.
    const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean; devOptional?: boolean }> };
    const spec = `file:../${name}`;
    const packages: Record<string, unknown> = {
      '': { name: 'inst', dependencies: { wgts: spec } },
      'node_modules/wgts': { version: pkg.version, resolved: spec, hasInstallScript: true, license: 'MIT', dependencies: pkg.dependencies, bin: pkg.bin, engines: pkg.engines },
    };
    for (const [k, v] of Object.entries(lock.packages)) if (k.startsWith('node_modules/') && !v.dev && !v.devOptional) packages[k] = v;
    spawnSync('mkdir', ['-p', inst]);
    writeFileSync(join(inst, 'package.json'), JSON.stringify({ name: 'inst', private: true, dependencies: { wgts: spec } }));
    writeFileSync(join(inst, 'package-lock.json'), JSON.stringify({ name: 'inst', lockfileVersion: 3, requires: true, packages }));
    const r = npm(['ci', '--offline', '--foreground-scripts'], inst);
    installOut = r.out;
    if (r.code !== 0 && /ENOTCACHED/.test(r.out)) unavailable = 'the dependencies are not in the npm cache (run npm ci in the checkout first)';
    else assert.equal(r.code, 0, r.out);
  });

  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('the tarball holds the compiled CLI and library, the addon sources and nothing else', () => {
    const list = spawnSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map((f) => f.replace(/^package\//, ''));
    assert.ok(list.includes('dist/src/cli/main.js') && list.includes('dist/src/lib/index.d.ts') && list.includes('native/tun.c') && list.includes('native/build.mjs'), list.join('\n'));
    const extra = list.filter((f) => !/^dist\/src\/.*\.(js|d\.ts)$/.test(f) && !/^native\/(tun\.c|udp\.c|napi_util\.h|binding\.gyp|build\.mjs)$/.test(f) && !/^(README\.md|package\.json|LICENSE|systemd\/.*|docs\/service\.md)$/.test(f));
    assert.deepEqual(extra, [], 'files that do not belong in the package');
  });

  it('installs into an empty directory, building the addon once, and runs --help, demo and a TUN start without rebuilding', { skip: skipUnlessPresent(unavailable) }, async () => {
    if (unavailable) return;
    assert.match(installOut, /wgts: TUN addon built/, installOut);
    const dir = join(inst, 'node_modules', 'wgts');
    const bin = join(inst, 'node_modules', '.bin', 'wgts');
    const before = snapshot(dir);
    const help = spawnSync(bin, ['--help'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /Available subcommands/);
    const demo = spawnSync(bin, ['demo', '--once'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(demo.status, 0, demo.stdout + demo.stderr);
    assert.match(demo.stdout, /-> 200, "Hello from home"/);
    if (process.getuid?.() === 0 && existsSync('/dev/net/tun')) {
      const ns = await Netns.create('pkg');
      try {
        const k = clampPrivateKey(randomBytes(32));
        const conf = join(work, 'wg0.conf');
        writeFileSync(conf, renderConf({ privateKey: encodeKey(k), listenPort: 51890, addresses: ['10.95.0.1/24'], peers: [{ publicKey: encodeKey(publicKey(clampPrivateKey(randomBytes(32)))), allowedIps: ['10.95.0.2/32'] }] }), { mode: 0o600 });
        const p = ns.spawn([bin, 'up', conf, '--tun', '--interface', `wgtspkg${process.pid % 1000}`], { label: 'installed wgts' });
        await waitFor(() => { p.assertRunning(); return p.output().includes('UAPI socket'); }, 30_000, 'the installed wgts to start in TUN mode');
        assert.match(p.output(), /TUN mode \(--tun\)/);
        assert.equal((await p.stop(8000)).code, 0, p.output());
      } finally {
        await ns.destroy();
      }
    } else {
      skipUnlessPresent('root and /dev/net/tun for the TUN-mode start of the installed package');
    }
    assert.deepEqual(changed(before, snapshot(dir)), [], 'the first use rewrote files of the installed package');
  });

  it("the installed library: import { Tunnel } from 'wgts', fetch, connect, createServer, createSocket, close() and the process exits by itself", { skip: skipUnlessPresent(unavailable) }, () => {
    if (unavailable) return;
    const [ka, kb] = [clampPrivateKey(randomBytes(32)), clampPrivateKey(randomBytes(32))];
    const conf = (k: Uint8Array, me: string, peer: Uint8Array, them: string, port: string) =>
      `[Interface]\nPrivateKey = ${encodeKey(k)}\nAddress = ${me}/24\n${port}\n[Peer]\nPublicKey = ${encodeKey(publicKey(peer))}\nAllowedIPs = ${them}/32\n`;
    writeFileSync(join(inst, 'app.mjs'), `
import { Tunnel } from 'wgts';
import { createServer } from 'node:http';
import { once } from 'node:events';
const [ca, cb] = JSON.parse(process.argv[2]);
const a = await Tunnel.start(ca, { name: 'pkga', listenAddress: '127.0.0.1' });
const b = await Tunnel.start(cb.replace('PORT', a.listenPort), { name: 'pkgb', listenAddress: '127.0.0.1' });
const web = createServer((req, res) => res.end('page ' + req.url));
await once(a.createServer((s) => web.emit('connection', s)).listen(80), 'listening');
await once(a.createServer((s) => s.pipe(s)).listen(7), 'listening');
const u = a.createSocket('udp4');
u.on('message', (m, r) => u.send(m, r.port, r.address));
await new Promise((r) => u.bind(7, r));
const res = await b.fetch('http://10.96.0.1/x');
const page = await res.text();
const s = b.connect(7, '10.96.0.1');
s.end('echo');
let echoed = '';
for await (const d of s) echoed += d;
const c = b.createSocket('udp4');
c.send('dgram', 7, '10.96.0.1');
const [m] = await once(c, 'message');
console.log(JSON.stringify({ page, echoed, dgram: m.toString() }));
web.close();
await b.close();
await a.close();
`);
    const cfgs = [conf(ka, '10.96.0.1', kb, '10.96.0.2', 'ListenPort = 0'), conf(kb, '10.96.0.2', ka, '10.96.0.1', '') + 'Endpoint = 127.0.0.1:PORT\nPersistentKeepalive = 25\n'];
    const r = spawnSync(process.execPath, ['app.mjs', JSON.stringify(cfgs)], { cwd: inst, encoding: 'utf8', timeout: 90_000 });
    assert.equal(r.status, 0, `exit ${r.status} signal ${r.signal}: ${r.stderr}`);
    assert.deepEqual(JSON.parse(r.stdout.trim()), { page: 'page /x', echoed: 'echo', dgram: 'dgram' });
  });

  it('npx wgts in the checkout does not rebuild it for a new user', { skip: skipUnlessPresent(unavailable) }, () => {
    if (unavailable) return;
    const watched = [join(ROOT, 'dist', 'src', 'cli', 'main.js'), join(ROOT, 'native', 'build', 'Release', 'wgts_tun.node'), join(ROOT, 'dist', '.built')];
    const mtimes = (): string[] => watched.map((f) => (existsSync(f) ? String(statSync(f).mtimeMs) : 'missing'));
    const asUser = (n: number) => {
      const home = join(work, `user${n}`);
      spawnSync('mkdir', ['-p', home]);
      return npm(['exec', '--offline', '--no-install', '--', 'wgts', '--version'], ROOT, { ...quietNpm, HOME: home, npm_config_cache: join(home, '.npm') });
    };
    const first = asUser(1); // may build what is out of date
    assert.equal(first.code, 0, first.out);
    const was = mtimes();
    const second = asUser(2);
    assert.equal(second.code, 0, second.out);
    assert.match(second.out, new RegExp(`wgts ${pkg.version.replace(/\./g, '\\.')}`));
    assert.deepEqual(mtimes(), was, `a second user's first npx rebuilt the checkout:\n${second.out}`);
  });
});
