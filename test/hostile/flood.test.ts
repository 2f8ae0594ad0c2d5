/**
 * Handshake floods against a real `wgts up` on 127.0.0.1.
 *
 *   flooder.js (child, 4 source ports) --garbage + valid-mac1 initiations--> wgts
 *   wgts --cookie replies--> flooder, which verifies each as an initiator
 *     would (XChaCha20-Poly1305 under HASH("cookie--" || wgts public key),
 *     its own mac1 as associated data)
 *   LegitPeer (in-process Device) --initiation; after the cookie, the
 *     retransmit with mac2--> wgts
 * 1. At full speed (the flooder sends as fast as one Node process can, until
 *    the legitimate handshake completes, for at most FULL_SPEED_BOUND_MS):
 *    cookie mode, only verified cookie replies come back (one per valid-mac1
 *    initiation wgts reads: no limit a flood could fill), no amplification, RSS bounded, and a legitimate peer
 *    completes its handshake; wgts is responsive after. On a 2-core machine
 *    shared with the flooder, wgts reads ~70 % of what arrives (the kernel
 *    drops the rest, the peer's datagrams included), so the handshake needs
 *    its initiation and a later retry with mac2 (5 s apart) to be among those
 *    read: the bound allows eight attempts.
 * 2. Under a flood wgts can read (WGTS_FLOOD_RATE packets/s, default
 *    LEGIT_RATE_DEFAULT; 0 = full speed): a legitimate handshake completes
 *    through cookie + retry within HANDSHAKE_BOUND_MS. Figures: issue 9.
 */
import { afterAll, describe, it, type TestContext } from 'vitest';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { encodeKey } from '../../src/crypto/util.js';
import { Proc } from '../harness/exec.js';
import { cleanupAll } from '../harness/registry.js';
import { sleep, waitFor } from '../harness/wait.js';
import { LegitPeer, newKeys, RssSampler, waitIdle, Wgts, type Keys } from './helpers.js';

const FLOODER = resolve('dist/test/hostile/flooder.js');
/**
 * The full-speed flood stops when the legitimate handshake completes, or
 * after this. With ~70 % of datagrams read, two of eight attempts 5 s apart
 * fail to get through with probability ~1e-3; runs took 5-16 s.
 */
const FULL_SPEED_BOUND_MS = 40_000;
/** Passed 5 runs in a row on the 2-core development machine with other load (issue 9). */
const LEGIT_RATE_DEFAULT = 30_000;
const LEGIT_RATE = Number(process.env['WGTS_FLOOD_RATE'] ?? LEGIT_RATE_DEFAULT);
/**
 * The first attempt and up to three retries (REKEY_TIMEOUT 5 s + jitter each):
 * under load wgts may miss a datagram of the peer when it is descheduled long
 * enough for its socket queue to fill.
 */
const HANDSHAKE_BOUND_MS = 20_000;
/** Source addresses of the spread flood: more than the 8,192 entries any of wgts's tables holds. */
const SPREAD_SOURCES = 10_000;
/** The legitimate handshake under the spread flood: its initiation's cookie, then the retry 5 s later. */
const SPREAD_BOUND_MS = 10_000;
/** wgts starts near 55 MB; cookie replies keep no per-packet state. */
const RSS_GROWTH_BOUND_MB = 100;

interface FloodStats {
  sentGarbage: number; sentValidMac1: number; sendErrors: number; bytesSent: number; bytesReceived: number;
  replies: number; cookieReplies: number; cookieVerified: number; cookieBad: number; cookieUnknownIndex: number;
  otherReplies: number; ms: number; sources: number;
}

class Flooder {
  readonly proc: Proc;
  /** `sources` > 4: that many sockets, each on its own loopback address (flooder.ts "spread"). */
  constructor(port: number, pub: Uint8Array, maxMs: number, rate: number, readonly sources = 4) {
    const spread = sources > 4 ? ['spread'] : [];
    this.proc = new Proc([process.execPath, FLOODER, String(port), encodeKey(pub), String(maxMs), String(sources), String(rate), ...spread], { label: 'flooder' });
  }

