/**
 * SO_MARK on Node's dgram sockets. In TUN mode with a default route through
 * the tunnel, wg-quick's policy rules send every packet without the fwmark
 * into the tunnel table; the outer UDP socket must carry the mark so its
 * datagrams take the main table instead of looping into the TUN. dgram has no
 * setsockopt, so the addon calls setsockopt(fd, SOL_SOCKET, SO_MARK) on the
 * fd of the socket's libuv handle. The fd exists only once the socket is
 * bound; rebinding makes a new fd, which must be marked again.
 */
import type { Socket } from 'node:dgram';
import { constants as osConstants } from 'node:os';
import { requireAddon } from './addon.js';

/** A dgram socket, or anything that knows its descriptor (the addon's own UDP sockets). */
export type MarkableSocket = Socket | { readonly fd: number };

/** The OS fd behind a bound dgram socket (Linux), or -1. */
export function socketFd(socket: MarkableSocket): number {
  if ('fd' in socket && typeof socket.fd === 'number') return socket.fd;
  // dgram keeps its handle under an internal symbol; `socket._handle` is the same object but warns (DEP0112).
  const sym = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'state symbol');
  const state = sym ? (socket as unknown as Record<symbol, { handle?: { fd?: unknown } | null }>)[sym] : undefined;
  const fd = state?.handle?.fd;
  return typeof fd === 'number' ? fd : -1;
}

function errName(neg: number): string {
  const n = -neg;
  return Object.entries(osConstants.errno).find(([, v]) => v === n)?.[0] ?? `errno ${n}`;
}

/** Set SO_MARK (0 clears it). Throws with a reason: addon missing, socket not bound, EPERM without CAP_NET_ADMIN. */
export function setSocketMark(socket: MarkableSocket, mark: number): void {
  if (!Number.isInteger(mark) || mark < 0 || mark > 0xffffffff) throw new RangeError(`fwmark must be a 32-bit unsigned integer, got ${mark}`);
  const addon = requireAddon();
  const fd = socketFd(socket);
  if (fd < 0) throw new Error('cannot set SO_MARK: the UDP socket is not bound yet (or this is not Linux)');
  const r = addon.setSockMark(fd, mark);
  if (r < 0) {
    const code = errName(r);
    const e = new Error(
      code === 'EPERM'
        ? `cannot set fwmark 0x${mark.toString(16)} on the UDP socket: needs CAP_NET_ADMIN (EPERM)`
        : `cannot set fwmark 0x${mark.toString(16)} on the UDP socket: ${code}`,
    ) as NodeJS.ErrnoException;
    e.code = code;
    throw e;
  }
}

/** Read SO_MARK back (getsockopt). */
export function getSocketMark(socket: MarkableSocket): number {
  const addon = requireAddon();
  const fd = socketFd(socket);
  if (fd < 0) throw new Error('cannot read SO_MARK: the UDP socket is not bound');
  const r = addon.getSockMark(fd);
  if (r < 0) throw new Error(`cannot read SO_MARK: ${errName(r)}`);
  return r;
}
