/**
 * Latency (root only, netns; skipped loudly otherwise): ping RTT through the
 * tunnel to a wgts --userspace peer, whose built-in stack answers ICMP echo
 * on its Address, against the same ping to a wireguard-go peer (the kernel
 * answers), measured in the same run.
 *
 *   reference: ping (ns a) -> wireguard-go a -> veth -> wireguard-go b -> kernel ICMP (ns b) -> back
 *   wgts:      ping (ns a) -> wireguard-go a -> veth -> wgts b --userspace (stack ICMP) -> back
 *
 * Both topologies are built first; then `ping -c 200 -i 0.01` runs against
 * each, alternating, ROUNDS times, and the RTTs of each side are pooled.
 * The row is the median; p99 is in the detail line. Ratio = wgts median /
 * wireguard-go median.
 */
import type { Row } from './harness.js';
import { skip } from './harness.js';
import { cleanupAll, type Netns } from '../test/harness/netns.js';
import { netnsPair, netnsUnavailable, percentile, startWgts, wgtsHandshake, wgtsSideConf, wireguardGoSide } from './netns-bench.js';

export const about = 'ping RTT (median, p99) to a wgts --userspace peer vs to a wireguard-go peer, both from wireguard-go';
export const needsRoot = true;

const TUN_A = '198.19.22.1';
const TUN_B = '198.19.22.2';
const COUNT = 200;
const INTERVAL = '0.01';
const ROUNDS = 3;

/** RTTs in ms of `ping -c COUNT -i INTERVAL` (one per reply line). */
async function pingRtts(ns: Netns, addr: string, count = COUNT): Promise<{ rtts: number[]; sent: number }> {
  const r = await ns.exec(['ping', '-n', '-c', String(count), '-i', INTERVAL, '-W', '1', addr], { timeoutMs: 30_000 });
  const rtts = [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
  if (rtts.length === 0) throw new Error(`ping ${addr} in ${ns.name}: no replies (exit ${r.code}): ${r.stdout.slice(-300)}${r.stderr}`);
  return { rtts, sent: count };
}

const fmt = (ms: number) => ms.toFixed(3);

export async function run(): Promise<Row[]> {
  const why = netnsUnavailable(['ping']);
  if (why) return skip('latency', why);
  try {
    const r = await netnsPair('latr', 22);
    await wireguardGoSide(r, 'a', TUN_A, TUN_B, 25);
    const rb = await wireguardGoSide(r, 'b', TUN_B, TUN_A);
    await rb.waitForHandshake(r.ka.publicKey, 10_000);

    const w = await netnsPair('latw', 23);
    const wa = await wireguardGoSide(w, 'a', TUN_A, TUN_B, 25);
    const wb = await startWgts(w.b, wgtsSideConf(w, 'b', TUN_B, TUN_A));
    await wgtsHandshake(wb);
    await wa.waitForHandshake(w.kb.publicKey, 10_000);

    // Warm both paths (ARP-free tunnels, but the first packets pay for JIT and caches).
    await pingRtts(r.a, TUN_B, 20);
    await pingRtts(w.a, TUN_B, 20);
    const ref: number[] = [];
    const ours: number[] = [];
    let refSent = 0;
    let oursSent = 0;
    for (let i = 0; i < ROUNDS; i++) {
      const a = await pingRtts(r.a, TUN_B);
      ref.push(...a.rtts); refSent += a.sent;
      const b = await pingRtts(w.a, TUN_B);
      ours.push(...b.rtts); oursSent += b.sent;
    }
    const med = percentile(ours, 50);
    const refMed = percentile(ref, 50);
    return [{
      group: 'latency',
      name: `ping RTT median to wgts --userspace (ping -c ${COUNT} -i ${INTERVAL}, x${ROUNDS})`,
      opsPerSec: med,
      unit: 'ms',
      reference: { name: 'same ping to wireguard-go (kernel answers)', opsPerSec: refMed },
      detail: `wgts median ${fmt(med)} ms, p99 ${fmt(percentile(ours, 99))} ms, ${ours.length}/${oursSent} replies; `
        + `wireguard-go median ${fmt(refMed)} ms, p99 ${fmt(percentile(ref, 99))} ms, ${ref.length}/${refSent} replies`,
      target: { text: '<= 1.5x', met: med / refMed <= 1.5 },
    }];
  } finally {
    await cleanupAll();
  }
}
