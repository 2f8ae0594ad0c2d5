/**
 * Status codes written as `errno=N` at the end of every UAPI response.
 * wireguard-go (ipc/uapi_unix.go) writes negated Linux errno values, and wg(8)
 * reads them back with `errno = -ret`, so a client sees e.g. EINVAL for -22.
 */

export const UAPI_OK = 0;
/** -EIO: reading the request failed (wireguard-go: a line longer than 64 KiB). */
export const UAPI_EIO = -5;
/** -ENOMEM: the request exceeded our size cap (no wireguard-go equivalent). */
export const UAPI_ENOMEM = -12;
/** -EINVAL: a key or value was not accepted. */
export const UAPI_EINVAL = -22;
/** -EPROTO: a line without '='. */
export const UAPI_EPROTO = -71;
/** -EADDRINUSE: the listen port (or fwmark) could not be applied to the socket. */
export const UAPI_EADDRINUSE = -98;
/** -55 (ENOANO): wireguard-go's catch-all for unexpected failures. */
export const UAPI_EUNKNOWN = -55;

/** Normalise a backend's status to wireguard-go's convention (0 or negative). */
export function normalizeErrno(errno: number): number {
  if (!Number.isInteger(errno)) return UAPI_EUNKNOWN;
  return errno > 0 ? -errno : errno;
}
