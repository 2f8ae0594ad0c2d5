/**
 * The wg-quick steps, recorded without running anything (FakeRunner): for
 * each config the `[#]` lines and stdin must be what wireguard-tools
 * src/wg-quick/linux.bash (upstream master) prints and feeds for the same
 * system answers. The expected lines are written from reading that script
 * (cmd_up, set_mtu_up, set_dns, add_route, add_default, del_if, cmd_down).
 */
import { describe, it } from 'vitest';
import { skipUnlessPresent } from '../harness/interop.js';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, formatIssue, type WgConfig } from '../../src/config/index.js';
import { WgQuick, StateFile, StepError, recoverStale, assertInterfaceAbsent, type TunState } from '../../src/tun/index.js';
import { routeOrder } from '../../src/tun/plan.js';
import { KEYS } from '../config/helpers.js';
import { FakeRunner } from './fake-runner.js';

function conf(text: string, name = 'wg0'): WgConfig {
  const r = parseConfig(`/etc/wireguard/${name}.conf`, text);
  if (!r.ok) assert.fail(r.errors.map(formatIssue).join('\n'));
  return r.config;
}

interface Rig {
  wq: WgQuick;
  runner: FakeRunner;
  lines: string[];
  marks: number[];
  events: string[];
}

function rig(cfg: WgConfig, runner: FakeRunner, opts: { endpoints?: string[]; state?: StateFile } = {}): Rig {
  const lines: string[] = [];
  const marks: number[] = [];
  const events: string[] = [];
  const wq = new WgQuick({
    name: cfg.interfaceName,
    iface: cfg.iface,
    allowedIps: cfg.peers.flatMap((p) => p.allowedIps),
    runner,
    log: (l) => {
      lines.push(l);
      events.push(l);
    },
    setFwmark: (m) => marks.push(m),
    endpoints: () => opts.endpoints ?? [],
    state: opts.state ?? null,
  });
  return { wq, runner, lines, marks, events };
}

const ETH0 = '2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc fq_codel state UP mode DEFAULT group default qlen 1000\n    link/ether 52:54:00:12:34:56 brd ff:ff:ff:ff:ff:ff\n';
const WLAN0 = '3: wlan0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1400 qdisc noqueue state UP mode DORMANT group default qlen 1000\n';
/** Debian's /etc/resolvconf/interface-order (resolvconf 1.91). */
const INTERFACE_ORDER = '# interface-order(5)\nlo.inet6\nlo.inet\nlo.@(dnsmasq|pdnsd)\nlo.!(pdns|pdns-recursor)\nlo\ntun*\ntap*\nhso*\nem+([0-9])?(_+([0-9]))*\np+([0-9])p+([0-9])?(_+([0-9]))*\n@(br|eth)*([^.]).inet6\n@(br|eth)*([^.]).ip6.@(dhclient|dhcpcd|pump|udhcpc)\n@(br|eth)*([^.]).inet\n@(br|eth)*([^.]).@(dhclient|dhcpcd|pump|udhcpc)\n@(br|eth)*\n@(ath|wifi|wlan)*([^.]).inet6\n@(ath|wifi|wlan)*([^.]).wireless-tools\n@(ath|wifi|wlan)*\n*\n';

const VPS = `[Interface]
PrivateKey = ${KEYS.serverPriv}
ListenPort = 51820
Address = 10.0.0.1/24, fd00:a::1/64
PostUp = nft add table ip %i-nat; nft add chain ip %i-nat pre '{ type nat hook prerouting priority -100; }'; nft add rule ip %i-nat pre iifname eth0 tcp dport 8080 dnat to 10.0.0.2:8080
PostDown = nft delete table ip %i-nat

[Peer]
PublicKey = ${KEYS.laptopPub}
AllowedIPs = 10.0.0.2/32, 192.168.50.0/24, fd00:a::2/128

[Peer]
PublicKey = ${KEYS.phonePub}
AllowedIPs = 10.0.0.3/32
`;

