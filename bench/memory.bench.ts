/**
 * Memory (root only, netns; skipped loudly otherwise): VmRSS of
 * `wgts up --userspace` processes, each beside wireguard-go's with the same
 * peers measured in the same run, or (connections) beside the target.
 *
 *   peers: a fresh process with 1 peer, then one with 1,000 peers (no
 *          endpoints, so idle); settled RSS of each; per peer =
 *          (RSS_1000 - RSS_1) / 999. wireguard-go: the same two configs via wg setconf.
 *   connections: client ns -> vps wgts [Forward] -> WireGuard -> home wgts
 *          [Expose] -> 127.0.0.1:7100 (a python epoll server in home). A
 *          python client opens 10,000 TCP connections, each echoes one byte
 *          end to end and then stays open and idle. Per connection =
 *          (RSS_held - RSS_before) / 10,000 for each wgts; the client then
 *          checks that all 10,000 are still open.
 *
 * RSS counts what the process holds; the kernel's socket buffers are not in
 * it. Settled = 2-3 s after the event, median of 5 readings 200 ms apart.
 */
import type { Row } from './harness.js';
import { skip } from './harness.js';
import { cleanupAll, Netns, sleep, waitFor, WireguardGo, type Proc } from '../test/harness/netns.js';
import { A, createTopology, WG_PORT_HOME, WG_PORT_VPS } from '../test/interop/forward-topology.js';
import { renderConf } from '../test/interop/wgts-proc.js';
import { commOf, cpuSeconds, keyPairs, netnsUnavailable, NOFILE, settledRss, startWgts, wgtsHandshake } from './netns-bench.js';

export const about = 'RSS of wgts --userspace: idle, 1,000 peers (vs wireguard-go), 10,000 idle forwarded TCP connections (vs 64 KB target)';
export const needsRoot = true;

const PEERS = 1000;
const CONNS = 10_000;
const PORT = 7100;
/** Connections being set up at once: below the stack's SYN backlog (128), so no SYN waits for a retransmit. */
const PARALLEL = 100;
const MB = 1e6;
const IDLE_TARGET = 60 * MB;
const CONN_TARGET = 64 * 1024;

/** AllowedIPs of peer i: one /32 in 10.200.0.0/16 (i < 65536). */
const peerIp = (i: number) => `10.200.${i >> 8}.${i & 255}/32`;

function wgtsPeersConf(n: number): string {
  const [self, ...peers] = keyPairs(n + 1);
  const l = ['[Interface]', `PrivateKey = ${self!.privateKey}`, 'ListenPort = 51840', 'Address = 10.199.0.1/16'];
  peers.forEach((p, i) => l.push('', '[Peer]', `PublicKey = ${p.publicKey}`, `AllowedIPs = ${peerIp(i)}`));
  return l.join('\n') + '\n';
}

async function wgtsRss(ns: Netns, peers: number): Promise<number> {
  const w = await startWgts(ns, wgtsPeersConf(peers));
  if (commOf(w.proc.pid) !== 'node') throw new Error(`pid ${w.proc.pid} is ${commOf(w.proc.pid)}, not node`);
  const rss = await settledRss(w.proc.pid, 3000);
  process.stderr.write(`  wgts, ${peers} peer(s): RSS ${(rss / (1 << 20)).toFixed(1)} MiB\n`);
  await w.proc.stop();
  return rss;
}

async function wireguardGoRss(ns: Netns, peers: number): Promise<number> {
  const [self, ...ps] = keyPairs(peers + 1);
  const wg = await WireguardGo.start(ns, { logLevel: 'error' });
  await wg.setconf({ privateKey: self!.privateKey, listenPort: 51841, peers: ps.map((p, i) => ({ publicKey: p.publicKey, allowedIps: [peerIp(i)] })) });
  await wg.addAddress('10.198.0.1/16');
  await wg.up();
  const comm = commOf(wg.proc.pid);
  if (!comm.startsWith('wireguard')) throw new Error(`pid ${wg.proc.pid} is ${comm}, not wireguard-go`);
  const rss = await settledRss(wg.proc.pid, 3000);
  process.stderr.write(`  wireguard-go, ${peers} peer(s): RSS ${(rss / (1 << 20)).toFixed(1)} MiB\n`);
  await wg.stop();
  return rss;
}

const PY_SERVER = `
import resource, selectors, socket, sys, time
resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)
sel = selectors.EpollSelector()
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(('127.0.0.1', int(sys.argv[1]))); ls.listen(4096); ls.setblocking(False)
sel.register(ls, selectors.EVENT_READ)
print('LISTENING', flush=True)
n = 0; shown = -1; last = 0
while True:
    for key, _ in sel.select(0.5):
        s = key.fileobj
        if s is ls:
            try:
                while True:
                    c, _ = ls.accept(); c.setblocking(False); sel.register(c, selectors.EVENT_READ); n += 1
            except BlockingIOError:
                pass
            continue
        try:
            d = s.recv(64)
        except (BlockingIOError, InterruptedError):
            continue
        except OSError:
            d = b''
        if d:
            s.send(d)
        else:
            sel.unregister(s); s.close(); n -= 1
    if n != shown and time.monotonic() - last > 0.5:
        print('OPEN', n, flush=True); shown = n; last = time.monotonic()
`;

