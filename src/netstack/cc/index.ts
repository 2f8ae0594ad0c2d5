/**
 * The congestion controllers behind one factory: the sender names the
 * algorithm (TcpConfig.congestion, or a per-connection choice) and gets a
 * fresh controller for its send MSS.
 *
 *   createCongestion(cfg.congestion, mss) -> CongestionControl
 */
import type { CongestionControl } from './types.js';
import { Cubic } from './cubic.js';
import { NewReno } from './newreno.js';

export type { CongestionControl, CongestionName, AckEvent, RateSample } from './types.js';

/** The controllers built so far (BBR joins them as CongestionName's third member). */
export type WindowCongestionName = 'cubic' | 'newreno';

export function createCongestion(name: WindowCongestionName, mss: number): CongestionControl {
  switch (name) {
    case 'cubic':
      return new Cubic(mss);
    case 'newreno':
      return new NewReno(mss);
  }
}
