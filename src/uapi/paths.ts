/**
 * Where UAPI sockets live (driver side). wg(8) and wireguard-go use
 * /var/run/wireguard/NAME.sock; a user who cannot write there gets a private
 * per-user directory instead: $XDG_RUNTIME_DIR/wgts when XDG_RUNTIME_DIR is set
 * (an absolute path), else /tmp/wgts-UID. Only the first is visible to wg(8);
 * `wgts show` searches all of socketDirs() in order.
 */
import { userInfo } from 'node:os';
import { isAbsolute, join } from 'node:path';

export const SYSTEM_SOCKET_DIR = '/var/run/wireguard';
export const SOCKET_SUFFIX = '.sock';

function uid(): number {
  if (typeof process.getuid === 'function') return process.getuid();
  return userInfo().uid;
}

/** The per-user fallback directory. */
export function userSocketDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env['XDG_RUNTIME_DIR'];
  if (xdg && isAbsolute(xdg)) return join(xdg, 'wgts');
  return `/tmp/wgts-${uid()}`;
}

/** Directories to search for NAME.sock, most authoritative first. */
export function socketDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  const dirs = [SYSTEM_SOCKET_DIR, userSocketDir(env)];
  const tmp = `/tmp/wgts-${uid()}`;
  if (!dirs.includes(tmp)) dirs.push(tmp);
  return dirs;
}

/**
 * Interface names as Linux accepts them (at most 15 bytes, no '/', no
 * whitespace, not "." or ".."); wg(8) refuses names with '/', and this keeps the
 * socket path inside its directory.
 */
export function validInterfaceName(name: string): boolean {
  if (name.length === 0 || Buffer.byteLength(name) > 15) return false;
  if (name === '.' || name === '..') return false;
  return /^[^\s/:\0]+$/.test(name);
}

export function socketPath(dir: string, name: string): string {
  return join(dir, name + SOCKET_SUFFIX);
}
