/**
 * parseConfig: wg-quick config text -> WgConfig, or every error found.
 *
 *   text -> lexLines -> per line: section switch, or key lookup in the
 *   section table + value parse (errors name file:line and key, never a
 *   secret value) -> SectionInput per section -> spec.build -> cross checks
 *   (one [Interface], distinct peer keys, not our own key, not low-order)
 *   -> interface name from the file stem (wg-quick(8)).
 *
 * Pure: no file IO (see load.ts). Never throws on any input text.
 */
import { PrivateKey } from '../crypto/x25519.js';
import { equalConstantTime, toHex } from '../crypto/util.js';
import { formatCidr } from './addr.js';
import { Issues, show } from './issues.js';
import { compact, lexLines } from './lexer.js';
import { envValue, isEnvRef, takesEnv } from './env-values.js';
import { type Field, keyId, SectionInput, type SectionSpec } from './schema.js';
import { SECTIONS } from './sections.js';
import { closest, editDistance } from './suggest.js';
import { decodeKeyText } from './values.js';
import type { ConfigIssue, InterfaceConfig, ParseOptions, ParseResult, PeerConfig, WgConfig } from './types.js';

/** wg-quick(8): interface names (and config file stems) must match this. */
export const INTERFACE_NAME = /^[a-zA-Z0-9_=+.-]{1,15}$/;
const NAME_RULE = 'must be 1-15 characters from A-Z a-z 0-9 _ = + . -';
/**
 * Key and section names we are willing to echo back: short and letters-only,
 * so a stray fragment of a base64 key is not printed as a "key name".
 */
const PRINTABLE_NAME = /^[A-Za-z][A-Za-z_ \t-]{0,23}$/;
/** Sections that only wireproxy files have: in such a file a [Peer] without AllowedIPs gets everything, as wireproxy reads it. */
const WIREPROXY_SECTIONS = new Set(['Socks5', 'http', 'TCPClientTunnel', 'TCPServerTunnel', 'UDPProxyTunnel', 'STDIOTunnel']);
const ALL_IPS = [
  { ip: '0.0.0.0', cidr: 0, family: 4 as const },
  { ip: '::', cidr: 0, family: 6 as const },
];

interface Open {
  spec: SectionSpec<any>;
  line: number;
  fields: Map<string, Field<unknown>[]>;
  failed: Set<string>;
  /** First line of each key, valid or not (for "given again"). */
  seen: Map<string, number>;
  /** A repeated single section: parse its keys for errors, then drop it. */
  discard: boolean;
}

interface Built {
  spec: SectionSpec<any>;
  items: { input: SectionInput; value: unknown }[];
}

export function parseConfig(
  fileName: string,
  text: string,
  opts: ParseOptions = {},
  sections: readonly SectionSpec<any>[] = SECTIONS,
): ParseResult {
  const issues = new Issues(fileName);
  let result: ParseResult;
  try {
    result = parseInto(issues, fileName, text, opts, sections);
  } catch (e) {
    // A bug, not bad input; still keep the promise of never throwing and never leaking values.
    issues.error(0, undefined, `internal error while parsing (${e instanceof Error ? e.name : 'unknown'})`);
    const { errors, warnings } = issues.finish();
    result = { ok: false, errors, warnings };
  }
  return result;
}

