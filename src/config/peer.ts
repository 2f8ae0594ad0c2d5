/**
 * The [Peer] section (wg(8)): PublicKey (required), PresharedKey (or
 * PresharedKeyFile, read by load.ts), Endpoint,
 * AllowedIPs (host bits cleared and duplicates dropped, as wg does),
 * PersistentKeepalive. Checks across peers live in parse.ts.
 */
import { formatCidr, parseCidr, parseEndpoint } from './addr.js';
import { type Issues, show } from './issues.js';
import { compact } from './lexer.js';
import type { KeyParsed, SectionInput, SectionSpec } from './schema.js';
import type { Cidr, Endpoint, PeerConfig } from './types.js';
import { fail, keyPath, ok, oneSource, parseKeepalive, parseKey } from './values.js';

/** wg(8): whitespace is ignored, entries are comma-separated, an empty value means none. */
function parseAllowedIps(v: string): KeyParsed<Cidr[]> {
  const s = compact(v);
  if (s === '') return ok([]);
  const out: Cidr[] = [];
  const notes: string[] = [];
  for (const item of s.split(',')) {
    if (item === '') return fail('empty entry (stray comma?)');
    if (item[0] === '+' || item[0] === '-') return fail(`${show(item)}: "+"/"-" prefixes are only for \`wg set\``);
    const r = parseCidr(item, true);
    if (!r.ok) return fail(`${show(item)}: ${r.error}`);
    if (r.value.hostBits) {
      notes.push(`AllowedIPs ${show(item)} has host bits set; using ${formatCidr(r.value.cidr)} (as wg does)`);
    }
    out.push(r.value.cidr);
  }
  return ok(out, notes.length ? notes : undefined);
}

function parseEndpointValue(v: string): KeyParsed<Endpoint> {
  const r = parseEndpoint(compact(v));
  return r.ok ? ok(r.value) : fail(r.error);
}

export const peerSection: SectionSpec<PeerConfig> = {
  name: 'Peer',
  repeatable: true,
  keys: {
    PublicKey: { parse: parseKey, hideValue: true },
    PresharedKey: { parse: parseKey, secret: true },
    PresharedKeyFile: { parse: keyPath('PresharedKey'), hideValue: true, indirect: { from: 'file', inline: 'PresharedKey' } },
    Endpoint: { parse: parseEndpointValue },
    AllowedIPs: { parse: parseAllowedIps, repeatable: true },
    PersistentKeepalive: { parse: parseKeepalive },
  },
  build: buildPeer,
};

function buildPeer(input: SectionInput, issues: Issues): PeerConfig | undefined {
  const pub = input.one<Uint8Array>('PublicKey');
  if (!pub) {
    if (input.refused('PublicKey')) return undefined;
    issues.error(input.line, 'PublicKey', '[Peer] has no PublicKey (required)');
    return undefined;
  }
  const psk = oneSource(input, issues, ['PresharedKey', 'PresharedKeyFile'], 'preshared key');
  if (psk === null) return undefined;
  const allowedIps: Cidr[] = [];
  const seen = new Set<string>();
  for (const f of input.all<Cidr[]>('AllowedIPs')) {
    for (const c of f.value) {
      const k = formatCidr(c);
      if (seen.has(k)) continue;
      seen.add(k);
      allowedIps.push(c);
    }
  }
  return {
    line: input.line,
    publicKey: pub.value,
    presharedKey: psk === undefined ? undefined : input.one<Uint8Array>(psk)?.value,
    endpoint: input.one<Endpoint>('Endpoint')?.value,
    allowedIps,
    persistentKeepalive: input.one<number>('PersistentKeepalive')?.value ?? 0,
  };
}
