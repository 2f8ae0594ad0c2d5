/**
 * The addon's batched UDP sockets (native/udp.c through src/host/native-udp.ts)
 * on loopback: datagram boundaries, order and sources survive sendmmsg, UDP
 * GSO runs and GRO-coalesced reads; IPv6 and dual-stack; refusals are counted,
 * not thrown; close. Also UdpBind with and without the addon. Without the
 * built addon these skip loudly, and fail under WGTS_INTEROP=required (CI
 * builds it with `npm ci`).
 */
import { afterEach, describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { NativeUdpSocket, addressOf, nativeUdp, type NativeUdpAddon } from '../../src/host/native-udp.js';
import { UdpBind } from '../../src/host/udp-bind.js';
import { loadAddon } from '../../src/host/addon.js';
import { hasIpv6Loopback, interopMode, skipOrFail } from '../harness/interop.js';
import { waitFor } from '../harness/wait.js';

const addon = nativeUdp();
const why = addon ? null : (() => { const r = loadAddon(); return r.ok ? 'WGTS_NATIVE_UDP=0' : r.why; })();
const skip = addon ? false : `native UDP unavailable: ${why}`;

if (!addon && interopMode() === 'required') {
  it('native UDP addon is built (WGTS_INTEROP=required)', () => assert.fail(`native UDP unavailable: ${why}`));
}

type Got = { data: Buffer; from: { address: string; port: number } };

function collect(s: NativeUdpSocket): Got[] {
  const got: Got[] = [];
  s.on('message', (msg: Buffer, rinfo: { address: string; port: number }) => got.push({ data: Buffer.from(msg), from: { ...rinfo } }));
  return got;
}

/** Sockets opened by the running test; whatever it left open (a failed assertion) is closed after it. */
const opened: NativeUdpSocket[] = [];
afterEach(async () => {
  const left = opened.splice(0).filter((s) => s.fd >= 0);
  await Promise.all(left.map((s) => new Promise<void>((r) => s.close(r))));
});

function open(o: ConstructorParameters<typeof NativeUdpSocket>[1]): NativeUdpSocket {
  const s = new NativeUdpSocket(addon as NativeUdpAddon, { rcvbuf: 4 << 20, sndbuf: 4 << 20, ...o });
  opened.push(s);
  return s;
}

const closeAll = (...ss: NativeUdpSocket[]) => Promise.all(ss.map((s) => new Promise<void>((r) => s.close(r))));

describe('native UDP sockets', { skip: !!skip }, () => {
  for (const gro of [true, false]) {
    it(`a burst of equal datagrams (one GSO run) arrives whole and in order, receiver GRO ${gro ? 'on' : 'off'}`, async () => {
      const a = open({ family: 4, address: '127.0.0.1' });
      const b = open({ family: 4, address: '127.0.0.1', gro });
      const got = collect(b);
      const sent = Array.from({ length: 100 }, () => randomBytes(1400));
      for (const p of sent) a.send(p, b.address().port, '127.0.0.1');
      assert.equal(got.length, 0, 'send() only queues');
      a.flush();
      await waitFor(() => got.length === sent.length, 5000, 'all 100 datagrams');
      for (let i = 0; i < sent.length; i++) {
        assert.deepEqual(got[i]!.data, sent[i], `datagram ${i}`);
        assert.deepEqual(got[i]!.from, { address: '127.0.0.1', port: a.address().port });
      }
      assert.equal(a.dropped.size, 0);
      await closeAll(a, b);
    });
  }

  it('mixed sizes, empty datagrams and runs longer than one GSO message keep their boundaries', async () => {
    const a = open({ family: 4, address: '127.0.0.1' });
    const b = open({ family: 4, address: '127.0.0.1', gro: true });
    const got = collect(b);
    const sizes = [1400, 1400, 1400, 700, 1400, 1400, 20, 0, 1400, 65_000, 3, ...new Array<number>(130).fill(1200), 1199, 1200, 0];
    const sent = sizes.map((n) => randomBytes(n));
    for (const p of sent) a.send(p, b.address().port, '127.0.0.1');
    a.flush();
    await waitFor(() => got.length === sent.length, 5000, `${sent.length} datagrams`);
    assert.deepEqual(got.map((g) => g.data.length), sizes);
    for (let i = 0; i < sent.length; i++) assert.deepEqual(got[i]!.data, sent[i], `datagram ${i}`);
    await closeAll(a, b);
  });

  it('queues per destination, flushes on its own within the event-loop turn, and calls send callbacks', async () => {
    const a = open({ family: 4, address: '127.0.0.1' });
    const b = open({ family: 4, address: '127.0.0.1' });
    const c = open({ family: 4, address: '127.0.0.1' });
    const gotB = collect(b);
    const gotC = collect(c);
    const results: Array<[Error | null, number]> = [];
    for (let i = 0; i < 10; i++) {
      a.send(Buffer.from(`b${i}`), b.address().port, '127.0.0.1', (e, n) => results.push([e, n]));
      a.send(Buffer.from(`c${i}`), c.address().port, '127.0.0.1');
    }
    // No flush(): setImmediate does it.
    await waitFor(() => gotB.length === 10 && gotC.length === 10, 5000, 'both destinations');
    assert.deepEqual(gotB.map((g) => g.data.toString()), Array.from({ length: 10 }, (_, i) => `b${i}`));
    assert.deepEqual(gotC.map((g) => g.data.toString()), Array.from({ length: 10 }, (_, i) => `c${i}`));
    assert.deepEqual(results, Array.from({ length: 10 }, (_, i) => [null, `b${i}`.length]));
    await closeAll(a, b, c);
  });

  it('IPv6: ::1 to ::1, and a dual-stack socket talks to IPv4 with plain addresses both ways', async (t) => {
    // Only a machine without IPv6 loopback skips; any other error opening the socket fails.
    if (!hasIpv6Loopback()) {
      skipOrFail(t, 'no IPv6 loopback here (::1 is not in /proc/net/if_inet6)');
      return;
    }
    const six = open({ family: 6, address: '::1', v6only: true });
    const dual = open({ family: 6, address: '', gro: true });
    const four = open({ family: 4, address: '127.0.0.1' });
    const gotDual = collect(dual);
    const gotFour = collect(four);
    six.send(Buffer.from('from six'), dual.address().port, '::1');
    four.send(Buffer.from('from four'), dual.address().port, '127.0.0.1');
    await waitFor(() => gotDual.length === 2, 5000, 'two datagrams at the dual-stack socket');
    const bySource = new Map(gotDual.map((g) => [g.from.address, g]));
    assert.equal(bySource.get('::1')?.data.toString(), 'from six');
    assert.equal(bySource.get('::1')?.from.port, six.address().port);
    assert.equal(bySource.get('127.0.0.1')?.data.toString(), 'from four', 'IPv4 source unwrapped from ::ffff:');
    dual.send(Buffer.from('reply'), four.address().port, '127.0.0.1');
    await waitFor(() => gotFour.length === 1, 5000, 'the reply over IPv4');
    assert.equal(gotFour[0]!.data.toString(), 'reply');
    await closeAll(six, dual, four);
  });

  it('a destination the socket cannot reach is dropped, counted and reported once, never thrown', async () => {
    const a = open({ family: 4, address: '127.0.0.1' });
    const errors: string[] = [];
    a.on('error', (e: NodeJS.ErrnoException) => errors.push(e.code ?? '?'));
    let cbErr: NodeJS.ErrnoException | null = null;
    a.send(Buffer.from('x'), 9, '::1', (e) => { cbErr = e; });
    a.send(Buffer.from('y'), 9, '::1');
    a.send(Buffer.from('z'), 9, 'not an address');
    a.flush();
    assert.equal(a.dropped.get('EAFNOSUPPORT'), 3);
    assert.deepEqual(errors, ['EAFNOSUPPORT'], 'one error per flush');
    assert.equal((cbErr as NodeJS.ErrnoException | null)?.code, 'EAFNOSUPPORT');
    await closeAll(a);
  });

  it('bind errors carry their code; close calls back, frees the port and later sends fail softly', async () => {
    const a = open({ family: 4, address: '127.0.0.1' });
    const port = a.address().port;
    assert.throws(() => open({ family: 4, address: '127.0.0.1', port }), { code: 'EADDRINUSE' });
    assert.throws(() => open({ family: 4, address: '::1' }), { code: 'EINVAL' });
    assert.ok(a.fd >= 0);
    let closed = false;
    a.close(() => { closed = true; });
    assert.equal(a.fd, -1);
    // The port is free as soon as close() returns (a reload rebinds it in the same turn).
    const same = open({ family: 4, address: '127.0.0.1', port });
    await waitFor(() => closed, 1000, 'the close callback');
    await closeAll(same);
    let err: Error | null = null;
    a.send(Buffer.from('late'), 9, '127.0.0.1', (e) => { err = e; });
    await waitFor(() => err !== null, 1000, 'the late send callback');
    const again = open({ family: 4, address: '127.0.0.1', port });
    assert.equal(again.address().port, port, 'the port is free again');
    await closeAll(again);
  });

  it('formats IPv6 sources in RFC 5952 shortest form', () => {
    const meta = (hex: string, scope = 0) => {
      const m = new Uint8Array(24);
      new DataView(m.buffer).setUint32(20, scope, true);
      m[0] = 6;
      m.set(Buffer.from(hex, 'hex'), 4);
      return m;
    };
    const cases: Array<[string, string]> = [
      ['00000000000000000000000000000001', '::1'],
      ['00000000000000000000000000000000', '::'],
      ['20010db8000000000000000000000001', '2001:db8::1'],
      ['00010000000000000000000000000000', '1::'],
      ['20010db8000000010001000100010001', '2001:db8:0:1:1:1:1:1'], // a single zero group stays
      ['fe800000000000010000000000000001', 'fe80:0:0:1::1'], // the longer run is compressed
      ['20010db8000000000001000000000001', '2001:db8::1:0:0:1'], // equal runs: the first
    ];
    for (const [hex, want] of cases) assert.equal(addressOf(meta(hex), 0), want, hex);
    assert.equal(addressOf(meta('fe800000000000000000000000000001', 3), 0), 'fe80::1%3', 'a scoped source keeps its interface index');
    const v4 = new Uint8Array(24);
    v4.set([4, 0, 0, 0, 192, 0, 2, 1]);
    assert.equal(addressOf(v4, 0), '192.0.2.1');
  });
});

describe('UdpBind, native and dgram', () => {
  for (const native of [true, false]) {
    it(`${native ? 'native' : 'dgram'}: datagrams both ways on a dual-stack bind, sources as plain addresses`, { skip: native && !!skip }, async (t) => {
      const gotA: Array<[string, string, number]> = [];
      const gotB: Array<[string, string, number]> = [];
      const a = new UdpBind((d, from) => gotA.push([Buffer.from(d).toString(), from.address, from.port]), () => {}, () => {}, { native });
      const b = new UdpBind((d, from) => gotB.push([Buffer.from(d).toString(), from.address, from.port]), () => {}, () => {}, { native });
      t.onTestFinished(async () => { await Promise.all([a.close(), b.close()]); });
      await a.open(0);
      await b.open(0, '127.0.0.1');
      assert.match(a.kind, native ? /^native/ : /^dgram$/);
      for (let i = 0; i < 5; i++) b.send(Buffer.from(`to a ${i}`), { address: '127.0.0.1', port: a.port });
      b.flush();
      await waitFor(() => gotA.length === 5, 5000, 'five at a');
      assert.deepEqual(gotA.map((g) => g[0]), [0, 1, 2, 3, 4].map((i) => `to a ${i}`));
      assert.deepEqual(gotA[0]!.slice(1), ['127.0.0.1', b.port]);
      a.send(Buffer.from('to b'), { address: '127.0.0.1', port: b.port });
      a.flush();
      await waitFor(() => gotB.length === 1, 5000, 'one at b');
      assert.deepEqual(gotB[0], ['to b', '127.0.0.1', a.port]);
      await a.close();
      await b.close();
    });
  }

  it('native: datagrams the kernel refuses reach onDrop (the driver counts them as send errors), not the log', { skip: !!skip }, async (t) => {
    const drops: Array<[string, number]> = [];
    const errors: Error[] = [];
    const a = new UdpBind(() => {}, (e) => errors.push(e), () => {}, { onDrop: (code, n) => drops.push([code, n]) });
    t.onTestFinished(async () => { await a.close(); });
    await a.open(0, '127.0.0.1');
    a.send(Buffer.from('x'), { address: '::1', port: 9 });
    a.send(Buffer.from('y'), { address: '::1', port: 9 });
    a.flush();
    assert.deepEqual(drops, [['EAFNOSUPPORT', 2]]);
    assert.deepEqual(errors, []);
    await a.close();
  });
});
