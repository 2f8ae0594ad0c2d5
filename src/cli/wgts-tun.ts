#!/usr/bin/env node
/**
 * `wgts-tun [-f|--foreground] INTERFACE-NAME`: wgts in wireguard-go's place,
 * the userspace implementation wg-quick runs when the kernel module is
 * missing (WG_QUICK_USERSPACE_IMPLEMENTATION=wgts-tun). Same contract:
 *
 *   create TUN NAME (or adopt WG_TUN_FD) -> no key, no peers
 *   -f / WG_PROCESS_FOREGROUND=1: serve UAPI NAME.sock (or WG_UAPI_FD) until
 *       SIGTERM/SIGINT, `ip link del NAME`, or NAME.sock is deleted
 *   else daemonize: a detached copy of this program gets the TUN as fd 3
 *       (WG_TUN_FD=3) and a pipe as fd 4 on which it says "ready" once
 *       its UDP socket and NAME.sock are up; only then does this process
 *       exit 0, so wg-quick's `wg setconf` finds the socket. A child that
 *       fails says why there and this process exits 1.
 *
 * LOG_LEVEL=verbose|debug, error (the default) or silent. A daemon's
 * output goes to ours only when LOG_LEVEL is set and not silent, else to
 * /dev/null, as wireguard-go does. No key material is ever logged.
 */
import { spawn } from 'node:child_process';
import { closeSync, writeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Logger } from '../node/log.js';
import { adoptTun, openTun, type TunDevice } from '../tun/index.js';
import { UapiTunInterface } from '../interface/uapi-tun.js';
import { validInterfaceName } from '../uapi/paths.js';

const PROG = 'wgts-tun';
/** wireguard-go's default MTU for a new device. */
const DEFAULT_MTU = 1420;
/** Internal: the daemon child's readiness pipe (set by the parent only). */
const READY_FD_ENV = 'WGTS_TUN_READY_FD';
/** How long the parent waits for the daemon to be ready. */
const READY_TIMEOUT_MS = 30_000;

function usage(): string {
  return `Usage: ${PROG} [-f/--foreground] INTERFACE-NAME\n`;
}

/** Arguments as wireguard-go takes them: NAME, or -f/--foreground NAME. */
function parseArgs(argv: string[]): { foreground: boolean; name: string } | null {
  if (argv.length === 1 && !argv[0]!.startsWith('-')) return { foreground: false, name: argv[0]! };
  if (argv.length === 2 && (argv[0] === '-f' || argv[0] === '--foreground')) return { foreground: true, name: argv[1]! };
  return null;
}

/** LOG_LEVEL as wireguard-go reads it: verbose (or debug), error (default), silent. */
function logLevelOf(env: string | undefined): 'debug' | 'error' | 'silent' {
  if (env === 'verbose' || env === 'debug') return 'debug';
  if (env === 'silent') return 'silent';
  return 'error';
}

function fdFromEnv(name: string): number | undefined {
  const v = process.env[name];
  if (v === undefined || v === '') return undefined;
  if (!/^\d+$/.test(v)) throw new Error(`${name}=${v} is not a file descriptor number`);
  return Number(v);
}

async function openDevice(name: string): Promise<TunDevice> {
  const fd = fdFromEnv('WG_TUN_FD');
  return fd === undefined ? openTun(name, { mtu: DEFAULT_MTU }) : adoptTun(fd);
}

/** Start the detached daemon with the TUN device; resolves to this process's exit code. */
function daemonize(tun: TunDevice, argv: string[], level: ReturnType<typeof logLevelOf>): Promise<number> {
  const out = process.env['LOG_LEVEL'] && level !== 'silent' ? 'inherit' : 'ignore';
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...argv], {
    detached: true,
    stdio: ['ignore', out, out, tun.fd, 'pipe'],
    env: { ...process.env, WG_TUN_FD: '3', WG_PROCESS_FOREGROUND: '1', [READY_FD_ENV]: '4' },
  });
  return new Promise<number>((resolve) => {
    let said = '';
    const done = (code: number, why?: string): void => {
      clearTimeout(timer);
      if (why) process.stderr.write(`${PROG}: ${why}\n`);
      child.removeAllListeners();
      (child.stdio[4] as NodeJS.ReadableStream | null)?.removeAllListeners();
      child.unref();
      resolve(code);
    };
    const timer = setTimeout(() => done(1, `the daemon did not get ready within ${READY_TIMEOUT_MS / 1000} s`), READY_TIMEOUT_MS);
    child.once('error', (e) => done(1, `cannot start the daemon: ${e.message}`));
    child.once('exit', (code) => done(1, said.trim() || `the daemon exited (${code}) before it was ready`));
    const pipe = child.stdio[4] as NodeJS.ReadableStream | null;
    pipe?.on('data', (b: Buffer) => {
      said += b.toString();
      if (said.startsWith('ready\n')) done(0);
    });
  });
}

/** Tell a waiting parent (if any) that we are up, or why not. */
function report(text: string): void {
  const fd = fdFromEnv(READY_FD_ENV);
  if (fd === undefined) return;
  delete process.env[READY_FD_ENV];
  try {
    writeSync(fd, text);
    closeSync(fd);
  } catch {
    /* the parent is gone: nobody to tell */
  }
}

async function main(argv: string[]): Promise<number> {
  if (argv.length === 1 && argv[0] === '--version') {
    process.stdout.write(`${PROG} (wgts): userspace WireGuard in TypeScript, for wg-quick's userspace slot\n`);
    return 0;
  }
  const args = parseArgs(argv);
  if (!args || !validInterfaceName(args.name)) {
    process.stderr.write(usage());
    return 1;
  }
  const foreground = args.foreground || process.env['WG_PROCESS_FOREGROUND'] === '1';
  const level = logLevelOf(process.env['LOG_LEVEL']);
  const sink = level === 'silent' ? () => {} : (l: string) => void process.stderr.write(l + '\n');
  let log = new Logger(`(${args.name})`, level === 'silent' ? 'error' : level, sink);

  let tun: TunDevice;
  try {
    tun = await openDevice(args.name);
  } catch (e) {
    log.error(`failed to create TUN device: ${(e as Error).message}`);
    report(`failed to create TUN device: ${(e as Error).message}\n`);
    return 1;
  }
  log = new Logger(`(${tun.name})`, log.level, sink);

  if (!foreground) {
    const code = await daemonize(tun, argv, level);
    await tun.close(); // the daemon holds its own descriptor: the interface stays
    return code;
  }

  let iface: UapiTunInterface;
  try {
    const uapiFd = fdFromEnv('WG_UAPI_FD');
    iface = await UapiTunInterface.start(tun, { log, ...(uapiFd !== undefined ? { uapiFd } : {}) });
  } catch (e) {
    log.error(`cannot start: ${(e as Error).message}`);
    report(`cannot start: ${(e as Error).message}\n`);
    return 1;
  }
  log.debug('device started');
  report('ready\n');
  const why = await new Promise<string>((resolve) => {
    iface.once('stop-request', resolve);
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  log.debug(`shutting down: ${why}`);
  await iface.stop();
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`${PROG}: ${(e as Error).message}\n`);
    process.exit(1);
  },
);
