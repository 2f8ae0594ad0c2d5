/**
 * Window sizes every window-based controller starts from or falls back to:
 * the initial window (RFC 6928), the restart window after idle (RFC 5681
 * section 4.1) and the smallest slow-start threshold (RFC 5681 equation 4);
 * and the pacing rate a window controller asks for (Linux's, with fq).
 */

/** RFC 6928: min(10*MSS, max(2*MSS, 14600)). */
export function initialWindow(mss: number): number {
  return Math.min(10 * mss, Math.max(2 * mss, 14600));
}

/** RFC 5681 equation 4: ssthresh never drops below two segments. */
export function minSsthresh(mss: number): number {
  return 2 * mss;
}

/** ssthresh until the first reduction: "arbitrarily high" (RFC 5681 section 3.1). */
export const INITIAL_SSTHRESH = 0x7fffffff;

/** Linux's pacing ratios (tcp_pacing_ss_ratio, tcp_pacing_ca_ratio): room for slow start's doubling, a little over cwnd per RTT after. */
export const PACING_SS_RATIO = 2;
export const PACING_CA_RATIO = 1.2;

/**
 * A window controller's pacing rate, bytes per ms (Linux tcp_update_pacing_rate):
 * cwnd per smoothed RTT, doubled while below half of ssthresh, 1.2x after;
 * Infinity (no pacing) before the first RTT sample.
 */
export function windowPacingRate(cwnd: number, ssthresh: number, srtt: number): number {
  if (!(srtt > 0)) return Infinity;
  return ((cwnd < ssthresh / 2 ? PACING_SS_RATIO : PACING_CA_RATIO) * cwnd) / srtt;
}
