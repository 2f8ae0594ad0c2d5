/**
 * PROXY protocol headers: byte-exact against the examples in HAProxy's
 * doc/proxy-protocol.txt (section 2.1's example line and maximum-length
 * lines, section 2.2's layout) and against a v2 header captured from
 * HAProxy (seriousben/experiment-proxy-protocol README, "netcat of haproxy
 * writing a version 2 of the PROXY protocol header"); then parsed back off
 * a forwarded connection by a receiver written here from the spec alone.
 */
import { test, type TestContext } from 'vitest';
import assert from 'node:assert/strict';
import { isIPv4, isIPv6, type Socket } from 'node:net';
import { encodeProxyV1, encodeProxyV2 } from '../../src/nat/proxy-protocol.js';
import { dial, portOf, rig, rule, tcpServer, waitFor } from './helpers.js';
import { withSeed } from '../harness/seed.js';

// ------------------------------------------------------------------ an independent receiver (spec section 2)

interface Parsed {
  version: 1 | 2;
  command: 'PROXY' | 'LOCAL';
  /** TCP4, TCP6, UDP4, UDP6, UNKNOWN (v1) or UNSPEC (v2). */
  proto: string;
  src?: string;
  dst?: string;
  sport?: number;
  dport?: number;
  /** Header length: the payload starts here. */
  length: number;
}

const V2SIG = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

/** Full, uncompressed lower-case IPv6 text of 16 bytes (no RFC 5952 logic: compared against expanded text). */
function v6Full(b: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16).padStart(4, '0'));
  return groups.join(':');
}

