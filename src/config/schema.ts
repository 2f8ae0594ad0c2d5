/**
 * The section table format. Each section lists its keys with a value parser;
 * the driver (parse.ts) checks keys against the table, collects each key's
 * parsed values with their line numbers into a SectionInput, then calls the
 * section's `build` to make the typed object. New sections (e.g. [Forward])
 * are added by writing one SectionSpec and listing it in sections.ts.
 */
import type { Issues } from './issues.js';
import type { WgConfig } from './types.js';

/** A parsed value; `notes` become warnings at the value's line. */
export type KeyParsed<T> = { ok: true; value: T; notes?: string[] } | { ok: false; error: string };

export interface KeySpec<T = unknown> {
  /** Parse one line's value (comment stripped, trimmed). Errors read well after "Key = value: ". */
  parse(value: string): KeyParsed<T>;
  /** May appear on several lines (values kept in order); otherwise at most once per section. */
  repeatable?: boolean;
  /** Never echo the value; also scrub it from every message (PrivateKey, PresharedKey). */
  secret?: boolean;
  /** Do not echo the value in errors (public keys: long and unhelpful). */
  hideValue?: boolean;
  /** Set when userspace mode cannot honour the key: warning text, given once per file. */
  unsupported?: string;
  /**
   * The value names where a key is (PrivateKeyFile, PrivateKeyEnv): `parse`
   * checks the name; parse.ts then asks ParseOptions.secrets for the text and
   * replaces the field's value with the decoded 32-byte key. `inline` is the
   * key that holds the value directly (for messages).
   */
  indirect?: { from: 'file' | 'env'; inline: string };
}

export interface Field<T> {
  value: T;
  line: number;
}

/** The parsed keys of one occurrence of a section. Lookup names are canonical (as in `keys`). */
export class SectionInput {
  constructor(
    readonly line: number,
    private readonly fields: ReadonlyMap<string, Field<unknown>[]>,
    private readonly failed: ReadonlySet<string> = new Set(),
    private readonly seen: ReadonlyMap<string, number> = new Map(),
  ) {}

  /** First line of the key, whether its value was accepted or refused; undefined when absent. */
  lineOf(key: string): number | undefined {
    return this.seen.get(key) ?? this.fields.get(key)?.[0]?.line;
  }

  /** The key appeared but its value was refused (already reported: do not also say "missing"). */
  refused(key: string): boolean {
    return this.failed.has(key);
  }

  one<T>(key: string): Field<T> | undefined {
    return this.fields.get(key)?.[0] as Field<T> | undefined;
  }

  all<T>(key: string): Field<T>[] {
    return (this.fields.get(key) ?? []) as Field<T>[];
  }
}

export interface SectionSpec<Out = unknown> {
  /** Canonical spelling, e.g. "Peer"; matched case-insensitively. */
  name: string;
  /** May appear any number of times (Peer); otherwise at most once. */
  repeatable: boolean;
  /** Must appear at least once. */
  required?: boolean;
  /** Canonical key name -> spec; key names are matched case-insensitively. */
  keys: Record<string, KeySpec<any>>;
  /** Make the typed object; report missing keys etc. through `issues`. undefined on error. */
  build(input: SectionInput, issues: Issues): Out | undefined;
  /** Cross-section checks once every section is built (extensions: e.g. a peer reference). */
  validate?(items: { input: SectionInput; value: Out }[], cfg: Omit<WgConfig, 'warnings'>, issues: Issues): void;
  /** Lines `[key, value]` for serializeConfig (extension sections). */
  serialize?(value: Out): [string, string][];
}

/** Key lookup form: lower case without whitespace (wg strips all whitespace from a line). */
export function keyId(key: string): string {
  return key.toLowerCase().replace(/[ \t\r\v\f]+/g, '');
}
