/**
 * TUN mode against the real kernel, inside network namespaces this file
 * creates (root, /dev/net/tun and the built addon needed; skipped loudly
 * otherwise, failing under WGTS_INTEROP=required):
 *  - an ICMP/ICMPv6 echo request written into a TUN is answered by the
 *    namespace's kernel, and the reply is read back from the TUN;
 *  - full tunnel: with wg-quick's policy rules in place, a UDP socket carrying
 *    SO_MARK (seen by `ss -e`) reaches the endpoint and gets the reply even
 *    with rp_filter=1, while an unmarked one is routed into the TUN;
 *  - teardown leaves nothing: after SIGTERM, after `wgts down` from another
 *    process, and after kill -9 followed by recovery;
 *  - the same config given to the real wg-quick (with wireguard-go) yields the
 *    same `[#]` commands and the same rules, routes and nft ruleset.
 */
import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, existsSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  Netns, vethPair, interopSuite, interopMode, exec, trackPath, waitFor, genKeyPair, which, type Proc,
} from '../harness/netns.js';
import { tunAvailable, openTun, type TunDevice } from '../../src/tun/index.js';
import { icmpv4Echo, icmpv6Echo, inetChecksum } from './packets.js';
import type { ChildJob } from './netns-child.js';

const CHILD = fileURLToPath(new URL('./netns-child.js', import.meta.url));

/** interopSuite plus the TUN addon: skipped loudly (or failing when required) without it. */
function tunSuite(name: string, opts: { timeout: number; needs?: string[] }, fn: () => void): void {
  const t = tunAvailable();
  if (!t.ok) {
    if (interopMode() === 'required') {
      describe(name, () => it('TUN prerequisites (WGTS_INTEROP=required)', () => {
        throw new Error(`TUN tests are required but cannot run: ${t.why}`);
      }));
    } else {
      process.stderr.write(`SKIP tun: ${t.why} (suite "${name}"; set WGTS_INTEROP=required to make this fail)\n`);
      describe(name, () => it.skip(`TUN prerequisites: ${t.why}`, () => {}));
    }
    return;
  }
  interopSuite(name, opts, fn);
}

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'wgts-tun-'));
  trackPath(d);
  return d;
}

function startChild(ns: Netns, job: ChildJob, label: string): Proc {
  const dir = tempDir();
  const file = join(dir, 'job.json');
  writeFileSync(file, JSON.stringify(job), { mode: 0o600 });
  const p = ns.spawn([process.execPath, CHILD, file], { label });
  // One-shot modes end by themselves; up-hold ends when a test stops it: no "exited unexpectedly" noise.
  p.stopping = job.mode !== 'echo';
  return p;
}

/** The `@@ {json}` reports a child printed so far. */
function reports(p: Proc): Record<string, unknown>[] {
  return p.output().split('\n').filter((l) => l.startsWith('@@ ')).map((l) => JSON.parse(l.slice(3)) as Record<string, unknown>);
}

async function report(p: Proc, key: string, ms = 15_000): Promise<Record<string, unknown>> {
  let found: Record<string, unknown> | undefined;
  await waitFor(() => {
    const rs = reports(p);
    const err = rs.find((r) => 'error' in r);
    if (err) throw new Error(`${p.label}: ${String(err['error'])}\n${p.output()}`);
    found = rs.find((r) => key in r);
    if (!found) p.assertRunning();
    return found !== undefined;
  }, ms, `${p.label} to report ${key}`);
  return found!;
}