  ready(): Promise<unknown> {
    return waitFor(() => { this.proc.assertRunning(); return this.proc.output().includes('flooder: ready'); }, 5000 + this.sources, 'flooder to start');
  }

  async finish(): Promise<FloodStats> {
    this.proc.stopping = true;
    this.proc.signal('SIGUSR2');
    await this.proc.exited;
    const line = this.proc.output().split('\n').find((l) => l.startsWith('{'));
    assert.ok(line, `flooder report missing: ${this.proc.output()}`);
    return { ...JSON.parse(line) as FloodStats, sources: this.sources };
  }
}

/** What every flood must show: cookie mode with verifiable cookies, nothing else, no amplification. */
function assertCookieMode(f: FloodStats): void {
  assert.equal(f.sendErrors, 0);
  assert.ok(f.cookieReplies > 0, 'wgts answered valid-mac1 initiations with cookie replies');
  assert.equal(f.cookieBad, 0, 'every cookie reply decrypts under the key from wgts public key and our mac1');
  assert.equal(f.cookieUnknownIndex, 0, 'every cookie reply names one of our sender indices');
  assert.equal(f.cookieVerified, f.cookieReplies);
  assert.equal(f.otherReplies, 0, 'nothing but cookie replies to bogus initiations');
  assert.ok(f.cookieReplies <= f.sentValidMac1, 'garbage (bad mac1) is never answered');
  assert.ok(f.bytesReceived <= f.bytesSent, 'no amplification');
}

function describeFlood(t: TestContext, f: FloodStats, stats: Map<string, number>): void {
  const sent = f.sentGarbage + f.sentValidMac1;
  console.log(`flood: ${sent} initiations in ${(f.ms / 1000).toFixed(1)} s = ${((sent / f.ms) * 1000).toFixed(0)} packets/s from ${f.sources > 4 ? `${f.sources} source addresses (all valid mac1)` : `${f.sources} source ports (half garbage, half valid mac1)`}`);
  // wgts counts every garbage datagram it reads as drop.bad-mac1: the share it read of what was sent.
  const read = (100 * (stats.get('drop.bad-mac1') ?? 0)) / Math.max(1, f.sentGarbage);
  console.log(`wgts read ${read.toFixed(0)}% of the garbage (drop.bad-mac1) and sent ${f.cookieReplies} verified cookie replies that reached the flooder (${((f.cookieReplies / f.ms) * 1000).toFixed(0)}/s, ${((100 * f.cookieReplies) / Math.max(1, f.sentValidMac1)).toFixed(0)}% of the valid-mac1 initiations); ${f.bytesReceived} bytes back for ${f.bytesSent} sent`);
}

async function assertResponsive(t: TestContext, wgts: Wgts, keys: { wgts: Keys; legit: Keys }): Promise<void> {
  assert.ok(wgts.proc.running, 'wgts survived');
  // wgts first works through what its socket queued (up to 2 x rmem_max bytes),
  // then under-load mode ends 1 s after the last handshake message.
  const drainMs = await waitIdle(wgts.pid);
  await sleep(1100);
  console.log(`after the flood: wgts worked ${drainMs.toFixed(0)} ms more through its socket queue`);
  const view = await wgts.get();
  assert.ok(view.some(([k]) => k === 'public_key'), 'the UAPI answers with the peer');
  const fresh = new LegitPeer(keys.legit, keys.wgts.pub, wgts.port);
  try {
    await fresh.start();
    const t1 = performance.now();
    fresh.sendData();
    const ok = await waitFor(() => fresh.firstEvent('handshake-complete'), 3000, 'a handshake after the flood').catch((e: Error) => {
      throw new Error(`${e.message}; the peer received ${JSON.stringify([...fresh.received])}, events ${fresh.events.map((x) => x.e.type).join(',')}`);
    });
    assert.equal(fresh.received.get(3) ?? 0, 0, 'no cookie once the load is gone');
    console.log(`after the flood: a fresh handshake in ${(ok.at - t1).toFixed(0)} ms, without a cookie`);
  } finally {
    fresh.close();
  }
}

