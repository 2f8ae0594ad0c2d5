/**
 * Driver side of the UAPI: a stream UNIX socket NAME.sock whose connections
 * each get a sans-IO UapiConnection (bytes in -> responses out).
 * Placement and permissions follow wireguard-go's ipc/uapi_unix.go: directory
 * /var/run/wireguard (mode 0755), socket created under umask 077 (so mode
 * 0700, owner only); a live socket of the same name makes start fail (and
 * liveUapiSocket finds it beforehand), a stale one is removed. Without write access there, the per-user directory from
 * paths.ts is used (mode 0700, must be owned by us). Deleting the socket file
 * is the conventional "shut down" signal for userspace devices (wg-quick
 * down does it); onSocketRemoved reports it, like wireguard-go's inotify watch.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { constants as fsc, promises as fsp, watch, type FSWatcher } from 'node:fs';
import { basename } from 'node:path';
import type { UapiBackend } from './types.js';
import { UapiConnection } from './connection.js';
import { SYSTEM_SOCKET_DIR, socketPath, userSocketDir, validInterfaceName } from './paths.js';

export { uapiClient, type UapiClientOptions } from './client.js';
export { socketDirs, SYSTEM_SOCKET_DIR, userSocketDir, validInterfaceName } from './paths.js';

export interface UapiServerOptions {
  /** Serve in this directory instead of the default choice. */
  dir?: string;
  /** Called once if NAME.sock is deleted or replaced while we serve it. */
  onSocketRemoved?: () => void;
  /** Diagnostics (never key material). */
  onEvent?: (message: string) => void;
  /** Per-request cap handed to UapiConnection. */
  maxRequestBytes?: number;
  /**
   * Serve on this listening UNIX socket, inherited from whoever created
   * NAME.sock (WG_UAPI_FD, as wireguard-go takes it); NAME.sock is still
   * watched for removal when it is there.
   */
  fd?: number;
}

export interface UapiServer {
  path: string;
  close(): Promise<void>;
}

function errCode(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | null)?.code;
}

function uid(): number {
  return typeof process.getuid === 'function' ? process.getuid() : -1;
}

/** Create `dir` if needed; a private directory must be ours and closed to others. */
async function prepareDir(dir: string, mode: number, privateDir: boolean): Promise<void> {
  await fsp.mkdir(dir, { recursive: true, mode });
  const st = await fsp.lstat(dir);
  if (!st.isDirectory()) throw new Error(`uapi: ${dir} is not a directory`);
  if (privateDir && uid() >= 0 && (st.uid !== uid() || (st.mode & 0o077) !== 0)) {
    throw new Error(`uapi: ${dir} must be owned by uid ${uid()} with no group/other access`);
  }
}

async function chooseDir(opts: UapiServerOptions): Promise<string> {
  if (opts.dir !== undefined) {
    await prepareDir(opts.dir, opts.dir === SYSTEM_SOCKET_DIR ? 0o755 : 0o700, false);
    return opts.dir;
  }
  try {
    await prepareDir(SYSTEM_SOCKET_DIR, 0o755, false);
    await fsp.access(SYSTEM_SOCKET_DIR, fsc.W_OK | fsc.X_OK);
    return SYSTEM_SOCKET_DIR;
  } catch (e) {
    const code = errCode(e);
    if (code !== 'EACCES' && code !== 'EPERM' && code !== 'EROFS' && code !== 'ENOENT') throw e;
  }
  const dir = userSocketDir();
  await prepareDir(dir, 0o700, true);
  return dir;
}

/** Listen with umask 077 so the socket is born owner-only (as wireguard-go does). */
function listenOnce(server: Server, path: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => {
      server.off('listening', onListening);
      reject(err);
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    let oldMask: number | null = null;
    try {
      oldMask = process.umask(0o077);
    } catch {
      /* worker threads cannot change the umask; the chmod below still applies */
    }
    try {
      server.listen(path); // binds synchronously for a pipe path
    } finally {
      if (oldMask !== null) process.umask(oldMask);
    }
  });
}

/** Listen on an inherited, already listening socket descriptor. */
function listenFd(server: Server, fd: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ fd }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** Resolves true if something accepts connections at `path` (a refused or missing socket: false; slow: true after 1 s). */
export function isLive(path: string): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const s = connect({ path });
    const timer = setTimeout(() => {
      s.destroy();
      resolve(true); // not refused: someone is there but slow
    }, 1000);
    s.once('connect', () => {
      clearTimeout(timer);
      s.destroy();
      resolve(true);
    });
    s.once('error', (err) => {
      clearTimeout(timer);
      s.destroy();
      resolve(errCode(err) !== 'ECONNREFUSED' && errCode(err) !== 'ENOENT' ? true : false);
    });
  });
}

