/**
 * Userspace or TUN mode for a new interface: forced by the caller, or TUN
 * when this process can open /dev/net/tun with CAP_NET_ADMIN, with the
 * reason either way (the log says which and why).
 *
 *   'userspace' -> userspace | 'tun' -> tun or an error | 'auto' -> probe
 * `needsUserspace` names what in the config only userspace mode can run
 * (Source = client forwards): 'auto' then picks userspace, '--tun' refuses.
 */
import { tunAvailable, hasNetAdmin } from '../tun/index.js';

export type ModeRequest = 'userspace' | 'tun' | 'auto';

export function chooseMode(requested: ModeRequest, needsUserspace?: string): { mode: 'tun' | 'userspace'; why: string } | { error: string } {
  if (requested === 'userspace') return { mode: 'userspace', why: '--userspace' };
  if (needsUserspace !== undefined) {
    if (requested === 'tun') return { error: `--tun: ${needsUserspace}; run it with --userspace (or use Source = tunnel with ProxyProtocol in TUN mode)` };
    return { mode: 'userspace', why: needsUserspace };
  }
  const avail = tunAvailable();
  const admin = hasNetAdmin();
  if (requested === 'tun') {
    if (!avail.ok) return { error: `--tun: TUN mode is unavailable: ${avail.why}` };
    if (admin === false) return { error: '--tun: this process lacks CAP_NET_ADMIN (run as root, or use --userspace)' };
    return { mode: 'tun', why: '--tun' };
  }
  if (!avail.ok) return { mode: 'userspace', why: `TUN unavailable: ${avail.why}` };
  if (admin === false) return { mode: 'userspace', why: 'no CAP_NET_ADMIN' };
  return { mode: 'tun', why: 'CAP_NET_ADMIN and /dev/net/tun available' };
}