function vpsRunner(): FakeRunner {
  const r = new FakeRunner();
  r.programs.add('nft');
  r.answer('ip route show default', 'default via 203.0.113.1 dev eth0 proto static \n');
  r.answer('ip link show dev eth0', ETH0);
  for (const p of ['10.0.0.2/32', '10.0.0.3/32']) r.answer(`ip -4 route show dev wg0 match ${p}`, '10.0.0.0/24 proto kernel scope link src 10.0.0.1 \n');
  r.answer('ip -6 route show dev wg0 match fd00:a::2/128', 'fd00:a::/64 proto kernel metric 256 pref medium\n');
  r.answer('nft list tables', 'table ip wg0-nat\n');
  return r;
}

const FULL = `[Interface]
PrivateKey = ${KEYS.phonePriv}
Address = 10.8.0.2/32, fd00:8::2/128
DNS = 10.8.0.1, fd00:8::1, home.arpa

[Peer]
PublicKey = ${KEYS.serverPub}
Endpoint = vpn.example.com:51820
AllowedIPs = 0.0.0.0/0, ::/0
PersistentKeepalive = 25
`;

const RULES6_BOTH = '0:\tfrom all lookup local\n32764:\tfrom all lookup main suppress_prefixlength 0\n32765:\tnot from all fwmark 0xca6d lookup 51821\n32766:\tfrom all lookup main\n';
const RULES6_SUPPRESS = '0:\tfrom all lookup local\n32764:\tfrom all lookup main suppress_prefixlength 0\n32766:\tfrom all lookup main\n';
const RULES6_BASE = '0:\tfrom all lookup local\n32766:\tfrom all lookup main\n';
const RULES4_BOTH = '0:\tfrom all lookup local\n32764:\tfrom all lookup main suppress_prefixlength 0\n32765:\tnot from all fwmark 0xca6d lookup 51821\n32766:\tfrom all lookup main\n32767:\tfrom all lookup default\n';
const RULES4_SUPPRESS = '0:\tfrom all lookup local\n32764:\tfrom all lookup main suppress_prefixlength 0\n32766:\tfrom all lookup main\n32767:\tfrom all lookup default\n';
const RULES4_BASE = '0:\tfrom all lookup local\n32766:\tfrom all lookup main\n32767:\tfrom all lookup default\n';

function fullRunner(): FakeRunner {
  const r = new FakeRunner();
  for (const p of ['nft', 'resolvconf', 'sysctl']) r.programs.add(p);
  r.files.set('/etc/resolvconf/interface-order', INTERFACE_ORDER);
  r.files.set('/proc/sys/net/ipv4/conf/all/src_valid_mark', '0\n');
  r.answer('ip route get 203.0.113.5', '203.0.113.5 via 192.168.1.1 dev wlan0 src 192.168.1.20 uid 0 \n    cache \n');
  r.answer('ip link show dev wlan0', WLAN0);
  // Table 51820 is taken by something else: wg-quick moves on to 51821.
  r.answer('ip -4 route show table 51820', 'default dev other0 scope link \n');
  r.answer('ip -o -4 addr show dev wg0', '5: wg0    inet 10.8.0.2/32 scope global wg0\\       valid_lft forever preferred_lft forever\n');
  r.answer('ip -o -6 addr show dev wg0', '5: wg0    inet6 fd00:8::2/128 scope global \\       valid_lft forever preferred_lft forever\n');
  return r;
}

const nft6 = `add table ip6 wg-quick-wg0
add chain ip6 wg-quick-wg0 preraw { type filter hook prerouting priority -300; }
add chain ip6 wg-quick-wg0 premangle { type filter hook prerouting priority -150; }
add chain ip6 wg-quick-wg0 postmangle { type filter hook postrouting priority -150; }
add rule ip6 wg-quick-wg0 preraw iifname != "wg0" ip6 daddr fd00:8::2 fib saddr type != local drop
add rule ip6 wg-quick-wg0 postmangle meta l4proto udp mark 51821 ct mark set mark 
add rule ip6 wg-quick-wg0 premangle meta l4proto udp meta mark set ct mark 
`;
const nft4 = `add table ip wg-quick-wg0
add chain ip wg-quick-wg0 preraw { type filter hook prerouting priority -300; }
add chain ip wg-quick-wg0 premangle { type filter hook prerouting priority -150; }
add chain ip wg-quick-wg0 postmangle { type filter hook postrouting priority -150; }
add rule ip wg-quick-wg0 preraw iifname != "wg0" ip daddr 10.8.0.2 fib saddr type != local drop
add rule ip wg-quick-wg0 postmangle meta l4proto udp mark 51821 ct mark set mark 
add rule ip wg-quick-wg0 premangle meta l4proto udp meta mark set ct mark 
`;

