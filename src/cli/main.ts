#!/usr/bin/env node
/**
 * The `wgts` command: argv -> COMMANDS table -> exit code.
 * Each entry is { name, summary, run(argv) } where argv excludes the command
 * name and run resolves to the process exit code. Heavy subcommands are
 * imported lazily so `wgts genkey` loads only the crypto it needs.
 * This file owns the I/O of the key commands (randomness, stdin, stdout);
 * the key logic itself is pure, in ./keys.ts.
 */
import { randomBytes } from 'node:crypto';
import { fstatSync, readFileSync } from 'node:fs';
import { genkey, genpsk, pubkey, isTrailingFiller, KEY_B64_LEN } from './keys.js';

export interface Subcommand {
  name: string;
  /** One line for `wgts help`. */
  summary: string;
  run(argv: string[]): Promise<number>;
}

const PROG = 'wgts';

export const COMMANDS: Subcommand[] = [
  {
    name: 'up',
    summary: 'Runs an interface from a wg-quick config file in the foreground',
    run: async (argv) => (await import('./up.js')).runUp(argv),
  },
  { name: 'down', summary: 'Stops a running wgts up (TUN or userspace mode) and removes what TUN mode set up', run: async (argv) => (await import('./down.js')).runDown(argv) },
  {
    name: 'demo',
    summary: 'Runs two wgts peers on loopback and talks through the tunnel (no root, no setup)',
    run: async (argv) => (await import('./demo.js')).runDemo(argv),
  },
  { name: 'show', summary: 'Shows the state of running interfaces (like wg show)', run: async (argv) => (await import('./show.js')).runShow(argv) },
  { name: 'set', summary: 'Changes a running interface (like wg set)', run: async (argv) => (await import('./show.js')).runSet(argv) },
  { name: 'init', summary: 'Writes a matching VPS + home config pair, or adds a client with --peer NAME', run: async (argv) => (await import('./init.js')).runInit(argv) },
  { name: 'conformance', summary: 'Checks a WireGuard peer against the protocol, check by check', run: async (argv) => (await import('./conformance.js')).runConformance(argv) },
  { name: 'qr', summary: 'Shows a config as a QR code for the phone apps, or writes it as PNG/SVG', run: async (argv) => (await import('./qr.js')).runQr(argv) },
  { name: 'genkey', summary: 'Generates a new private key and writes it to stdout', run: (argv) => runGen('genkey', argv) },
  { name: 'genpsk', summary: 'Generates a new preshared key and writes it to stdout', run: (argv) => runGen('genpsk', argv) },
  { name: 'pubkey', summary: 'Reads a private key from stdin and writes a public key to stdout', run: runPubkey },
  {
    name: 'help',
    summary: 'Shows this help, or a command\'s with `wgts help CMD`',
    run: async (argv) => {
      const cmd = argv.length === 1 ? COMMANDS.find((c) => c.name === argv[0] && c.name !== 'help') : undefined;
      if (cmd) return cmd.run(['--help']);
      await write(process.stdout, usage());
      return 0;
    },
  },
  {
    name: 'version',
    summary: 'Shows the version of wgts',
    run: async (argv) => {
      if (argv.length) return usageOf('version', argv);
      await write(process.stdout, `${PROG} ${version()}\n`);
      return 0;
    },
  },
];

/** The package's version, from the package.json beside dist/ (or beside src/ when run from the sources). */
function version(): string {
  for (const up of ['../../../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'wgts' && pkg.version) return pkg.version;
    } catch {
      /* next */
    }
  }
  return 'unknown';
}

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  const lines = COMMANDS.map((c) => `  ${(c.name + ':').padEnd(width + 1)} ${c.summary}`);
  return `Usage: ${PROG} <cmd> [<args>]\n\nAvailable subcommands:\n${lines.join('\n')}\nYou may pass \`--help' to any of these subcommands to view usage.\n`;
}

