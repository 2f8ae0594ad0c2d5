/**
 * loadConfigFile: the one piece of file IO around parseConfig. Reads at most
 * MAX_CONFIG_BYTES, decodes UTF-8, and hands the text to the pure parser.
 */
import { open } from 'node:fs/promises';
import { parseConfig } from './parse.js';
import type { ParseOptions, ParseResult } from './types.js';

export const MAX_CONFIG_BYTES = 1024 * 1024;

export async function loadConfigFile(path: string, opts: ParseOptions = {}): Promise<ParseResult> {
  const failWith = (message: string): ParseResult => ({
    ok: false,
    errors: [{ file: path, line: 0, key: undefined, message }],
    warnings: [],
  });
  const tooBig = `file is larger than ${MAX_CONFIG_BYTES} bytes; not a WireGuard config`;
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    return failWith(`cannot open: ${errnoText(e)}`);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) return failWith('not a regular file');
    if (st.size > MAX_CONFIG_BYTES) return failWith(tooBig);
    // Read up to one byte past the limit: the file may grow after stat().
    const buf = Buffer.alloc(MAX_CONFIG_BYTES + 1);
    let n = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
      if (n === buf.length) break;
    }
    if (n > MAX_CONFIG_BYTES) return failWith(tooBig);
    const r = parseConfig(path, new TextDecoder('utf-8').decode(buf.subarray(0, n)), opts);
    if ((st.mode & 0o007) !== 0) {
      // wg-quick(8) gives the same warning: the file holds a private key.
      const w = { file: path, line: 0, key: undefined, message: 'file is world accessible; it contains a private key (chmod 600)' };
      if (r.ok) r.config.warnings.unshift(w);
      else r.warnings.unshift(w);
    }
    return r;
  } catch (e) {
    return failWith(`cannot read: ${errnoText(e)}`);
  } finally {
    await fh.close();
  }
}

function errnoText(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : e instanceof Error ? e.message : 'unknown error';
}
