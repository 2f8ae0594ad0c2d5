/**
 * `wgts up FILE.conf`: read a wg-quick config, refuse it whole if anything
 * is wrong, then run it as an Interface (src/interface) in the foreground
 * until SIGINT/SIGTERM; SIGHUP re-reads the file. (`wgts down NAME`: ./down.ts.)
 *
 *   argv -> file -> config (+ --forward/--expose) -> Interface.start
 *        -> signals: SIGHUP reload, SIGINT/SIGTERM (or a stop-request) stop
 */
import { existsSync } from 'node:fs';
import { loadConfigFile } from '../config/load.js';
import { formatIssue } from '../config/issues.js';
import { Logger, isLogLevel, type LogLevel } from '../node/log.js';
import type { WgConfig } from '../config/types.js';
import type { NatRule } from '../nat/index.js';
import { parseShortForm, checkShortFormRules } from '../config/short-form.js';
import type { CliRules } from '../node/nat-host.js';
import { Interface, ConfigRefused, AlreadyRunning } from '../interface/interface.js';

export const UP_USAGE = `Usage: wgts up FILE.conf | NAME [--tun | --userspace] [--interface NAME] [--forward SPEC]... [--expose SPEC]... [--log-level error|warn|info|debug]

Reads a wg-quick configuration file and runs the interface in the foreground.
A bare NAME (no / and no .conf) is /etc/wireguard/NAME.conf, as for wg-quick.
Without --tun or --userspace it picks TUN mode when it can open /dev/net/tun
with CAP_NET_ADMIN, else userspace mode, and says which.
  --tun              a kernel-visible interface, set up step by step as wg-quick does
  --userspace        no TUN device, no privileges: a userspace IP stack answers
                     on the Address values
  --interface NAME   interface name (default: the file's stem, as wg-quick)
  --forward SPEC     like a [Forward] section: PROTO:LISTEN=TARGET[,Key=Value...]
                     e.g. --forward tcp:0.0.0.0:8080=10.0.0.2:8080 (repeatable)
  --expose SPEC      like an [Expose] section, e.g. --expose tcp:10.0.0.2:80=127.0.0.1:8080
SIGHUP re-reads FILE.conf and applies added or removed peers and forwards.
  --log-level LEVEL  default info`;

/** Repeats of a signal within this long of the first are copies of it (see runUp). */
const DUPLICATE_SIGNAL_MS = 1000;

/** The reason a start-up was aborted: SIGINT/SIGTERM arrived while it ran. */
class StartInterrupted extends Error {
  constructor(readonly sig: NodeJS.Signals) {
    super(`${sig} during start-up`);
  }
}

interface UpArgs { file: string; name?: string; level: LogLevel; mode: 'userspace' | 'tun' | 'auto'; forward: string[]; expose: string[] }

function parseArgs(argv: string[]): UpArgs | string {
  let file: string | undefined;
  let name: string | undefined;
  let level: LogLevel = 'info';
  let mode: UpArgs['mode'] = 'auto';
  const forward: string[] = [];
  const expose: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const val = (): string | undefined => argv[++i];
    if (a === '--userspace') mode = 'userspace';
    else if (a === '--tun') mode = 'tun';
    else if (a === '--interface' || a === '-i') { const v = val(); if (!v) return `${a} needs a value`; name = v; }
    else if (a.startsWith('--interface=')) name = a.slice(12);
    else if (a === '--forward' || a === '--expose') { const v = val(); if (!v) return `${a} needs a value, e.g. ${a === '--forward' ? 'tcp:0.0.0.0:8080=10.0.0.2:8080' : 'tcp:10.0.0.2:8080=127.0.0.1:8080'}`; (a === '--forward' ? forward : expose).push(v); }
    else if (a.startsWith('--forward=')) forward.push(a.slice(10));
    else if (a.startsWith('--expose=')) expose.push(a.slice(9));
    else if (a === '--log-level') { const v = val(); if (!v || !isLogLevel(v)) return `--log-level must be one of error, warn, info, debug`; level = v; }
    else if (a.startsWith('--log-level=')) { const v = a.slice(12); if (!isLogLevel(v)) return `--log-level must be one of error, warn, info, debug`; level = v; }
    else if (a.startsWith('-')) return `unknown option ${a}`;
    else if (file === undefined) file = a;
    else return `unexpected argument ${a}`;
  }
  if (!file) return 'missing FILE.conf';
  return { file, level, mode, forward, expose, ...(name !== undefined ? { name } : {}) };
}

