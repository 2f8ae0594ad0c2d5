/**
 * ICMP errors about our own TCP segments: "fragmentation needed" shrinks
 * the MSS (RFC 1191), but only when the quoted sequence number is in
 * flight (RFC 5927 section 4.1); "unreachable" fails a connection attempt.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { Sim, establish } from './link.js';
import { decodeTcp, rawIp, inetChecksum } from './helpers.js';
import type { TcpError } from '../../src/netstack/tcp-config.js';

/** ICMPv4 type/code with `mtu` in the next-hop field, quoting `pkt` (header + 8 bytes). */
function icmp4(type: number, code: number, mtu: number, pkt: Uint8Array, from: string, to: string): Uint8Array {
  const quote = pkt.subarray(0, 28);
  const m = Buffer.alloc(8 + quote.length);
  m[0] = type;
  m[1] = code;
  m.writeUInt16BE(mtu, 6);
  Buffer.from(quote).copy(m, 8);
  m.writeUInt16BE(inetChecksum(m), 2);
  return rawIp({ src: from, dst: to, proto: 1, payload: m });
}

test('ICMP fragmentation-needed with an in-flight sequence number lowers the MSS; a blind one is ignored', async () => {
  const sim = new Sim({}, {}, { delay: 5 });
  const { client, server } = await establish(sim);
  server.resume();
  sim.trace = true;
  let blackhole = true;
  sim.filter = (from, pkt) => !(from === 'a' && decodeTcp(pkt)!.len > 0 && blackhole);
  client.write(Buffer.alloc(30_000, 1));
  await sim.run(() => sim.log.some((e) => e.from === 'a' && decodeTcp(e.pkt)!.len > 0));
  const seg = sim.log.find((e) => e.from === 'a' && decodeTcp(e.pkt)!.len > 0)!.pkt;
  // A forged error quoting a sequence number far from the window: ignored.
  const forged = Buffer.from(seg);
  forged.writeUInt32BE((forged.readUInt32BE(24) + 0x40000000) >>> 0, 24);
  sim.a.input(icmp4(3, 4, 1000, forged, '10.0.0.254', '10.0.0.1'), sim.now);
  assert.equal(sim.a.drops.get('tcp-icmp-seq-not-in-flight'), 1);
  // 1420 - 40 bytes of headers, less the 12 of the timestamps option every segment carries.
  assert.equal(client.tcb.snd.mss, 1380 - 12);
  // The real one (from a router on the path) takes effect.
  sim.a.input(icmp4(3, 4, 1000, seg, '10.0.0.254', '10.0.0.1'), sim.now);
  assert.equal(client.tcb.snd.mss, 1000 - 40 - 12);
  blackhole = false;
  const mark = sim.log.length;
  await sim.run(() => client.tcb.snd.una === client.tcb.snd.max && client.tcb.snd.buf.length === 0);
  const later = sim.log.slice(mark).filter((e) => e.from === 'a').map((e) => e.pkt.length);
  assert.ok(later.length > 0 && later.every((n) => n <= 1000), `packets after: max ${Math.max(...later)}`);
});

test('ICMP unreachable during the handshake fails the connect with EHOSTUNREACH', async () => {
  const sim = new Sim({}, {}, { delay: 5 });
  sim.trace = true;
  sim.filter = (from) => from !== 'a';
  const c = sim.a.tcp.connect({ host: '10.0.0.2', port: 80 });
  let err: TcpError | null = null;
  c.on('error', (e: TcpError) => (err = e));
  await sim.run(() => sim.log.length > 0);
  sim.a.input(icmp4(3, 1, 0, sim.log[0]!.pkt, '10.0.0.254', '10.0.0.1'), sim.now);
  await sim.run(() => err !== null);
  assert.equal(err!.code, 'EHOSTUNREACH');
});