function parseInto(
  issues: Issues,
  fileName: string,
  text: string,
  opts: ParseOptions,
  sections: readonly SectionSpec<any>[],
): ParseResult {
  const interfaceName = deriveName(fileName, opts.interfaceName, issues);
  const byName = new Map(sections.map((s) => [keyId(s.name), s]));
  const keyIndex = new Map(sections.map((s) => [s, new Map(Object.keys(s.keys).map((k) => [keyId(k), k]))]));
  const firstSeen = new Map<SectionSpec<any>, number>();
  const opened: Open[] = [];
  let cur: Open | 'skip' | undefined;
  let wgConfigLine: number | undefined;

  for (const l of lexLines(text)) {
    if (l.kind === 'bad') {
      issues.error(l.line, undefined, l.reason);
      continue;
    }
    if (l.kind === 'section') {
      const spec = byName.get(keyId(l.name));
      if (!spec) {
        issues.error(l.line, undefined, unknownSection(l.name, sections));
        cur = 'skip';
        continue;
      }
      const first = firstSeen.get(spec);
      if (first !== undefined && !spec.repeatable) {
        issues.error(l.line, undefined, `[${spec.name}] appears again (first at line ${first}); only one is allowed`);
      }
      if (first === undefined) firstSeen.set(spec, l.line);
      cur = { spec, line: l.line, fields: new Map(), failed: new Set(), seen: new Map(), discard: first !== undefined && !spec.repeatable };
      opened.push(cur);
      continue;
    }
    // A secret key's value is scrubbed from every message even when the line is misplaced (wrong or unknown section).
    // (`$NAME` names a variable: the name is no secret, the variable's text is scrubbed in envValue.)
    if (!isEnvRef(l.value) && sections.some((s) => s.keys[keyIndex.get(s)!.get(keyId(l.key)) ?? '']?.secret)) { issues.addSecret(l.value); issues.addSecret(compact(l.value)); }
    if (cur === 'skip') continue; // keys of an unknown section: already reported at its header
    if (!PRINTABLE_NAME.test(l.key)) {
      issues.error(l.line, undefined, 'not a "Key = value" line: the key name has unexpected characters or is too long');
      continue;
    }
    if (cur === undefined && keyId(l.key) === 'wgconfig') {
      // wireproxy's top-level line naming a wg-quick file for [Interface] and [Peer].
      if (wgConfigLine !== undefined) issues.error(l.line, 'WGConfig', `WGConfig is given again (first at line ${wgConfigLine}); it may appear only once`);
      else if (!opts.included) issues.error(l.line, 'WGConfig', `WGConfig = ${show(l.value)}: the named file is read only when the config is loaded from its file (wgts up); here give [Interface] and [Peer] inline`);
      wgConfigLine ??= l.line;
      continue;
    }
    if (cur === undefined) {
      issues.error(l.line, undefined, `${show(l.key)} is outside any section; put it under [Interface] or [Peer] (the only top-level key is WGConfig = path)`);
      continue;
    }
    const name = keyIndex.get(cur.spec)!.get(keyId(l.key));
    if (name === undefined) {
      issues.error(l.line, undefined, unknownKey(l.key, cur.spec, sections, keyIndex));
      continue;
    }
    const ks = cur.spec.keys[name]!;
    if (ks.secret && !isEnvRef(l.value)) {
      issues.addSecret(l.value);
      issues.addSecret(compact(l.value));
    }
    if (ks.unsupported) issues.warnOnce(`${cur.spec.name}.${name}`, l.line, name, ks.unsupported);
    const firstLine = cur.seen.get(name);
    if (firstLine !== undefined && !ks.repeatable) {
      issues.error(l.line, name, `${name} is given again (first at line ${firstLine}); it may appear only once`);
      continue;
    }
    if (firstLine === undefined) cur.seen.set(name, l.line);
    const fromEnv = l.value.startsWith('$') && takesEnv(cur.spec.name, name);
    const value = fromEnv ? envValue(l.value, name, l.line, opts, issues, ks.secret === true) : l.value;
    if (value === undefined) {
      cur.failed.add(name);
      continue;
    }
    const r = ks.parse(value);
    if (!r.ok) {
      const head = fromEnv ? `${name} = ${show(l.value)} (from the environment)` : ks.secret ? `${name} = <redacted>` : ks.hideValue ? name : `${name} = ${show(l.value)}`;
      issues.error(l.line, name, `${head}: ${r.error}`);
      cur.failed.add(name);
      continue;
    }
    for (const note of r.notes ?? []) issues.warn(l.line, name, note);
    const field = { value: r.value, line: l.line };
    const list = cur.fields.get(name);
    if (list) list.push(field);
    else cur.fields.set(name, [field]);
  }

  for (const o of opened) if (!o.discard) resolveIndirect(o, opts, issues);

  const built = new Map<string, Built>();
  for (const spec of sections) {
    const b: Built = { spec, items: [] };
    built.set(spec.name, b);
    const mine = opened.filter((o) => o.spec === spec);
    if (wgConfigLine !== undefined && (spec.name === 'Interface' || spec.name === 'Peer') && mine.length > 0) {
      issues.error(mine[0]!.line, undefined, `[${spec.name}] here and WGConfig at line ${wgConfigLine}: the WGConfig file gives [Interface] and [Peer]; remove one of them`);
      continue;
    }
    if (spec.required && mine.length === 0 && wgConfigLine === undefined) {
      issues.error(0, undefined, `no [${spec.name}] section (${spec.repeatable ? 'at least' : 'exactly'} one is required)`);
    }
    for (const o of mine) {
      if (o.discard) continue;
      const input = new SectionInput(o.line, o.fields, o.failed, o.seen);
      const value = spec.build(input, issues);
      if (value !== undefined) b.items.push({ input, value });
    }
  }

  const ifaceItem = built.get('Interface')?.items[0];
  const peerItems = (built.get('Peer')?.items ?? []) as { input: SectionInput; value: PeerConfig }[];
  const included = wgConfigLine !== undefined ? opts.included : undefined;
  const iface = included ? included.iface : (ifaceItem?.value as InterfaceConfig | undefined);
  if (opts.peerDefaultAll || wgConfigLine !== undefined || opened.some((o) => WIREPROXY_SECTIONS.has(o.spec.name))) {
    for (const { input, value } of peerItems) {
      if (input.lineOf('AllowedIPs') !== undefined) continue;
      value.allowedIps = ALL_IPS.map((c) => ({ ...c }));
      issues.warn(input.line, 'AllowedIPs', '[Peer] has no AllowedIPs: it gets 0.0.0.0/0, ::/0 (all traffic), as wireproxy reads such a file; add AllowedIPs to route less');
    }
  }
  checkPeers(iface, peerItems, issues);
  const peers = included ? included.peers : peerItems.map((p) => p.value);

  const extensions: Record<string, unknown[]> = {};
  for (const b of built.values()) {
    if (b.spec.name !== 'Interface' && b.spec.name !== 'Peer') extensions[b.spec.name] = b.items.map((i) => i.value);
  }
  if (iface && issues.errorCount === 0) {
    const partial = { interfaceName, iface, peers, sourceFile: fileName, extensions };
    for (const b of built.values()) b.spec.validate?.(b.items, partial, issues);
  }

  const { errors, warnings } = issues.finish();
  if (included) warnings.unshift(...included.warnings);
  if (errors.length > 0 || !iface) return { ok: false, errors: nonEmpty(errors, fileName), warnings };
  const config: WgConfig = {
    interfaceName,
    iface,
    peers,
    warnings,
    sourceFile: fileName,
    extensions,
  };
  return { ok: true, config };
}