describe('wg-quick steps: VPS with a port-forward PostUp', () => {
  it('adds addresses, MTU from the default route, a route only for prefixes outside the subnets, PostUp with %i', async () => {
    const r = rig(conf(VPS), vpsRunner());
    const up = await r.wq.up();
    assert.deepEqual(r.lines, [
      '[#] ip -4 address add 10.0.0.1/24 dev wg0',
      '[#] ip -6 address add fd00:a::1/64 dev wg0',
      '[#] ip link set mtu 1420 up dev wg0',
      '[#] ip -4 route add 192.168.50.0/24 dev wg0',
      "[#] nft add table ip wg0-nat; nft add chain ip wg0-nat pre '{ type nat hook prerouting priority -100; }'; nft add rule ip wg0-nat pre iifname eth0 tcp dport 8080 dnat to 10.0.0.2:8080",
    ]);
    assert.deepEqual(r.runner.hooks, [
      "nft add table ip wg0-nat; nft add chain ip wg0-nat pre '{ type nat hook prerouting priority -100; }'; nft add rule ip wg0-nat pre iifname eth0 tcp dport 8080 dnat to 10.0.0.2:8080",
    ]);
    assert.deepEqual(up, { mtu: 1420, fwmark: null });
    assert.deepEqual(r.marks, []);
  });

  it('down: link, then PostDown; the user\'s own nft table is not touched by remove_firewall', async () => {
    const r = rig(conf(VPS), vpsRunner());
    await r.wq.up();
    r.lines.length = 0;
    const errors = await r.wq.down();
    assert.deepEqual(errors, []);
    assert.deepEqual(r.lines, ['[#] ip link delete dev wg0', '[#] nft delete table ip wg0-nat']);
    assert.equal(r.runner.calls.filter((c) => c.argv[0] === 'nft' && c.argv[1] === '-f').length, 0);
  });
});

