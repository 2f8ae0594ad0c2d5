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

function parseArgs(argv: string[]): Args {
  const o: Partial<Args> & { presharedKey: Uint8Array | null } = { presharedKey: null, long: false, json: false };
  let target: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const val = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--public-key') {
      const k = decodeKey(val());
      if (!k) throw new Error('--public-key is not a base64 key');
      o.publicKey = k;
    } else if (a === '--private-key-file') o.privateKey = readKeyFile(val(), 'private key');
    else if (a === '--preshared-key-file') o.presharedKey = readKeyFile(val(), 'preshared key');
    else if (a === '--address') o.address = val();
    else if (a === '--peer-address') o.peerAddress = val();
    else if (a === '--long') o.long = true;
    else if (a === '--json') o.json = true;
    else if (a.startsWith('-')) throw new Error(`unknown option ${a}`);
    else if (target === undefined) target = a;
    else throw new Error(`unexpected argument ${a}`);
  }
  if (!target) throw new Error('missing HOST:PORT');
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(target) ?? /^([^:]+):(\d+)$/.exec(target);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new Error(`${target} is not HOST:PORT (IPv6 as [ADDR]:PORT)`);
  for (const k of ['publicKey', 'privateKey', 'address', 'peerAddress'] as const) {
    if (o[k] === undefined) throw new Error(`missing --${k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase()).replace('private-key', 'private-key-file')}`);
  }
  if (isIP(o.address!) === 0 || isIP(o.address!) !== isIP(o.peerAddress!)) throw new Error('--address and --peer-address must be IP addresses of the same family');
  return { ...(o as Args), host: m[1]!, port: Number(m[2]) };
}

export async function runConformance(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE);
    return 0;
  }
  let args: Args;
  try {
    args = parseArgs(argv);
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
