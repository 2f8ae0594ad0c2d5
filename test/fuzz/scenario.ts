/**
 * A deterministic three-device scenario for fuzzing Device.receive.
 *
 * Keys, randomness and clocks all come from fixed seeds, so the captured
 * messages are the same bytes on every run and a datagram saved to the corpus
 * means the same thing next time. Devices: a (initiator, 10.0.0.1), b
 * (responder, 10.0.0.2) and bl (b's key, always under load). The script:
 *   a.send -> I1; bl answers I1 with cookie C1; a stores it; a's retransmit
 *   I2 carries mac2; bl and b each answer with responses RL2 / R2
 *   ["pending": a waits for a response, b and bl hold unconfirmed sessions]
 *   a takes R2 and sends its staged packet D0; b confirms; a sends D1, D2 and
 *   b sends E1; D1 and E1 are delivered, D2 is kept fresh ["established"].
 */
import assert from 'node:assert/strict';
import { Device, type Endpoint } from '../../src/transport/device.js';
import { clampPrivateKey, publicKey } from '../../src/crypto/x25519.js';
import { REKEY_TIMEOUT } from '../../src/transport/constants.js';
import { Rng } from './harness.js';

export const A_ADDR: Endpoint = { address: '192.0.2.1', port: 51820 };
export const B_ADDR: Endpoint = { address: '192.0.2.2', port: 51821 };
export const BL_ADDR: Endpoint = { address: '192.0.2.3', port: 51822 };
export const ATTACKER: Endpoint = { address: '203.0.113.66', port: 4444 };

export type Stage = 'pending' | 'established';

export function ipv4(src: string, dst: string, payload = 8): Uint8Array {
  const p = new Uint8Array(20 + payload);
  p[0] = 0x45;
  p[2] = p.length >> 8;
  p[3] = p.length & 0xff;
  p[8] = 64;
  p[9] = 17;
  p.set(src.split('.').map(Number), 12);
  p.set(dst.split('.').map(Number), 16);
  return p;
}

export function v6(last: number): Uint8Array {
  const b = new Uint8Array(16);
  b[0] = 0xfd;
  b[15] = last;
  return b;
}

const v4 = (s: string): Uint8Array => Uint8Array.from(s.split('.').map(Number));

/** The key an authentic message is known by: its bytes, with mac2 zeroed for types 1 and 2 (mac2 is not checked unless under load). */
export function authKey(m: Uint8Array): string {
  if ((m[0] === 1 && m.length === 148) || (m[0] === 2 && m.length === 92)) {
    const c = Uint8Array.from(m);
    c.fill(0, m.length - 16);
    return Buffer.from(c).toString('hex');
  }
  return Buffer.from(m).toString('hex');
}

export class Scenario {
  now = 5_000_000;
  wall = 1_800_000_000_000;
  readonly a: Device;
  readonly b: Device;
  readonly bl: Device;
  /** Every message a legitimate device emitted, by name. */
  readonly msgs: Record<string, Uint8Array> = {};

  constructor(readonly stage: Stage) {
    const keys = new Rng(0x5ce7a210);
    const aKey = clampPrivateKey(keys.bytes(32));
    const bKey = clampPrivateKey(keys.bytes(32));
    const dev = (priv: Uint8Array, seed: number, underLoadThreshold?: number): Device => {
      const r = new Rng(seed);
      return new Device({
        privateKey: priv,
        random: (n) => r.bytes(n),
        wallClock: () => this.wall,
        ...(underLoadThreshold !== undefined ? { underLoadThreshold } : {}),
      });
    };
    this.a = dev(aKey, 11);
    this.b = dev(bKey, 22);
    this.bl = dev(bKey, 33, 0);
    this.a.upsertPeer({
      publicKey: publicKey(bKey), endpoint: B_ADDR,
      allowedIps: [{ ip: v4('10.0.0.2'), cidr: 32 }, { ip: v6(2), cidr: 128 }],
    }, this.now);
    for (const d of [this.b, this.bl]) {
      d.upsertPeer({
        publicKey: publicKey(aKey), endpoint: A_ADDR,
        allowedIps: [{ ip: v4('10.0.0.1'), cidr: 32 }, { ip: v6(1), cidr: 128 }],
      }, this.now);
    }
    this.script();
  }

  private one(name: string, datagrams: { data: Uint8Array }[], type: number): Uint8Array {
    assert.equal(datagrams.length, 1, `scenario: ${name} expected one datagram`);
    const m = datagrams[0]!.data;
    assert.equal(m[0], type, `scenario: ${name} type`);
    this.msgs[name] = m;
    return m;
  }

  private script(): void {
    const { a, b, bl } = this;
    const I1 = this.one('I1', a.send(ipv4('10.0.0.1', '10.0.0.2'), this.now).datagrams, 1);
    const C1 = this.one('C1', bl.receive(I1, A_ADDR, this.now).datagrams, 3);
    assert.equal(a.receive(C1, BL_ADDR, this.now).datagrams.length, 0);
    this.advance(REKEY_TIMEOUT + 400);
    const I2 = this.one('I2', a.tick(this.now).datagrams, 1);
    this.one('RL2', bl.receive(I2, A_ADDR, this.now).datagrams, 2);
    const R2 = this.one('R2', b.receive(I2, A_ADDR, this.now).datagrams, 2);
    if (this.stage === 'pending') return;
    const D0 = this.one('D0', a.receive(R2, B_ADDR, this.now).datagrams, 4);
    assert.equal(b.receive(D0, A_ADDR, this.now).packets.length, 1);
    this.advance(10);
    const D1 = this.one('D1', a.send(ipv4('10.0.0.1', '10.0.0.2', 100), this.now).datagrams, 4);
    this.one('D2', a.send(ipv4('10.0.0.1', '10.0.0.2', 30), this.now).datagrams, 4);
    const E1 = this.one('E1', b.send(ipv4('10.0.0.2', '10.0.0.1'), this.now).datagrams, 4);
    assert.equal(b.receive(D1, A_ADDR, this.now).packets.length, 1);
    assert.equal(a.receive(E1, B_ADDR, this.now).packets.length, 1);
  }

  advance(ms: number): void {
    this.now += ms;
    this.wall += ms;
  }

  /** Every session or handshake index the devices hold, local and remote. */
  liveIndices(): number[] {
    const out = new Set<number>();
    for (const d of [this.a, this.b, this.bl]) {
      for (const p of d.listPeers()) {
        for (const kp of [p.keypairs.previous, p.keypairs.current, p.keypairs.next]) {
          if (kp) { out.add(kp.localIndex); out.add(kp.remoteIndex); }
        }
        if (p.initiation) out.add(p.initiation.localIndex);
      }
    }
    return [...out];
  }

  /** The endpoint each device knows its peer at (a legitimate source). */
  legitSource(d: Device): Endpoint {
    return d === this.a ? B_ADDR : A_ADDR;
  }
}

/** Captured messages of a full run, checked to be deterministic. */
export function capturedMessages(): Record<string, Uint8Array> {
  const s1 = new Scenario('established');
  const s2 = new Scenario('established');
  for (const k of Object.keys(s1.msgs)) assert.deepEqual(s1.msgs[k], s2.msgs[k], `scenario is deterministic (${k})`);
  return s1.msgs;
}