describe('wg-quick steps: full-tunnel client (0.0.0.0/0 and ::/0)', () => {
  it('fwmark + table + suppress_prefixlength rules per family, firewall, DNS through resolvconf', async () => {
    const r = rig(conf(FULL), fullRunner(), { endpoints: ['203.0.113.5'] });
    const up = await r.wq.up();
    assert.deepEqual(r.lines, [
      '[#] ip -4 address add 10.8.0.2/32 dev wg0',
      '[#] ip -6 address add fd00:8::2/128 dev wg0',
      '[#] ip link set mtu 1320 up dev wg0',
      '[#] resolvconf -a tun.wg0 -m 0 -x',
      '[#] wg set wg0 fwmark 51821',
      '[#] ip -6 rule add not fwmark 51821 table 51821',
      '[#] ip -6 rule add table main suppress_prefixlength 0',
      '[#] ip -6 route add ::/0 dev wg0 table 51821',
      '[#] nft -f /dev/stdin',
      '[#] ip -4 rule add not fwmark 51821 table 51821',
      '[#] ip -4 rule add table main suppress_prefixlength 0',
      '[#] ip -4 route add 0.0.0.0/0 dev wg0 table 51821',
      '[#] sysctl -q net.ipv4.conf.all.src_valid_mark=1',
      '[#] nft -f /dev/stdin',
    ]);
    assert.equal(r.runner.inputOf('resolvconf -a tun.wg0 -m 0 -x'), 'nameserver 10.8.0.1\nnameserver fd00:8::1\nsearch home.arpa\n');
    assert.equal(r.runner.inputOf('nft -f /dev/stdin', 0), nft6);
    assert.equal(r.runner.inputOf('nft -f /dev/stdin', 1), nft4);
    assert.deepEqual(r.marks, [51821], 'the socket mark is set once, to the table wg-quick picked');
    assert.deepEqual(up, { mtu: 1320, fwmark: 51821 });
  });

  it('down: rules (IPv4 first, as del_if), link, resolvconf -d, the wg-quick-wg0 nft tables', async () => {
    const runner = fullRunner();
    const r = rig(conf(FULL), runner, { endpoints: ['203.0.113.5'] });
    await r.wq.up();
    r.lines.length = 0;
    runner.answer('ip -4 rule show', RULES4_BOTH, RULES4_SUPPRESS, RULES4_SUPPRESS, RULES4_BASE);
    runner.answer('ip -6 rule show', RULES6_BOTH, RULES6_SUPPRESS, RULES6_SUPPRESS, RULES6_BASE);
    runner.answer('nft list tables', 'table ip6 wg-quick-wg0\ntable ip wg-quick-wg0\ntable inet filter\n');
    assert.deepEqual(await r.wq.down(), []);
    assert.deepEqual(r.lines, [
      '[#] ip -4 rule delete table 51821',
      '[#] ip -4 rule delete table main suppress_prefixlength 0',
      '[#] ip -6 rule delete table 51821',
      '[#] ip -6 rule delete table main suppress_prefixlength 0',
      '[#] ip link delete dev wg0',
      '[#] resolvconf -d tun.wg0 -f',
      '[#] nft -f /dev/stdin',
    ]);
    assert.equal(runner.calls.at(-1)!.input, 'delete table ip6 wg-quick-wg0\ndelete table ip wg-quick-wg0\n');
  });

  it('a configured FwMark is the table; no `wg set`; src_valid_mark already 1 is left alone', async () => {
    const runner = fullRunner();
    runner.files.set('/proc/sys/net/ipv4/conf/all/src_valid_mark', '1\n');
    const r = rig(conf(FULL.replace('DNS = 10.8.0.1, fd00:8::1, home.arpa\n', 'FwMark = 0x1234\n')), runner, { endpoints: ['203.0.113.5'] });
    const up = await r.wq.up();
    assert.deepEqual(up.fwmark, 4660);
    assert.deepEqual(r.marks, []);
    assert.ok(!r.lines.some((l) => l.startsWith('[#] wg set')));
    assert.ok(!r.lines.some((l) => l.includes('sysctl')));
    assert.ok(r.lines.includes('[#] ip -4 rule add not fwmark 4660 table 4660'));
    assert.ok(r.lines.includes('[#] ip -6 route add ::/0 dev wg0 table 4660'));
  });

  it('without nft, iptables-restore / ip6tables-restore get wg-quick\'s rules', async () => {
    const runner = fullRunner();
    runner.programs.delete('nft');
    runner.programs.add('iptables-restore');
    runner.programs.add('ip6tables-restore');
    const r = rig(conf(FULL), runner, { endpoints: ['203.0.113.5'] });
    await r.wq.up();
    assert.ok(r.lines.includes('[#] ip6tables-restore -n'));
    assert.ok(r.lines.includes('[#] iptables-restore -n'));
    assert.equal(
      runner.inputOf('iptables-restore -n'),
      '*raw\n' +
        '-I PREROUTING ! -i wg0 -d 10.8.0.2 -m addrtype ! --src-type LOCAL -j DROP -m comment --comment "wg-quick(8) rule for wg0"\n' +
        'COMMIT\n*mangle\n' +
        '-I POSTROUTING -m mark --mark 51821 -p udp -j CONNMARK --save-mark -m comment --comment "wg-quick(8) rule for wg0"\n' +
        '-I PREROUTING -p udp -j CONNMARK --restore-mark -m comment --comment "wg-quick(8) rule for wg0"\n' +
        'COMMIT\n',
    );
  });

  it('without the sysctl binary, src_valid_mark is written to /proc directly (and logged as such)', async () => {
    const runner = fullRunner();
    runner.programs.delete('sysctl');
    const r = rig(conf(FULL), runner, { endpoints: ['203.0.113.5'] });
    await r.wq.up();
    assert.ok(r.lines.includes('[#] echo 1 > /proc/sys/net/ipv4/conf/all/src_valid_mark'));
    assert.equal(runner.written.get('/proc/sys/net/ipv4/conf/all/src_valid_mark'), '1\n');
    assert.ok(!runner.calls.some((c) => c.argv[0] === 'sysctl'));
  });

  it('without any firewall tool: a warning, and up still succeeds', async () => {
    const runner = fullRunner();
    runner.programs.delete('nft');
    const r = rig(conf(FULL), runner, { endpoints: ['203.0.113.5'] });
    await r.wq.up();
    assert.equal(r.lines.filter((l) => l.startsWith('[!] Warning: neither nft nor')).length, 2);
  });

  it('DNS: resolvconf as a symlink (systemd) gets no prefix; without resolvconf, a warning and no command', async () => {
    const a = fullRunner();
    a.symlinks.add('/usr/sbin/resolvconf');
    const ra = rig(conf(FULL), a, { endpoints: ['203.0.113.5'] });
    await ra.wq.up();
    assert.ok(ra.lines.includes('[#] resolvconf -a wg0 -m 0 -x'));

    const b = fullRunner();
    b.programs.delete('resolvconf');
    const rb = rig(conf(FULL), b, { endpoints: ['203.0.113.5'] });
    await rb.wq.up();
    assert.ok(!rb.runner.calls.some((c) => c.argv[0] === 'resolvconf'));
    assert.match(rb.lines.find((l) => l.startsWith('[!]'))!, /DNS = 10\.8\.0\.1, fd00:8::1 not applied: resolvconf is not installed/);
  });
});

