/**
 * Address text forms. IPv6 canonical output is checked against the WHATWG URL
 * serializer in node (same compression rule as RFC 5952 section 4), masking
 * against a naive BigInt reference, both on random inputs.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { canonicalIp, isHostname, parseCidr, parseEndpoint } from '../../src/config/addr.js';
import { rng } from './helpers.js';
import { formatIp, parseIp } from '../../src/ip/text.js';

/** Reference: the URL parser's IPv6 serialization. */
function urlV6(text: string): string {
  return new URL(`http://[${text}]/`).hostname.slice(1, -1);
}

function randomWords(r: () => number): number[] {
  return Array.from({ length: 8 }, () => (r() < 0.5 ? 0 : r() < 0.5 ? Math.floor(r() * 16) : Math.floor(r() * 0x10000)));
}

/** One of several valid spellings of the same address. */
function spell(words: number[], r: () => number): string {
  const hex = words.map((w) => {
    let s = w.toString(16);
    if (r() < 0.3) s = s.padStart(4, '0');
    return r() < 0.3 ? s.toUpperCase() : s;
  });
  const zeros: [number, number][] = [];
  for (let i = 0; i < 8; i++) {
    if (words[i] !== 0) continue;
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    zeros.push([i, j]);
    i = j;
  }
  if (zeros.length === 0 || r() < 0.3) return hex.join(':');
  const [a, b] = zeros[Math.floor(r() * zeros.length)]!;
  return `${hex.slice(0, a).join(':')}::${hex.slice(b).join(':')}`;
}

test('RFC 5952 section 4 examples', () => {
  const cases: [string, string][] = [
    ['2001:0db8::0001', '2001:db8::1'],
    ['2001:db8:0:0:0:0:2:1', '2001:db8::2:1'],
    ['2001:db8::1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // a single 0 is not shortened
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // the longest run
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // the first of equal runs
    ['2001:DB8::AAAA', '2001:db8::aaaa'],
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
  ];
  for (const [input, want] of cases) assert.equal(canonicalIp(input)?.ip, want, input);
});

test('IPv6 canonical form matches the URL serializer on random spellings', () => {
  const r = rng(0x5952);
  for (let n = 0; n < 3000; n++) {
    const words = randomWords(r);
    if (words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff) continue; // mapped: printed dotted
    const text = spell(words, r);
    assert.equal(canonicalIp(text)?.ip, urlV6(text), text);
  }
});

test('IPv4-mapped addresses print dotted, like inet_ntop', () => {
  assert.equal(canonicalIp('::FFFF:0a00:0001')?.ip, '::ffff:10.0.0.1');
  assert.equal(canonicalIp('0:0:0:0:0:ffff:192.0.2.1')?.ip, '::ffff:192.0.2.1');
});

test('deprecated IPv4-compatible addresses print in hex, like the URL serializer (formatIp prints them dotted, like inet_ntop)', () => {
  assert.equal(canonicalIp('::1.2.3.4')?.ip, urlV6('::1.2.3.4'));
  assert.equal(canonicalIp('::1.2.3.4')?.ip, '::102:304');
  assert.equal(formatIp(parseIp('::1.2.3.4')!), '::1.2.3.4');
});

function toBig(words: number[]): bigint {
  return words.reduce((acc, w) => (acc << 16n) | BigInt(w), 0n);
}

function bigToFullV6(x: bigint): string {
  const w: string[] = [];
  for (let i = 7; i >= 0; i--) w.push(((x >> BigInt(16 * i)) & 0xffffn).toString(16));
  return w.join(':');
}

test('AllowedIPs masking matches a BigInt reference (IPv6 and IPv4)', () => {
  const r = rng(0xa11);
  for (let n = 0; n < 2000; n++) {
    const words = randomWords(r).map((w) => (w === 0 && r() < 0.5 ? 0xffff : w));
    if (words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff) continue;
    const prefix = Math.floor(r() * 129);
    const x = toBig(words);
    const masked = x & ~((1n << BigInt(128 - prefix)) - 1n);
    const got = parseCidr(`${bigToFullV6(x)}/${prefix}`, true);
    assert.ok(got.ok);
    assert.equal(got.value.cidr.ip, urlV6(bigToFullV6(masked)));
    assert.equal(got.value.cidr.cidr, prefix);
    assert.equal(got.value.hostBits, masked !== x);
  }
  for (let n = 0; n < 2000; n++) {
    const x = Math.floor(r() * 0x100000000);
    const prefix = Math.floor(r() * 33);
    const masked = prefix === 0 ? 0 : (x & (0xffffffff << (32 - prefix))) >>> 0;
    const dotted = (v: number) => [24, 16, 8, 0].map((s) => (v >>> s) & 0xff).join('.');
    const got = parseCidr(`${dotted(x)}/${prefix}`, true);
    assert.ok(got.ok);
    assert.deepEqual(got.value.cidr, { ip: dotted(masked), cidr: prefix, family: 4 });
    assert.equal(got.value.hostBits, masked !== x);
  }
});

test('CIDR refusals', () => {
  for (const bad of ['', '/24', '10.0.0.1/', '10.0.0.1/024x', '10.0.0.1/1/2', '010.0.0.1', '10.0.0.1 /24', 'fe80::1%1/64', '::/0129', 'host/24']) {
    assert.equal(parseCidr(bad, true).ok, false, bad);
  }
  // Leading zeros in the prefix are read as decimal, as wg's strtoul does.
  assert.deepEqual(parseCidr('10.0.0.0/08', true), { ok: true, value: { cidr: { ip: '10.0.0.0', cidr: 8, family: 4 }, hostBits: false } });
});

test('hostnames', () => {
  for (const good of ['a', 'example.com', 'example.com.', 'xn--bcher-kva.example', '_srv.example', 'a-b.c', '1a.example']) {
    assert.ok(isHostname(good), good);
  }
  for (const bad of ['', '.', '-a.example', 'a-.example', 'a..b', 'a b', `${'a'.repeat(64)}.com`, `${'a.'.repeat(127)}a`, 'ex!ample']) {
    assert.ok(!isHostname(bad), bad);
  }
});

test('endpoints keep host and port apart, unresolved', () => {
  assert.deepEqual(parseEndpoint('1.2.3.4:51820'), { ok: true, value: { host: '1.2.3.4', port: 51820 } });
  assert.deepEqual(parseEndpoint('[::1]:1'), { ok: true, value: { host: '::1', port: 1 } });
  assert.deepEqual(parseEndpoint('[::ffff:1.2.3.4]:9'), { ok: true, value: { host: '::ffff:1.2.3.4', port: 9 } });
  assert.deepEqual(parseEndpoint('localhost:7'), { ok: true, value: { host: 'localhost', port: 7 } });
  for (const bad of ['', ':1', '1.2.3.4', '1.2.3.4:', '1.2.3.4:65536', '[::1]', '[::1]1', '[::1]:', 'a:b:c', '256.0.0.1:1', '[host]:1']) {
    assert.equal(parseEndpoint(bad).ok, false, bad);
  }
});