/** Every test's end: the sampler, the peer and the flooder stop; wgts must exit cleanly on SIGTERM. */
async function stopAll(wgts: Wgts, rss: RssSampler, legit: LegitPeer, flooder: Flooder): Promise<void> {
  rss.stop();
  legit.close();
  if (flooder.proc.running) await flooder.proc.stop(1000);
  const code = await wgts.stop();
  assert.equal(code, 0, `wgts exits cleanly on SIGTERM\n${wgts.proc.output().slice(-2000)}`);
}

describe('hostile: handshake flood against wgts up', { timeout: 150_000 }, () => {
  afterAll(async () => { await cleanupAll(); });

  it('at full speed: a legitimate peer completes its handshake; only verified cookie replies, no amplification, bounded memory, still responsive', async (t) => {
    const keys = { wgts: newKeys(), legit: newKeys() };
    const wgts = await Wgts.start(keys.wgts, keys.legit, 'f');
    const rss = new RssSampler(wgts.pid);
    const legit = new LegitPeer(keys.legit, keys.wgts.pub, wgts.port);
    const flooder = new Flooder(wgts.port, keys.wgts.pub, FULL_SPEED_BOUND_MS + 2000, 0);
    try {
      await legit.start();
      await flooder.ready();
      await sleep(1000); // well into cookie mode before the peer starts
      const t0 = performance.now();
      legit.sendData();
      const done = await waitFor(() => legit.firstEvent('handshake-complete'), FULL_SPEED_BOUND_MS,
        'the legitimate handshake under the full-speed flood', { intervalMs: 20 }).catch(() => null);
      const f = await flooder.finish();
      const mem = rss.stop();
      legit.close();
      describeFlood(t, f, await wgts.stats());
      const retries = legit.count('handshake-initiated', (e) => e.type === 'handshake-initiated' && e.retry);
      const got = `the peer got ${legit.received.get(3) ?? 0} cookie replies and sent ${retries} retries`;
      console.log(done
        ? `legitimate handshake: ${(done.at - t0).toFixed(0)} ms under the full-speed flood; ${got}`
        : `legitimate handshake: not completed within ${FULL_SPEED_BOUND_MS} ms of full-speed flood; ${got}`);
      console.log(`wgts RSS ${mem.startMb.toFixed(1)} MB at start, peak ${mem.peakMb.toFixed(1)} MB; CPU ${mem.cpuSeconds.toFixed(1)} s in ${(f.ms / 1000).toFixed(1)} s`);
      assertCookieMode(f);
      assert.ok(done, `the legitimate handshake completed under the full-speed flood within ${FULL_SPEED_BOUND_MS} ms; ${got}`);
      assert.equal(legit.dev.dropCount('bad-cookie'), 0, 'the legitimate peer accepted every cookie reply it got');
      assert.ok(mem.peakMb - mem.startMb < RSS_GROWTH_BOUND_MB, `RSS grew ${(mem.peakMb - mem.startMb).toFixed(1)} MB`);
      await assertResponsive(t, wgts, keys);
    } finally {
      await stopAll(wgts, rss, legit, flooder);
    }
  });

  it(`a legitimate handshake completes under a ${LEGIT_RATE || 'full-speed'} packets/s flood, through a cookie and a retry with mac2`, async (t) => {
    const keys = { wgts: newKeys(), legit: newKeys() };
    const wgts = await Wgts.start(keys.wgts, keys.legit, 'l');
    const rss = new RssSampler(wgts.pid);
    const legit = new LegitPeer(keys.legit, keys.wgts.pub, wgts.port);
    const flooder = new Flooder(wgts.port, keys.wgts.pub, HANDSHAKE_BOUND_MS + 5000, LEGIT_RATE);
    try {
      await legit.start();
      await flooder.ready();
      await sleep(1000); // well into cookie mode before the peer starts
      const t0 = performance.now();
      legit.sendData();
      const done = await waitFor(() => legit.firstEvent('handshake-complete'), HANDSHAKE_BOUND_MS,
        'the legitimate handshake to complete under flood', { intervalMs: 20 });
      const stillFlooding = flooder.proc.running;
      await sleep(300);
      const f = await flooder.finish();
      const mem = rss.stop();
      const retries = legit.count('handshake-initiated', (e) => e.type === 'handshake-initiated' && e.retry);
      describeFlood(t, f, await wgts.stats());
      console.log(`legitimate handshake: ${(done.at - t0).toFixed(0)} ms under the flood; the peer got ${legit.received.get(3) ?? 0} cookie reply and sent ${retries} retry`);
      console.log(`wgts RSS ${mem.startMb.toFixed(1)} MB at start, peak ${mem.peakMb.toFixed(1)} MB; CPU ${mem.cpuSeconds.toFixed(1)} s in ${(f.ms / 1000).toFixed(1)} s`);
      assertCookieMode(f);
      assert.ok(stillFlooding, 'the handshake completed while the flood ran');
      assert.ok((legit.received.get(3) ?? 0) >= 1, 'the legitimate peer was sent a cookie reply');
      assert.equal(legit.dev.dropCount('bad-cookie'), 0, 'and accepted it');
      assert.ok(retries >= 1, 'it retried (with mac2) on its retransmit timer');
      assert.ok(mem.peakMb - mem.startMb < RSS_GROWTH_BOUND_MB, `RSS grew ${(mem.peakMb - mem.startMb).toFixed(1)} MB`);
      // The session carries data.
      const rx0 = Number((await wgts.get()).find(([k]) => k === 'rx_bytes')?.[1] ?? -1);
      legit.sendData(100);
      await waitFor(async () => Number((await wgts.get()).find(([k]) => k === 'rx_bytes')?.[1]) > rx0, 3000, 'wgts to receive data on the session');
    } finally {
      await stopAll(wgts, rss, legit, flooder);
    }
  });

  it(`from ${SPREAD_SOURCES} source addresses, more than any table holds: the legitimate peer's handshake completes within ${SPREAD_BOUND_MS / 1000} s`, async (t) => {
    const keys = { wgts: newKeys(), legit: newKeys() };
    const wgts = await Wgts.start(keys.wgts, keys.legit, 's');
    const rss = new RssSampler(wgts.pid);
    const legit = new LegitPeer(keys.legit, keys.wgts.pub, wgts.port);
    const flooder = new Flooder(wgts.port, keys.wgts.pub, SPREAD_BOUND_MS + 8000, LEGIT_RATE || 30_000, SPREAD_SOURCES);
    try {
      await legit.start();
      await flooder.ready();
      await sleep(1500); // every source has sent (3 packets/s each at 30,000/s) and cookie mode is on
      const t0 = performance.now();
      legit.sendData();
      const done = await waitFor(() => legit.firstEvent('handshake-complete'), SPREAD_BOUND_MS,
        'the legitimate handshake under a flood from more sources than any table holds', { intervalMs: 20 });
      const stillFlooding = flooder.proc.running;
      const f = await flooder.finish();
      const mem = rss.stop();
      describeFlood(t, f, await wgts.stats());
      console.log(`legitimate handshake: ${(done.at - t0).toFixed(0)} ms under the flood from ${SPREAD_SOURCES} addresses; the peer got ${legit.received.get(3) ?? 0} cookie reply`);
      console.log(`wgts RSS ${mem.startMb.toFixed(1)} MB at start, peak ${mem.peakMb.toFixed(1)} MB`);
      assertCookieMode(f);
      assert.ok(stillFlooding, 'the handshake completed while the flood ran');
      assert.ok((legit.received.get(3) ?? 0) >= 1, 'the legitimate peer got its cookie reply');
      assert.ok(mem.peakMb - mem.startMb < RSS_GROWTH_BOUND_MB, `RSS grew ${(mem.peakMb - mem.startMb).toFixed(1)} MB`);
    } finally {
      await stopAll(wgts, rss, legit, flooder);
    }
  });
});
