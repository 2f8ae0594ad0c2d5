/**
 * Forwarded TCP (root only, netns; skipped loudly otherwise): client ->
 * vps -> home, where home runs wireguard-go with iperf3 and a TCP echo. The
 * vps side is either wgts --userspace with a [Forward] section, or the kernel
 * path it replaces: wireguard-go + an nftables DNAT rule (home routes the
 * replies back through the tunnel), measured in the same run.
 *   goodput: iperf3 -c vps:5201, 4 s
 *   connections/s: a python client opening, echoing one byte and closing
 */
import type { Row } from './harness.js';
import { canRunInterop, cleanupAll, waitFor, which, type Proc, type Netns } from '../test/harness/netns.js';
import { createTopology, A } from '../test/interop/forward-topology.js';
import { kernelArm, KERNEL_ARM, startHome, wgtsArm } from './forward-arms.js';

const PY_ECHO = `
import socket, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('${A.homeTun4}', 7007)); s.listen(512)
print('LISTENING', flush=True)
def serve(c):
    try:
        d = c.recv(16)
        if d: c.sendall(d)
    finally:
        c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
`;

const PY_CPS = `
import socket, sys, time, threading
host, port, n, par = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
done = [0]; lock = threading.Lock()
def worker(k):
    for _ in range(k):
        s = socket.create_connection((host, port), timeout=10)
        s.sendall(b'x'); s.recv(1); s.close()
        with lock: done[0] += 1
t = time.monotonic()
ts = [threading.Thread(target=worker, args=(n // par,)) for _ in range(par)]
[x.start() for x in ts]; [x.join() for x in ts]
print(done[0], time.monotonic() - t)
`;

async function measure(client: Netns): Promise<{ goodput: number; cps: number }> {
  const r = await client.exec(['iperf3', '-c', A.vpsPub4, '-p', '5201', '-t', '4', '-J'], { timeoutMs: 30_000 });
  const j = JSON.parse(r.stdout) as { error?: string; end: { sum_received: { bits_per_second: number } } };
  if (j.error) throw new Error(`iperf3 through the forward: ${j.error}`);
  const c = await client.exec(['python3', '-c', PY_CPS, A.vpsPub4, '7007', '400', '8'], { timeoutMs: 60_000 });
  const [n, secs] = c.stdout.trim().split(' ').map(Number) as [number, number];
  return { goodput: j.end.sum_received.bits_per_second / 8, cps: n / secs };
}

export async function run(): Promise<Row[]> {
  const ok = canRunInterop(['iperf3', 'python3', 'nft']);
  if (!ok.ok || !which('iperf3')) {
    process.stderr.write(`SKIP forward bench rows: ${ok.ok ? 'iperf3 missing' : ok.why}\n`);
    return [];
  }
  const procs: Proc[] = [];
  try {
    const t = await createTopology();
    // Home: wireguard-go, everything routed back through the tunnel (DNAT needs it), iperf3 + echo.
    const home = await startHome(t);
    procs.push(t.home.spawn(['iperf3', '-s', '-B', A.homeTun4, '-p', '5201'], { label: 'iperf3 -s' }));
    const echo = t.home.spawn(['python3', '-c', PY_ECHO], { label: 'echo' });
    procs.push(echo);
    await waitFor(() => echo.output().includes('LISTENING'), 5000, 'echo server');
    const measured: Array<{ goodput: number; cps: number }> = [];
    for (const make of [kernelArm, wgtsArm]) {
      const arm = await make(t, home, [5201, 7007]);
      try {
        measured.push(await measure(t.client));
      } finally {
        await arm.stop();
      }
    }
    const [kernel, ours] = measured as [{ goodput: number; cps: number }, { goodput: number; cps: number }];
    return [
      { group: 'forward', name: 'wgts [Forward] TCP goodput (iperf3)', opsPerSec: ours.goodput, unit: 'B/s', reference: { name: KERNEL_ARM, opsPerSec: kernel.goodput } },
      { group: 'forward', name: 'wgts [Forward] TCP connections (open, 1-byte echo, close)', opsPerSec: ours.cps, unit: 'conn/s', reference: { name: KERNEL_ARM, opsPerSec: kernel.cps } },
    ];
  } finally {
    for (const p of procs) await p.stop();
    await cleanupAll();
  }
}
