/**
 * Sticky source addresses in the addon's UDP sockets (native/udp.c through
 * src/host/native-udp.ts and udp-bind.ts), on loopback, where 127.0.0.1 and
 * 127.0.0.2 are two addresses of one interface: a socket bound to the
 * wildcard learns which one each datagram was sent to (pktinfo), replies
 * from it, falls back to the kernel's choice when told an address that is
 * not the host's, and says so once. The namespaced version (two addresses
 * on a veth, IPv6, a real peer) is test/interop/sticky-source.test.ts.
 * Without the built addon these skip loudly, and fail under
 * WGTS_INTEROP=required.
 */
import { afterEach, describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { NativeUdpSocket, META, localOf, nativeUdp, type NativeUdpAddon, type UdpSource } from '../../src/host/native-udp.js';
import { UdpBind } from '../../src/host/udp-bind.js';
import { loadAddon } from '../../src/host/addon.js';
import type { Endpoint } from '../../src/transport/peer.js';
import { interopMode } from '../harness/interop.js';
import { waitFor } from '../harness/wait.js';

const addon = nativeUdp();
const why = addon ? null : (() => { const r = loadAddon(); return r.ok ? 'WGTS_NATIVE_UDP=0' : r.why; })();
const skip = addon ? false : `native UDP unavailable: ${why}`;

if (!addon && interopMode() === 'required') {
  it('native UDP addon is built (WGTS_INTEROP=required)', () => assert.fail(`native UDP unavailable: ${why}`));
}

const opened: NativeUdpSocket[] = [];
afterEach(async () => {
  const left = opened.splice(0).filter((s) => s.fd >= 0);
  await Promise.all(left.map((s) => new Promise<void>((r) => s.close(r))));
});

function open(o: ConstructorParameters<typeof NativeUdpSocket>[1]): NativeUdpSocket {
  const s = new NativeUdpSocket(addon as NativeUdpAddon, o);
  opened.push(s);
  return s;
}

type Got = { data: string; from: UdpSource };
function collect(s: NativeUdpSocket): Got[] {
  const got: Got[] = [];
  s.on('message', (msg: Buffer, from: UdpSource) => got.push({ data: msg.toString(), from: { ...from } }));
  return got;
}

describe('localOf: the local address in a datagram\'s meta bytes', () => {
  const meta = (fam: number, addr: number[], ifindex: number): Uint8Array => {
    const m = new Uint8Array(META);
    m[0] = 6;
    m[1] = fam;
    m.set(addr, 24);
    new DataView(m.buffer).setUint32(40, ifindex, true);
    return m;
  };
  it('IPv4 is dotted and never carries the interface', () => {
    assert.equal(localOf(meta(4, [10, 0, 0, 2], 7), 0), '10.0.0.2');
  });
  it('IPv6 link-local keeps the interface index; other IPv6 addresses drop it', () => {
    const ll = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    assert.equal(localOf(meta(6, ll, 3), 0), 'fe80::1%3');
    const ula = [0xfd, 0, 0, 0xaa, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
    assert.equal(localOf(meta(6, ula, 3), 0), 'fd00:aa::2');
  });
  it('no pktinfo: empty', () => {
    assert.equal(localOf(meta(0, [], 0), 0), '');
  });
});

describe('native UDP sockets: sticky source', { skip: !!skip }, () => {
  for (const family of [4, 6] as const) {
    const kind = family === 4 ? 'IPv4 socket' : 'dual-stack socket';
    it(`${kind}: learns which address a datagram was sent to, and replies from it`, async () => {
      const server = open({ family, address: '', pktinfo: true });
      assert.ok(server.pktinfo, 'the kernel takes IP_PKTINFO');
      const got = collect(server);
      const client = open({ family: 4, address: '127.0.0.1' });
      const back = collect(client);
      for (const to of ['127.0.0.2', '127.0.0.1']) client.send(Buffer.from(`to ${to}`), server.address().port, to);
      client.flush();
      await waitFor(() => got.length === 2, 5000, 'both datagrams');
      assert.deepEqual(got.map((g) => [g.data, g.from.local]), [['to 127.0.0.2', '127.0.0.2'], ['to 127.0.0.1', '127.0.0.1']]);
      for (const g of got) server.sendFrom(Buffer.from(`re ${g.from.local}`), g.from.port, g.from.address, g.from.local!);
      server.send(Buffer.from('re kernel'), client.address().port, '127.0.0.1');
      server.flush();
      await waitFor(() => back.length === 3, 5000, 'three replies');
      const from = Object.fromEntries(back.map((b) => [b.data, b.from.address]));
      assert.deepEqual(from, { 're 127.0.0.2': '127.0.0.2', 're 127.0.0.1': '127.0.0.1', 're kernel': '127.0.0.1' });
      assert.equal(server.dropped.size, 0);
    });
  }

  it('a GSO run from a learnt source keeps the source on every datagram', async () => {
    const server = open({ family: 4, address: '', pktinfo: true });
    const client = open({ family: 4, address: '127.0.0.1', gro: false });
    const back = collect(client);
    for (let i = 0; i < 40; i++) server.sendFrom(Buffer.alloc(1200, i), client.address().port, '127.0.0.1', '127.0.0.3');
    server.flush();
    await waitFor(() => back.length === 40, 5000, '40 datagrams');
    assert.deepEqual(new Set(back.map((b) => b.from.address)), new Set(['127.0.0.3']));
  });

  it('datagrams to one destination from two sources, interleaved, each leave from their own', async () => {
    const server = open({ family: 4, address: '', pktinfo: true });
    const client = open({ family: 4, address: '127.0.0.1', gro: false });
    const back = collect(client);
    for (let i = 0; i < 20; i++) server.sendFrom(Buffer.from(`${i % 2 ? '127.0.0.5' : '127.0.0.6'} ${i}`), client.address().port, '127.0.0.1', i % 2 ? '127.0.0.5' : '127.0.0.6');
    server.flush();
    await waitFor(() => back.length === 20, 5000, '20 datagrams');
    for (const b of back) assert.equal(b.from.address, b.data.split(' ')[0], b.data);
  });

  it('a source the host does not have: sent from the kernel\'s choice instead, and reported once', async () => {
    const server = open({ family: 4, address: '', pktinfo: true });
    const gone: string[] = [];
    server.onSourceGone = (_a, _p, local) => gone.push(local);
    const client = open({ family: 4, address: '127.0.0.1' });
    const back = collect(client);
    // 192.0.2.1 (TEST-NET-1) is on no interface here: the kernel refuses it as a source.
    for (let i = 0; i < 3; i++) server.sendFrom(Buffer.from(`n${i}`), client.address().port, '127.0.0.1', '192.0.2.1');
    server.flush();
    await waitFor(() => back.length === 3, 5000, 'all three, from another source');
    assert.deepEqual(back.map((b) => b.from.address), ['127.0.0.1', '127.0.0.1', '127.0.0.1']);
    assert.deepEqual(gone, ['192.0.2.1']);
    assert.equal(server.dropped.size, 0);
  });

  it('without pktinfo the local address is not reported', async () => {
    const server = open({ family: 4, address: '' });
    assert.equal(server.pktinfo, false);
    const got = collect(server);
    const client = open({ family: 4, address: '127.0.0.1' });
    client.send(Buffer.from('x'), server.address().port, '127.0.0.2');
    client.flush();
    await waitFor(() => got.length === 1, 5000, 'the datagram');
    assert.equal(got[0]!.from.local, undefined);
  });
});

describe('UdpBind: sticky source end to end', { skip: !!skip }, () => {
  it('the endpoint handed up carries the local address, and sending to it leaves from there; a gone one is reported', async () => {
    const seen: Endpoint[] = [];
    const gone: string[] = [];
    const bind = new UdpBind((_d, from) => seen.push(from), (e) => assert.fail(e), () => {}, { onSourceGone: (l) => gone.push(l) });
    await bind.open(0);
    assert.ok(bind.stickySource);
    assert.match(bind.kind, /pktinfo/);
    const client = open({ family: 4, address: '127.0.0.1' });
    const back = collect(client);
    try {
      client.send(Buffer.from('hi'), bind.port, '127.0.0.4');
      client.flush();
      await waitFor(() => seen.length === 1, 5000, 'the datagram');
      assert.deepEqual(seen[0], { address: '127.0.0.1', port: client.address().port, local: '127.0.0.4' });
      bind.send(Buffer.from('re'), seen[0]!);
      bind.send(Buffer.from('re gone'), { ...seen[0]!, local: '192.0.2.9' });
      bind.flush();
      await waitFor(() => back.length === 2, 5000, 'the replies');
      assert.deepEqual(Object.fromEntries(back.map((b) => [b.data, b.from.address])), { re: '127.0.0.4', 're gone': '127.0.0.1' });
      assert.deepEqual(gone, ['192.0.2.9']);
    } finally {
      await bind.close();
    }
  });
});
