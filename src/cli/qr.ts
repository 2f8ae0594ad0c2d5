/**
 * `wgts qr FILE [--png OUT | --svg OUT]`: a config as a QR code the official
 * WireGuard phone apps can scan.
 *
 *   file text -> parseConfig (refuse a broken file) -> phoneText: keep only
 *   the [Interface]/[Peer] keys the apps accept (the file unchanged, byte for
 *   byte, when it has nothing else) -> qrcode library -> terminal half-block
 *   text (as `qrencode -t ansiutf8`), or a PNG/SVG file written 0600.
 *
 * The QR code holds the private key by nature; the config text itself is
 * never printed, and the notes on stderr name keys and lines, not values.
 */
import { readFile, stat } from 'node:fs/promises';
import QRCode from 'qrcode';
import { formatIssue } from '../config/issues.js';
import { lexLines } from '../config/lexer.js';
import { parseConfig } from '../config/parse.js';
import { writeFileSafely } from './init.js';

/** Keys the WireGuard Android/iOS config parsers accept, by section (lower case). */
export const PHONE_KEYS: Readonly<Record<string, readonly string[]>> = {
  interface: ['privatekey', 'address', 'dns', 'mtu', 'listenport'],
  peer: ['publickey', 'presharedkey', 'allowedips', 'endpoint', 'persistentkeepalive'],
};

const MAX_FILE = 64 * 1024;

type Result<T> = { ok: true; value: T } | { ok: false; error: string };

export interface PhoneText {
  /** What goes into the QR code. */
  text: string;
  /** What was left out, e.g. `[Forward] (line 12)`, `Table (line 5)`; no values. */
  omitted: string[];
}

/**
 * The config text for the phone apps: the file itself when every section
 * and key is one they accept, else the file with the other sections and keys
 * removed line by line (comments and the kept lines unchanged).
 */
export function phoneText(fileName: string, text: string): Result<PhoneText> {
  const parsed = parseConfig(fileName, text, { interfaceName: 'wg0' });
  if (!parsed.ok) return { ok: false, error: `${fileName} does not parse:\n${parsed.errors.map((e) => '  ' + formatIssue(e)).join('\n')}` };
  const omitted: string[] = [];
  const kept: string[] = [];
  let section: string | undefined;
  let dropping = false;
  const rawLines = text.split('\n');
  rawLines.forEach((raw, i) => {
    const l = lexLines(raw)[0];
    if (l?.kind === 'section') {
      section = l.name.toLowerCase();
      dropping = !(section in PHONE_KEYS);
      if (dropping) omitted.push(`[${l.name}] (line ${i + 1})`);
    } else if (l?.kind === 'pair' && !dropping) {
      const keys = section === undefined ? [] : PHONE_KEYS[section]!;
      if (!keys.includes(l.key.toLowerCase())) {
        omitted.push(`${l.key} (line ${i + 1})`);
        return;
      }
    }
    if (!dropping) kept.push(raw);
  });
  if (omitted.length === 0) return { ok: true, value: { text, omitted } };
  // Blank runs left behind by removed sections collapse to one blank line.
  const lines = kept.filter((s, i) => !(s.trim() === '' && (i === 0 || kept[i - 1]!.trim() === '')));
  while (lines.length && lines[lines.length - 1]!.trim() === '') lines.pop();
  const out = lines.join('\n') + '\n';
  const again = parseConfig(fileName, out, { interfaceName: 'wg0' });
  if (!again.ok) return { ok: false, error: `${fileName}: the config without the left-out parts does not parse` };
  return { ok: true, value: { text: out, omitted } };
}

export type QrFormat = 'terminal' | 'png' | 'svg';

