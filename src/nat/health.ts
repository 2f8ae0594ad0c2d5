/**
 * The health of one target, as a state machine without I/O: it is told the
 * time, the results of probes and whether the target's peer has a fresh
 * handshake, and says when the next probe is due and when the state
 * changes. The prober (target-pool.ts) does the connecting and the timers.
 *
 *   probe results -> consecutive failures >= Failures: probe state down
 *                 -> consecutive successes >= Successes: probe state up
 *   peer handshake stale -> down at once, no probes (the tunnel to it is
 *   gone); fresh again -> the probe state shows, the next probe is due now
 *   state = probe state up and peer not stale
 *
 * A target starts up (optimistic, as HAProxy and nginx do): a rule that
 * has just started serves at once, and failover covers a target that is
 * not there yet.
 */
import type { HealthSpec } from './rule.js';

export type TargetState = 'up' | 'down';

export interface HealthChange {
  state: TargetState;
  reason: string;
}

export class TargetHealth {
  state: TargetState = 'up';
  /** Why the target is in its state: the last probe's outcome or the peer's handshake. */
  reason: string;
  /** Monotonic ms of the last state change (or of the start). */
  changedAt: number;
  /** Monotonic ms when the next probe is due; null while one runs or without checks. */
  nextProbe: number | null;
  private probeUp = true;
  private probeReason: string;
  /** Consecutive results against the probe state (failures while up, successes while down). */
  private streak = 0;
  /** null: the target is not behind a peer (an [Expose] target on this host). */
  private peerFresh: boolean | null = null;

  constructor(
    readonly spec: HealthSpec | undefined,
    now: number,
  ) {
    this.changedAt = now;
    this.probeReason = this.checks ? 'not checked yet' : 'no health check';
    this.reason = this.probeReason;
    this.nextProbe = this.checks ? now : null;
  }

  private get checks(): boolean {
    return this.spec !== undefined && this.spec.check !== 'off';
  }

  /** A probe should start now: one is due, none is running, and the peer's handshake is not stale. */
  probeDue(now: number): boolean {
    return this.nextProbe !== null && now >= this.nextProbe && this.peerFresh !== false;
  }

  /** The driver started a probe; no other is due until its result. */
  probeStarted(): void {
    this.nextProbe = null;
  }

  /** A probe's outcome; `why` describes a failure (ECONNREFUSED, HTTP 503, ...). */
  probeResult(now: number, ok: boolean, why = ''): HealthChange | null {
    const spec = this.spec;
    if (!spec || spec.check === 'off') return null;
    this.nextProbe = now + spec.interval * 1000;
    if (ok === this.probeUp) {
      this.streak = 0;
      if (ok) this.probeReason = 'checks pass';
      return this.settle(now);
    }
    this.streak++;
    const need = ok ? spec.successes : spec.failures;
    if (this.streak < need) return null;
    this.streak = 0;
    this.probeUp = ok;
    this.probeReason = ok ? `${need} good check${need > 1 ? 's' : ''}` : `${need} failed check${need > 1 ? 's' : ''} (last: ${why})`;
    return this.settle(now);
  }

  /** Whether the target's peer has a fresh handshake; null when it has no peer. */
  peer(now: number, fresh: boolean | null): HealthChange | null {
    if (fresh === this.peerFresh) return null;
    const wasStale = this.peerFresh === false;
    this.peerFresh = fresh;
    if (wasStale && fresh !== false && this.checks && this.nextProbe !== null) this.nextProbe = now;
    return this.settle(now);
  }

  private settle(now: number): HealthChange | null {
    const stale = this.peerFresh === false;
    const state: TargetState = this.probeUp && !stale ? 'up' : 'down';
    const reason = stale ? 'no fresh handshake with its peer' : this.probeReason;
    const changed = state !== this.state;
    this.reason = reason;
    if (!changed) return null;
    this.state = state;
    this.changedAt = now;
    return { state, reason };
  }
}
