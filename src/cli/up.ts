/**
 * `wgts up FILE.conf`: read a wg-quick config, refuse it whole if anything
 * is wrong, then run the device in the foreground until SIGINT/SIGTERM,
 * serving the UAPI so `wg show NAME` works.
 */
import { loadConfigFile } from '../config/load.js';
import { formatIssue } from '../config/issues.js';
import { Driver } from '../node/driver.js';
import { Logger, isLogLevel, type LogLevel } from '../node/log.js';
import { driverBackend } from '../node/uapi-backend.js';
import { startUapiServer, type UapiServer } from '../uapi/server.js';
import { encodeKey } from '../crypto/util.js';

export const UP_USAGE = `Usage: wgts up FILE.conf [--userspace] [--interface NAME] [--log-level error|warn|info|debug]

Reads a wg-quick configuration file and runs the interface in the foreground.
  --userspace        no TUN device, no privileges: a userspace IP stack answers
                     on the Address values (the only mode so far)
  --interface NAME   interface name (default: the file's stem, as wg-quick)
  --log-level LEVEL  default info`;

interface UpArgs { file: string; name?: string; level: LogLevel; mode: 'userspace' | 'tun' | 'auto' }

function parseArgs(argv: string[]): UpArgs | string {
  let file: string | undefined;
  let name: string | undefined;
  let level: LogLevel = 'info';
  let mode: UpArgs['mode'] = 'auto';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const val = (): string | undefined => argv[++i];
    if (a === '--userspace') mode = 'userspace';
    else if (a === '--tun') mode = 'tun';
    else if (a === '--interface' || a === '-i') { const v = val(); if (!v) return `${a} needs a value`; name = v; }
    else if (a.startsWith('--interface=')) name = a.slice(12);
    else if (a === '--log-level') { const v = val(); if (!v || !isLogLevel(v)) return `--log-level must be one of error, warn, info, debug`; level = v; }
    else if (a.startsWith('--log-level=')) { const v = a.slice(12); if (!isLogLevel(v)) return `--log-level must be one of error, warn, info, debug`; level = v; }
    else if (a.startsWith('-')) return `unknown option ${a}`;
    else if (file === undefined) file = a;
    else return `unexpected argument ${a}`;
  }
  if (!file) return 'missing FILE.conf';
  return { file, level, mode, ...(name !== undefined ? { name } : {}) };
}

export async function runUp(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) { console.log(UP_USAGE); return 0; }
  const args = parseArgs(argv);
  if (typeof args === 'string') {
    process.stderr.write(`wgts up: ${args}\n${UP_USAGE}\n`);
    return 1;
  }
  if (args.mode === 'tun') {
    process.stderr.write('wgts up: --tun is not available yet: this build has userspace mode only (use --userspace)\n');
    return 1;
  }
  const parsed = await loadConfigFile(args.file, args.name !== undefined ? { interfaceName: args.name } : {});
  if (!parsed.ok) {
    for (const e of parsed.errors) process.stderr.write(`error: ${formatIssue(e)}\n`);
    process.stderr.write(`wgts up: ${args.file} refused; nothing was started\n`);
    return 1;
  }
  const cfg = parsed.config;
  const log = new Logger(cfg.interfaceName, args.level);
  for (const w of cfg.warnings) log.warn(formatIssue(w));
  log.info(`userspace mode${args.mode === 'auto' ? ' (TUN mode is not built yet)' : ''}: no TUN device; the built-in stack answers on ${cfg.iface.addresses.map((a) => `${a.ip}/${a.cidr}`).join(', ') || 'no address'}`);
  log.info(`public key ${encodeKey(cfg.iface.publicKey)}`);

  const driver = new Driver({ config: cfg, log });
  try {
    await driver.start();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') {
      log.error(`UDP port ${cfg.iface.listenPort} is in use: another wgts or wg-quick? Choose another ListenPort in ${args.file}`);
    } else if (code === 'EACCES') {
      log.error(`not allowed to bind UDP port ${cfg.iface.listenPort}: choose a ListenPort above 1023 or run with privileges`);
    } else {
      log.error(`cannot start: ${(e as Error).message}`);
    }
    await driver.stop();
    return 1;
  }

  let uapi: UapiServer | null = null;
  const backend = driverBackend(driver, (port) => {
    void (async () => {
      const old = driver.bind.port;
      try {
        await driver.bind.close();
        await driver.bind.open(port);
        log.info(`listen port changed to ${driver.bind.port}`);
      } catch (e) {
        log.error(`cannot bind UDP port ${port}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; keeping ${old}`);
        await driver.bind.open(old).catch(() => log.error('cannot rebind the old port either'));
      }
    })();
  });
  try {
    uapi = await startUapiServer(cfg.interfaceName, backend, { onEvent: (m) => log.debug(m) });
    log.info(`UAPI socket ${uapi.path} (use: wgts show ${cfg.interfaceName}${uapi.path.startsWith('/var/run/wireguard/') ? `, or wg show ${cfg.interfaceName}` : ''})`);
  } catch (e) {
    log.error(`${(e as Error).message}: is another wgts running as ${cfg.interfaceName}? Use --interface NAME`);
    await driver.stop();
    return 1;
  }

  return await new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (sig: string) => {
      if (stopping) return;
      stopping = true;
      log.info(`${sig}: shutting down`);
      void (async () => {
        await uapi?.close();
        await driver.stop();
        resolve(0);
      })();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}