describe('wg-quick steps: Table', () => {
  const base = (table: string) => `[Interface]
PrivateKey = ${KEYS.cliPriv}
Address = 10.9.0.2/24
MTU = 1380
Table = ${table}

[Peer]
PublicKey = ${KEYS.serverPub}
AllowedIPs = 0.0.0.0/0, 10.9.0.0/16
`;

  it('Table = off: addresses and MTU only, no route and no rule even for 0.0.0.0/0', async () => {
    const r = rig(conf(base('off')), new FakeRunner());
    const up = await r.wq.up();
    assert.deepEqual(r.lines, ['[#] ip -4 address add 10.9.0.2/24 dev wg0', '[#] ip link set mtu 1380 up dev wg0']);
    assert.deepEqual(up, { mtu: 1380, fwmark: null });
  });

  it('Table = 1234: every prefix (the default too) goes into table 1234, no policy rules', async () => {
    const r = rig(conf(base('1234')), new FakeRunner());
    await r.wq.up();
    assert.deepEqual(r.lines, [
      '[#] ip -4 address add 10.9.0.2/24 dev wg0',
      '[#] ip link set mtu 1380 up dev wg0',
      '[#] ip -4 route add 10.9.0.0/16 dev wg0 table 1234',
      '[#] ip -4 route add 0.0.0.0/0 dev wg0 table 1234',
    ]);
  });

  it('Table = NAME is passed through as written', async () => {
    const r = rig(conf(base('vpn')), new FakeRunner());
    await r.wq.up();
    assert.ok(r.lines.includes('[#] ip -4 route add 0.0.0.0/0 dev wg0 table vpn'));
  });

  it('Table = auto behaves as unset', async () => {
    const r = rig(conf(base('auto')), new FakeRunner());
    await r.wq.up();
    assert.ok(r.lines.includes('[#] ip -4 route add 10.9.0.0/16 dev wg0'));
    assert.ok(r.lines.includes('[#] ip -4 rule add not fwmark 51820 table 51820'));
  });
});

