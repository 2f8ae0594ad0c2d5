/**
 * The record of what `wgts up` changed on the system for one interface, so
 * that `wgts down NAME`, or the next `wgts up`/`down` after a crash, can
 * undo it. One JSON file per interface (DIR/NAME.state, mode 0600), rewritten
 * atomically (write + rename) after every step, removed after teardown.
 * DIR is /var/run/wgts for root, else the per-user directory of the UAPI
 * sockets. The owner is identified by PID plus its start time (so a reused
 * PID is not mistaken for it) and by network namespace.
 */
import { chmodSync, mkdirSync, readFileSync, readlinkSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { userSocketDir } from '../uapi/paths.js';

export const SYSTEM_STATE_DIR = '/var/run/wgts';

export interface RuleRecord {
  family: 4 | 6;
  /** `ip rule add not fwmark T table T` was added. */
  table: number;
  /** `ip rule add table main suppress_prefixlength 0` was added. */
  suppress: boolean;
}

export interface TunState {
  version: 1;
  name: string;
  pid: number;
  /** /proc/PID/stat starttime of the owner ('' when unknown). */
  pidStart: string;
  /** readlink /proc/self/ns/net of the owner, e.g. "net:[4026531840]". */
  netns: string;
  /** A PreUp/PostUp hook started: teardown runs PreDown/PostDown. */
  hooks: boolean;
  preDown: string[];
  postDown: string[];
  /** The resolvconf interface record added (e.g. "tun.wg0"), or null. */
  dns: string | null;
  rules: RuleRecord[];
  /** Firewall families set up by add_default ('nft' or 'iptables'), for the log; removal looks the tables up anyway. */
  firewall: ('nft' | 'iptables')[];
  /** The fwmark wg-quick chose (`wg set NAME fwmark N`), or null. */
  fwmark: number | null;
}

/** starttime (field 22) of /proc/PID/stat, or '' if the process does not exist. */
export function processStart(pid: number): string {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return rest[19] ?? '';
  } catch {
    return '';
  }
}

export function currentNetns(): string {
  try {
    return readlinkSync('/proc/self/ns/net');
  } catch {
    return '';
  }
}

/** Whether the process that wrote `s` is still running (same PID, same start time). */
export function ownerAlive(s: Pick<TunState, 'pid' | 'pidStart'>): boolean {
  const start = processStart(s.pid);
  if (start === '') return false;
  return s.pidStart === '' || s.pidStart === start;
}

/** /var/run/wgts when it can be created, else the per-user runtime directory. */
export function defaultStateDir(): string {
  try {
    mkdirSync(SYSTEM_STATE_DIR, { recursive: true, mode: 0o700 });
    return SYSTEM_STATE_DIR;
  } catch {
    return userSocketDir();
  }
}

export class StateFile {
  readonly path: string;

  constructor(readonly dir: string, readonly name: string) {
    this.path = join(dir, `${name}.state`);
  }

  static forInterface(name: string, dir: string = defaultStateDir()): StateFile {
    return new StateFile(dir, name);
  }

  /** A fresh record owned by this process. */
  fresh(fields: Pick<TunState, 'preDown' | 'postDown'>): TunState {
    return {
      version: 1,
      name: this.name,
      pid: process.pid,
      pidStart: processStart(process.pid),
      netns: currentNetns(),
      hooks: false,
      preDown: fields.preDown,
      postDown: fields.postDown,
      dns: null,
      rules: [],
      firewall: [],
      fwmark: null,
    };
  }

  /** The record, or null when there is none or it is unreadable (a warning is the caller's). */
  read(): TunState | null {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch {
      return null;
    }
    try {
      const s = JSON.parse(text) as TunState;
      if (s.version !== 1 || s.name !== this.name || !Number.isInteger(s.pid)) return null;
      return s;
    } catch {
      return null;
    }
  }

  write(s: TunState): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const tmp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(s, null, 2) + '\n', { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, this.path);
  }

  remove(): void {
    try {
      unlinkSync(this.path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
}