async function bindSocket(server: Server, path: string): Promise<void> {
  try {
    await listenOnce(server, path);
    return;
  } catch (e) {
    if (errCode(e) !== 'EADDRINUSE') throw e;
  }
  const st = await fsp.lstat(path).catch(() => null);
  if (st !== null && !st.isSocket()) throw new Error(`uapi: ${path} exists and is not a socket`);
  if (await isLive(path)) throw new Error(`uapi: ${path} is in use by a running process`);
  await fsp.unlink(path).catch((e: unknown) => {
    if (errCode(e) !== 'ENOENT') throw e;
  });
  await listenOnce(server, path);
}

/**
 * The path of a live NAME.sock where startUapiServer(name, opts) would
 * serve, or null when it is free (absent, or a stale socket it would
 * replace): lets a caller refuse a second instance before starting anything.
 */
export async function liveUapiSocket(name: string, opts: Pick<UapiServerOptions, 'dir'> = {}): Promise<string | null> {
  if (!validInterfaceName(name)) return null;
  const path = socketPath(await chooseDir(opts), name);
  const st = await fsp.lstat(path).catch(() => null);
  return st?.isSocket() && (await isLive(path)) ? path : null;
}

/** Serve the UAPI for interface `name` until close(). */
export async function startUapiServer(name: string, backend: UapiBackend, opts: UapiServerOptions = {}): Promise<UapiServer> {
  if (!validInterfaceName(name)) throw new Error(`uapi: invalid interface name ${JSON.stringify(name)}`);
  const onEvent = opts.onEvent ?? (() => {});
  const dir = opts.fd !== undefined ? (opts.dir ?? SYSTEM_SOCKET_DIR) : await chooseDir(opts);
  const path = socketPath(dir, name);
  const sockets = new Set<Socket>();

  const server = createServer({ allowHalfOpen: true }, (sock) => {
    sockets.add(sock);
    const conn = new UapiConnection(backend, {
      onEvent,
      ...(opts.maxRequestBytes !== undefined ? { maxRequestBytes: opts.maxRequestBytes } : {}),
    });
    const send = (responses: string[]): void => {
      for (const r of responses) sock.write(r);
      if (conn.closed) {
        sock.pause();
        sock.end(() => sock.destroy());
      } else if (sock.writableNeedDrain) {
        // A client that sends requests without reading answers must not make us buffer without bound.
        sock.pause();
        sock.once('drain', () => sock.resume());
      }
    };
    sock.on('data', (chunk: Buffer) => {
      if (!conn.closed) send(conn.feed(chunk));
    });
    sock.on('end', () => {
      if (!conn.closed) send(conn.end());
      else sock.end();
    });
    sock.on('error', () => sock.destroy());
    sock.on('close', () => sockets.delete(sock));
  });
  server.maxConnections = 128;
  server.on('error', (err) => onEvent(`uapi: server error: ${err.message}`));

  let ino: number | null;
  if (opts.fd !== undefined) {
    await listenFd(server, opts.fd);
    ino = (await fsp.lstat(path).catch(() => null))?.ino ?? null;
  } else {
    await bindSocket(server, path);
    await fsp.chmod(path, 0o700);
    ino = (await fsp.lstat(path)).ino;
  }

  let watcher: FSWatcher | null = null;
  let closed = false;
  if (opts.onSocketRemoved && ino !== null) {
    const cb = opts.onSocketRemoved;
    let fired = false;
    const check = (): void => {
      if (closed || fired) return;
      fsp.lstat(path).then(
        (st) => {
          if (st.ino !== ino && !fired && !closed) {
            fired = true;
            cb();
          }
        },
        () => {
          if (!fired && !closed) {
            fired = true;
            cb();
          }
        },
      );
    };
    watcher = watch(dir, { persistent: false }, (_event, file) => {
      if (file === null || file === basename(path)) check();
    });
    watcher.on('error', () => check());
  }

  return {
    path,
    close: async (): Promise<void> => {
      if (closed) return;
      closed = true;
      watcher?.close();
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await done;
      // libuv unlinks the path on close; make sure, but never remove a socket someone else made since.
      const st = await fsp.lstat(path).catch(() => null);
      if (st !== null && ino !== null && st.ino === ino) await fsp.unlink(path).catch(() => {});
    },
  };
}