// Opens N connections (at most PAR connecting at once), each sends one byte and
// waits for it back; prints CONNECTED ok errors seconds. On "check" (stdin)
// prints HELD with how many are still open (no EOF, no error), then on EOF exits.
const PY_CLIENT = `
import errno, resource, selectors, socket, sys, time
resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)
host, port, N, PAR = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
sel = selectors.EpollSelector()
held = []; ok = 0; err = 0; started = 0; pending = 0; why = {}
t0 = time.monotonic(); deadline = t0 + 240; shown = t0
def fail(s, e):
    global err, pending
    err += 1; pending -= 1; why[e] = why.get(e, 0) + 1
    sel.unregister(s); s.close()
while (ok + err < N) and time.monotonic() < deadline:
    while started < N and pending < PAR:
        s = socket.socket(); s.setblocking(False)
        e = s.connect_ex((host, port))
        if e not in (0, errno.EINPROGRESS):
            err += 1; why[errno.errorcode.get(e, e)] = why.get(errno.errorcode.get(e, e), 0) + 1; s.close(); started += 1; continue
        sel.register(s, selectors.EVENT_WRITE, 'connecting'); started += 1; pending += 1
    if time.monotonic() - shown >= 5:
        shown = time.monotonic(); print('PROGRESS', ok, err, round(shown - t0, 1), flush=True)
    for key, ev in sel.select(1.0):
        s = key.fileobj
        if key.data == 'connecting':
            e = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if e:
                fail(s, errno.errorcode.get(e, e)); continue
            try:
                s.send(b'x')
            except OSError as x:
                fail(s, type(x).__name__); continue
            sel.modify(s, selectors.EVENT_READ, 'echo')
        else:
            try:
                d = s.recv(1)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as x:
                fail(s, type(x).__name__); continue
            if d == b'x':
                ok += 1; pending -= 1; sel.unregister(s); held.append(s)
            else:
                fail(s, 'eof')
print('CONNECTED', ok, err + (N - ok - err), round(time.monotonic() - t0, 2), repr(why), flush=True)
for line in sys.stdin:
    if line.strip() == 'check':
        chk = selectors.EpollSelector()
        for s in held: chk.register(s, selectors.EVENT_READ)
        closed = len(chk.select(0))
        chk.close()
        print('HELD', len(held) - closed, flush=True)
`;

interface ConnResult { forwardPerConn: number; exposePerConn: number; detail: string; ok: boolean }

