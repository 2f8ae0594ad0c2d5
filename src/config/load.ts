/**
 * loadConfigFile: the file and environment IO around parseConfig.
 *
 *   config file (at most MAX_CONFIG_BYTES, UTF-8) -> parseConfig once to
 *   learn which keys the file names (PrivateKeyFile, PrivateKeyEnv,
 *   PresharedKeyFile, wireproxy's `$NAME` values) -> read each key file (relative to the config's
 *   directory, at most MAX_KEY_FILE_BYTES) or variable -> parseConfig again,
 *   answering from what was read -> permission warnings added.
 *
 * Any failure to read a key refuses the whole file, listed with the other
 * errors. No message ever holds a key file's or variable's contents.
 */
import { constants as fsc } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { isEnvRef } from './env-values.js';
import { escapeText, show } from './issues.js';
import { lexLines } from './lexer.js';
import { parseConfig } from './parse.js';
import { keyId } from './schema.js';
import type { ConfigIssue, ParseOptions, ParseResult, SecretRef, SecretText } from './types.js';

export const MAX_CONFIG_BYTES = 1024 * 1024;
/** A key file holds 44 characters and a newline; anything much larger is the wrong file. */
export const MAX_KEY_FILE_BYTES = 4096;

export interface LoadOptions extends Omit<ParseOptions, 'secrets'> {
  /** Where PrivateKeyEnv variables are looked up; default process.env. */
  env?: Readonly<Record<string, string | undefined>>;
}

type Read = { ok: true; data: Buffer; mode: number } | { ok: false; error: string; tooBig?: true };

/** A regular file of at most `max` bytes. O_NONBLOCK: a FIFO must not hang the open. */
async function readBounded(path: string, max: number, nonBlock: boolean): Promise<Read> {
  let fh;
  try {
    fh = await open(path, nonBlock ? fsc.O_RDONLY | fsc.O_NONBLOCK : 'r');
  } catch (e) {
    return { ok: false, error: `cannot open: ${errnoText(e)}` };
  }
  const tooBig: Read = { ok: false, error: `larger than ${max} bytes`, tooBig: true };
  try {
    const st = await fh.stat();
    if (!st.isFile()) return { ok: false, error: 'not a regular file' };
    if (st.size > max) return tooBig;
    // Read up to one byte past the limit: the file may grow after stat().
    const buf = Buffer.alloc(max + 1);
    let n = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
      if (n === buf.length) break;
    }
    if (n > max) return tooBig;
    return { ok: true, data: buf.subarray(0, n), mode: st.mode };
  } catch (e) {
    return { ok: false, error: `cannot read: ${errnoText(e)}` };
  } finally {
    await fh.close();
  }
}

/** A top-level `WGConfig = path` line (wireproxy): the path and its line, or undefined. */
function wgConfigRef(text: string): { ref: string; line: number } | undefined {
  for (const l of lexLines(text)) {
    if (l.kind === 'section') return undefined;
    if (l.kind === 'pair' && keyId(l.key) === 'wgconfig') return { ref: l.value, line: l.line };
  }
  return undefined;
}

export async function loadConfigFile(path: string, opts: LoadOptions = {}): Promise<ParseResult> {
  return load(path, opts, false);
}

async function load(path: string, opts: LoadOptions, nested: boolean): Promise<ParseResult> {
  const failWith = (message: string): ParseResult => ({
    ok: false,
    errors: [{ file: path, line: 0, key: undefined, message }],
    warnings: [],
  });
  const read = await readBounded(path, MAX_CONFIG_BYTES, false);
  if (!read.ok) {
    return failWith(read.tooBig ? `file is ${read.error}; not a WireGuard config` : read.error);
  }
  const text = new TextDecoder('utf-8').decode(read.data);
  const { env = process.env, ...parseOpts } = opts;

  const wg = wgConfigRef(text);
  if (wg && !nested) {
    // wireproxy's WGConfig: the wg-quick file holds [Interface] and [Peer]; a relative path is relative to this file.
    const inc = await load(resolve(dirname(path), wg.ref), { env, interfaceName: 'wgconfig', peerDefaultAll: true }, true);
    if (!inc.ok) {
      const head: ConfigIssue = { file: path, line: wg.line, key: 'WGConfig', message: `WGConfig = ${show(wg.ref)}: that file is refused (its errors follow)` };
      return { ok: false, errors: [head, ...inc.errors], warnings: inc.warnings };
    }
    (parseOpts as ParseOptions).included = inc.config;
  } else if (wg) {
    return failWith(`WGConfig = ${show(wg.ref)}: a file named by WGConfig may not name another`);
  }

  const refs: SecretRef[] = [];
  let r = parseConfig(path, text, {
    ...parseOpts,
    secrets: (ref) => {
      refs.push(ref);
      return { ok: false, error: 'not read yet' };
    },
  });
  const late: ConfigIssue[] = [];
  if (refs.length > 0) {
    const found = new Map<string, SecretText>();
    for (const ref of refs) {
      const id = refId(ref);
      if (!found.has(id)) found.set(id, await readSecret(ref, path, env, late));
    }
    r = parseConfig(path, text, { ...parseOpts, secrets: (ref) => found.get(refId(ref)) ?? { ok: false, error: 'was not read' } });
  }

  const inline = inlineSecret(text);
  if ((read.mode & 0o007) !== 0 && inline) {
    // wg-quick(8) gives the same warning; a file that only names its keys holds none.
    late.unshift({ file: path, line: 0, key: undefined, message: `file is world accessible; it contains a ${inline} (chmod 600)` });
  }
  const warnings = r.ok ? r.config.warnings : r.warnings;
  warnings.unshift(...late.filter((w) => w.line === 0));
  warnings.push(...late.filter((w) => w.line !== 0));
  return r;
}

function refId(ref: SecretRef): string {
  return `${ref.kind}\0${ref.ref}`;
}

/** Which secret the text holds inline, found from the lines alone: its world-readable warning names it. */
function inlineSecret(text: string): string | undefined {
  const keys = new Set(lexLines(text).flatMap((l) => (l.kind === 'pair' && !isEnvRef(l.value) ? [keyId(l.key)] : [])));
  return keys.has('privatekey') ? 'private key' : keys.has('presharedkey') ? 'preshared key' : undefined;
}

async function readSecret(
  ref: SecretRef,
  configPath: string,
  env: Readonly<Record<string, string | undefined>>,
  warnings: ConfigIssue[],
): Promise<SecretText> {
  if (ref.kind === 'env') {
    const v = env[ref.ref];
    if (v === undefined) return { ok: false, error: `environment variable ${ref.ref} is not set` };
    if (v === '') return { ok: false, error: `environment variable ${ref.ref} is empty` };
    return { ok: true, text: v, where: `environment variable ${ref.ref}` };
  }
  const abs = resolve(dirname(configPath), ref.ref);
  const where = escapeText(abs);
  const got = await readBounded(abs, MAX_KEY_FILE_BYTES, true);
  if (!got.ok) return { ok: false, error: `${where}: ${got.error}${got.tooBig ? '; a key file holds one base64 key' : ''}` };
  if ((got.mode & 0o044) !== 0) {
    const what = ref.key.startsWith('Preshared') ? 'a preshared key' : 'a private key';
    warnings.push({
      file: configPath,
      line: ref.line,
      key: ref.key,
      message: `${ref.key} = ${show(ref.ref)}: ${where} is readable by group or others; it holds ${what} (chmod 600 ${where})`,
    });
  }
  return { ok: true, text: new TextDecoder('utf-8').decode(got.data), where };
}

function errnoText(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : e instanceof Error ? e.message : 'unknown error';
}
