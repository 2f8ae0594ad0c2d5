/**
 * A simulated internet path for in-memory TCP tests: two stacks joined by
 * the fault-injecting link (link.ts) with one-way delay, a bottleneck rate
 * with a drop-tail queue and seeded random loss in each direction. One bulk
 * transfer each way at once; the fake clock gives each direction's goodput
 * (payload bytes delivered in order over fake time), which repeats exactly.
 *
 *   pathTransfer(path) -> Sim(link both ways) -> establish -> writeAll x2
 *   -> run until both readers end -> digests checked -> goodput per direction
 */
import assert from 'node:assert/strict';
import { Sim, establish, writeAll, digestOf, payloadDigest, type LinkOptions } from './link.js';
import type { TcpConfig } from '../../src/netstack/tcp-config.js';

export interface Path {
  /** Round-trip propagation delay, ms (half each way). */
  rtt: number;
  /** Random loss per direction, 0..1. */
  loss: number;
  /** Bottleneck, Mbit/s, each direction. */
  mbit: number;
  /** Drop-tail queue, bytes (default: one bandwidth-delay product). */
  queue?: number;
  /** Bytes each way. */
  size: number;
  seed?: number;
  tcp?: Partial<TcpConfig>;
}

export interface PathResult {
  sim: Sim;
  /** Goodput a -> b (client to server) and b -> a, Mbit/s of fake time. */
  up: number;
  down: number;
}

/** One direction of the path; each direction draws its losses from its own seed. */
export function pathLink(p: Path, seed: number): LinkOptions {
  const rate = (p.mbit * 1e6) / 8 / 1000; // bytes per ms
  return { delay: p.rtt / 2, loss: p.loss, rate, queue: p.queue ?? Math.max(64 * 1024, Math.round(rate * p.rtt)), seed };
}

/** Runs one transfer of `size` bytes each way over the path; asserts both digests. */
export async function pathTransfer(p: Path): Promise<PathResult> {
  const tcp = p.tcp ?? {};
  const seed = p.seed ?? 3;
  const sim = new Sim({ tcp }, { tcp }, pathLink(p, seed * 2), pathLink(p, seed * 2 + 1), seed);
  const { client, server } = await establish(sim);
  const up = digestOf(server);
  const down = digestOf(client);
  const t0 = sim.now;
  let upAt = 0;
  let downAt = 0;
  void up.done.then(() => (upAt = sim.now));
  void down.done.then(() => (downAt = sim.now));
  void writeAll(client, p.size, 1);
  void writeAll(server, p.size, 2);
  await sim.run(() => upAt > 0 && downAt > 0);
  assert.equal(up.hex(), payloadDigest(p.size, 1), 'client -> server digest');
  assert.equal(down.hex(), payloadDigest(p.size, 2), 'server -> client digest');
  const mbit = (t: number) => (p.size * 8) / (t - t0) / 1000;
  return { sim, up: mbit(upAt), down: mbit(downAt) };
}