/** What wg-quick and wgts change: rules, routes, nft ruleset, the interface. Link-local noise removed. */
async function snapshot(ns: Netns, ifname: string): Promise<Record<string, string>> {
  const q = async (cmd: string[]): Promise<string> => {
    const r = await ns.exec(cmd);
    return r.code === 0 ? r.stdout : `(exit ${r.code})`;
  };
  const clean = (s: string) => s.split('\n').filter((l) => l && !/fe80|ff00::\/8/.test(l)).map((l) => l.replace(/\s+/g, ' ').trim()).join('\n');
  const link = await ns.exec(['ip', '-o', 'link', 'show', 'dev', ifname]);
  return {
    rules4: clean(await q(['ip', '-4', 'rule', 'show'])),
    rules6: clean(await q(['ip', '-6', 'rule', 'show'])),
    routes4: clean(await q(['ip', '-4', 'route', 'show', 'table', 'all'])),
    routes6: clean(await q(['ip', '-6', 'route', 'show', 'table', 'all'])),
    nft: clean(await q(['nft', 'list', 'ruleset'])),
    addrs: link.code === 0 ? clean((await q(['ip', '-o', 'addr', 'show', 'dev', ifname])).replace(/valid_lft.*$/gm, '')) : '(no link)',
    mtu: link.code === 0 ? (/mtu (\d+)/.exec(link.stdout)?.[1] ?? '?') : '(no link)',
  };
}

let nameCounter = 0;
/** Unique machine-wide (wireguard-go's UAPI socket directory is shared). */
const uniqueIf = (): string => `wgt${process.pid.toString(36)}${nameCounter++}`.slice(0, 15);

const noDns = { servers: [], search: [] };
const cidr = (s: string) => {
  const [ip, len] = s.split('/');
  return { ip: ip!, cidr: Number(len), family: (ip!.includes(':') ? 6 : 4) as 4 | 6 };
};

tunSuite('TUN device in a namespace', { timeout: 30_000 }, () => {
  it('kernel answers an ICMP and an ICMPv6 echo request written into the TUN; the replies are read back', async () => {
    const ns = await Netns.create('tunicmp');
    const tun: TunDevice = await openTun('tun0', { netns: ns.name, mtu: 1400 });
    try {
      assert.equal(tun.name, 'tun0');
      assert.equal(tun.mtu, 1400);
      await ns.ip(['addr', 'add', '198.18.40.1/24', 'dev', 'tun0']);
      await ns.ip(['addr', 'add', 'fd77:7767:7473:40::1/64', 'dev', 'tun0', 'nodad']);
      await ns.ip(['link', 'set', 'tun0', 'up']);
      const got: Uint8Array[] = [];
      tun.onPacket((p) => got.push(Uint8Array.from(p)));

      const data4 = new TextEncoder().encode('wgts tun echo v4');
      assert.equal(tun.write(icmpv4Echo('198.18.40.2', '198.18.40.1', 0x4242, 7, data4)), true);
      let reply4: Uint8Array | undefined;
      await waitFor(() => (reply4 = got.find((p) => p[0]! >> 4 === 4 && p[9] === 1 && p[20] === 0)) !== undefined, 3000, 'ICMP echo reply');
      const r4 = reply4!;
      assert.deepEqual([...r4.subarray(12, 16)], [198, 18, 40, 1], 'from the namespace address');
      assert.deepEqual([...r4.subarray(16, 20)], [198, 18, 40, 2], 'back to the sender');
      assert.equal(inetChecksum(r4.subarray(0, 20)), 0, 'IPv4 header checksum valid');
      assert.equal(inetChecksum(r4.subarray(20)), 0, 'ICMP checksum valid');
      assert.equal((r4[24]! << 8) | r4[25]!, 0x4242);
      assert.equal((r4[26]! << 8) | r4[27]!, 7);
      assert.deepEqual(r4.subarray(28), data4);

      const data6 = new TextEncoder().encode('wgts tun echo v6');
      assert.equal(tun.write(icmpv6Echo('fd77:7767:7473:40::2', 'fd77:7767:7473:40::1', 0x4343, 9, data6)), true);
      let reply6: Uint8Array | undefined;
      await waitFor(() => (reply6 = got.find((p) => p[0]! >> 4 === 6 && p[6] === 58 && p[40] === 129)) !== undefined, 3000, 'ICMPv6 echo reply');
      const r6 = reply6!;
      assert.equal((r6[44]! << 8) | r6[45]!, 0x4343);
      assert.equal((r6[46]! << 8) | r6[47]!, 9);
      assert.deepEqual(r6.subarray(48), data6);
      assert.equal(r6[39], 2, 'to fd77:7767:7473:40::2');

      assert.ok(tun.stats.rxPackets >= 2 && tun.stats.txPackets === 2, JSON.stringify(tun.stats));
      await ns.ip(['link', 'set', 'dev', 'tun0', 'mtu', '1280']);
      assert.equal(tun.mtu, 1280, 'mtu follows `ip link set mtu`');
    } finally {
      await tun.close();
    }
    const gone = await ns.exec(['ip', 'link', 'show', 'dev', 'tun0']);
    assert.notEqual(gone.code, 0, 'the interface disappears when the TUN closes');
    await ns.destroy();
  });

  it('write() refuses what the kernel refuses without throwing, and counts it', async () => {
    const ns = await Netns.create('tunbad');
    const tun = await openTun('tun1', { netns: ns.name });
    try {
      await ns.ip(['link', 'set', 'tun1', 'up']);
      assert.equal(tun.write(new Uint8Array([0x12, 0, 0, 0])), false, 'not an IP packet');
      await ns.ip(['link', 'set', 'tun1', 'down']);
      assert.equal(tun.write(icmpv4Echo('198.18.40.2', '198.18.40.1', 1, 1, new Uint8Array(8))), false, 'link down');
      assert.deepEqual(Object.fromEntries(tun.stats.txDrops), { EINVAL: 1, EIO: 1 });
      assert.equal(tun.stats.txPackets, 0);
    } finally {
      await tun.close();
    }
    await ns.destroy();
  });

  it('openTun explains a name that is taken by another kind of interface', async () => {
    const ns = await Netns.create('tunbusy');
    await ns.ip(['link', 'add', 'taken0', 'type', 'veth', 'peer', 'name', 'taken1']);
    await assert.rejects(openTun('taken0', { netns: ns.name }), (e: NodeJS.ErrnoException) => e.code === 'EINVAL' && /another type/.test(e.message));
    const first = await openTun('tun2', { netns: ns.name });
    await assert.rejects(openTun('tun2', { netns: ns.name }), (e: NodeJS.ErrnoException) => e.code === 'EBUSY' && /in use/.test(e.message));
    await first.close();
    await ns.destroy();
  });
});

