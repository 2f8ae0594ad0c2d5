/**
 * `wgts conformance HOST:PORT --public-key KEY --private-key-file F
 * [--preshared-key-file F] --address OURS --peer-address THEIRS [--long] [--json]`:
 * argv and key files -> a Probe on a UDP socket -> the checks of
 * src/conformance -> one line per check (or JSON) -> exit 0 only when none failed.
 * Keys are read from files only and never printed.
 */
import { readFileSync } from 'node:fs';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { randomBytes } from 'node:crypto';
import { decodeKey } from '../crypto/util.js';
import { Probe } from '../conformance/probe.js';
import { runChecks } from '../conformance/checks.js';
import { addressBytes } from '../conformance/echo.js';
import { formatLine, report, summary } from '../conformance/report.js';

const USAGE = `Usage: wgts conformance HOST:PORT --public-key PEERKEY --private-key-file OURKEY
                        [--preshared-key-file FILE] --address OUR_TUNNEL_IP
                        --peer-address PEER_TUNNEL_IP [--long] [--json]

Checks a WireGuard peer against the protocol, one line per check with the
whitepaper section it comes from. The peer must have our public key, with
AllowedIPs covering OUR_TUNNEL_IP, and answer ICMP echo on PEER_TUNNEL_IP.
Exit status: 0 when no check fails, 1 when one does, 2 on a usage error.
`;

interface Args {
  host: string;
  port: number;
  publicKey: Uint8Array;
  privateKey: Uint8Array;
  presharedKey: Uint8Array | null;
  address: string;
  peerAddress: string;
  long: boolean;
  json: boolean;
}

function readKeyFile(path: string, what: string): Uint8Array {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`cannot read ${what} file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const k = decodeKey(text.trim());
  if (!k) throw new Error(`${what} file ${path} does not hold a base64 key`);
  return k;
}

/** The command line as written: flags known and given their values (nothing read or checked yet). */
export interface ConformanceArgv {
  target?: string;
  publicKey?: string;
  privateKeyFile?: string;
  presharedKeyFile?: string;
  address?: string;
  peerAddress?: string;
  long: boolean;
  json: boolean;
}

const VALUE_FLAGS: Record<string, keyof ConformanceArgv> = {
  '--public-key': 'publicKey',
  '--private-key-file': 'privateKeyFile',
  '--preshared-key-file': 'presharedKeyFile',
  '--address': 'address',
  '--peer-address': 'peerAddress',
};

/** Syntax only: unknown flags, missing values and extra arguments are errors. */
export function parseConformanceArgs(argv: string[]): { ok: true; value: ConformanceArgv } | { ok: false; error: string } {
  const o: ConformanceArgv = { long: false, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const key = VALUE_FLAGS[a];
    if (key) {
      const v = argv[++i];
      if (v === undefined) return { ok: false, error: `${a} needs a value` };
      (o as unknown as Record<string, string>)[key] = v;
    } else if (a === '--long') o.long = true;
    else if (a === '--json') o.json = true;
    else if (a.startsWith('-')) return { ok: false, error: `unknown option ${a}` };
    else if (o.target === undefined) o.target = a;
    else return { ok: false, error: `unexpected argument ${a}` };
  }
  return { ok: true, value: o };
}

/** Required arguments present, keys decoded and read from their files, addresses checked. */
function resolveArgs(o: ConformanceArgv): Args {
  if (!o.target) throw new Error('missing HOST:PORT');
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(o.target) ?? /^([^:]+):(\d+)$/.exec(o.target);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new Error(`${o.target} is not HOST:PORT (IPv6 as [ADDR]:PORT)`);
  for (const [flag, key] of Object.entries(VALUE_FLAGS)) {
    if (key !== 'presharedKeyFile' && o[key] === undefined) throw new Error(`missing ${flag}`);
  }
  const publicKey = decodeKey(o.publicKey!);
  if (!publicKey) throw new Error('--public-key is not a base64 key');
  if (isIP(o.address!) === 0 || isIP(o.address!) !== isIP(o.peerAddress!)) throw new Error('--address and --peer-address must be IP addresses of the same family');
  return {
    host: m[1]!, port: Number(m[2]), publicKey,
    privateKey: readKeyFile(o.privateKeyFile!, 'private key'),
    presharedKey: o.presharedKeyFile !== undefined ? readKeyFile(o.presharedKeyFile, 'preshared key') : null,
    address: o.address!, peerAddress: o.peerAddress!, long: o.long, json: o.json,
  };
}

export async function runConformance(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE);
    return 0;
  }
  let args: Args;
  try {
    const parsed = parseConformanceArgs(argv);
    if (!parsed.ok) throw new Error(parsed.error);
    args = resolveArgs(parsed.value);
  } catch (e) {
    process.stderr.write(`wgts conformance: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const address = isIP(args.host) ? args.host : (await lookup(args.host)).address;
  const probe = new Probe({
    peer: { address, port: args.port },
    peerPublicKey: args.publicKey,
    privateKey: args.privateKey,
    presharedKey: args.presharedKey,
    random: (n) => new Uint8Array(randomBytes(n)),
    now: () => performance.now(),
  });
  await probe.open();
  const target = address.includes(':') ? `[${address}]:${args.port}` : `${address}:${args.port}`;
  if (!args.json) process.stdout.write(`wgts conformance: checking ${target}${args.long ? ' (with --long checks)' : ''}\n\n`);
  try {
    const results = await runChecks({
      probe,
      ours: addressBytes(args.address),
      theirs: addressBytes(args.peerAddress),
      long: args.long,
      sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    }, (r) => { if (!args.json) process.stdout.write(formatLine(r) + '\n'); });
    process.stdout.write(args.json ? JSON.stringify(report(target, results), null, 2) + '\n' : `\n${summary(results)}\n`);
    return results.some((r) => r.status === 'FAIL') ? 1 : 0;
  } finally {
    await probe.close();
  }
}