describe('wg-quick steps: hooks', () => {
  const HOOKS = `[Interface]
PrivateKey = ${KEYS.serverPriv}
Address = 10.0.0.1/24
MTU = 1420
PreUp = sysctl -w net.ipv4.ip_forward=1 # %i
PostUp = iptables -A FORWARD -i %i -j ACCEPT; iptables -A FORWARD -o %i -j ACCEPT
PostUp = echo %i is up
PreDown = echo %i going down
PostDown = iptables -D FORWARD -i %i -j ACCEPT; iptables -D FORWARD -o %i -j ACCEPT

[Peer]
PublicKey = ${KEYS.laptopPub}
AllowedIPs = 10.0.0.2/32
`;

  it('PreUp before set_config, PostUp last, %i replaced everywhere; down runs PreDown first and PostDown last', async () => {
    const runner = new FakeRunner();
    const r = rig(conf(HOOKS, 'wg7'), runner);
    const order: string[] = [];
    await r.wq.up(async () => {
      order.push(`set_config after ${runner.hooks.length} hook(s)`);
    });
    const preUpLine = runner.hooks[0]!;
    assert.match(preUpLine, /^sysctl -w net\.ipv4\.ip_forward=1/);
    assert.ok(!preUpLine.includes('%i'));
    assert.deepEqual(order, ['set_config after 1 hook(s)']);
    assert.deepEqual(runner.hooks.slice(1), [
      'iptables -A FORWARD -i wg7 -j ACCEPT; iptables -A FORWARD -o wg7 -j ACCEPT',
      'echo wg7 is up',
    ]);
    assert.deepEqual(r.lines.slice(-2), ['[#] iptables -A FORWARD -i wg7 -j ACCEPT; iptables -A FORWARD -o wg7 -j ACCEPT', '[#] echo wg7 is up']);
    r.lines.length = 0;
    await r.wq.down();
    assert.deepEqual(r.lines, [
      '[#] echo wg7 going down',
      '[#] ip link delete dev wg7',
      '[#] iptables -D FORWARD -i wg7 -j ACCEPT; iptables -D FORWARD -o wg7 -j ACCEPT',
    ]);
  });

  it('a failing PreUp stops up before anything else ran, and does not run the down hooks', async () => {
    const runner = new FakeRunner();
    const cfg = conf(HOOKS, 'wg7');
    runner.failingHooks.add(cfg.iface.preUp[0]!.split('%i').join('wg7'));
    const r = rig(cfg, runner);
    await assert.rejects(r.wq.up(), (e: Error) => e instanceof StepError && /failed with exit code 1/.test(e.message));
    assert.equal(runner.calls.filter((c) => c.argv.join(' ').includes('address add')).length, 0);
    assert.equal(runner.hooks.length, 1, 'only the failing PreUp ran');
  });

  it('a failing PreDown is reported and the rest of down still runs', async () => {
    const runner = new FakeRunner();
    runner.failingHooks.add('echo wg7 going down');
    const r = rig(conf(HOOKS, 'wg7'), runner);
    await r.wq.up();
    r.lines.length = 0;
    const errors = await r.wq.down();
    assert.equal(errors.length, 1);
    assert.ok(r.lines.includes('[#] ip link delete dev wg7'));
    assert.equal(r.lines.at(-1), '[#] iptables -D FORWARD -i wg7 -j ACCEPT; iptables -D FORWARD -o wg7 -j ACCEPT');
  });
});

describe('wg-quick steps: MTU (set_mtu_up)', () => {
  const base = `[Interface]
PrivateKey = ${KEYS.cliPriv}
Address = 10.9.0.2/32

[Peer]
PublicKey = ${KEYS.serverPub}
AllowedIPs = 10.9.0.0/24
`;
  const mtuOf = async (runner: FakeRunner, endpoints: string[]): Promise<number> => (await rig(conf(base), runner, { endpoints }).wq.up()).mtu;

  it('an explicit `mtu N` in the route wins over the device MTU; the smallest over all endpoints', async () => {
    const runner = new FakeRunner();
    runner.answer('ip route get 198.51.100.7', '198.51.100.7 via 192.168.1.1 dev eth0 src 192.168.1.20 uid 0 \n    cache mtu 1280 \n');
    runner.answer('ip route get 2001:db8::7', '2001:db8::7 from :: via fe80::1 dev eth0 proto ra src 2001:db8::20 metric 100 pref medium\n');
    runner.answer('ip link show dev eth0', ETH0);
    assert.equal(await mtuOf(runner, ['198.51.100.7', '2001:db8::7']), 1200);
  });

  it('no endpoint route: the default route\'s device; nothing at all: 1500 - 80', async () => {
    const a = new FakeRunner();
    a.answer('ip route show default', 'default via 10.1.1.1 dev ens3 proto dhcp src 10.1.1.5 metric 100 \ndefault via 10.2.2.1 dev ens4\n');
    a.answer('ip link show dev ens3', '2: ens3: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 9001 qdisc mq state UP\n');
    assert.equal(await mtuOf(a, []), 8921);
    assert.equal(await mtuOf(new FakeRunner(), []), 1420);
  });

  it('a scoped IPv6 endpoint is skipped, as wg-quick\'s endpoint regex does', async () => {
    const runner = new FakeRunner();
    runner.answer('ip route get fe80::1%eth0', 'fe80::1 dev eth0 mtu 1000\n');
    assert.equal(await mtuOf(runner, ['fe80::1%eth0']), 1420);
    assert.ok(!runner.calls.some((c) => c.argv.join(' ').startsWith('ip route get')));
  });
});

