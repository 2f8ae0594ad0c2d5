#!/usr/bin/env node
/**
 * Diagnosing the paths bench by hand (root, netns; run `npx tsc -p .`
 * first): the bench's topology and relay, one iperf3 per arm, and beside
 * each figure the load-independent counts that tell the arms apart: CPU
 * time and write syscalls of the VPS's processes per MB moved (from
 * /proc/PID/stat and /proc/PID/io), and the datagrams each way through the
 * relay (in the direction opposite to the data: the ACKs).
 *
 *   topology -> probe server, home = wireguard-go (kernel TCP)
 *   for arm of ARMS: relay(RTT, LOSS, SEED) -> vps = kernel path | wgts [Forward]
 *     -> iperf3 (-R for from-home) -> one line of figures and counts
 *     (SS=1: and the kernel sender's cwnd / ssthresh / retransmits from
 *     `ss -tin` every 50 ms: where slow start ended and how)
 *
 * Environment: ARMS=kernel,wgts,... (default kernel,wgts), DIR=from-home |
 * to-home, RTT (ms, 40), LOSS (0.001), SECS (4), SEED (7: every arm meets
 * the same loss stream; ARMS=kernel,kernel,kernel repeats one), SS=1 (above;
 * the sender across the lossy leg is kernel TCP in the kernel arm, and in
 * every arm from home), WGTS_CLI (another build's dist/src/cli/main.js, for
 * an A/B of two builds).
 *   sudo node scripts/paths-probe.mjs
 */
import {
  createPathsTopology, startHomeKernel, startPathRelay, startProbeServer, startVpsKernel, startVpsWgts, waitForPath, P, PORT_PROBE,
} from '../dist/test/interop/paths-topology.js';
import { cleanupAll, waitFor } from '../dist/test/harness/netns.js';

const RTT = Number(process.env.RTT ?? 40);
const LOSS = Number(process.env.LOSS ?? 0.001);
const SECS = Number(process.env.SECS ?? 4);
const ARMS = (process.env.ARMS ?? 'kernel,wgts').split(',');
const DIR = process.env.DIR ?? 'from-home';
const SEED = Number(process.env.SEED ?? 7);
const SS = process.env.SS === '1';
const PORT = 5201;

/**
 * Samples the kernel sender's data connection (the one with most bytes_acked) every 50 ms until `done()`:
 * returns the samples from the one before slow start first ended (ssthresh appears) to four after, and its last.
 */
async function ssTrace(ns, filter, done) {
  const t0 = Date.now();
  const out = [];
  while (!done()) {
    const r = await ns.exec(['ss', '-tinH', ...filter]);
    const acked = (l) => Number((l.match(/bytes_acked:(\d+)/) ?? [])[1] ?? 0);
    const line = r.stdout.split('\n').filter((l) => l.includes('cwnd:')).sort((a, b) => acked(b) - acked(a))[0];
    if (line) {
      const g = (k) => (line.match(new RegExp(`\\b${k}:([\\d./]+)`)) ?? [])[1] ?? '-';
      out.push(`${Date.now() - t0} ms cwnd ${g('cwnd')} ssthresh ${g('ssthresh')} retrans ${g('retrans')} rtt ${g('rtt')}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const exit = out.findIndex((l) => !l.includes('ssthresh -'));
  if (exit < 0) return out.slice(-1);
  // The last sample of the data connection (the control connection outlives it).
  return [...out.slice(Math.max(0, exit - 1), exit + 5), '...', out.filter((l) => !l.includes('ssthresh -')).at(-1)];
}

/** CPU ticks (utime + stime) and write syscalls, summed over the processes in the vps namespace. */
async function vpsCounts(t) {
  const sh = `for p in $(ip netns pids ${t.vps.name}); do echo $(cut -d' ' -f14,15 /proc/$p/stat) $(grep '^syscw' /proc/$p/io | cut -d' ' -f2); done`;
  const r = await t.vps.exec(['sh', '-c', sh]);
  let ticks = 0;
  let writes = 0;
  for (const line of r.stdout.trim().split('\n')) {
    const [u, s, w] = line.split(' ').map(Number);
    if (Number.isFinite(u) && Number.isFinite(s)) ticks += u + s;
    if (Number.isFinite(w)) writes += w;
  }
  return { ticks, writes };
}

const t = await createPathsTopology();
try {
  await startProbeServer(t);
  const home = await startHomeKernel(t);
  let vps = null;
  for (const arm of ARMS) {
    const relay = await startPathRelay(t, { rttMs: RTT, loss: LOSS }, SEED);
    await vps?.stop();
    vps = arm === 'kernel' ? await startVpsKernel(t, [PORT, PORT_PROBE]) : await startVpsWgts(t, [PORT, PORT_PROBE]);
    await waitForPath(t);
    const server = t.home.spawn(['iperf3', '-s', '-1', '--forceflush', '-p', String(PORT)], { label: 'iperf3 -s -1' });
    server.stopping = true;
    await waitFor(() => server.output().includes('Server listening'), 5000, 'iperf3 -s to listen');
    const before = await vpsCounts(t);
    const relay0 = await relay.stats();
    let finished = false;
    const running = t.client.exec(
      ['iperf3', '-c', P.vpsPub4, '-p', String(PORT), '-t', String(SECS), '-J', '-C', 'cubic', ...(DIR === 'from-home' ? ['-R'] : [])],
      { timeoutMs: (SECS + 30) * 1000 },
    ).finally(() => (finished = true));
    // The kernel sender across the lossy leg: the client's in the kernel arm to home, home's from home.
    const sender = DIR === 'from-home' ? [t.home, ['sport', '=', `:${PORT}`]] : arm === 'kernel' ? [t.client, ['dport', '=', `:${PORT}`]] : null;
    const trace = SS && sender ? await ssTrace(sender[0], sender[1], () => finished) : [];
    const r = await running;
    const after = await vpsCounts(t);
    const relay1 = await relay.stats();
    const j = JSON.parse(r.stdout);
    const mb = j.end.sum_received.bytes / 1e6;
    const toHome = relay1.aToB.received - relay0.aToB.received;
    const fromHome = relay1.bToA.received - relay0.bToA.received;
    const [data, acks] = DIR === 'from-home' ? [fromHome, toHome] : [toHome, fromHome];
    console.log(
      `${arm} ${DIR} ${RTT} ms ${LOSS * 100}% loss: ${((j.end.sum_received.bits_per_second) / 1e6).toFixed(1)} Mbit/s; ` +
      `vps ${((after.ticks - before.ticks) * 10 / mb).toFixed(1)} ms CPU/MB, ${((after.writes - before.writes) / mb).toFixed(0)} write syscalls/MB; ` +
      `relay: ${data} data-way datagrams, ${acks} the other way (${(data / Math.max(acks, 1)).toFixed(1)} per)`,
    );
    for (const l of trace) console.log(`  ${l}`);
    await server.stop(1000);
    await relay.stop();
  }
  await vps?.stop();
  await home.stop();
} finally {
  await cleanupAll();
}
