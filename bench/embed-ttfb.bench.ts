/**
 * Time to first byte of library `tunnel.fetch` beside curl through the
 * [Socks5] port of the same process (issue 15: <= 1.2x), root only (netns;
 * skipped loudly otherwise). Every request opens a new connection (the
 * server answers `Connection: close`), so both include the TCP handshake
 * through the tunnel.
 *
 *   tunnel.fetch('http://SRV/small'): ms until the response headers
 *   vs curl --socks5 127.0.0.1:1080 http://SRV/small: %{time_starttransfer}
 *   3 warm-up pairs, then WGTS_BENCH_EMBED_SAMPLES pairs (default 25) taking turns; medians.
 */
import { skip, type Row } from './harness.js';
import { alternate, load, median, PORT, spread, SRV, startBed } from './embed-arms.js';
import { netnsUnavailable } from './netns-bench.js';

export const about = 'time to first byte of library tunnel.fetch vs curl through the [Socks5] port (issue 15: <= 1.2x)';
export const needsRoot = true;

const SAMPLES = Number(process.env['WGTS_BENCH_EMBED_SAMPLES'] ?? 25) || 25;

export async function run(): Promise<Row[]> {
  const why = netnsUnavailable(['curl', 'wireguard-go']);
  if (why) return skip('embed-ttfb', why);
  const bed = await startBed('et', 43);
  const url = `http://${SRV}/small`;
  const arms = [
    async () => (await bed.ask<{ ttfbMs: number; status: number }>(`fetch ${url}`)).ttfbMs,
    async () => Number(await bed.curl(['-o', '/dev/null', '-w', '%{time_starttransfer}', '--socks5', `127.0.0.1:${PORT.socks}`, url])) * 1000,
  ];
  try {
    await alternate(3, arms);
    const [fetch, curl] = (await alternate(SAMPLES, arms)) as [number[], number[]];
    const q = median(fetch) / median(curl);
    const ms = (n: number) => `${n.toFixed(2)} ms`;
    return [{
      group: 'embed', name: 'library tunnel.fetch time to first byte', opsPerSec: median(fetch), unit: 'ms',
      reference: { name: 'curl --socks5 to the same process, time_starttransfer', opsPerSec: median(curl) },
      target: { text: '<= 1.2x', met: q <= 1.2 },
      detail: `fetch ${spread(fetch, ms)}; curl ${spread(curl, ms)}; ${load()}`,
    }];
  } finally {
    await bed.stop();
  }
}
