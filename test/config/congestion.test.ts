/**
 * Congestion = cubic | newreno | bbr in [Interface] (the whole stack) and in
 * [Forward] / [Expose] (that rule's tunnel-side connections): parsed in any
 * case, refused with file:line and a did-you-mean, kept through a
 * serialize round trip, and spelled in the short form and the rule text
 * `wgts show` prints only when set.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { formatIssue, parseConfig, parseShortForm, serializeConfig, type WgConfig } from '../../src/config/index.js';
import type { NatRule } from '../../src/nat/rule.js';
import { shortFormText, units } from '../../src/nat/rule.js';
import { KEYS } from './helpers.js';

const IFACE = `[Interface]\nPrivateKey = ${KEYS.serverPriv}\nAddress = 10.0.0.1/24`; // lines 1-3

function parse(text: string): WgConfig {
  const r = parseConfig('wg0.conf', text);
  assert.ok(r.ok, r.ok ? '' : r.errors.map(formatIssue).join('\n'));
  return r.config;
}

function errors(text: string): string[] {
  const r = parseConfig('wg0.conf', text);
  assert.equal(r.ok, false);
  return r.ok ? [] : r.errors.map(formatIssue);
}

const rules = (c: WgConfig, name: string) => (c.extensions[name] ?? []) as NatRule[];

test('[Interface] Congestion: any case; absent leaves the default (cubic)', () => {
  assert.equal(parse(`${IFACE}\nCongestion = BBR`).iface.congestion, 'bbr');
  assert.equal(parse(`${IFACE}\nCongestion = newreno`).iface.congestion, 'newreno');
  assert.equal(parse(IFACE).iface.congestion, undefined);
});

test('Congestion refusals name the file, line and the choices', () => {
  assert.deepEqual(errors(`${IFACE}\nCongestion = cubc`), ['wg0.conf:4: Congestion = cubc: must be cubic (the default), newreno or bbr (did you mean cubic?)']);
  assert.deepEqual(errors(`${IFACE}\nCongestion = vegas`), ['wg0.conf:4: Congestion = vegas: must be cubic (the default), newreno or bbr']);
  assert.deepEqual(errors(`${IFACE}\n\n[Forward]\nListen = 0.0.0.0:8080\nTarget = 10.0.0.2:80\nCongestion = bbr2`), [
    'wg0.conf:8: Congestion = bbr2: must be cubic (the default), newreno or bbr (did you mean bbr?)',
  ]);
});

test('[Forward] / [Expose] Congestion reaches the rule, its unit text and the short form', () => {
  const c = parse(`${IFACE}\n\n[Forward]\nListen = 0.0.0.0:8080\nTarget = 10.0.0.2:80\nCongestion = bbr\n\n[Expose]\nListen = 10.0.0.1:9000\nTarget = 127.0.0.1:9000\nCongestion = newreno\n\n[Forward]\nListen = 0.0.0.0:8081\nTarget = 10.0.0.2:81`);
  const [fwd, plain] = rules(c, 'Forward');
  const [exp] = rules(c, 'Expose');
  assert.equal(fwd!.congestion, 'bbr');
  assert.equal(exp!.congestion, 'newreno');
  assert.equal(plain!.congestion, undefined);
  assert.match(units(fwd!)[0]!.text, /,Congestion=bbr$/);
  assert.doesNotMatch(units(plain!)[0]!.text, /Congestion/, 'the default is not spelled');
  const short = parseShortForm('forward', shortFormText(fwd!));
  assert.ok(short.ok);
  assert.deepEqual(short.rule, fwd);
});

test('serialize round trip keeps Congestion where it was set, and only there', () => {
  const text = `${IFACE}\nCongestion = bbr\n\n[Forward]\nListen = 0.0.0.0:8080\nTarget = 10.0.0.2:80\nCongestion = newreno\n\n[Forward]\nListen = 0.0.0.0:8081\nTarget = 10.0.0.2:81\n`;
  const a = parse(text);
  const out = serializeConfig(a);
  assert.equal(out.match(/^Congestion = /gm)?.length, 2);
  assert.match(out, /^Congestion = bbr$/m);
  assert.match(out, /^Congestion = newreno$/m);
  const b = parse(out);
  assert.equal(b.iface.congestion, 'bbr');
  assert.deepEqual(rules(b, 'Forward'), rules(a, 'Forward'));
  assert.equal(serializeConfig(b), out);
});