/** Renders `text` (error correction L, as qrencode's default). */
export async function renderQr(text: string, format: 'terminal' | 'svg'): Promise<string>;
export async function renderQr(text: string, format: 'png'): Promise<Uint8Array>;
export async function renderQr(text: string, format: QrFormat): Promise<string | Uint8Array> {
  const opts = { errorCorrectionLevel: 'L' as const, margin: 4 };
  if (format === 'png') return new Uint8Array(await QRCode.toBuffer(text, { ...opts, type: 'png', scale: 8 }));
  if (format === 'svg') return QRCode.toString(text, { ...opts, type: 'svg' });
  return QRCode.toString(text, { ...opts, type: 'terminal', small: true });
}

export const QR_HELP = `Usage: wgts qr FILE [--png OUT.png | --svg OUT.svg] [--force]

Shows the config FILE as a QR code for the WireGuard phone apps (Android, iOS),
like \`qrencode -t ansiutf8 < FILE\`, or writes it as a PNG or SVG image
(mode 0600: the image holds the private key).
Keys the apps reject ([Forward], [Expose], Table, PostUp, ...) are left out,
with a note on stderr.

Options:
  --png OUT.png   write a PNG image instead of printing
  --svg OUT.svg   write an SVG image instead of printing
  --force         overwrite OUT if it exists

Examples:
  wgts qr phone.conf
  wgts qr phone.conf --png phone.png
`;

export async function runQr(
  argv: string[],
  out: (s: string) => void = (s) => process.stdout.write(s),
  err: (s: string) => void = (s) => process.stderr.write(s),
): Promise<number> {
  let file: string | undefined;
  let target: { format: 'png' | 'svg'; path: string } | undefined;
  let force = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--help' || a === '-h') {
      out(QR_HELP);
      return 0;
    } else if (a === '--force') {
      force = true;
    } else if (a === '--png' || a === '--svg') {
      const path = argv[++i];
      if (path === undefined) return usage(err, `${a} needs a file name`);
      if (target) return usage(err, 'give only one of --png and --svg');
      target = { format: a === '--png' ? 'png' : 'svg', path };
    } else if (a.startsWith('-') && a !== '-') {
      return usage(err, `unknown option ${/^--?[A-Za-z-]{1,30}$/.test(a) ? a : '(not shown)'}`);
    } else if (file === undefined) {
      file = a;
    } else {
      return usage(err, 'give one config file');
    }
  }
  if (file === undefined) return usage(err, 'which config? wgts qr FILE');
  let text: string;
  try {
    if ((await stat(file)).size > MAX_FILE) throw new Error(`larger than ${MAX_FILE} bytes; not a WireGuard config`);
    text = await readFile(file, 'utf8');
  } catch (e) {
    err(`wgts qr: cannot read ${file}: ${errText(e)}\n`);
    return 1;
  }
  const pt = phoneText(file, text);
  if (!pt.ok) {
    err(`wgts qr: ${pt.error}\n`);
    return 1;
  }
  if (pt.value.omitted.length) {
    err(`wgts qr: left out of the QR code (the WireGuard phone apps do not accept them): ${pt.value.omitted.join(', ')}\n`);
  }
  try {
    if (!target) {
      out(await renderQr(pt.value.text, 'terminal'));
      return 0;
    }
    const data = target.format === 'png' ? await renderQr(pt.value.text, 'png') : await renderQr(pt.value.text, 'svg');
    await writeFileSafely(target.path, data, force);
    err(`wgts qr: wrote ${target.path} (mode 0600; it holds the private key)\n`);
    return 0;
  } catch (e) {
    const code = (e as { code?: unknown } | null)?.code;
    const msg = code === 'EEXIST' ? `${target!.path} already exists (use --force to overwrite)`
      : target && typeof code === 'string' ? `cannot write ${target.path}: ${code}`
      : `cannot make a QR code: ${e instanceof Error && /too big|amount of data/i.test(e.message) ? 'the config is too large for one QR code' : 'library error'}`;
    err(`wgts qr: ${msg}\n`);
    return 1;
  }
}

function usage(err: (s: string) => void, why: string): number {
  err(`wgts qr: ${why}\n${QR_HELP}`);
  return 1;
}

function errText(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : e instanceof Error ? e.message : 'unknown error';
}
