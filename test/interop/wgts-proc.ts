/**
 * Runs `wgts up` (the built CLI) inside a test namespace, from a wg-quick
 * config written to a 0600 file, and waits until its UAPI socket answers.
 */
import { mkdtempSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Netns, waitFor, trackPath, type Proc } from '../harness/netns.js';

export const CLI = process.env.WGTS_CLI ?? resolve('dist/src/cli/main.js');
let counter = 0;

export function uniqueWgtsName(): string {
  return `wgts${process.pid.toString(36)}u${counter++}`.slice(0, 15);
}

export interface WgtsConf {
  privateKey: string;
  listenPort?: number;
  addresses: string[];
  peers: Array<{ publicKey: string; presharedKey?: string; endpoint?: string; allowedIps: string[]; persistentKeepalive?: number }>;
  extra?: string;
}

export function renderConf(c: WgtsConf): string {
  const l = ['[Interface]', `PrivateKey = ${c.privateKey}`];
  if (c.listenPort !== undefined) l.push(`ListenPort = ${c.listenPort}`);
  l.push(`Address = ${c.addresses.join(', ')}`);
  for (const p of c.peers) {
    l.push('', '[Peer]', `PublicKey = ${p.publicKey}`);
    if (p.presharedKey) l.push(`PresharedKey = ${p.presharedKey}`);
    if (p.endpoint) l.push(`Endpoint = ${p.endpoint}`);
    l.push(`AllowedIPs = ${p.allowedIps.join(', ')}`);
    if (p.persistentKeepalive) l.push(`PersistentKeepalive = ${p.persistentKeepalive}`);
  }
  if (c.extra) l.push('', c.extra);
  return l.join('\n') + '\n';
}

export class WgtsProc {
  private constructor(readonly proc: Proc, readonly name: string, readonly dir: string, readonly socketPath: string, readonly confFile: string) {}

  static writeConf(text: string, fileName = 'wg0.conf'): { dir: string; file: string } {
    const dir = mkdtempSync(join(tmpdir(), 'wgts-test-'));
    trackPath(dir);
    const file = join(dir, fileName);
    writeFileSync(file, text, { mode: 0o600 });
    return { dir, file };
  }

  static async start(ns: Netns, conf: WgtsConf | string, opts: { name?: string; args?: string[]; mode?: '--userspace' | '--tun'; env?: Record<string, string> } = {}): Promise<WgtsProc> {
    const { dir, file } = WgtsProc.writeConf(typeof conf === 'string' ? conf : renderConf(conf));
    const name = opts.name ?? uniqueWgtsName();
    const socketPath = `/var/run/wireguard/${name}.sock`;
    trackPath(socketPath);
    const proc = ns.spawn([process.execPath, CLI, 'up', file, opts.mode ?? '--userspace', '--interface', name, '--log-level', 'debug', ...(opts.args ?? [])], { label: `wgts ${name}`, ...(opts.env ? { env: opts.env } : {}) });
    await waitFor(() => {
      proc.assertRunning();
      return existsSync(socketPath) && proc.output().includes('UAPI socket');
    }, 8000, `wgts ${name} to serve its UAPI socket`);
    return new WgtsProc(proc, name, dir, socketPath, file);
  }

  output(): string { return this.proc.output(); }

  async stop(): Promise<number | null> {
    const exit = await this.proc.stop(8000); // SIGTERM, marked as expected
    rmSync(this.dir, { recursive: true, force: true });
    return exit.code;
  }
}
