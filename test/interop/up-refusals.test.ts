// `wgts up` refuses what cannot run before starting anything, and says so
// once (issue 19 bugs 3 and 10), as root inside a test namespace:
// - [Forward] Source = client with --tun: one error naming --userspace,
//   "refused; nothing was started", no TUN device, no listener; without a
//   mode it runs in userspace mode and says why;
// - a forward whose port is taken: the reason once, with the address.
import { beforeAll, it } from 'vitest';
import assert from 'node:assert/strict';
import { interopSuite, Netns, genKeyPair, type WgKeyPair } from '../harness/netns.js';
import { CLI, WgtsProc, renderConf, uniqueWgtsName } from './wgts-proc.js';

interopSuite('wgts up refuses a config whole, once, before starting anything', { timeout: 120_000 }, () => {
  let ns: Netns;
  let k: WgKeyPair;
  let peer: WgKeyPair;

  const conf = (extra: string): string => renderConf({
    privateKey: k.privateKey, listenPort: 51880, addresses: ['10.96.0.1/24'],
    peers: [{ publicKey: peer.publicKey, allowedIps: ['10.96.0.2/32'] }], extra,
  });
  const clientForward = '[Forward]\nListen = 0.0.0.0:8088\nTarget = 10.96.0.2:80\nSource = client\n';

  async function up(text: string, args: string[]): Promise<{ code: number | null; out: string; name: string }> {
    const { file } = WgtsProc.writeConf(text);
    const name = uniqueWgtsName();
    const r = await ns.exec([process.execPath, CLI, 'up', file, '--interface', name, ...args], { timeoutMs: 20_000 });
    return { code: r.code, out: r.stdout + r.stderr, name };
  }

  beforeAll(async () => {
    ns = await Netns.create('refuse');
    [k, peer] = await Promise.all([genKeyPair(), genKeyPair()]);
  });

  it('Source = client with --tun: refused once, with --userspace named, and nothing created', async () => {
    const r = await up(conf(clientForward), ['--tun']);
    assert.equal(r.code, 1, r.out);
    assert.equal(r.out.split('\n').filter((l) => l.includes('Source = client')).length, 1, r.out);
    assert.match(r.out, /--userspace/);
    assert.match(r.out, /refused; nothing was started/);
    assert.doesNotMatch(r.out, /: TUN mode \(|listening|UAPI socket|\[#\]/, r.out);
    const links = (await ns.exec(['ip', '-o', 'link', 'show'])).stdout;
    assert.doesNotMatch(links, new RegExp(`${r.name}`), links);
  });

  it('Source = client without a mode: userspace mode, saying why', async () => {
    // No mode flag, as root with /dev/net/tun: auto mode would pick TUN, but this config needs userspace.
    const { file } = WgtsProc.writeConf(conf(clientForward));
    const name = uniqueWgtsName();
    const p = ns.spawn([process.execPath, CLI, 'up', file, '--interface', name], { label: `wgts ${name}` });
    try {
      const deadline = Date.now() + 15_000;
      while (!p.output().includes('UAPI socket') && p.running && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.match(p.output(), /userspace mode \(\[Forward\] tcp:8088 with Source = client needs the userspace stack/, p.output());
    } finally {
      await p.stop(8000);
    }
  });

  it('a forward whose port is taken: the reason once, with the address, and no "started"', async () => {
    // A first wgts holds the port inside the namespace.
    const holder = await WgtsProc.start(ns, conf('[Forward]\nListen = 127.0.0.1:8089\nTarget = 10.96.0.2:80\n'));
    try {
      const r = await up(conf('[Forward]\nListen = 127.0.0.1:8089\nTarget = 10.96.0.2:80\n').replace('51880', '51881'), ['--userspace']);
      assert.equal(r.code, 1, r.out);
      const lines = r.out.split('\n').filter((l) => l.includes('EADDRINUSE'));
      assert.equal(lines.length, 1, r.out);
      assert.match(lines[0]!, /127\.0\.0\.1:8089\/tcp/);
      assert.doesNotMatch(r.out, /started forward/);
    } finally {
      await holder.stop();
    }
  });

  it('cleans up', async () => {
    await ns.destroy();
  });
});
