/**
 * Splits config text into meaningful lines, the way wg(8) and wg-quick(8)
 * read them: `#` starts a comment anywhere, blank lines are skipped, CRLF is
 * accepted, a line is either a `[Section]` header or a `Key = value` pair.
 * Never throws; odd lines come back as `bad` with a reason (no line content).
 */

export type Line =
  | { kind: 'section'; line: number; name: string }
  | { kind: 'pair'; line: number; key: string; value: string }
  | { kind: 'bad'; line: number; reason: string };

const WS = /^[ \t\r\v\f]+|[ \t\r\v\f]+$/g;
/** Control characters other than the whitespace ones above. */
const CONTROL = /[\x00-\x08\x0e-\x1f\x7f]/;

/** Trim ASCII whitespace only (wg's char_is_space), not Unicode spaces. */
export function trimAscii(s: string): string {
  return s.replace(WS, '');
}

/** Remove every ASCII whitespace character, as wg does to each line. */
export function compact(s: string): string {
  return s.replace(/[ \t\r\n\v\f]+/g, '');
}

export function lexLines(text: string): Line[] {
  const out: Line[] = [];
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  let start = 0;
  for (let n = 1; start <= body.length; n++) {
    let end = body.indexOf('\n', start);
    if (end < 0) end = body.length;
    const l = lexLine(body.slice(start, end), n);
    if (l) out.push(l);
    start = end + 1;
  }
  return out;
}

function lexLine(raw: string, line: number): Line | undefined {
  const hash = raw.indexOf('#');
  const s = trimAscii(hash >= 0 ? raw.slice(0, hash) : raw);
  if (s === '') return undefined;
  if (CONTROL.test(s)) return { kind: 'bad', line, reason: 'line contains control characters (binary data?)' };
  if (s.startsWith('[')) {
    if (!s.endsWith(']') || s.length < 3) return { kind: 'bad', line, reason: 'section header must look like [Name]' };
    return { kind: 'section', line, name: compact(s.slice(1, -1)) };
  }
  const eq = s.indexOf('=');
  if (eq < 0) return { kind: 'bad', line, reason: 'expected "Key = value" or a [Section] header' };
  return { kind: 'pair', line, key: trimAscii(s.slice(0, eq)), value: trimAscii(s.slice(eq + 1)) };
}
