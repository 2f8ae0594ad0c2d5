/**
 * Collects errors and warnings while parsing. Values echoed into messages go
 * through `show` (escaped, truncated); on `finish`, any registered secret
 * text is scrubbed from every message as a last line of defence.
 */
import type { ConfigIssue } from './types.js';

/** After this many errors, the rest are counted, not listed. */
export const MAX_ERRORS = 100;
const SHOW_MAX = 64;

export class Issues {
  private readonly errs: ConfigIssue[] = [];
  private readonly warns: ConfigIssue[] = [];
  private readonly warnedKeys = new Set<string>();
  private readonly secrets: string[] = [];
  private dropped = 0;

  constructor(readonly file: string) {}

  get errorCount(): number {
    return this.errs.length + this.dropped;
  }

  error(line: number, key: string | undefined, message: string): void {
    if (this.errs.length >= MAX_ERRORS) {
      this.dropped++;
      return;
    }
    this.errs.push({ file: this.file, line, key, message });
  }

  warn(line: number, key: string | undefined, message: string): void {
    this.warns.push({ file: this.file, line, key, message });
  }

  /** Warn at most once per `onceKey` in this file. */
  warnOnce(onceKey: string, line: number, key: string | undefined, message: string): void {
    if (this.warnedKeys.has(onceKey)) return;
    this.warnedKeys.add(onceKey);
    this.warn(line, key, message);
  }

  /** Text that must never appear in any message (e.g. a PrivateKey value). */
  addSecret(text: string): void {
    if (text.length >= 8) this.secrets.push(text);
  }

  finish(): { errors: ConfigIssue[]; warnings: ConfigIssue[] } {
    const errors = this.errs.map((i) => this.scrub(i));
    if (this.dropped > 0) {
      errors.push({ file: this.file, line: 0, key: undefined, message: `${this.dropped} more errors not shown` });
    }
    return { errors, warnings: this.warns.map((i) => this.scrub(i)) };
  }

  private scrub(i: ConfigIssue): ConfigIssue {
    let message = i.message;
    for (const s of this.secrets) {
      if (message.includes(s)) message = message.split(s).join('<redacted>');
    }
    return message === i.message ? i : { ...i, message };
  }
}

/** `wg0.conf:7: message`, or `wg0.conf: message` for whole-file issues. */
export function formatIssue(i: ConfigIssue): string {
  const where = i.line > 0 ? `${escapeText(i.file)}:${i.line}` : escapeText(i.file);
  return `${where}: ${i.message}`;
}

// C0/C1 controls, DEL, line/paragraph separators and bidi overrides.
const UNSAFE = /[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** Control and bidi characters escaped, nothing cut: for paths in messages. */
export function escapeText(s: string): string {
  return s.replace(UNSAFE, (c) => {
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** A user value made safe to print: control characters escaped, long text cut. */
export function show(value: string): string {
  if (value === '') return '""';
  let v = value;
  if (v.length > SHOW_MAX) {
    let cut = SHOW_MAX;
    const c = v.charCodeAt(cut - 1);
    if (c >= 0xd800 && c <= 0xdbff) cut--; // do not split a surrogate pair
    v = `${v.slice(0, cut)}…`;
  }
  return escapeText(v);
}
