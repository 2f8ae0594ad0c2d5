/**
 * Two in-memory devices, "a" (10.0.0.1, fd00::1) and "b" (10.0.0.2, fd00::2),
 * joined by a fake network and driven by a fake clock. Datagrams are queued
 * and delivered explicitly so tests can drop, replay or reorder them.
 */
import { randomBytes } from 'node:crypto';
import { Device, type Datagram, type Output, type DeviceOptions, type DeviceEvent } from '../../src/transport/device.js';
import { clampPrivateKey, publicKey } from '../../src/crypto/x25519.js';

export const A_ADDR = { address: '192.0.2.1', port: 51820 };
export const B_ADDR = { address: '192.0.2.2', port: 51821 };

export function ipv4Packet(src: string, dst: string, payload: Uint8Array = new Uint8Array(8)): Uint8Array {
  const p = new Uint8Array(20 + payload.length);
  p[0] = 0x45;
  p[2] = p.length >> 8; p[3] = p.length & 0xff;
  p[8] = 64; p[9] = 17;
  p.set(src.split('.').map(Number), 12);
  p.set(dst.split('.').map(Number), 16);
  p.set(payload, 20);
  return p;
}

export function ipv6Packet(src: Uint8Array, dst: Uint8Array, payload: Uint8Array = new Uint8Array(8)): Uint8Array {
  const p = new Uint8Array(40 + payload.length);
  p[0] = 0x60;
  p[4] = payload.length >> 8; p[5] = payload.length & 0xff;
  p[6] = 17; p[7] = 64;
  p.set(src, 8);
  p.set(dst, 24);
  p.set(payload, 40);
  return p;
}

export function v4(s: string): Uint8Array { return Uint8Array.from(s.split('.').map(Number)); }

export function v6(last: number): Uint8Array {
  const b = new Uint8Array(16); b[0] = 0xfd; b[15] = last; return b;
}

export interface Sent { from: 'a' | 'b'; d: Datagram }

export class Pair {
  now = 1_000_000;
  wall = 1_700_000_000_000;
  readonly aKey = clampPrivateKey(randomBytes(32));
  readonly bKey = clampPrivateKey(randomBytes(32));
  readonly a: Device;
  readonly b: Device;
  /** Datagrams in flight, in order. */
  wire: Sent[] = [];
  delivered: { to: 'a' | 'b'; packet: Uint8Array }[] = [];
  events: { on: 'a' | 'b'; e: DeviceEvent }[] = [];
  /** Every datagram ever emitted, with the time it was emitted. */
  log: (Sent & { at: number })[] = [];

  constructor(opts: { psk?: Uint8Array; pskB?: Uint8Array; a?: Partial<DeviceOptions>; b?: Partial<DeviceOptions>; keepaliveA?: number; noEndpointOnB?: boolean } = {}) {
    const mk = (priv: Uint8Array, extra: Partial<DeviceOptions> | undefined) => new Device({
      privateKey: priv, random: (n) => new Uint8Array(randomBytes(n)), wallClock: () => this.wall, ...extra,
    });
    this.a = mk(this.aKey, opts.a);
    this.b = mk(this.bKey, opts.b);
    this.a.upsertPeer({
      publicKey: publicKey(this.bKey), presharedKey: opts.psk ?? null, endpoint: B_ADDR,
      allowedIps: [{ ip: v4('10.0.0.2'), cidr: 32 }, { ip: v6(2), cidr: 128 }],
    }, this.now);
    this.b.upsertPeer({
      publicKey: publicKey(this.aKey), presharedKey: opts.pskB ?? opts.psk ?? null,
      endpoint: opts.noEndpointOnB ? null : A_ADDR,
      allowedIps: [{ ip: v4('10.0.0.1'), cidr: 32 }, { ip: v6(1), cidr: 128 }],
    }, this.now);
  }

  get peerOfA() { return this.a.getPeer(publicKey(this.bKey))!; }
  get peerOfB() { return this.b.getPeer(publicKey(this.aKey))!; }

  collect(from: 'a' | 'b', out: Output): Output {
    for (const d of out.datagrams) { this.wire.push({ from, d }); this.log.push({ from, d, at: this.now }); }
    for (const p of out.packets) this.delivered.push({ to: from, packet: p.packet });
    for (const e of out.events) this.events.push({ on: from, e });
    return out;
  }

  sendFromA(packet = ipv4Packet('10.0.0.1', '10.0.0.2')): Output { return this.collect('a', this.a.send(packet, this.now)); }
  sendFromB(packet = ipv4Packet('10.0.0.2', '10.0.0.1')): Output { return this.collect('b', this.b.send(packet, this.now)); }

  /** Deliver the first datagram on the wire; returns it. */
  step(fromAddr?: { address: string; port: number; local?: string }): Sent | undefined {
    const s = this.wire.shift();
    if (!s) return undefined;
    const to = s.from === 'a' ? 'b' : 'a';
    const dev = to === 'a' ? this.a : this.b;
    const src = fromAddr ?? (s.from === 'a' ? A_ADDR : B_ADDR);
    this.collect(to, dev.receive(s.d.data, src, this.now));
    return s;
  }

  /** Deliver until the wire is empty (bounded). */
  flush(max = 1000): number {
    let n = 0;
    while (this.wire.length && n < max) { this.step(); n++; }
    return n;
  }

  /** Drop everything on the wire. */
  lose(): Sent[] { const w = this.wire; this.wire = []; return w; }

  /** Advance the clock to t, firing timers of both devices in deadline order. */
  advanceTo(t: number, opts: { deliver?: boolean } = {}): void {
    for (;;) {
      const next = Math.min(this.a.nextDeadline(), this.b.nextDeadline());
      if (next > t) break;
      this.wall += Math.max(0, next - this.now);
      this.now = Math.max(this.now, next);
      this.collect('a', this.a.tick(this.now));
      this.collect('b', this.b.tick(this.now));
      if (opts.deliver) this.flush();
    }
    this.wall += t - this.now;
    this.now = t;
  }

  advance(ms: number, opts: { deliver?: boolean } = {}): void { this.advanceTo(this.now + ms, opts); }

  /** A complete handshake started by a sending a packet; returns after b received it. */
  handshake(): void {
    this.sendFromA();
    this.flush();
  }

  eventsOf(on: 'a' | 'b', type: DeviceEvent['type']): DeviceEvent[] {
    return this.events.filter((x) => x.on === on && x.e.type === type).map((x) => x.e);
  }
}

export function msgType(d: Datagram): number { return d.data[0]!; }