/** Expands any IPv6 text to the v6Full form. */
function expand6(s: string): string {
  const [head, tail] = s.includes('::') ? s.split('::') : [s, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const mid = tail === undefined ? [] : Array(8 - h.length - t.length).fill('0');
  return [...h, ...mid, ...t].map((g) => g.padStart(4, '0').toLowerCase()).join(':');
}

function parseHeader(buf: Buffer): Parsed | 'incomplete' | 'invalid' {
  if (buf.length >= 16 && buf.subarray(0, 12).equals(V2SIG)) {
    const verCmd = buf[12]!;
    if (verCmd >> 4 !== 2) return 'invalid';
    const cmd = verCmd & 0xf;
    if (cmd > 1) return 'invalid';
    const len = buf.readUInt16BE(14);
    if (buf.length < 16 + len) return 'incomplete';
    const fam = buf[13]!;
    const out: Parsed = { version: 2, command: cmd === 1 ? 'PROXY' : 'LOCAL', proto: 'UNSPEC', length: 16 + len };
    const a = buf.subarray(16, 16 + len);
    if ((fam === 0x11 || fam === 0x12) && len >= 12) {
      out.proto = fam === 0x11 ? 'TCP4' : 'UDP4';
      out.src = [...a.subarray(0, 4)].join('.');
      out.dst = [...a.subarray(4, 8)].join('.');
      out.sport = a.readUInt16BE(8);
      out.dport = a.readUInt16BE(10);
    } else if ((fam === 0x21 || fam === 0x22) && len >= 36) {
      out.proto = fam === 0x21 ? 'TCP6' : 'UDP6';
      out.src = v6Full(a.subarray(0, 16));
      out.dst = v6Full(a.subarray(16, 32));
      out.sport = a.readUInt16BE(32);
      out.dport = a.readUInt16BE(34);
    } else if (fam !== 0x00) return 'invalid';
    return out;
  }
  if (buf.length < 8) return 'incomplete';
  if (buf.subarray(0, 5).toString('latin1') !== 'PROXY') return 'invalid';
  const crlf = buf.indexOf('\r\n');
  if (crlf < 0) return buf.length >= 107 ? 'invalid' : 'incomplete';
  if (crlf + 2 > 107) return 'invalid';
  const line = buf.subarray(0, crlf).toString('latin1');
  if (/[\r\n]/.test(line)) return 'invalid';
  const parts = line.split(' ');
  if (parts[1] === 'UNKNOWN') return { version: 1, command: 'PROXY', proto: 'UNKNOWN', length: crlf + 2 };
  if (parts.length !== 6 || parts.some((p) => p === '')) return 'invalid';
  const [, proto, src, dst, sp, dp] = parts as [string, string, string, string, string, string];
  const okAddr = proto === 'TCP4' ? isIPv4 : proto === 'TCP6' ? isIPv6 : null;
  if (!okAddr || !okAddr(src) || !okAddr(dst)) return 'invalid';
  const port = (p: string): number | null => (/^(0|[1-9][0-9]{0,4})$/.test(p) && Number(p) <= 65535 ? Number(p) : null);
  const sport = port(sp);
  const dport = port(dp);
  if (sport === null || dport === null) return 'invalid';
  const norm = (x: string): string => (proto === 'TCP6' ? expand6(x) : x);
  return { version: 1, command: 'PROXY', proto, src: norm(src), dst: norm(dst), sport, dport, length: crlf + 2 };
}

// ------------------------------------------------------------------ byte-exact encodings

test('v1: the spec example line (section 2.1)', () => {
  const h = encodeProxyV1({ source: { address: '192.168.0.1', port: 56324 }, destination: { address: '192.168.0.11', port: 443 } });
  assert.equal(h.toString('latin1'), 'PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n');
});

test('v1: the maximum-length lines of section 2.1 (56 and 104 characters) and UNKNOWN (15)', () => {
  const f = 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff';
  const v4 = encodeProxyV1({ source: { address: '255.255.255.255', port: 65535 }, destination: { address: '255.255.255.255', port: 65535 } });
  assert.equal(v4.toString('latin1'), 'PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n');
  assert.equal(v4.length, 56);
  const v6 = encodeProxyV1({ source: { address: f, port: 65535 }, destination: { address: f.toUpperCase(), port: 65535 } });
  assert.equal(v6.toString('latin1'), `PROXY TCP6 ${f} ${f} 65535 65535\r\n`);
  assert.equal(v6.length, 104);
  assert.equal(encodeProxyV1(null).toString('latin1'), 'PROXY UNKNOWN\r\n');
  // Families that differ cannot be described: UNKNOWN, as section 2.1 says for what cannot be filled in.
  assert.equal(encodeProxyV1({ source: { address: '1.2.3.4', port: 1 }, destination: { address: '::1', port: 2 } }).toString('latin1'), 'PROXY UNKNOWN\r\n');
});

test('v1: IPv4-mapped IPv6 clients (a dual-stack [::] listener) are sent as TCP4', () => {
  const h = encodeProxyV1({ source: { address: '::ffff:203.0.113.7', port: 40000 }, destination: { address: '::ffff:198.51.100.1', port: 80 } });
  assert.equal(h.toString('latin1'), 'PROXY TCP4 203.0.113.7 198.51.100.1 40000 80\r\n');
});

test('v2: equal to the header HAProxy wrote for 172.19.0.1:42578 -> 172.19.0.3:80', () => {
  const h = encodeProxyV2({ source: { address: '172.19.0.1', port: 42578 }, destination: { address: '172.19.0.3', port: 80 } });
  assert.equal(h.toString('hex'), '0d0a0d0a000d0a515549540a' + '2111000c' + 'ac130001' + 'ac130003' + 'a652' + '0050');
});

test('v2: IPv6, UDP and unknown families laid out as section 2.2 says', () => {
  const v6 = encodeProxyV2({ source: { address: '2001:db8::1', port: 1 }, destination: { address: '2001:db8::2', port: 443 } });
  assert.equal(
    v6.toString('hex'),
    '0d0a0d0a000d0a515549540a' + '21' + '21' + '0024' + '20010db8000000000000000000000001' + '20010db8000000000000000000000002' + '0001' + '01bb',
  );
  const udp = encodeProxyV2({ source: { address: '10.0.0.1', port: 53 }, destination: { address: '10.0.0.2', port: 5353 } }, 'udp');
  assert.equal(udp.toString('hex'), '0d0a0d0a000d0a515549540a' + '2112000c' + '0a000001' + '0a000002' + '0035' + '14e9');
  assert.equal(encodeProxyV2(null).toString('hex'), '0d0a0d0a000d0a515549540a' + '2100' + '0000');
});

test('the test receiver agrees with the encoders on random endpoints', () => withSeed((rand) => {
  for (let i = 0; i < 200; i++) {
    const v6 = i % 2 === 1;
    const rnd = rand.int;
    const addr = (): string =>
      v6 ? Array.from({ length: 8 }, () => rnd(0x10000).toString(16)).join(':') : Array.from({ length: 4 }, () => rnd(256)).join('.');
    const e = { source: { address: addr(), port: rnd(65536) }, destination: { address: addr(), port: rnd(65536) } };
    const want = {
      src: v6 ? expand6(e.source.address) : e.source.address,
      dst: v6 ? expand6(e.destination.address) : e.destination.address,
      sport: e.source.port,
      dport: e.destination.port,
    };
    for (const h of [encodeProxyV1(e), encodeProxyV2(e)]) {
      const p = parseHeader(Buffer.concat([h, Buffer.from('payload')]));
      assert.ok(typeof p === 'object', `${h.toString('hex')}: ${String(p)}`);
      assert.deepEqual({ src: p.src, dst: p.dst, sport: p.sport, dport: p.dport }, want);
      assert.equal(p.proto, v6 ? 'TCP6' : 'TCP4');
      assert.equal(p.length, h.length);
    }
  }
}));

// ------------------------------------------------------------------ on a forwarded connection

/** A target that parses the header, then collects the payload. */
async function proxyTarget(t: TestContext) {
  const got: { header: Parsed; payload: string; remote: string }[] = [];
  const target = await tcpServer(t, '127.0.0.1', (s: Socket) => {
    let buf = Buffer.alloc(0);
    let header: Parsed | undefined;
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (!header) {
        const p = parseHeader(buf);
        if (p === 'invalid') return s.destroy();
        if (p === 'incomplete') return;
        header = p;
        buf = buf.subarray(p.length);
      }
    });
    s.on('end', () => {
      if (header) got.push({ header, payload: buf.toString(), remote: s.remoteAddress! });
      s.end();
    });
  });
  return { ...target, got };
}

