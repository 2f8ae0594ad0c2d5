/**
 * Fuzzes the wg-quick config parser at the byte level, as a file reaches it.
 *
 *   fixtures (test/fixtures/config) + corpus -> byte/token mutations ->
 *   UTF-8 decode (as load.ts) -> parseConfig -> properties:
 *   never throws and never reports an internal error; a refusal has errors;
 *   every error and warning names the file and a line of it (0 = the whole
 *   file); messages are one line; no message shows any 10-character piece of
 *   a private or preshared key, neither the fixtures' keys nor whatever value
 *   a PrivateKey/PresharedKey line of the mutated file holds (unless a
 *   mutation copied that text onto an ordinary line, where it is just a value).
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { formatIssue, parseConfig, type ConfigIssue } from '../../src/config/index.js';
import { escapeText } from '../../src/config/issues.js';
import { describeReport, runFuzz } from './harness.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/config/', import.meta.url));
const fixtures = readdirSync(FIXTURES).filter((f) => f.endsWith('.conf')).sort().map((f) => readFileSync(FIXTURES + f));

/** Values of secret lines in the original fixtures, found by a regex of our own. */
const SECRET_LINE = /^[ \t\r\v\f]*(private[ \t]*key|preshared[ \t]*key)[ \t\r\v\f]*=([^#\n]*)/i;
function secretValues(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = SECRET_LINE.exec(line);
    if (!m) continue;
    const v = m[2]!.trim();
    const compact = v.replace(/[ \t\r\v\f]+/g, '');
    // Short or plain-word values would match ordinary message text by chance.
    for (const s of [v, compact]) if (s.length >= 12 && /[0-9+/=]/.test(s)) out.push(s);
  }
  return out;
}

function windows(s: string, n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i + n <= s.length; i++) out.push(s.slice(i, i + n));
  return out;
}

const FIXTURE_SECRET_PIECES = new Set(fixtures.flatMap((f) => secretValues(f.toString('utf8')).flatMap((v) => windows(v, 10))));

const DICTIONARY = [
  '\n', '\r\n', '=', ' = ', '#', '[', ']', ',', '/', ':', '::', '.', '%', '\0', '\u00ff', '\ufeff', '\u202e',
  '[Interface]\n', '[Peer]\n', '[Forward]\n', 'PrivateKey = ', 'PublicKey = ', 'PresharedKey = ', 'AllowedIPs = ',
  'Endpoint = ', 'Address = ', 'ListenPort = ', 'MTU = ', 'DNS = ', 'PersistentKeepalive = ', 'FwMark = ', 'Table = ',
  '0.0.0.0/0', '::/0', '/33', '/129', '65536', '-1', '0x', 'off', '[::1]:51820', 'host.example:0',
];

test('fuzz: parseConfig never throws, names file and line, never shows a key', (t) => {
  const names = ['wg0.conf', '/etc/wireguard/wg1.conf', 'x.conf'];
  let n = 0;
  const rep = runFuzz({
    name: 'config',
    seeds: fixtures.map((b) => new Uint8Array(b)),
    iterations: 4_000,
    maxLen: 16_384,
    dictionary: DICTIONARY,
    check: (bytes) => {
      const file = names[n++ % names.length]!;
      const text = new TextDecoder('utf-8').decode(bytes);
      const result = parseConfig(file, text);
      const lineCount = text.split('\n').length;
      const issues: ConfigIssue[] = result.ok ? result.config.warnings : [...result.errors, ...result.warnings];
      if (result.ok) {
        assert.equal(result.config.iface.privateKey.length, 32);
        assert.equal(result.config.iface.publicKey.length, 32);
        for (const p of result.config.peers) assert.equal(p.publicKey.length, 32);
      } else {
        assert.ok(result.errors.length > 0, 'a refusal carries at least one error');
      }
      const secrets = secretValues(text);
      // Key text a mutation moved onto an ordinary line may be echoed like any value there.
      const elsewhere = text.split('\n').filter((l) => !SECRET_LINE.test(l)).join('\n');
      // ...and is shown with control characters escaped ("\x0d"), whose hex digits can
      // complete a window of key text (corpus: crash-4fdff7123305.bin, "\rZ4x20" -> "\x0dZ4x20").
      const elsewhereShown = escapeText(elsewhere);
      for (const i of issues) {
        assert.equal(i.file, file, 'issue names the file');
        assert.ok(Number.isInteger(i.line) && i.line >= 0 && i.line <= lineCount, `line ${i.line} within 0..${lineCount}`);
        const shown = formatIssue(i);
        assert.ok(!/internal error/.test(shown), shown);
        assert.ok(!/[\n\r\0]/.test(shown), `one line: ${JSON.stringify(shown)}`);
        for (const s of secrets) assert.ok(!shown.includes(s), `secret value shown: ${shown}`);
        for (const w of windows(shown, 10)) {
          if (FIXTURE_SECRET_PIECES.has(w) && !elsewhere.includes(w) && !elsewhereShown.includes(w)) assert.fail(`piece of a fixture key shown: ${shown}`);
        }
      }
      if (result.ok) return 'ok';
      // Outcome: the first error's message shape, without values.
      return `err:${result.errors[0]!.message.replace(/"[^"]*"|\S*\d\S*/g, '_').slice(0, 40)}`;
    },
  });
  assert.ok(rep.outcomes.has('ok'), 'some mutations still parse');
  assert.ok(rep.outcomes.size > 20, `varied outcomes (${rep.outcomes.size})`);
  console.log(describeReport('config', rep).slice(0, 600));
});
