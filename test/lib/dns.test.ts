/**
 * DNS through the tunnel, library level: tunnel "a" runs a small DNS
 * server (UDP and TCP port 53 on its tunnel addresses, answers made with
 * dns-packet); tunnel "b" has `DNS = 10.77.0.1, lab.test` and resolves
 * through it. Checks the search domain, A+AAAA, the cache and its TTL,
 * TCP after a truncated UDP answer, NXDOMAIN, a silent first server
 * (timeout, then the next server), and names in connect() and fetch().
 * The same against a real dnsmasq is in test/interop/embed-netns.test.ts.
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';
import dnsPacket from 'dns-packet';
import { A_ADDR, startPair, type Pair } from './pair.js';

type Q = { name: string; type: string; via: 'udp' | 'tcp'; server: string };

const ZONE: Record<string, { A?: string[]; AAAA?: string[]; ttl: number }> = {
  'web.lab.test': { A: [A_ADDR], AAAA: ['fd77::1'], ttl: 300 },
  'short.lab.test': { A: [A_ADDR], ttl: 1 },
  'big.lab.test': { A: ['10.77.0.1', '10.77.0.31', '10.77.0.32'], ttl: 60 },
  'slow.lab.test': { A: [A_ADDR], ttl: 60 },
};

function answer(query: Buffer, via: 'udp' | 'tcp', server: string, log: Q[]): Buffer | null {
  const q = dnsPacket.decode(query);
  const question = q.questions![0]!;
  log.push({ name: question.name, type: question.type, via, server });
  if (server === 'fd77::1') return null; // the silent server: never answers
  const rec = ZONE[question.name.toLowerCase()];
  const base = { type: 'response' as const, id: q.id, flags: dnsPacket.RECURSION_DESIRED, questions: [question] };
  if (!rec) return dnsPacket.encode({ ...base, flags: base.flags | 3 /* RCODE 3, NXDOMAIN */, authorities: [{ type: 'SOA', name: 'lab.test', ttl: 5, data: { mname: 'ns.lab.test', rname: 'h.lab.test', serial: 1, refresh: 1, retry: 1, expire: 1, minimum: 5 } }] });
  if (question.name === 'big.lab.test' && via === 'udp') return dnsPacket.encode({ ...base, flags: base.flags | dnsPacket.TRUNCATED_RESPONSE });
  const data = question.type === 'A' ? rec.A : question.type === 'AAAA' ? rec.AAAA : undefined;
  return dnsPacket.encode({ ...base, answers: (data ?? []).map((d) => ({ type: question.type as 'A', name: question.name, ttl: rec.ttl, data: d })) });
}

describe('DNS through the tunnel (library)', { timeout: 60_000 }, () => {
  let p: Pair;
  const log: Q[] = [];
  beforeAll(async () => {
    p = await startPair('', 'DNS = fd77::1, 10.77.0.1, lab.test');
    for (const [type, addr] of [['udp4', A_ADDR], ['udp6', 'fd77::1']] as const) {
      const u = p.a.createSocket(type);
      u.on('message', (m, r) => {
        const out = answer(m, 'udp', addr, log);
        if (out) u.send(out, r.port, r.address);
      });
      await new Promise<void>((resolve) => u.bind(53, addr, resolve));
    }
    const tcp = p.a.createServer((s) => {
      let buf = Buffer.alloc(0);
      s.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          const out = answer(buf.subarray(2, 2 + buf.readUInt16BE(0)), 'tcp', A_ADDR, log)!;
          const len = Buffer.alloc(2);
          len.writeUInt16BE(out.length);
          s.end(Buffer.concat([len, out]));
        }
      });
    });
    await once(tcp.listen(53, A_ADDR), 'listening');
    const web = createServer((req, res) => res.end(`named ${req.headers.host}`));
    await once(p.a.createServer((s) => web.emit('connection', s)).listen(80), 'listening');
  });
  afterAll(async () => {
    await p?.close();
  });

  it('a silent first server times out, the next answers; a bare name gets the search domain; A before AAAA', { timeout: 20_000 }, async () => {
    const addrs = await p.b.lookup('web');
    assert.deepEqual(addrs, [A_ADDR, 'fd77::1']);
    const asked = log.filter((q) => q.name === 'web.lab.test');
    assert.ok(asked.some((q) => q.server === 'fd77::1'), 'the first server was asked');
    assert.deepEqual(new Set(asked.filter((q) => q.server === A_ADDR).map((q) => q.type)), new Set(['A', 'AAAA']));
    assert.ok(p.b.iface.resolver!.stats.timeouts >= 2, 'both questions timed out at the silent server first');
  });

  it('answers are cached for their TTL, then asked again', { timeout: 20_000 }, async () => {
    const before = log.filter((q) => q.name === 'web.lab.test').length;
    assert.deepEqual(await p.b.lookup('web.lab.test'), [A_ADDR, 'fd77::1']);
    assert.equal(log.filter((q) => q.name === 'web.lab.test').length, before, 'no new query within the TTL');
    assert.deepEqual(await p.b.resolve4('short.lab.test'), [A_ADDR]);
    const n = log.filter((q) => q.name === 'short.lab.test' && q.server === A_ADDR).length;
    await p.b.resolve4('short.lab.test');
    assert.equal(log.filter((q) => q.name === 'short.lab.test' && q.server === A_ADDR).length, n);
    await new Promise((r) => setTimeout(r, 1100));
    await p.b.resolve4('short.lab.test');
    assert.equal(log.filter((q) => q.name === 'short.lab.test' && q.server === A_ADDR).length, n + 1, 'asked again after 1 s TTL');
  });

  it('a truncated UDP answer is asked again over TCP', { timeout: 20_000 }, async () => {
    assert.deepEqual(await p.b.resolve4('big.lab.test'), ['10.77.0.1', '10.77.0.31', '10.77.0.32']);
    assert.ok(log.some((q) => q.name === 'big.lab.test' && q.via === 'tcp'));
    assert.ok(p.b.iface.resolver!.stats.truncated >= 1);
  });

  it('NXDOMAIN is ENOTFOUND, for every search candidate', { timeout: 20_000 }, async () => {
    await assert.rejects(p.b.lookup('nothing'), (e: NodeJS.ErrnoException) => e.code === 'ENOTFOUND');
    assert.ok(log.some((q) => q.name === 'nothing.lab.test') && log.some((q) => q.name === 'nothing'));
    await assert.rejects(p.b.resolve4('nothing.lab.test'), (e: NodeJS.ErrnoException) => e.code === 'ENOTFOUND');
  });

  it('connect() and fetch() take names resolved through the tunnel', { timeout: 20_000 }, async () => {
    const res = await p.b.fetch('http://web/x');
    assert.equal(await res.text(), 'named web');
    const s = p.b.connect(80, 'web.lab.test');
    await once(s, 'connect');
    assert.equal(s.remoteAddress, A_ADDR);
    s.destroy();
    const bad = p.b.connect(80, 'nothing.lab.test');
    const [err] = (await once(bad, 'error')) as [NodeJS.ErrnoException];
    assert.equal(err.code, 'ENOTFOUND');
  });
});