tunSuite('TUN mode routing: fwmark, policy rules, SO_MARK', { timeout: 60_000, needs: ['nft', 'ss'] }, () => {
  /** Client namespace a (rp_filter=1, default route via b) with a full tunnel, echo server b behind it. */
  async function fullTunnel(label: string, childEnv: Record<string, string> = {}) {
    const a = await Netns.create(label);
    const b = await Netns.create(`${label}s`);
    await vethPair(a, b, { aAddr4: '198.18.41.1/24', bAddr4: '198.18.41.2/24', mtu: 1400 });
    // The endpoint is off-link, behind a's default route (as a VPN server on the Internet), so
    // suppress_prefixlength 0 hides that route from unmarked packets.
    await b.ip(['addr', 'add', '198.18.43.1/32', 'dev', 'lo']);
    await a.ip(['route', 'add', 'default', 'via', '198.18.41.2']);
    // Strict reverse-path filtering: the replies only pass thanks to src_valid_mark + the conntrack mark rules.
    await a.run(['sh', '-c', 'for f in /proc/sys/net/ipv4/conf/*/rp_filter; do echo 1 > $f; done']);
    const before = await snapshot(a, 'wgt0');
    const echo = startChild(b, { mode: 'echo', name: 'x', stateDir: '/nonexistent', iface: null as never, allowedIps: [], endpoints: [], port: 5555, bind: '198.18.43.1' }, 'echo');
    await report(echo, 'ready');
    const stateDir = tempDir();
    const job: ChildJob = {
      mode: 'mark-route',
      name: 'wgt0',
      stateDir,
      iface: {
        addresses: [cidr('10.77.0.2/32'), cidr('fd77:7767:7473:77::2/128')],
        mtu: undefined, dns: noDns, table: undefined, fwMark: undefined, preUp: [], postUp: [], preDown: [], postDown: [],
      },
      allowedIps: [cidr('0.0.0.0/0'), cidr('::/0')],
      endpoints: ['198.18.43.1'],
      peer: '198.18.43.1',
      port: 5555,
    };
    const dir = tempDir();
    writeFileSync(join(dir, 'job.json'), JSON.stringify(job), { mode: 0o600 });
    const child = a.spawn([process.execPath, CHILD, join(dir, 'job.json')], { label: 'mark-route', env: childEnv });
    child.stopping = true;
    const r = await report(child, 'seenOnTun');
    await report(child, 'down');
    await waitFor(() => !child.running, 5000, 'mark-route child to exit');
    const echoed = reports(echo).filter((x) => 'echo' in x).map((x) => x['echo']);
    return { a, r, out: child.output(), echoed, before, stateDir };
  }

  it('full tunnel: the marked socket reaches the endpoint (rp_filter=1), the unmarked one enters the TUN; down restores everything', async () => {
    const { a, r, out, echoed, before, stateDir } = await fullTunnel('tunc');
    assert.equal(r['fwmark'], 51820, out);
    assert.match(String(r['ss']), /fwmark:0xca6c/, 'ss -e shows the mark on the marked socket');
    assert.doesNotMatch(String(r['ssUnmarked']), /fwmark/);
    assert.match(String(r['routeMarked']), /dev veth/);
    assert.match(String(r['routeUnmarked']), /dev wgt0/);
    assert.deepEqual(r['replies'], ['marked'], 'the echo of the marked datagram came back through the main table');
    assert.ok((r['seenOnTun'] as string[]).includes('unmarked'), 'the unmarked datagram was routed into the TUN');
    assert.ok(!(r['seenOnTun'] as string[]).includes('marked'));
    assert.ok(echoed.includes('marked') && !echoed.includes('unmarked'), JSON.stringify(echoed));
    // The MTU came from the route to the endpoint: veth 1400 - 80.
    assert.match(out, /\[#\] ip link set mtu 1320 up dev wgt0/);
    assert.deepEqual(await snapshot(a, 'wgt0'), before, 'rules, routes, nft ruleset back to what they were');
    assert.equal(existsSync(join(stateDir, 'wgt0.state')), false);
  });

  it('why the firewall part matters: without nft (or iptables) the replies die in strict rp_filter, and wgts says so', async () => {
    // A PATH with ip, ss, sysctl and shells but no nft/iptables.
    const bin = tempDir();
    for (const tool of ['ip', 'ss', 'sysctl', 'bash', 'sh']) {
      const p = which(tool);
      if (p) symlinkSync(p, join(bin, tool));
    }
    const { r, out, echoed } = await fullTunnel('tunnonft', { PATH: bin });
    assert.match(out, /\[!\] Warning: neither nft nor iptables-restore found: .*rp_filter is 1 \(strict\), so replies from the endpoint WILL be dropped/);
    assert.ok(echoed.includes('marked'), 'the marked datagram still left through the main table');
    assert.deepEqual(r['replies'], [], 'but its reply was dropped by the reverse-path filter');
  });
});

tunSuite('TUN mode teardown: SIGTERM, wgts down, kill -9 then recovery', { timeout: 90_000, needs: ['nft'] }, () => {
  const job = (stateDir: string, mode: ChildJob['mode']): ChildJob => ({
    mode,
    name: 'wgt1',
    stateDir,
    iface: {
      addresses: [cidr('10.78.0.2/24')],
      mtu: 1380, dns: noDns, table: undefined, fwMark: undefined,
      preUp: [],
      postUp: ['nft add table inet %i-hook'],
      preDown: [],
      postDown: ['nft delete table inet %i-hook'],
    },
    allowedIps: [cidr('0.0.0.0/0'), cidr('10.78.0.0/24'), cidr('198.18.99.0/24')],
    endpoints: [],
  });

  async function setUp(label: string): Promise<{ ns: Netns; before: Record<string, string>; dir: string; proc: Proc; during: Record<string, string> }> {
    const ns = await Netns.create(label);
    const before = await snapshot(ns, 'wgt1');
    const dir = tempDir();
    const proc = startChild(ns, job(dir, 'up-hold'), `up-hold ${label}`);
    const ready = await report(proc, 'ready');
    assert.equal(ready['mtu'], 1380);
    assert.equal(ready['tunMtu'], 1380, 'the TUN sees the MTU wg-quick set');
    const during = await snapshot(ns, 'wgt1');
    assert.match(during.rules4, /not from all fwmark 0xca6c lookup 51820/);
    assert.match(during.nft, /table ip wg-quick-wgt1/);
    assert.match(during.nft, /table inet wgt1-hook/, 'PostUp ran with %i');
    assert.match(during.routes4, /198\.18\.99\.0\/24 dev wgt1/);
    assert.doesNotMatch(during.routes4, /10\.78\.0\.0\/24 dev wgt1 scope link\n/, 'no second route for the connected subnet');
    assert.ok(existsSync(join(dir, 'wgt1.state')));
    return { ns, before, dir, proc, during };
  }

  it('SIGTERM: the process tears down (PreDown, rules, link, firewall, PostDown) and removes its state file', async () => {
    const { ns, before, dir, proc } = await setUp('tunterm');
    await proc.stop(10_000);
    const d = reports(proc).find((r) => 'down' in r);
    assert.deepEqual(d?.['errors'], [], proc.output());
    assert.deepEqual(await snapshot(ns, 'wgt1'), before);
    assert.equal(existsSync(join(dir, 'wgt1.state')), false);
  });

  it('`wgts down` from another process: SIGTERM to the owner, which cleans up', async () => {
    const { ns, before, dir, proc } = await setUp('tundown');
    const down = startChild(ns, job(dir, 'down'), 'down');
    const r = await report(down, 'result');
    assert.equal(r['result'], 'stopped', down.output());
    await waitFor(() => !proc.running, 5000, 'owner to exit');
    assert.deepEqual(await snapshot(ns, 'wgt1'), before);
  });

  it('kill -9 leaves rules and nft tables behind (the TUN itself goes); the next up/down undoes them', async () => {
    const { ns, before, dir, proc } = await setUp('tunkill');
    proc.signal('SIGKILL');
    await proc.exited;
    const left = await snapshot(ns, 'wgt1');
    assert.equal(left.addrs, '(no link)', 'the kernel removed the TUN with its fd');
    assert.match(left.rules4, /lookup 51820/, 'the policy rules survive a crash');
    assert.match(left.nft, /wg-quick-wgt1/);
    const rec = startChild(ns, job(dir, 'recover'), 'recover');
    const r = await report(rec, 'result');
    assert.equal(r['result'], 'recovered', rec.output());
    assert.deepEqual(r['errors'], []);
    assert.match(rec.output(), /\[!\] wgts for wgt1 \(pid \d+\) did not shut down; undoing what it set up/);
    assert.match(rec.output(), /\[#\] nft delete table inet wgt1-hook/, 'PostDown ran in recovery');
    assert.deepEqual(await snapshot(ns, 'wgt1'), before);
    assert.equal(existsSync(join(dir, 'wgt1.state')), false);
  });
});

tunSuite('TUN mode vs the real wg-quick (kernel WireGuard or wireguard-go)', { timeout: 90_000, needs: ['wg-quick', 'nft', 'bash'] }, () => {
  it('same [#] commands and the same rules, routes, addresses, MTU and nft ruleset after up; both clean after down', async () => {
    const name = uniqueIf();
    const [me, peer] = [await genKeyPair(), await genKeyPair()];
    const conf = (extra: string) => `[Interface]
PrivateKey = ${me.privateKey}
Address = 10.66.0.2/32, fd77:7767:7473:66::2/128
PostUp = nft add table inet %i-hook
PostDown = nft delete table inet %i-hook
${extra}
[Peer]
PublicKey = ${peer.publicKey}
Endpoint = 198.18.42.2:51820
AllowedIPs = 0.0.0.0/0, ::/0, 10.99.0.0/16
`;
    const nsQ = await Netns.create('wgquick');
    const nsW = await Netns.create('wgtsq');
    for (const ns of [nsQ, nsW]) {
      // A veth with both ends here (this kernel may lack the dummy driver) as the uplink.
      await ns.ip(['link', 'add', 'up0', 'type', 'veth', 'peer', 'name', 'up1']);
      await ns.ip(['addr', 'add', '198.18.42.1/24', 'dev', 'up0']);
      await ns.ip(['link', 'set', 'up0', 'mtu', '1400', 'up']);
      await ns.ip(['link', 'set', 'up1', 'up']);
    }
    const before = await snapshot(nsQ, name);
    const dir = tempDir();
    const confFile = join(dir, `${name}.conf`);
    writeFileSync(confFile, conf(''), { mode: 0o600 });
    trackPath(`/var/run/wireguard/${name}.sock`);
    const env = { WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1', WG_QUICK_USERSPACE_IMPLEMENTATION: which('wireguard-go')! };
    try {
      const upQ = await nsQ.exec(['wg-quick', 'up', confFile], { env, timeoutMs: 20_000 });
      assert.equal(upQ.code, 0, upQ.stderr);

      const stateDir = tempDir();
      const child = startChild(nsW, {
        mode: 'up-hold', name, stateDir,
        iface: {
          addresses: [cidr('10.66.0.2/32'), cidr('fd77:7767:7473:66::2/128')],
          mtu: undefined, dns: noDns, table: undefined, fwMark: undefined,
          preUp: [], postUp: ['nft add table inet %i-hook'], preDown: [], postDown: ['nft delete table inet %i-hook'],
        },
        allowedIps: [cidr('0.0.0.0/0'), cidr('::/0'), cidr('10.99.0.0/16')],
        endpoints: ['198.18.42.2'],
      }, 'wgts up-hold');
      await report(child, 'ready');

      const ours = child.output().split('\n').filter((l) => l.startsWith('[#] '));
      const theirs = upQ.stderr.split('\n').filter((l) => l.startsWith('[#] '))
        .filter((l) => !/^\[#\] (ip link add (dev )?\S+ type wireguard|\S*wireguard-go \S+|wg setconf \S+ \/dev\/fd\/\d+)$/.test(l))
        .map((l) => l.replace(/ \/dev\/fd\/\d+$/, ' /dev/stdin'));
      // Same commands; the order inside add_default differs between wireguard-tools releases
      // (Debian's 1.0.20210914 adds the table route before the rules, upstream after), so compare as multisets.
      assert.deepEqual([...ours].sort(), [...theirs].sort(), `wgts:\n${ours.join('\n')}\nwg-quick:\n${theirs.join('\n')}`);

      const sQ = await snapshot(nsQ, name);
      const sW = await snapshot(nsW, name);
      assert.deepEqual(sW, sQ);
      assert.equal(sW.mtu, '1320');

      const downQ = await nsQ.exec(['wg-quick', 'down', confFile], { env, timeoutMs: 20_000 });
      assert.equal(downQ.code, 0, downQ.stderr);
      await child.stop(10_000);
      const oursDown = child.output().split('\n').filter((l) => l.startsWith('[#] ')).slice(ours.length);
      const theirsDown = downQ.stderr.split('\n').filter((l) => l.startsWith('[#] ')).map((l) => l.replace(/ \/dev\/fd\/\d+$/, ' /dev/stdin'));
      assert.deepEqual(oursDown, theirsDown, 'cmd_down order');
      assert.deepEqual(await snapshot(nsQ, name), before);
      assert.deepEqual(await snapshot(nsW, name), before);
    } finally {
      // wireguard-go daemonized itself inside nsQ: end it by PID if wg-quick down did not.
      const pids = await exec(['ip', 'netns', 'pids', nsQ.name]);
      for (const pid of pids.stdout.split('\n').map(Number).filter((n) => n > 0)) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          /* gone */
        }
      }
    }
  });
});