export async function runUp(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) { console.log(UP_USAGE); return 0; }
  const args = parseArgs(argv);
  if (typeof args === 'string') {
    process.stderr.write(`wgts up: ${args}\n${UP_USAGE}\n`);
    return 1;
  }
  args.file = configPath(args.file);
  const parsed = await loadConfigFile(args.file, args.name !== undefined ? { interfaceName: args.name } : {});
  if (!parsed.ok) {
    for (const e of parsed.errors) process.stderr.write(`error: ${formatIssue(e)}\n`);
    process.stderr.write(`wgts up: ${args.file} refused; nothing was started\n`);
    return 1;
  }
  const cfg = parsed.config;
  const log = new Logger(cfg.interfaceName, args.level);
  const cli = parseCliRules(args, cfg);
  if (typeof cli === 'string') {
    process.stderr.write(cli);
    process.stderr.write(`wgts up: nothing was started\n`);
    return 1;
  }
  for (const w of cli.warnings) log.warn(w);
  // One listener per signal for the whole run. A signal during start-up
  // aborts it: Interface.start stops before its next step and undoes what it
  // did. Swapping listeners instead would lose a signal that libuv caught but
  // had not yet dispatched.
  const abort = new AbortController();
  let firstSignalAt = 0;
  let onSignal = (sig: NodeJS.Signals): void => {
    if (abort.signal.aborted) return;
    firstSignalAt = Date.now();
    abort.abort(new StartInterrupted(sig));
  };
  process.on('SIGINT', (sig) => onSignal(sig));
  process.on('SIGTERM', (sig) => onSignal(sig));
  let iface: Interface;
  try {
    iface = await Interface.start(cfg, { log, mode: args.mode, rules: cli.rules, source: args.file, signal: abort.signal });
  } catch (e) {
    if (e instanceof StartInterrupted) {
      log.info(`${e.sig} during start-up: stopped, and removed what was set up`);
      return 0;
    }
    for (const line of (e as Error).message.split('\n')) log.error(line);
    process.stderr.write(e instanceof ConfigRefused ? `wgts up: ${args.file} refused; nothing was started\n`
      : e instanceof AlreadyRunning ? `wgts up: nothing was started\n`
      : `wgts up: not started; what had started is stopped and removed\n`);
    return 1;
  }
  return await new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (why: string, code = 0): void => {
      if (stopping) return;
      stopping = true;
      log.info(`${why}: shutting down`);
      void iface.stop().then(() => resolve(code));
    };
    onSignal = (sig) => {
      if (!stopping) { firstSignalAt = Date.now(); stop(sig); return; }
      // npx and sudo pass a terminal's Ctrl-C on to us, which the terminal
      // also sent us: a copy within a second is the same request.
      if (Date.now() - firstSignalAt < DUPLICATE_SIGNAL_MS) return;
      // A later one: the user wants out now.
      log.warn(`${sig} again: exiting without finishing the clean-up; \`wgts down ${iface.name}\` removes what is left`);
      process.exit(1);
    };
    const early = abort.signal.reason as StartInterrupted | undefined;
    if (early) stop(early.sig);
    iface.on('stop-request', (why, code) => stop(why, code));
    process.on('SIGHUP', () => {
      if (!stopping) void reload(args, iface, log);
    });
  });
}

/** wg-quick's CONFIG_FILE rule: a bare interface name means /etc/wireguard/NAME.conf. */
export function configPath(arg: string, exists: (p: string) => boolean = existsSync): string {
  if (arg.includes('/') || arg.endsWith('.conf') || exists(arg)) return arg;
  return /^[a-zA-Z0-9_=+.-]{1,15}$/.test(arg) ? `/etc/wireguard/${arg}.conf` : arg;
}

/** Command-line --forward/--expose rules, checked against the config like its own sections. */
function parseCliRules(args: UpArgs, cfg: WgConfig): { rules: CliRules; warnings: string[] } | string {
  const rules: CliRules = { forward: [], expose: [] };
  const errors: string[] = [];
  const warnings: string[] = [];
  for (const kind of ['forward', 'expose'] as const) {
    const items: Array<{ rule: NatRule; arg: string }> = [];
    for (const arg of args[kind]) {
      const r = parseShortForm(kind, arg);
      warnings.push(...r.warnings);
      if (!r.ok) { errors.push(...r.errors); continue; }
      items.push({ rule: r.rule, arg });
      rules[kind].push(r.rule);
    }
    const c = checkShortFormRules(kind, items, cfg);
    errors.push(...c.errors);
    warnings.push(...c.warnings);
  }
  if (errors.length) return errors.map((e) => `error: ${e}\n`).join('');
  return { rules, warnings };
}

/** SIGHUP: re-read the file; a bad file changes nothing, a good one is applied in place. */
async function reload(args: UpArgs, iface: Interface, log: Logger): Promise<void> {
  log.info(`SIGHUP: reloading ${args.file}`);
  const parsed = await loadConfigFile(args.file, args.name !== undefined ? { interfaceName: args.name } : {});
  if (!parsed.ok) {
    for (const e of parsed.errors) log.error(`reload refused: ${formatIssue(e)}`);
    log.error('reload refused: the running configuration is unchanged');
    return;
  }
  await iface.reload(parsed.config);
}
