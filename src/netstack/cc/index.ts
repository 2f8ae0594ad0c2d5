/**
 * The congestion controllers behind one factory: the sender names the
 * algorithm (TcpConfig.congestion, or a per-connection choice) and gets a
 * fresh controller for its send MSS. `seed` feeds the only randomness a
 * controller uses (BBR's ProbeBW wait); it comes from the stack's injected
 * random source.
 *
 *   createCongestion(conn.congestion, mss, seed) -> CongestionControl
 */
import type { CongestionControl, CongestionName } from './types.js';
import { Cubic } from './cubic.js';
import { NewReno } from './newreno.js';
import { Bbr } from './bbr.js';

export type { CongestionControl, CongestionName, AckEvent, RateSample } from './types.js';
export { CONGESTION_NAMES } from './types.js';

export function createCongestion(name: CongestionName, mss: number, seed = 0): CongestionControl {
  switch (name) {
    case 'cubic':
      return new Cubic(mss);
    case 'newreno':
      return new NewReno(mss);
    case 'bbr':
      return new Bbr(mss, seed);
  }
}