for (const version of ['v1', 'v2'] as const) {
  test(`ProxyProtocol = ${version}: the target reads the public client's address, then the data`, async (tc) => {
    const t = await proxyTarget(tc);
    const r = rig(tc);
    await r.fw.applyRules([rule({ target: { host: '127.0.0.1', port: t.port }, proxyProtocol: version })]);
    const port = portOf(r.fw);
    const c = await dial(tc, port, { localAddress: '127.0.0.5' });
    const sport = c.localPort;
    c.end('GET / HTTP/1.0\r\n\r\n');
    await waitFor(() => t.got.length === 1, 'header at target');
    const g = t.got[0]!;
    assert.deepEqual(g.header, {
      version: version === 'v1' ? 1 : 2,
      command: 'PROXY',
      proto: 'TCP4',
      src: '127.0.0.5',
      dst: '127.0.0.1',
      sport,
      dport: port,
      length: g.header.length,
    });
    assert.equal(g.payload, 'GET / HTTP/1.0\r\n\r\n');
    assert.equal(g.remote, '127.0.0.1'); // Source = tunnel: the connection itself comes from the tunnel side
    assert.equal(r.fw.stats()[0]!.bytesToTarget, 'GET / HTTP/1.0\r\n\r\n'.length);
    c.destroy();
    await r.close();
    await t.close();
  });
}

test('ProxyProtocol over an IPv6 listener towards an IPv4 target carries TCP6', async (tc) => {
  const t = await proxyTarget(tc);
  const r = rig(tc);
  await r.fw.applyRules([rule({ listen: { host: '::1', port: 0 }, target: { host: '127.0.0.1', port: t.port }, proxyProtocol: 'v2' })]);
  const port = portOf(r.fw);
  const c = await dial(tc, port, { host: '::1' });
  const sport = c.localPort;
  c.end('x');
  await waitFor(() => t.got.length === 1, 'header at target');
  const h = t.got[0]!.header;
  assert.equal(h.proto, 'TCP6');
  assert.equal(h.src, expand6('::1'));
  assert.equal(h.dst, expand6('::1'));
  assert.equal(h.sport, sport);
  assert.equal(h.dport, port);
  c.destroy();
  await r.close();
  await t.close();
});
