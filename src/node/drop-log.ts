/**
 * Says in the log what the device's drop counters likely mean, so a failure
 * that shows only as `bad-mac1 4` in `wgts show` is explained where a
 * newcomer looks first. One line per cause per minute at most; lines carry
 * counts, peer labels, public keys and addresses, never secrets.
 *
 *   driver, every few seconds: check(counters, peers, nowMs)
 *     for each reason whose count grew: not said in the last minute? ->
 *       one line: "<n> <reason> in the last ...: <what it likely means>"
 *     source-not-allowed names each peer whose count grew, with the last source
 *
 * The counters live in the sans-IO device; the clock and the log here.
 */
import type { DropReason } from '../transport/device.js';
import type { Peer } from '../transport/peer.js';
import { formatIp } from '../ip/text.js';
import type { Logger } from './log.js';
import { peerName } from './event-log.js';

/** At most one line per cause this often. */
export const DROP_LOG_INTERVAL_MS = 60_000;

/** What each cause likely means, and whether it points at a mistake (warn) or is background noise (info). Unlisted reasons are not logged. */
const MEANING: Partial<Record<DropReason, { level: 'warn' | 'info'; text: (ourKey: string) => string }>> = {
  'bad-mac1': { level: 'warn', text: (k) => `handshakes addressed to a public key that is not ours: a peer is using a wrong public key for us (ours is ${k}), or someone is probing the port` },
  'unknown-peer': { level: 'warn', text: () => 'handshakes from a public key with no [Peer] here: add that peer, or check the PublicKey configured for it on this side' },
  'handshake-failed': { level: 'warn', text: () => 'handshakes that did not verify: most often a PresharedKey that differs between the two sides' },
  'stale-timestamp': { level: 'info', text: () => 'handshake initiations older than one already accepted: replayed, or the peer\'s clock went backwards' },
  'initiation-flood': { level: 'info', text: () => 'handshake initiations from a peer faster than 1 per 20 ms: it restarts in a loop, or they are replayed' },
  'rate-limited': { level: 'info', text: () => 'handshakes over the rate limit while under load: a flood, or many peers at once' },
  'bad-cookie': { level: 'info', text: () => 'cookie replies that did not verify: forged or corrupted' },
  'unexpected-response': { level: 'info', text: () => 'handshake responses to no initiation of ours: late (after a retry) or forged' },
  'unknown-index': { level: 'info', text: () => 'packets for a session we do not have: a peer still on a session from before our restart (a new handshake fixes it), or junk' },
  'decrypt-failed': { level: 'warn', text: () => 'packets that failed to decrypt: corrupted on the way, or forged' },
  'replay': { level: 'info', text: () => 'packets received twice: duplicated by the network, or replayed' },
  'expired-keypair': { level: 'info', text: () => 'packets on a session too old to use: the peer should re-handshake' },
  'bad-inner-packet': { level: 'warn', text: () => 'tunnel packets that are not IPv4/IPv6 or have a wrong length' },
  'source-not-allowed': { level: 'warn', text: () => 'packets whose source address is outside that peer\'s AllowedIPs: the AllowedIPs here for it do not include the address it sends from (its Address, or what it routes)' },
  'no-route': { level: 'warn', text: () => 'packets to addresses no peer\'s AllowedIPs include: add the address range to the right [Peer]\'s AllowedIPs' },
  'no-endpoint': { level: 'warn', text: () => 'packets for a peer with no known endpoint: it has no Endpoint here and has not connected to us yet' },
  'staged-overflow': { level: 'warn', text: () => 'packets waiting for a handshake that never completed were dropped (queue full)' },
  'no-private-key': { level: 'warn', text: () => 'packets while no PrivateKey is set' },
  'unknown-type': { level: 'info', text: () => 'datagrams on our port that are not WireGuard: a scanner, or a client aimed at the wrong port' },
  'malformed': { level: 'info', text: () => 'WireGuard messages of the wrong size: corrupted, or not WireGuard' },
};

export class DropLog {
  /** Count at the last line said, per reason (and per peer for source-not-allowed). */
  private readonly said = new Map<string, number>();
  private readonly saidAt = new Map<string, number>();

  constructor(private readonly log: Logger, private readonly ourKey: () => string) {}

  /** Logs the causes that grew since their last line, each at most once per DROP_LOG_INTERVAL_MS. */
  check(drops: ReadonlyMap<DropReason, number>, peers: Iterable<Peer>, nowMs: number): void {
    for (const [reason, count] of drops) {
      const m = MEANING[reason];
      if (!m) continue;
      if (reason === 'source-not-allowed') {
        for (const p of peers) this.say(`source-not-allowed:${p.id}`, p.sourceNotAllowed, nowMs, m.level, (n) =>
          `${n} source-not-allowed drop${n === 1 ? '' : 's'} from ${peerName(p)}${p.lastDisallowedSource ? ` (last source ${formatIp(p.lastDisallowedSource)})` : ''}: ${m.text('')}`);
        continue;
      }
      this.say(reason, count, nowMs, m.level, (n) => `${n} ${reason} drop${n === 1 ? '' : 's'}: ${m.text(this.ourKey())}`);
    }
  }

  private say(key: string, count: number, nowMs: number, level: 'warn' | 'info', line: (n: number) => string): void {
    const before = this.said.get(key) ?? 0;
    if (count <= before) return;
    const at = this.saidAt.get(key);
    if (at !== undefined && nowMs - at < DROP_LOG_INTERVAL_MS) return;
    this.said.set(key, count);
    this.saidAt.set(key, nowMs);
    this.log[level](line(count - before));
  }
}