describe('wg-quick steps: route order', () => {
  it('matches `sort -nr -k 2 -t /` under LC_ALL=C (GNU sort as the oracle)', { skip: skipUnlessPresent(spawnSync('sort', ['--version']).status !== 0 && '`sort` (GNU coreutils) not found') }, () => {
    const prefixes = [
      '10.0.0.2/32', '10.0.0.3/32', '192.168.50.0/24', 'fd00:a::2/128', '0.0.0.0/0', '::/0', '10.0.0.0/8',
      '172.16.0.0/12', '10.1.0.0/16', 'fd00::/8', '2001:db8::/32', '1.2.3.4/32', '100.64.0.0/10', 'fd00:a::/64',
      '9.9.9.9/32', '10.10.0.0/16', '2001:db8:1::/48', '128.0.0.0/1', '0.0.0.0/1', '::/1', '8000::/1',
    ];
    const cidrs = prefixes.map((p) => ({ ip: p.split('/')[0]!, cidr: Number(p.split('/')[1]) }));
    const gnu = spawnSync('sort', ['-nr', '-k', '2', '-t', '/'], { input: prefixes.join('\n') + '\n', env: { ...process.env, LC_ALL: 'C' }, encoding: 'utf8' });
    assert.equal(gnu.status, 0);
    assert.deepEqual(routeOrder(cidrs), gnu.stdout.trim().split('\n'));
  });
});

