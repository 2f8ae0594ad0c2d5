/**
 * Can this process run TUN mode? Cheap checks, in the order a user fixes
 * them: Linux, the addon loads, /dev/net/tun opens, CAP_NET_ADMIN is in the
 * effective set. openTun() can still fail later (e.g. the name is taken);
 * its error says why.
 */
import { closeSync, openSync, readFileSync } from 'node:fs';
import { loadAddon } from '../host/addon.js';

const CAP_NET_ADMIN = 12;

/** Whether CAP_NET_ADMIN is in this process's effective capability set (null: unknown). */
export function hasNetAdmin(status: string = readStatus()): boolean | null {
  const m = /^CapEff:\s*([0-9a-fA-F]+)$/m.exec(status);
  if (!m) return null;
  return ((BigInt('0x' + m[1]) >> BigInt(CAP_NET_ADMIN)) & 1n) === 1n;
}

function readStatus(): string {
  try {
    return readFileSync('/proc/self/status', 'utf8');
  } catch {
    return '';
  }
}

export function tunAvailable(): { ok: true } | { ok: false; why: string } {
  const addon = loadAddon();
  if (!addon.ok) return { ok: false, why: addon.why };
  try {
    closeSync(openSync('/dev/net/tun', 'r+'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { ok: false, why: '/dev/net/tun does not exist: load the tun module (modprobe tun), or in a container pass the device (--device /dev/net/tun)' };
    return { ok: false, why: `/dev/net/tun cannot be opened (${code ?? (e as Error).message}): run as root or make the device accessible` };
  }
  if (hasNetAdmin() === false) {
    return { ok: false, why: 'this process lacks CAP_NET_ADMIN, needed to create a TUN interface and set addresses, routes and SO_MARK: run as root, or grant the capability' };
  }
  return { ok: true };
}
