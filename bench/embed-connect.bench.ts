/**
 * Library `tunnel.connect` goodput beside the same download through
 * [Forward] (issue 15: >= 0.9x), root only (netns; skipped loudly
 * otherwise). The library process (embed-arms.ts) both downloads /big over
 * tunnel.connect (an HTTP/1.0 GET, bytes counted in the process) and serves
 * the [Forward] that curl downloads the same file through.
 *
 *   tunnel.connect(80, SRV) + GET /big   vs   curl http://127.0.0.1:3080/big ([Forward] -> SRV:80)
 *   WGTS_BENCH_EMBED_ROUNDS rounds (default 5), the arms taking turns; medians, ratio of medians.
 */
import { skip, type Row } from './harness.js';
import { alternate, BIG_MB, curlRate, load, mbps, median, PORT, spread, SRV, startBed, ROUNDS } from './embed-arms.js';
import { netnsUnavailable } from './netns-bench.js';

export const about = 'library tunnel.connect goodput vs the same download through [Forward] with curl (issue 15: >= 0.9x)';
export const needsRoot = true;

export async function run(): Promise<Row[]> {
  const why = netnsUnavailable(['curl', 'wireguard-go']);
  if (why) return skip('embed-connect', why);
  const bed = await startBed('ec', 42);
  try {
    const body = BIG_MB << 20;
    const [lib, fwd] = (await alternate(ROUNDS, [
      async () => {
        const r = await bed.ask<{ bytes: number; ms: number }>(`connect ${SRV} 80 /big`);
        if (r.bytes < body) throw new Error(`tunnel.connect got ${r.bytes} bytes, less than the ${body} of /big`);
        return body / (r.ms / 1000);
      },
      () => curlRate(bed, [`http://127.0.0.1:${PORT.forward}/big`]),
    ])) as [number[], number[]];
    const q = median(lib) / median(fwd);
    return [{
      group: 'embed', name: 'library tunnel.connect download', opsPerSec: median(lib), unit: 'B/s',
      reference: { name: '[Forward] + curl, same download', opsPerSec: median(fwd) },
      target: { text: '>= 0.9x', met: q >= 0.9 },
      detail: `connect ${spread(lib, mbps)}; [Forward] ${spread(fwd, mbps)}; per-round ratios ${lib.map((l, i) => (l / fwd[i]!).toFixed(2)).join(' ')}; ${load()}`,
    }];
  } finally {
    await bed.stop();
  }
}