describe('wg-quick steps: failure and crash recovery', () => {
  const withState = (): { dir: string; state: StateFile } => {
    const dir = mkdtempSync(join(tmpdir(), 'wgts-tun-state-'));
    return { dir, state: new StateFile(dir, 'wg0') };
  };

  it('a failing route command undoes the rules already added (no hooks) and removes the state file', async () => {
    const { dir, state } = withState();
    try {
      const runner = fullRunner();
      runner.failing.add('ip -4 route add 0.0.0.0/0 dev wg0 table 51821');
      runner.answer('ip -4 rule show', RULES4_BOTH, RULES4_SUPPRESS, RULES4_SUPPRESS, RULES4_BASE);
      runner.answer('ip -6 rule show', RULES6_BOTH, RULES6_SUPPRESS, RULES6_SUPPRESS, RULES6_BASE);
      runner.answer('nft list tables', 'table ip6 wg-quick-wg0\n');
      const r = rig(conf(FULL), runner, { endpoints: ['203.0.113.5'], state });
      await assert.rejects(r.wq.up(), /`ip -4 route add 0\.0\.0\.0\/0 dev wg0 table 51821' failed with exit code 2: ip: simulated failure/);
      const after = r.lines.slice(r.lines.indexOf('[#] ip -4 route add 0.0.0.0/0 dev wg0 table 51821') + 1);
      assert.deepEqual(after, [
        '[#] ip -4 rule delete table 51821',
        '[#] ip -4 rule delete table main suppress_prefixlength 0',
        '[#] ip -6 rule delete table 51821',
        '[#] ip -6 rule delete table main suppress_prefixlength 0',
        '[#] resolvconf -d tun.wg0 -f',
        '[#] nft -f /dev/stdin',
      ]);
      assert.equal(existsSync(state.path), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the state file records each change as it happens (mode 0600)', async () => {
    const { dir, state } = withState();
    try {
      const r = rig(conf(FULL), fullRunner(), { endpoints: ['203.0.113.5'], state });
      await r.wq.up();
      const s = JSON.parse(readFileSync(state.path, 'utf8')) as TunState;
      assert.equal(s.pid, process.pid);
      assert.equal(s.dns, 'tun.wg0');
      assert.equal(s.fwmark, 51821);
      assert.deepEqual(s.rules, [{ family: 6, table: 51821, suppress: true }, { family: 4, table: 51821, suppress: true }]);
      assert.deepEqual(s.firewall, ['nft', 'nft']);
      assert.equal((await import('node:fs')).statSync(state.path).mode & 0o777, 0o600);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('recovery after kill -9: a dead owner\'s record is undone with its down hooks; a live owner is left alone', async () => {
    const { dir, state } = withState();
    try {
      const cfg = conf(FULL.replace('[Peer]', 'PostUp = echo up %i\nPreDown = echo predown %i\nPostDown = echo postdown %i\n\n[Peer]'));
      await rig(cfg, fullRunner(), { endpoints: ['203.0.113.5'], state }).wq.up();
      const runner = new FakeRunner();
      runner.programs.add('nft');
      const lines: string[] = [];
      // Still ours (this process is alive): refuse.
      assert.deepEqual(await recoverStale({ runner, log: (l) => lines.push(l), state }), { kind: 'running', pid: process.pid });
      assert.equal(runner.calls.length, 0);
      // Owner died: a PID from a process that has exited.
      const dead = spawnSync(process.execPath, ['-e', '']).pid!;
      const s = state.read()!;
      state.write({ ...s, pid: dead, pidStart: '1' });
      runner.answer('ip -4 rule show', RULES4_BOTH, RULES4_SUPPRESS, RULES4_SUPPRESS, RULES4_BASE);
      runner.answer('ip -6 rule show', RULES6_BOTH, RULES6_SUPPRESS, RULES6_SUPPRESS, RULES6_BASE);
      runner.answer('nft list tables', 'table ip wg-quick-wg0\n');
      const res = await recoverStale({ runner, log: (l) => lines.push(l), state });
      assert.equal(res.kind, 'recovered');
      assert.match(lines[0]!, new RegExp(`^\\[!\\] wgts for wg0 \\(pid ${dead}\\) did not shut down; undoing what it set up`));
      assert.deepEqual(lines.slice(1), [
        '[#] echo predown wg0',
        '[#] ip -4 rule delete table 51821',
        '[#] ip -4 rule delete table main suppress_prefixlength 0',
        '[#] ip -6 rule delete table 51821',
        '[#] ip -6 rule delete table main suppress_prefixlength 0',
        '[#] resolvconf -d tun.wg0 -f',
        '[#] nft -f /dev/stdin',
        '[#] echo postdown wg0',
      ]);
      assert.equal(existsSync(state.path), false);
      assert.deepEqual(await recoverStale({ runner, log: () => {}, state }), { kind: 'none' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a record from another network namespace is not undone here', async () => {
    const { dir, state } = withState();
    try {
      await rig(conf(FULL), fullRunner(), { endpoints: ['203.0.113.5'], state }).wq.up();
      const dead = spawnSync(process.execPath, ['-e', '']).pid!;
      state.write({ ...state.read()!, pid: dead, pidStart: '1', netns: 'net:[1]' });
      const runner = new FakeRunner();
      assert.deepEqual(await recoverStale({ runner, log: () => {}, state }), { kind: 'foreign', pid: dead, netns: 'net:[1]' });
      assert.equal(runner.calls.length, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('cmd_up refuses an existing interface name', async () => {
    const runner = new FakeRunner();
    runner.answer('ip link show dev wg0', '7: wg0: <POINTOPOINT,NOARP,UP,LOWER_UP> mtu 1420 qdisc noqueue state UNKNOWN\n');
    await assert.rejects(assertInterfaceAbsent('wg0', runner), /^Error: `wg0' already exists$/);
    runner.answer('ip link show dev wg0', { code: 1, stdout: '', stderr: 'Device "wg0" does not exist.\n' });
    await assertInterfaceAbsent('wg0', runner);
  });
});
