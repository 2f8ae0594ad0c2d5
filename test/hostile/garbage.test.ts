/**
 * Garbage into a running `wgts up` on 127.0.0.1.
 *
 *   LegitPeer (in-process Device) completes a handshake and sends data; its
 *   real datagrams are kept. An attacker socket then sends, phase by phase:
 *   random datagrams; every message type truncated and extended by one byte;
 *   wrong indices (also with a valid mac1, which anyone can compute); replayed
 *   transport packets and initiations; an initiation with a stale timestamp
 *   (the peer's own key, an older clock); one from an unknown key.
 * Asserts: wgts never answers any of it, then, pushed under load by a burst
 * of replayed initiations, answers only with 64-byte cookie replies to those
 * (never more bytes than it got); it never crashes or logs an exception, its
 * endpoint for the peer is not hijacked, and the real session still works.
 * Each phase ends once wgts has accounted for every datagram sent, as a
 * counted drop (its `stats=1` counters) or an answer received, rather than
 * after a fixed pause.
 */
import { afterAll, describe, it, type TestContext } from 'vitest';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { hash, mac } from '../../src/crypto/blake2s.js';
import { LABEL_MAC1 } from '../../src/noise/constants.js';
import { cleanupAll } from '../harness/registry.js';
import { sleep, waitFor } from '../harness/wait.js';
import { uapiClient } from '../../src/uapi/client.js';
import { HOST, LegitPeer, newKeys, Wgts } from './helpers.js';

class Attacker {
  readonly got: Buffer[] = [];
  sentBytes = 0;
  sent = 0;
  private constructor(private readonly sock: Socket, private readonly port: number, private readonly dropped: () => Promise<number>) {
    sock.on('message', (m) => this.got.push(m));
  }

  /** `dropped` reads wgts's total of counted drops. */
  static open(port: number, dropped: () => Promise<number>): Promise<Attacker> {
    return new Promise((resolve) => {
      const s = createSocket('udp4');
      s.bind(0, HOST, () => resolve(new Attacker(s, port, dropped)));
    });
  }

  async send(list: Uint8Array[]): Promise<void> {
    for (const m of list) {
      await new Promise<void>((r) => this.sock.send(m, this.port, HOST, () => r()));
      this.sent++;
      this.sentBytes += m.length;
    }
  }

  /** Send, wait until each datagram is a counted drop or drew an answer, and return the answers. */
  async phase(list: Uint8Array[]): Promise<Buffer[]> {
    const from = this.got.length;
    const dropped0 = await this.dropped();
    await this.send(list);
    await waitFor(async () => (await this.dropped()) - dropped0 + (this.got.length - from) >= list.length, 10_000, `wgts to drop or answer all ${list.length} datagrams`);
    // Answers are sent as the datagram is handled: one more turn lets any still in flight arrive.
    await new Promise((r) => setImmediate(r));
    return this.got.slice(from);
  }

  close(): void { this.sock.close(); }
}

const u32 = (m: Uint8Array, off: number, v: number): Uint8Array => {
  const c = Uint8Array.from(m);
  new DataView(c.buffer).setUint32(off, v >>> 0, true);
  return c;
};

/** Truncations (every length down to 0 for short types, a sample for long ones) and one-byte extensions. */
function cutAndGrow(m: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const len of new Set([0, 1, 3, 4, 15, 16, 31, 32, m.length - 17, m.length - 16, m.length - 2, m.length - 1])) {
    if (len >= 0 && len < m.length) out.push(m.slice(0, len));
  }
  const grown = new Uint8Array(m.length + 1);
  grown.set(m);
  grown[m.length] = 0x5a;
  out.push(grown);
  return out;
}

function typeName(t: number): string {
  return ['?', 'initiation', 'response', 'cookie reply', 'transport'][t] ?? `type ${t}`;
}

