/**
 * Parsers for scalar values shared by the sections: integers in a range,
 * base64 keys (via crypto decodeKey), wg's FwMark and PersistentKeepalive
 * forms, wg-quick's booleans and comma/space separated lists.
 */
import { decodeKey } from '../crypto/util.js';
import type { Issues } from './issues.js';
import type { KeyParsed, SectionInput } from './schema.js';
import { compact } from './lexer.js';
import { closest } from './suggest.js';
import { CONGESTION_NAMES, type CongestionName } from '../netstack/cc/types.js';

export const ok = <T>(value: T, notes?: string[]): KeyParsed<T> => (notes ? { ok: true, value, notes } : { ok: true, value });
export const fail = <T>(error: string): KeyParsed<T> => ({ ok: false, error });

/** One of `words` (any case), with a did-you-mean for near misses. */
export function oneOf<T extends string>(words: readonly T[], what: string): (v: string) => KeyParsed<T> {
  return (v) => {
    const s = v.toLowerCase();
    const hit = words.find((w) => w === s);
    if (hit) return ok(hit);
    const near = closest(s, words);
    return fail(`${what}${near ? ` (did you mean ${near}?)` : ''}`);
  };
}

/** Congestion = cubic | newreno | bbr: the userspace TCP's congestion controller. */
export const parseCongestion = oneOf<CongestionName>(CONGESTION_NAMES, 'must be cubic (the default), newreno or bbr');

/** A decimal integer min..max (leading zeros allowed, as strtoul does). */
export function intRange(min: number, max: number): (v: string) => KeyParsed<number> {
  return (v) => {
    const s = compact(v);
    if (!/^[0-9]{1,10}$/.test(s) || Number(s) < min || Number(s) > max) return fail(`must be an integer ${min}-${max}`);
    return ok(Number(s));
  };
}

/** A 32-byte key in base64 (44 characters ending in "="), as printed by `wg genkey` / `wg pubkey`. */
export function parseKey(v: string): KeyParsed<Uint8Array> {
  const s = compact(v);
  const k = decodeKey(s);
  if (k) return ok(k);
  const len = s.length === 44 ? '' : ` (got ${s.length} characters)`;
  return fail(`not a valid key: must be 44 characters of base64 ending in "="${len}`);
}

/** wg(8) FwMark: "off", a decimal or 0x-hex number up to 0xffffffff. */
export function parseFwMark(v: string): KeyParsed<number> {
  const s = compact(v);
  if (s.toLowerCase() === 'off') return ok(0);
  const n = /^0[xX][0-9a-fA-F]{1,8}$/.test(s) ? parseInt(s.slice(2), 16) : /^[0-9]{1,10}$/.test(s) ? Number(s) : NaN;
  if (!(n <= 0xffffffff)) return fail('must be "off", or a number 0-4294967295 (decimal or 0x hex)');
  return ok(n);
}

/** wg(8) PersistentKeepalive: "off" or seconds 0-65535. */
export function parseKeepalive(v: string): KeyParsed<number> {
  const s = compact(v);
  if (s.toLowerCase() === 'off') return ok(0);
  if (!/^[0-9]{1,5}$/.test(s) || Number(s) > 65535) return fail('must be "off" or an integer 0-65535 (seconds)');
  return ok(Number(s));
}

/** wg-quick read_bool: "true" or "false", any case. */
export function parseBool(v: string): KeyParsed<boolean> {
  const s = v.toLowerCase();
  if (s === 'true') return ok(true);
  if (s === 'false') return ok(false);
  return fail('must be "true" or "false"');
}

/** wg-quick word splitting of Address/DNS: commas and whitespace separate, empty items vanish. */
export function splitList(v: string): string[] {
  return v.split(/[\s,]+/).filter((x) => x !== '');
}

/** The shape of a wg base64 key: a value of this shape is never taken for a path or a variable name. */
const KEY_SHAPE = /^[A-Za-z0-9+/]{43}=$/;

/** PrivateKeyFile / PresharedKeyFile: a path (not looked at here; load.ts reads it). */
export function keyPath(inline: string): (v: string) => KeyParsed<string> {
  return (v) => {
    if (v === '') return fail('must be the path of a file holding the key (e.g. written by `wg genkey > FILE`)');
    if (KEY_SHAPE.test(compact(v))) return fail(`the value is a key, not a file name; write it as ${inline} = ... or put it in a file`);
    return ok(v);
  };
}

/** PrivateKeyEnv: the name of an environment variable holding the key. */
export function envName(inline: string): (v: string) => KeyParsed<string> {
  return (v) => {
    if (KEY_SHAPE.test(compact(v))) return fail(`the value is a key, not a variable name; write it as ${inline} = ... or put it in the environment`);
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,254}$/.test(v)) {
      return fail('must be the name of an environment variable (letters, digits and _, not starting with a digit)');
    }
    return ok(v);
  };
}

/**
 * A key read from a file or a variable: the base64 key, then optional
 * trailing whitespace (as `wg genkey > FILE` writes; wg(8) reads key files
 * the same way). `length` is the key part's length, for messages.
 */
export function decodeKeyText(text: string): { key: Uint8Array | null; length: number } {
  const body = text.replace(/[ \t\r\n\v\f]+$/, '');
  return { key: /\s/.test(body) ? null : decodeKey(body), length: body.length };
}

/**
 * Which one of several keys that give the same thing (PrivateKey,
 * PrivateKeyFile, PrivateKeyEnv) the section uses: its name, undefined when
 * none is given, null when more than one is (each later one is reported).
 */
export function oneSource(input: SectionInput, issues: Issues, forms: readonly string[], what: string): string | undefined | null {
  const given = forms
    .map((k) => ({ k, line: input.lineOf(k) }))
    .filter((g): g is { k: string; line: number } => g.line !== undefined)
    .sort((a, b) => a.line - b.line);
  if (given.length === 0) return undefined;
  const first = given[0]!;
  for (const g of given.slice(1)) {
    issues.error(g.line, g.k, `${g.k} gives the ${what} again (${first.k} at line ${first.line}); keep exactly one of ${forms.join(', ')}`);
  }
  return given.length === 1 ? first.k : null;
}