/**
 * PrivateKeyFile, PrivateKeyEnv, PresharedKeyFile: ask opts.secrets for the
 * text the value names and put the decoded key in the field instead. The
 * text is registered as a secret before anything can be reported.
 */
function resolveIndirect(o: Open, opts: ParseOptions, issues: Issues): void {
  for (const [name, list] of o.fields) {
    const how = o.spec.keys[name]!.indirect;
    if (!how) continue;
    const keys: Field<unknown>[] = [];
    for (const f of list) {
      const ref = f.value as string;
      const head = `${name} = ${show(ref)}`;
      const got = opts.secrets?.({ key: name, kind: how.from, ref, line: f.line });
      if (!got) {
        const what = how.from === 'file' ? 'key files are' : 'environment variables are';
        issues.error(f.line, name, `${head}: ${what} read only when the config is loaded from its file (wgts up); here give the key as ${how.inline}`);
      } else if (!got.ok) {
        issues.error(f.line, name, `${head}: ${got.error}`);
      } else {
        issues.addSecret(got.text);
        issues.addSecret(got.text.trim());
        const { key, length } = decodeKeyText(got.text);
        if (key) {
          keys.push({ value: key, line: f.line });
          continue;
        }
        const len = length === 44 ? '' : ` (found ${length} characters)`;
        issues.error(f.line, name, `${head}: ${got.where} does not hold a valid key: it must be 44 characters of base64 ending in "=", as \`wg genkey\` writes${len}`);
      }
      o.failed.add(name);
    }
    if (keys.length > 0) o.fields.set(name, keys);
    else o.fields.delete(name);
  }
}

