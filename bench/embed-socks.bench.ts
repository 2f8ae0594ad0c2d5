/**
 * Bulk download through [Socks5] beside the same download through
 * [TCPClientTunnel] and [Forward] (issue 15: >= 0.9x), root only (netns;
 * skipped loudly otherwise). One library process serves all three on
 * loopback in the client namespace, over one tunnel to wireguard-go; curl
 * fetches /big (WGTS_BENCH_EMBED_MB MiB) from the Node server behind it.
 *
 *   curl --socks5 127.0.0.1:1080 http://SRV/big   vs   curl http://127.0.0.1:2080/big ([TCPClientTunnel])
 *                                                 vs   curl http://127.0.0.1:3080/big ([Forward])
 *   WGTS_BENCH_EMBED_ROUNDS rounds (default 5), the arms taking turns; medians, ratio of medians.
 */
import { skip, type Row } from './harness.js';
import { alternate, curlRate, load, mbps, median, PORT, spread, SRV, startBed, ROUNDS } from './embed-arms.js';
import { netnsUnavailable } from './netns-bench.js';

export const about = '[Socks5] bulk download (curl) vs [TCPClientTunnel] and [Forward] in the same process and tunnel (issue 15: >= 0.9x)';
export const needsRoot = true;

export async function run(): Promise<Row[]> {
  const why = netnsUnavailable(['curl', 'wireguard-go']);
  if (why) return skip('embed-socks', why);
  const bed = await startBed('es', 41);
  try {
    const [socks, tcpc, fwd] = (await alternate(ROUNDS, [
      () => curlRate(bed, ['--socks5', `127.0.0.1:${PORT.socks}`, `http://${SRV}/big`]),
      () => curlRate(bed, [`http://127.0.0.1:${PORT.tcpClient}/big`]),
      () => curlRate(bed, [`http://127.0.0.1:${PORT.forward}/big`]),
    ])) as [number[], number[], number[]];
    const detail = `[Socks5] ${spread(socks, mbps)}; [TCPClientTunnel] ${spread(tcpc, mbps)}; [Forward] ${spread(fwd, mbps)}; ${load()}`;
    const row = (refName: string, ref: number[]): Row => {
      const q = median(socks) / median(ref);
      return {
        group: 'embed', name: '[Socks5] bulk download (curl --socks5)', opsPerSec: median(socks), unit: 'B/s',
        reference: { name: `${refName}, same download`, opsPerSec: median(ref) },
        target: { text: '>= 0.9x', met: q >= 0.9 },
        detail: `${detail}; per-round ratios ${socks.map((s, i) => (s / ref[i]!).toFixed(2)).join(' ')}`,
      };
    };
    return [row('[TCPClientTunnel]', tcpc), row('[Forward]', fwd)];
  } finally {
    await bed.stop();
  }
}
