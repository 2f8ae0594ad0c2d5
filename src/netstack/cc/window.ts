/**
 * Window sizes every window-based controller starts from or falls back to:
 * the initial window (RFC 6928), the restart window after idle (RFC 5681
 * section 4.1) and the smallest slow-start threshold (RFC 5681 equation 4).
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