function nonEmpty(errors: ConfigIssue[], file: string): ConfigIssue[] {
  return errors.length > 0 ? errors : [{ file, line: 0, key: undefined, message: 'no usable [Interface] section' }];
}

/** wg-quick(8): the interface is named after the file, `.../wg0.conf` -> `wg0`. */
function deriveName(fileName: string, override: string | undefined, issues: Issues): string {
  if (override !== undefined) {
    if (!INTERFACE_NAME.test(override)) issues.error(0, undefined, `interface name ${show(override)} is not valid: ${NAME_RULE}`);
    return override;
  }
  const base = fileName.slice(fileName.lastIndexOf('/') + 1);
  if (!base.endsWith('.conf')) {
    issues.error(0, undefined, 'cannot name the interface after this file: the file name must be NAME.conf (or give the interface name explicitly)');
    return base;
  }
  const stem = base.slice(0, -'.conf'.length);
  if (!INTERFACE_NAME.test(stem)) {
    issues.error(
      0,
      undefined,
      `interface name ${show(stem)} (from the file name) is not valid: ${NAME_RULE}; rename the file or give the interface name explicitly`,
    );
  }
  return stem;
}

function unknownSection(name: string, sections: readonly SectionSpec<any>[]): string {
  const known = sections.map((s) => `[${s.name}]`).join(', ');
  if (!PRINTABLE_NAME.test(name)) return `unknown section header (known sections: ${known})`;
  const near = closest(name, sections.map((s) => s.name));
  return `unknown section [${name}]${near ? ` (did you mean [${near}]?)` : ` (known sections: ${known})`}`;
}

function unknownKey(
  key: string,
  spec: SectionSpec<any>,
  sections: readonly SectionSpec<any>[],
  keyIndex: Map<SectionSpec<any>, Map<string, string>>,
): string {
  const names = Object.keys(spec.keys);
  const near = closest(key.replace(/[ \t]+/g, ''), names);
  // One edit away from a key of this section (Protocol in [PortMapping]) beats a key of another section.
  const oneOff = near !== undefined && editDistance(keyId(key), keyId(near)) <= 1;
  for (const other of sections) {
    const name = other === spec || oneOff ? undefined : keyIndex.get(other)!.get(keyId(key));
    if (name) return `${name} belongs in [${other.name}], not in [${spec.name}]`;
  }
  const hint = near ? `did you mean ${near}?` : `valid keys: ${names.join(', ')}`;
  return `unknown key "${key}" in [${spec.name}] (${hint})`;
}

/** Distinct peer keys, none equal to our own or of low order; warn on AllowedIPs claimed twice. */
function checkPeers(
  iface: InterfaceConfig | undefined,
  peers: { input: SectionInput; value: PeerConfig }[],
  issues: Issues,
): void {
  const byKey = new Map<string, number>();
  const ipOwner = new Map<string, number>();
  const priv = iface && peers.length > 0 ? new PrivateKey(iface.privateKey) : undefined;
  try {
    for (const { input, value: p } of peers) {
      const line = input.one('PublicKey')?.line ?? input.line;
      const hex = toHex(p.publicKey);
      const dup = byKey.get(hex);
      if (dup !== undefined) {
        issues.error(line, 'PublicKey', `PublicKey is the same as the peer at line ${dup}; each peer needs its own key`);
      } else byKey.set(hex, input.line);
      if (iface && equalConstantTime(p.publicKey, iface.publicKey)) {
        issues.error(line, 'PublicKey', "PublicKey is this interface's own public key (derived from PrivateKey)");
      } else if (priv && priv.dh(p.publicKey) === null) {
        issues.error(line, 'PublicKey', 'PublicKey is a low-order point; a handshake with it can never succeed');
      }
      for (const f of input.all<{ ip: string; cidr: number; family: 4 | 6 }[]>('AllowedIPs')) {
        for (const c of f.value) {
          const k = formatCidr(c);
          const owner = ipOwner.get(k);
          if (owner !== undefined && owner !== input.line) {
            issues.warn(f.line, 'AllowedIPs', `AllowedIPs ${k} is also given to the peer at line ${owner}; this later peer gets it (as in wg)`);
          }
          ipOwner.set(k, input.line);
        }
      }
    }
  } finally {
    priv?.wipe();
  }
}