describe('hostile: garbage into a running wgts', { timeout: 40_000 }, () => {
  afterAll(async () => { await cleanupAll(); });

  it('answers no garbage, only cookie replies under load, survives, and keeps the real session', async (t: TestContext) => {
    const wgtsKeys = newKeys();
    const legitKeys = newKeys();
    const wgts = await Wgts.start(wgtsKeys, legitKeys, 'g');
    const legit = new LegitPeer(legitKeys, wgtsKeys.pub, wgts.port);
    const dropped = async (): Promise<number> => {
      const text = await uapiClient(wgts.socketPath, 'stats=1\n\n', { timeoutMs: 3000 });
      return [...text.matchAll(/^drop\.[^=]+=(\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
    };
    const attacker = await Attacker.open(wgts.port, dropped);
    try {
      // A real session, and its datagrams to replay.
      await legit.start();
      legit.sendData();
      await waitFor(() => legit.firstEvent('handshake-complete'), 3000, 'the legitimate handshake');
      legit.sendData(40);
      legit.sendData(200);
      await waitFor(async () => Number((await wgts.get()).find(([k]) => k === 'rx_bytes')?.[1]) > 300, 3000, 'data to arrive');
      const init = legit.sentLog.find((m) => m[0] === 1)!;
      const transports = legit.sentLog.filter((m) => m[0] === 4);
      const response = legit.receivedLog.find((m) => m[0] === 2)!;
      assert.ok(init && response && transports.length >= 2);
      const mac1Key = hash(new TextEncoder().encode(LABEL_MAC1), wgtsKeys.pub);
      const withMac1 = (m: Uint8Array): Uint8Array => {
        const c = Uint8Array.from(m);
        c.set(mac(mac1Key, c.subarray(0, c.length - 32)), c.length - 32);
        c.fill(0, c.length - 16);
        return c;
      };
      const cookie = new Uint8Array(64);
      cookie.set([3, 0, 0, 0]);
      cookie.set(randomBytes(60), 4);
      const sessionIndex = new DataView(transports[0]!.buffer, transports[0]!.byteOffset).getUint32(4, true);

      const phases: [string, Uint8Array[]][] = [
        ['random datagrams', Array.from({ length: 300 }, (_, i) => new Uint8Array(randomBytes(i % 7 === 0 ? i : i % 200)))],
        ['every type truncated and extended by one byte', [init, response, cookie, ...transports].flatMap(cutAndGrow)],
        ['reserved header bytes set', [init, response, cookie, transports[0]!].map((m) => { const c = Uint8Array.from(m); c[2] = 1; return c; })],
        ['wrong receiver indices', [
          ...[0, 1, 0xffffffff, sessionIndex ^ 1, sessionIndex + 1].map((i) => u32(transports[0]!, 4, i)),
          u32(cookie, 4, sessionIndex), u32(cookie, 4, 0),
          withMac1(u32(response, 8, sessionIndex)), withMac1(u32(response, 8, 12345)),
        ]],
        ['transport under the right index, garbage inside', [u32(new Uint8Array(randomBytes(64)), 0, 4), u32(new Uint8Array(randomBytes(48)), 0, 4)].map((m) => u32(m, 4, sessionIndex))],
        ['initiations with a valid mac1 and garbage inside', Array.from({ length: 5 }, () => withMac1(u32(new Uint8Array(randomBytes(148)), 0, 1)))],
        ['replayed transport packets', [...transports, ...transports]],
        ['replayed initiation', [init, init]],
      ];
      // A stale timestamp: the peer's real key, a clock one hour behind.
      const stale = new LegitPeer(legitKeys, wgtsKeys.pub, wgts.port, { wallClock: () => Date.now() - 3_600_000 });
      stale.sendData();
      const staleInit = stale.sentLog.find((m) => m[0] === 1)!;
      stale.close();
      phases.push(['an initiation with a stale timestamp', [staleInit]]);
      // A well-formed initiation from a key wgts does not know.
      const stranger = new LegitPeer(newKeys(), wgtsKeys.pub, wgts.port);
      stranger.sendData();
      phases.push(['an initiation from an unknown key', [stranger.sentLog.find((m) => m[0] === 1)!]]);
      stranger.close();

      let total = 0;
      for (const [name, list] of phases) {
        const back = await attacker.phase(list);
        total += list.length;
        assert.deepEqual(back.map((b) => `${typeName(b[0]!)} (${b.length} bytes)`), [], `no answer to ${name}`);
      }
      console.log(`${total} garbage datagrams in ${phases.length} kinds: no answer to any`);

      // Under load: a burst of replayed (valid-mac1) initiations gets cookie replies only.
      const burst = Array.from({ length: 200 }, () => init);
      const before = attacker.sentBytes;
      const back = await attacker.phase(burst);
      const sentBytes = attacker.sentBytes - before;
      const senderIndex = new DataView(init.buffer, init.byteOffset).getUint32(4, true);
      assert.ok(back.length > 0, 'under load, wgts demands cookies');
      for (const b of back) {
        assert.equal(b.length, 64, 'only cookie replies');
        assert.equal(b[0], 3);
        assert.equal(b.readUInt32LE(4), senderIndex, 'addressed to the initiation they answer');
      }
      const backBytes = back.reduce((n, b) => n + b.length, 0);
      assert.ok(back.length <= burst.length && backBytes <= sentBytes, 'no amplification');
      console.log(`under load: ${burst.length} replayed initiations -> ${back.length} cookie replies (${backBytes} bytes for ${sentBytes})`);

      // Alive, not hijacked, and the real session still carries data.
      assert.ok(wgts.proc.running, 'wgts is still running');
      await sleep(1100); // let under-load mode end
      const view = await wgts.get();
      assert.equal(view.find(([k]) => k === 'endpoint')?.[1], `${HOST}:${legit.port}`, 'the peer endpoint was not moved by replays');
      const rx0 = Number(view.find(([k]) => k === 'rx_bytes')?.[1]);
      legit.sendData(64);
      await waitFor(async () => Number((await wgts.get()).find(([k]) => k === 'rx_bytes')?.[1]) > rx0, 3000, 'the session to carry data after the garbage');
      assert.doesNotMatch(wgts.proc.output(), /Error|exception|\bat .+\.js:\d+/i, 'no exception in the log');
    } finally {
      attacker.close();
      legit.close();
      const code = await wgts.stop();
      assert.equal(code, 0, `wgts exits cleanly on SIGTERM\n${wgts.proc.output().slice(-2000)}`);
    }
  });
});