async function connections(): Promise<ConnResult> {
  const t = await createTopology();
  const rule = (kind: string, listen: string, target: string) =>
    `[${kind}]\nProtocol = tcp\nListen = ${listen}\nTarget = ${target}\nMaxConnections = ${CONNS * 2}\n`;
  const home = await startWgts(t.home, renderConf({
    privateKey: t.kHome.privateKey, listenPort: WG_PORT_HOME, addresses: [`${A.homeTun4}/24`],
    peers: [{ publicKey: t.kVps.publicKey, endpoint: `${A.vpsBack4}:${WG_PORT_VPS}`, allowedIps: [`${A.vpsTun4}/32`] }],
    extra: rule('Expose', `${A.homeTun4}:${PORT}`, `127.0.0.1:${PORT}`),
  }));
  const vps = await startWgts(t.vps, renderConf({
    privateKey: t.kVps.privateKey, listenPort: WG_PORT_VPS, addresses: [`${A.vpsTun4}/24`],
    peers: [{ publicKey: t.kHome.publicKey, endpoint: `${A.homeBack4}:${WG_PORT_HOME}`, allowedIps: [`${A.homeTun4}/32`], persistentKeepalive: 25 }],
    extra: rule('Forward', `${A.vpsPub4}:${PORT}`, `${A.homeTun4}:${PORT}`),
  }));
  const lim = ['prlimit', `--nofile=${NOFILE}:${NOFILE}`, '--'];
  const server = t.home.spawn([...lim, 'python3', '-c', PY_SERVER, String(PORT)], { label: 'conn server' });
  await waitFor(() => { server.assertRunning(); return server.output().includes('LISTENING'); }, 5000, 'the home server');
  await wgtsHandshake(vps);
  const before = { vps: await settledRss(vps.proc.pid, 2000), home: await settledRss(home.proc.pid, 0) };

  const client: Proc = t.client.spawn([...lim, 'python3', '-c', PY_CLIENT, A.vpsPub4, String(PORT), String(CONNS), String(PARALLEL)], { label: 'conn client', stdin: true });
  let shown = 0;
  const line = await waitFor(() => {
    client.assertRunning();
    const progress = [...client.output().matchAll(/^PROGRESS (\d+) (\d+) ([\d.]+)$/gm)];
    for (const m of progress.slice(shown)) process.stderr.write(`  connections: ${m[1]} open, ${m[2]} failed after ${m[3]} s\n`);
    shown = progress.length;
    return /^CONNECTED .*$/m.exec(client.output())?.[0];
  }, 300_000, `${CONNS} connections through [Forward] -> [Expose]`, { intervalMs: 250 });
  const [, okS, errS, secsS, why] = /^CONNECTED (\d+) (\d+) ([\d.]+) (.*)$/.exec(line)!;
  const opened = Number(okS);
  const errors = Number(errS);
  const cpu0 = { vps: cpuSeconds(vps.proc.pid), home: cpuSeconds(home.proc.pid), t: performance.now() };
  const held = { vps: await settledRss(vps.proc.pid, 3000), home: await settledRss(home.proc.pid, 0) };
  const idleSecs = (performance.now() - cpu0.t) / 1000;
  const idleCpu = { vps: (cpuSeconds(vps.proc.pid) - cpu0.vps) / idleSecs, home: (cpuSeconds(home.proc.pid) - cpu0.home) / idleSecs };
  await waitFor(() => new RegExp(`^OPEN ${opened}$`, 'm').test(server.output()), 5000, 'the home server count').catch(() => undefined);
  const serverOpen = Number([...server.output().matchAll(/^OPEN (\d+)$/gm)].pop()?.[1] ?? -1);
  client.child.stdin!.write('check\n');
  const stillHeld = Number(await waitFor(() => /^HELD (\d+)$/m.exec(client.output())?.[1], 20_000, 'the client check'));
  client.child.stdin!.end();
  await sleep(100);
  for (const w of [vps, home]) w.proc.assertRunning();
  const ok = opened === CONNS && errors === 0 && stillHeld === CONNS && serverOpen === CONNS;
  const mib = (b: number) => (b / (1 << 20)).toFixed(1);
  const detail = `${opened}/${CONNS} echoed end to end in ${secsS} s, ${errors} errors${errors ? ' ' + why : ''}, ${stillHeld} still open at the check, home server saw ${serverOpen} open; `
    + `RSS vps ${mib(before.vps)} -> ${mib(held.vps)} MiB, home ${mib(before.home)} -> ${mib(held.home)} MiB; `
    + `CPU while the ${CONNS} sat idle: vps ${(idleCpu.vps * 100).toFixed(0)} %, home ${(idleCpu.home * 100).toFixed(0)} %`;
  return { forwardPerConn: (held.vps - before.vps) / CONNS, exposePerConn: (held.home - before.home) / CONNS, detail, ok };
}

export async function run(): Promise<Row[]> {
  const why = netnsUnavailable(['python3']);
  if (why) return skip('memory', why);
  const rows: Row[] = [];
  try {
    const ns = await Netns.create('mem');
    const w1 = await wgtsRss(ns, 1);
    const g1 = await wireguardGoRss(ns, 1);
    const wN = await wgtsRss(ns, PEERS);
    const gN = await wireguardGoRss(ns, PEERS);
    await ns.destroy();
    rows.push(
      {
        group: 'memory', name: 'wgts --userspace RSS, idle, 1 peer', opsPerSec: w1, unit: 'B',
        reference: { name: 'wireguard-go RSS, idle, 1 peer', opsPerSec: g1 },
        target: { text: '<= 60 MB', met: w1 <= IDLE_TARGET },
      },
      {
        group: 'memory', name: `wgts --userspace RSS, ${PEERS} peers`, opsPerSec: wN, unit: 'B',
        reference: { name: `wireguard-go RSS, ${PEERS} peers`, opsPerSec: gN },
      },
      {
        group: 'memory', name: `wgts bytes per peer, (RSS_${PEERS} - RSS_1) / ${PEERS - 1}`, opsPerSec: (wN - w1) / (PEERS - 1), unit: 'B',
        reference: { name: 'wireguard-go, same', opsPerSec: (gN - g1) / (PEERS - 1) },
      },
    );
    if (NOFILE < CONNS + 2000) {
      skip('memory: connections', `RLIMIT_NOFILE hard limit ${NOFILE} < ${CONNS + 2000} and cannot be raised here`);
      return rows;
    }
    const c = await connections();
    const target = (per: number) => ({ text: `<= 64 KB/conn, ${CONNS} held`, met: c.ok && per <= CONN_TARGET });
    rows.push(
      {
        group: 'memory', name: `wgts [Forward] (vps) RSS per idle forwarded TCP connection, ${CONNS} held`, opsPerSec: c.forwardPerConn, unit: 'B',
        reference: { name: 'target (issue 7)', opsPerSec: CONN_TARGET }, target: target(c.forwardPerConn), detail: c.detail,
      },
      {
        group: 'memory', name: `wgts [Expose] (home) RSS per idle forwarded TCP connection, ${CONNS} held`, opsPerSec: c.exposePerConn, unit: 'B',
        reference: { name: 'target (issue 7)', opsPerSec: CONN_TARGET }, target: target(c.exposePerConn),
      },
    );
    return rows;
  } finally {
    await cleanupAll();
  }
}
