/**
 * The parser is total: thousands of random mutations of real configs, random
 * binary and huge inputs all give a result (never a throw, never an internal
 * error), and no error or warning ever shows a PrivateKey/PresharedKey value.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { formatIssue, parseConfig, type ParseResult } from '../../src/config/index.js';
import { fixture, rng } from './helpers.js';

const SEEDS = [fixture('wg0.conf'), fixture('phone.conf'), fixture('win0.conf')];
const ALPHABET = ['=', '#', '[', ']', ',', '/', ':', '.', ' ', '\t', '\r', '\n', '\0', '\u00ff', '\ud800', '\u202e', '0', '9', 'a', 'Z', '+', '-', '%', '\\', '"'];

/** Values of PrivateKey/PresharedKey lines in a text, found independently of the parser. */
function secretsIn(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^[ \t\r\v\f]*(private[ \t]*key|preshared[ \t]*key)[ \t\r\v\f]*=([^#\n]*)/i.exec(line);
    if (!m) continue;
    const v = m[2]!.trim();
    if (v.length >= 8) out.push(v);
  }
  return out;
}

function check(text: string, result: ParseResult): void {
  const issues = result.ok ? result.config.warnings : [...result.errors, ...result.warnings];
  if (result.ok) {
    assert.ok(result.config.iface.privateKey.length === 32);
  } else {
    assert.ok(result.errors.length > 0);
  }
  const secrets = secretsIn(text);
  for (const i of issues) {
    const line = formatIssue(i);
    assert.ok(!line.includes('internal error'), line);
    assert.ok(!line.includes('\n') && !line.includes('\r') && !line.includes('\0'), JSON.stringify(line));
    for (const s of secrets) assert.ok(!line.includes(s), `secret in: ${line}`);
  }
}

function mutate(text: string, r: () => number): string {
  const pick = (n: number) => Math.floor(r() * n);
  let t = text;
  const rounds = 1 + pick(4);
  for (let k = 0; k < rounds; k++) {
    const at = pick(t.length + 1);
    switch (pick(7)) {
      case 0: // delete a span
        t = t.slice(0, at) + t.slice(at + 1 + pick(20));
        break;
      case 1: // insert structural characters
        t = t.slice(0, at) + ALPHABET[pick(ALPHABET.length)]! + t.slice(at);
        break;
      case 2: // insert random UTF-16 units
        t = t.slice(0, at) + String.fromCharCode(...Array.from({ length: 1 + pick(8) }, () => pick(0x10000))) + t.slice(at);
        break;
      case 3: {
        // duplicate or drop a line
        const lines = t.split('\n');
        const i = pick(lines.length);
        if (r() < 0.5) lines.splice(i, 0, lines[pick(lines.length)]!);
        else lines.splice(i, 1);
        t = lines.join('\n');
        break;
      }
      case 4: {
        // swap two lines
        const lines = t.split('\n');
        const i = pick(lines.length);
        const j = pick(lines.length);
        [lines[i], lines[j]] = [lines[j]!, lines[i]!];
        t = lines.join('\n');
        break;
      }
      case 5: // flip case of a span
        t = t.slice(0, at) + t.slice(at, at + 10).toUpperCase() + t.slice(at + 10);
        break;
      case 6: // truncate
        t = t.slice(0, at);
        break;
    }
  }
  return t;
}

test('random mutations of valid files never throw', (t) => {
  const r = rng(20240601);
  let accepted = 0;
  const N = 3000;
  for (let n = 0; n < N; n++) {
    const text = mutate(SEEDS[n % SEEDS.length]!, r);
    let result: ParseResult;
    try {
      result = parseConfig('wg0.conf', text);
    } catch (e) {
      assert.fail(`threw on mutation #${n}: ${String(e)}\n${JSON.stringify(text)}`);
    }
    check(text, result);
    if (result.ok) accepted++;
  }
  // Both outcomes are exercised (harmless mutations in comments etc. still parse).
  assert.ok(accepted > N / 20 && accepted < N - N / 20, `accepted ${accepted} of ${N}`);
  console.log(`${accepted} of ${N} mutated files accepted`);
});

test('random binary garbage never throws', () => {
  const r = rng(7);
  for (let n = 0; n < 500; n++) {
    const bytes = Uint8Array.from({ length: Math.floor(r() * 2000) }, () => Math.floor(r() * 256));
    const text = new TextDecoder().decode(bytes);
    const result = parseConfig('garbage.conf', text);
    assert.equal(result.ok, false);
    check(text, result);
  }
});

test('huge lines and many lines are handled', () => {
  const big = 'x'.repeat(1 << 20);
  for (const text of [
    big,
    `[Interface]\nPrivateKey = ${big}\n`,
    `[Interface]\n${big} = 1\n`,
    `[Interface]\nAddress = ${'10.0.0.1/24, '.repeat(50000)}\n`,
    `[${big}]\n`,
    '\n'.repeat(1 << 20),
    '[Peer]\n'.repeat(100000),
    `[Interface]\nListenPort = 1\n`.repeat(20000),
  ]) {
    const result = parseConfig('wg0.conf', text);
    check(text, result);
  }
});
