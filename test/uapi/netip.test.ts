// IP literal parsing/printing against the rules wireguard-go inherits from Go's
// net/netip (ParseAddr, ParseAddrPort, ParsePrefix, Addr.String) and RFC 5952
// section 4 (canonical IPv6 text). Expected strings follow those documents.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { formatAddr, parseAddr, parseAddrPort, parsePrefix, parseUintDec } from '../../src/uapi/netip.js';
import { maskPrefix } from '../../src/ip/text.js';

function canon(s: string): string | null {
  const a = parseAddr(s);
  return a === null ? null : formatAddr(a.bytes, a.zone);
}

test('IPv4: dotted quad, no leading zeros, four fields of 0..255', () => {
  assert.deepEqual(parseAddr('192.168.1.20')?.bytes, new Uint8Array([192, 168, 1, 20]));
  assert.equal(canon('0.0.0.0'), '0.0.0.0');
  assert.equal(canon('255.255.255.255'), '255.255.255.255');
  for (const bad of ['01.2.3.4', '1.2.3.04', '256.1.1.1', '1.2.3', '1.2.3.4.5', '1..2.3', '.1.2.3', '1.2.3.', '1.2.3.4%eth0', '1.2.3.a', '', '1234']) {
    assert.equal(parseAddr(bad), null, bad);
  }
});

test('IPv6: RFC 5952 output (lower case, no leading zeros, longest zero run as ::, first on a tie)', () => {
  assert.equal(canon('2001:DB8:0:0:0:0:0:1'), '2001:db8::1');
  assert.equal(canon('2001:0db8:0000:0000:0001:0000:0000:0001'), '2001:db8::1:0:0:1'); // tie: first run
  assert.equal(canon('2001:db8:0:0:1:0:0:0'), '2001:db8:0:0:1::'); // longer run wins
  assert.equal(canon('2001:db8:0:1:1:1:1:1'), '2001:db8:0:1:1:1:1:1'); // a single 0 field stays
  assert.equal(canon('::'), '::');
  assert.equal(canon('::1'), '::1');
  assert.equal(canon('1::'), '1::');
  assert.equal(canon('fd00::2'), 'fd00::2');
  assert.equal(canon('0:0:0:0:0:0:0:0'), '::');
});

test('IPv6: embedded IPv4, IPv4-mapped printing, zones', () => {
  assert.equal(canon('::ffff:1.2.3.4'), '::ffff:1.2.3.4');
  assert.equal(canon('::FFFF:0102:0304'), '::ffff:1.2.3.4');
  assert.equal(canon('64:ff9b::192.0.2.33'), '64:ff9b::c000:221');
  assert.equal(canon('1:2:3:4:5:6:1.2.3.4'), '1:2:3:4:5:6:102:304');
  assert.equal(canon('fe80::1%eth0'), 'fe80::1%eth0');
  assert.equal(parseAddr('fe80::1%eth0')?.zone, 'eth0');
  for (const bad of [
    '1:2:3:4:5:6:7:1.2.3.4', // IPv4 does not fit
    '1:2:3:4:5:1.2.3.4', // IPv4 not in the last 32 bits, no ::
    '::ffff:01.2.3.4',
    '12345::1', // 5 hex digits
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7',
    '1::2::3',
    '1:2:3:4:5:6:7::8', // :: standing for no field
    '1:2:3:4:5:6:7:8::',
    ':1::2',
    '1:',
    'fe80::1%', // empty zone
    'fe80::1%a b', // zone with a space (our stricter rule)
    'fe80::1%a\rb',
    '%eth0',
    'g::1',
  ]) {
    assert.equal(parseAddr(bad), null, JSON.stringify(bad));
  }
});

test('ParseAddrPort: IPv4 bare, IPv6 bracketed, decimal port', () => {
  const v4 = parseAddrPort('127.0.0.1:51821');
  assert.ok(v4);
  assert.equal(formatAddr(v4.addr.bytes), '127.0.0.1');
  assert.equal(v4.port, 51821);
  const v6 = parseAddrPort('[FD00::0002]:0080');
  assert.ok(v6);
  assert.equal(formatAddr(v6.addr.bytes), 'fd00::2');
  assert.equal(v6.port, 80);
  const z = parseAddrPort('[fe80::1%wg0]:1');
  assert.equal(z && formatAddr(z.addr.bytes, z.addr.zone), 'fe80::1%wg0');
  assert.equal(parseAddrPort('1.2.3.4:0')?.port, 0);
  assert.equal(parseAddrPort('1.2.3.4:65535')?.port, 65535);
  for (const bad of ['1.2.3.4', '1.2.3.4:', ':80', '1.2.3.4:65536', '1.2.3.4:-1', '1.2.3.4:+1', '1.2.3.4:0x50', '[1.2.3.4]:80', '::1:80', '[::1]', '[::1:80', 'example.com:80', ' 1.2.3.4:80']) {
    assert.equal(parseAddrPort(bad), null, bad);
  }
});

test('ParsePrefix: length in range, no sign/leading zero, no zone', () => {
  const p = parsePrefix('10.0.0.2/32');
  assert.ok(p);
  assert.equal(p.bits, 32);
  assert.equal(parsePrefix('::/0')?.bits, 0);
  assert.equal(parsePrefix('fd00::/128')?.bits, 128);
  for (const bad of ['10.0.0.0', '10.0.0.0/33', '10.0.0.0/01', '10.0.0.0/+8', '10.0.0.0/-1', '10.0.0.0/', '::/129', 'fe80::%eth0/64', '10.0.0.0/8/8', '/8']) {
    assert.equal(parsePrefix(bad), null, bad);
  }
});

test('maskPrefix zeroes host bits', () => {
  const m = (s: string, bits: number): string => formatAddr(maskPrefix(parseAddr(s)!.bytes, bits));
  assert.equal(m('10.1.2.3', 8), '10.0.0.0');
  assert.equal(m('10.1.2.3', 0), '0.0.0.0');
  assert.equal(m('10.1.2.255', 25), '10.1.2.128');
  assert.equal(m('10.1.2.3', 32), '10.1.2.3');
  assert.equal(m('fd00:1:2:3::ff', 64), 'fd00:1:2:3::');
  assert.equal(m('ffff:ffff::', 17), 'ffff:8000::');
});

test('parseUintDec matches strconv.ParseUint base 10', () => {
  assert.equal(parseUintDec('0', 65535), 0);
  assert.equal(parseUintDec('00025', 65535), 25);
  assert.equal(parseUintDec('65535', 65535), 65535);
  for (const bad of ['', '65536', '-0', '+1', '1_000', ' 1', '1 ', '1e3', '0x1']) assert.equal(parseUintDec(bad, 65535), null, bad);
  assert.equal(parseUintDec('4294967295', 0xffffffff), 4294967295);
  assert.equal(parseUintDec('4294967296', 0xffffffff), null);
});