function write(stream: NodeJS.WriteStream, text: string): Promise<void> {
  // Resolve on error too (EPIPE when the reader went away): the exit code stands.
  return new Promise((resolve) => stream.write(text, () => resolve()));
}

const EXAMPLES: Record<string, string> = {
  genkey: 'Example:\n  wgts genkey | tee privatekey | wgts pubkey > publickey\n',
  genpsk: 'Example:\n  wgts genpsk > presharedkey   # the same file goes in PresharedKey on both sides\n',
  pubkey: 'Example:\n  wgts pubkey < privatekey\n',
  version: 'Example:\n  wgts version\n',
};

async function usageOf(name: string, argv: string[]): Promise<number> {
  const help = argv.length === 1 && (argv[0] === '--help' || argv[0] === '-h');
  // The usage line matches wg's; examples only on an explicit --help.
  await write(help ? process.stdout : process.stderr, `Usage: ${PROG} ${name}\n${help && EXAMPLES[name] ? '\n' + EXAMPLES[name] : ''}`);
  return help ? 0 : 1;
}

const random = (n: number): Uint8Array => new Uint8Array(randomBytes(n));

async function runGen(name: 'genkey' | 'genpsk', argv: string[]): Promise<number> {
  if (argv.length) return usageOf(name, argv);
  // As wg: warn when the secret lands in a file others can read.
  try {
    const st = fstatSync(1);
    if (st.isFile() && (st.mode & 0o007) !== 0) {
      await write(process.stderr, 'Warning: writing to world accessible file.\nConsider setting the umask to 077 and trying again.\n');
    }
  } catch {
    // stdout closed or not a descriptor: nothing to warn about
  }
  await write(process.stdout, name === 'genkey' ? genkey(random) : genpsk(random));
  return 0;
}

/**
 * Reads what `wg pubkey` reads: the first 44 bytes, then filler up to EOF.
 * Stops at the first non-filler byte after the key (as wg does) so an endless
 * or huge stdin is not buffered; the bytes read are wiped from the chunks.
 */
async function readKeyInput(): Promise<Uint8Array> {
  const head = new Uint8Array(KEY_B64_LEN);
  let n = 0;
  let junk = -1;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    let i = 0;
    if (n < KEY_B64_LEN) {
      i = Math.min(KEY_B64_LEN - n, chunk.length);
      head.set(chunk.subarray(0, i), n);
      n += i;
    }
    for (; i < chunk.length; i++) {
      if (!isTrailingFiller(chunk[i]!)) { junk = chunk[i]!; break; }
    }
    chunk.fill(0);
    if (junk >= 0) break;
  }
  const out = new Uint8Array(n + (junk >= 0 ? 1 : 0));
  out.set(head.subarray(0, n));
  if (junk >= 0) out[n] = junk;
  head.fill(0);
  return out;
}

async function runPubkey(argv: string[]): Promise<number> {
  if (argv.length) return usageOf('pubkey', argv);
  const input = await readKeyInput();
  const r = pubkey(input);
  input.fill(0);
  if (!r.ok) {
    await write(process.stderr, `${PROG}: ${r.error}\n`);
    return 1;
  }
  await write(process.stdout, r.line);
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    await write(process.stderr, usage());
    return 1;
  }
  if (name === '--help' || name === '-h') return COMMANDS.find((c) => c.name === 'help')!.run([]);
  if (name === '--version' || name === '-V') return COMMANDS.find((c) => c.name === 'version')!.run([]);
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) {
    // Echo only command-like words: a mistyped argument could be a key.
    const shown = /^[A-Za-z][A-Za-z0-9-]{0,31}$/.test(name) ? `\`${name}'` : '(not shown)';
    await write(process.stderr, `Invalid subcommand: ${shown}\n${usage()}`);
    return 1;
  }
  try {
    return await cmd.run(rest);
  } catch (e) {
    await write(process.stderr, `${PROG} ${cmd.name}: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}

process.stdout.on('error', () => { /* EPIPE: the reader left; exit code already decided */ });
process.exitCode = await main(process.argv.slice(2));
