/**
 * BBR, BBRv3 as the IETF ccwg draft describes it (draft-ietf-ccwg-bbr):
 * a model of the path (the windowed maximum delivery rate and the windowed
 * minimum RTT) sets a pacing rate and a cap on data in flight, instead of a
 * window that loss halves. Random loss below LOSS_THRESH (2 % of the data in
 * flight) leaves the model alone, which is why BBR keeps its rate on lossy
 * paths where CUBIC backs off; heavier loss bounds it (inflight_hi while
 * probing, bw_lo / inflight_lo otherwise). Sans-IO: time is `now`, the
 * ProbeBW wait is drawn from an injected seed.
 *
 *   onAck(e) -> model:  max_bw (2-cycle max of e.rate.deliveryRate), min_rtt
 *                       (10 s), bw_lo/inflight_lo (per loss round),
 *                       inflight_hi (while probing up)
 *            -> state:  Startup -> Drain -> ProbeBW (DOWN -> CRUISE -> REFILL
 *                       -> UP -> DOWN ...) <-> ProbeRTT (every 5 s without a new
 *                       probe_rtt_min_delay)
 *            -> control: pacing_rate = pacing_gain * bw; cwnd <= cwnd_gain * BDP
 *   loss recovery: packet conservation for a round, cwnd restored at its end
 *   (usesPrr = false); RTO: cwnd = 1 MSS, restored as the model allows.
 */
import type { AckEvent, CongestionControl, RateSample } from './types.js';
import { INITIAL_SSTHRESH, initialWindow } from './window.js';

// Draft constants (draft-ietf-ccwg-bbr section 5.1 and the parameter sections).
/** 4 ln 2: doubles the sending rate each round in Startup. */
export const STARTUP_PACING_GAIN = 2.77;
export const STARTUP_CWND_GAIN = 2;
/** Drains Startup's queue in about one round. */
export const DRAIN_PACING_GAIN = 0.35;
export const DEFAULT_CWND_GAIN = 2;
export const PROBE_UP_PACING_GAIN = 1.25;
export const PROBE_UP_CWND_GAIN = 2.25;
export const PROBE_DOWN_PACING_GAIN = 0.9;
/** Rounds without 25 % bandwidth growth before the pipe counts as full. */
export const FULL_BW_COUNT = 3;
export const FULL_BW_THRESH = 1.25;
/** Loss above this share of the data in flight means inflight was too high. */
export const LOSS_THRESH = 0.02;
/** Loss events in a Startup round (with loss over LOSS_THRESH) that end Startup. */
export const STARTUP_FULL_LOSS_COUNT = 6;
/** Multiplicative cut of the lower bounds on loss, and of inflight_hi. */
export const BBR_BETA = 0.7;
/** Share of inflight_hi left free in ProbeBW_CRUISE for other flows. */
export const HEADROOM = 0.15;
/** Pacing 1 % under the estimated bandwidth, to keep the bottleneck queue low. */
export const PACING_MARGIN = 0.01;
export const MIN_RTT_FILTER_LEN = 10_000;
export const PROBE_RTT_INTERVAL = 5_000;
export const PROBE_RTT_DURATION = 200;
export const PROBE_RTT_CWND_GAIN = 0.5;
/** ProbeBW cycles the max-bandwidth filter spans. */
export const MAX_BW_FILTER_CYCLES = 2;

export type BbrState = 'startup' | 'drain' | 'probe_bw_down' | 'probe_bw_cruise' | 'probe_bw_refill' | 'probe_bw_up' | 'probe_rtt';

/** A tiny deterministic generator (xorshift32) for the ProbeBW wait; the seed comes from the stack's random source. */
function xorshift(seed: number): () => number {
  let x = seed >>> 0 || 0x9e3779b9;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
}

export class Bbr implements CongestionControl {
  readonly name = 'bbr' as const;
  readonly usesPrr = false;
  cwnd: number;
  ssthresh = INITIAL_SSTHRESH;
  state: BbrState = 'startup';
  pacingGain = STARTUP_PACING_GAIN;
  cwndGain = STARTUP_CWND_GAIN;
  private pacing = 0;

  // The model (bytes, ms, bytes per ms).
  /** Windowed maximum delivery rate: the max of the current and previous ProbeBW cycles' slots. */
  maxBw = 0;
  private bwSlots = [0, 0];
  private cycleCount = 0;
  /** The bandwidth the controls use: min(max_bw, bw_lo). */
  bw = 0;
  bwLo = Infinity;
  private bwLatest = 0;
  minRtt = Infinity;
  private minRttStamp = 0;
  probeRttMinDelay = Infinity;
  private probeRttMinStamp = 0;
  inflightHi = Infinity;
  inflightLo = Infinity;
  private inflightLatest = 0;

  // Rounds and per-round congestion signals.
  roundCount = 0;
  private lossInRound = false;
  private lostInRound = 0;
  private deliveredInRound = 0;
  private lossEventsInRound = 0;
  private delivered = 0;

  // Startup.
  filledPipe = false;
  private fullBw = 0;
  private fullBwCount = 0;

  // ProbeBW.
  private cycleStamp = 0;
  private phaseStamp = 0;
  private bwProbeWait = 0;
  private roundsSinceBwProbe = 0;
  private bwProbeSamples = false;
  private bwProbeUpRounds = 0;
  private bwProbeUpAcks = 0;
  private probeUpCnt = Infinity;

  // ProbeRTT, recovery, idle.
  private probeRttDoneStamp: number | undefined;
  private probeRttRoundDone = false;
  /** probe_rtt_min_delay had gone PROBE_RTT_INTERVAL without a refresh when this ACK arrived. */
  private probeRttExpired = false;
  private priorCwnd = 0;
  private packetConservation = false;
  private inRecovery = false;
  private idleRestart = false;
  private readonly rand: () => number;

  constructor(
    private mss: number,
    seed = 0,
  ) {
    this.cwnd = initialWindow(mss);
    this.rand = xorshift(seed);
  }

  pacingRate(): number {
    return this.pacing > 0 ? this.pacing : Infinity;
  }

  setMss(mss: number): void {
    this.mss = mss;
  }

  private get minPipeCwnd(): number {
    return 4 * this.mss;
  }

  /** Bytes the pacer may send back to back: about 1 ms at the pacing rate, within [2 MSS, 64 KiB]. */
  private get sendQuantum(): number {
    return Math.max(2 * this.mss, Math.min(this.pacing, 64 * 1024));
  }

  /** gain * BDP, or the initial window before the first RTT sample. */
  bdpMultiple(bw: number, gain: number): number {
    if (this.minRtt === Infinity) return initialWindow(this.mss);
    return gain * bw * this.minRtt;
  }

  /** The inflight a gain asks for, with room for send quanta and, in ProbeBW_UP, two more segments. */
  private inflight(bw: number, gain: number): number {
    let v = this.bdpMultiple(bw, gain) + 3 * this.sendQuantum;
    v = Math.max(v, this.minPipeCwnd);
    if (this.state === 'probe_bw_up') v += 2 * this.mss;
    return v;
  }

  private inflightWithHeadroom(): number {
    if (this.inflightHi === Infinity) return Infinity;
    return Math.max(this.inflightHi - Math.max(HEADROOM * this.inflightHi, this.mss), this.minPipeCwnd);
  }

  private targetInflight(): number {
    return Math.min(this.bdpMultiple(this.bw, 1), this.cwnd);
  }

  // ------------------------------------------------------------- per ACK

  onAck(e: AckEvent): void {
    this.delivered += e.acked;
    const rs = e.rate;
    this.updateLatest(e, rs);
    if (e.roundStart) this.endRound(rs);
    this.checkStartupDone(e);
    this.updateProbeBwCyclePhase(e, rs);
    this.updateMinRtt(e);
    this.checkProbeRtt(e);
    if (rs !== null && rs.delivered > 0) this.idleRestart = false;
    this.bw = Math.min(this.maxBw, this.bwLo);
    this.setPacingRate(e);
    this.setCwnd(e);
  }

  /** UpdateLatestDeliverySignals + UpdateCongestionSignals: this ACK's sample joins the current round. */
  private updateLatest(e: AckEvent, rs: RateSample | null): void {
    this.deliveredInRound += e.acked;
    if (rs === null) return;
    this.bwLatest = Math.max(this.bwLatest, rs.deliveryRate);
    this.inflightLatest = Math.max(this.inflightLatest, rs.delivered);
    if (rs.lost > 0) {
      this.lossInRound = true;
      this.lostInRound += rs.lost;
      this.lossEventsInRound++;
    }
    if (rs.deliveryRate >= this.maxBw || !rs.isAppLimited) {
      const slot = this.cycleCount % MAX_BW_FILTER_CYCLES;
      this.bwSlots[slot] = Math.max(this.bwSlots[slot]!, rs.deliveryRate);
      this.maxBw = Math.max(...this.bwSlots);
    }
  }

  /** The ACK ended a round trip: per-round decisions, then the next round starts from this sample. */
  private endRound(rs: RateSample | null): void {
    this.roundCount++;
    this.roundsSinceBwProbe++;
    if (this.packetConservation && this.inRecovery) this.packetConservation = false; // one round of conservation
    this.adaptLowerBoundsFromCongestion();
    if (this.state === 'startup' && !this.filledPipe) this.checkStartupFullBandwidth(rs);
    if (this.state === 'startup' && !this.filledPipe) this.checkStartupHighLoss();
    if (this.state === 'probe_rtt' && this.probeRttDoneStamp !== undefined) this.probeRttRoundDone = true;
    this.lossInRound = false;
    this.lostInRound = 0;
    this.lossEventsInRound = 0;
    this.deliveredInRound = 0;
    this.bwLatest = rs?.deliveryRate ?? 0;
    this.inflightLatest = rs?.delivered ?? 0;
  }

  /** Startup ends when three rounds in a row grew max_bw by less than 25 % (draft: BBRCheckStartupFullBandwidth). */
  private checkStartupFullBandwidth(rs: RateSample | null): void {
    if (rs === null || rs.isAppLimited) return;
    if (this.maxBw >= this.fullBw * FULL_BW_THRESH) {
      this.fullBw = this.maxBw;
      this.fullBwCount = 0;
      return;
    }
    if (++this.fullBwCount >= FULL_BW_COUNT) this.filledPipe = true;
  }

  /** Startup also ends on a round with heavy loss: more than LOSS_THRESH, in several separate events. */
  private checkStartupHighLoss(): void {
    const total = this.deliveredInRound + this.lostInRound;
    if (this.lossEventsInRound < STARTUP_FULL_LOSS_COUNT || this.lostInRound <= LOSS_THRESH * total) return;
    this.filledPipe = true;
    this.inflightHi = Math.max(this.bdpMultiple(this.maxBw, 1), this.inflightLatest);
  }

  private adaptLowerBoundsFromCongestion(): void {
    if (this.isProbingBw() || !this.lossInRound) return;
    if (this.bwLo === Infinity) this.bwLo = this.maxBw;
    if (this.inflightLo === Infinity) this.inflightLo = this.cwnd;
    this.bwLo = Math.max(this.bwLatest, BBR_BETA * this.bwLo);
    this.inflightLo = Math.max(this.inflightLatest, BBR_BETA * this.inflightLo);
  }

  private isProbingBw(): boolean {
    return this.state === 'startup' || this.state === 'probe_bw_refill' || this.state === 'probe_bw_up';
  }

  private checkStartupDone(e: AckEvent): void {
    if (this.state === 'startup' && this.filledPipe) this.enter('drain', e.now);
    if (this.state === 'drain' && e.inflight <= this.inflight(this.maxBw, 1)) this.startProbeBwDown(e.now);
  }

  // ------------------------------------------------------------- ProbeBW

  private updateProbeBwCyclePhase(e: AckEvent, rs: RateSample | null): void {
    if (!this.filledPipe || !this.state.startsWith('probe_bw')) return;
    this.adaptUpperBounds(e, rs);
    switch (this.state) {
      case 'probe_bw_down':
        if (this.checkTimeToProbeBw(e)) return;
        if (this.checkTimeToCruise(e)) this.enter('probe_bw_cruise', e.now);
        break;
      case 'probe_bw_cruise':
        this.checkTimeToProbeBw(e);
        break;
      case 'probe_bw_refill':
        // One round at the estimated rate refills the pipe; the next round probes.
        if (e.roundStart) {
          this.bwProbeSamples = true;
          this.startProbeBwUp(e.now);
        }
        break;
      case 'probe_bw_up':
        if (e.now - this.phaseStamp > this.minRtt && e.inflight > this.inflight(this.maxBw, PROBE_UP_PACING_GAIN)) this.startProbeBwDown(e.now);
        break;
      default:
        break;
    }
  }

  /**
   * Loss over LOSS_THRESH while probing caps inflight_hi and ends the probe;
   * without it, inflight_hi rises. The draft counts the loss over the sample's
   * interval (about a round); RateSample.lost is per ACK, so the round's sum
   * stands in for it.
   */
  private adaptUpperBounds(e: AckEvent, rs: RateSample | null): void {
    if (rs === null) return;
    if (this.bwProbeSamples && rs.txInFlight > 0 && this.lostInRound > LOSS_THRESH * rs.txInFlight) {
      this.bwProbeSamples = false;
      if (!rs.isAppLimited) this.inflightHi = Math.max(rs.txInFlight, BBR_BETA * this.targetInflight());
      if (this.state === 'probe_bw_up') this.startProbeBwDown(e.now);
      return;
    }
    if (this.inflightHi === Infinity) return;
    if (rs.txInFlight > this.inflightHi) this.inflightHi = rs.txInFlight;
    if (this.state === 'probe_bw_up') this.probeInflightHiUpward(e);
  }

  /** In ProbeBW_UP inflight_hi grows like slow start: 1, 2, 4 ... segments per round while cwnd-limited by it. */
  private probeInflightHiUpward(e: AckEvent): void {
    if (e.roundStart) this.raiseInflightHiSlope();
    if (!e.cwndLimited || this.cwnd < this.inflightHi) return;
    this.bwProbeUpAcks += e.acked;
    if (this.bwProbeUpAcks >= this.probeUpCnt) {
      const delta = Math.floor(this.bwProbeUpAcks / this.probeUpCnt);
      this.bwProbeUpAcks -= delta * this.probeUpCnt;
      this.inflightHi += delta * this.mss;
    }
  }

  private raiseInflightHiSlope(): void {
    const growth = 2 ** this.bwProbeUpRounds; // segments this round
    this.bwProbeUpRounds = Math.min(this.bwProbeUpRounds + 1, 30);
    this.probeUpCnt = Math.max(this.cwnd / growth, this.mss);
  }

  private checkTimeToProbeBw(e: AckEvent): boolean {
    if (e.now - this.cycleStamp > this.bwProbeWait || this.isRenoCoexistenceProbeTime()) {
      this.startProbeBwRefill(e.now);
      return true;
    }
    return false;
  }

  /** Probe at least as often as Reno would have grown its window back: one round per segment of the target, at most 63. */
  private isRenoCoexistenceProbeTime(): boolean {
    const renoRounds = Math.floor(this.targetInflight() / this.mss);
    return this.roundsSinceBwProbe >= Math.min(renoRounds, 63);
  }

  private checkTimeToCruise(e: AckEvent): boolean {
    if (e.inflight > this.inflightWithHeadroom()) return false;
    return e.inflight <= this.inflight(this.maxBw, 1);
  }

  startProbeBwDown(now: number): void {
    this.bwProbeSamples = false;
    this.probeUpCnt = Infinity;
    // Pick the wait before the next probe: 2-3 s, and a random 0 or 1 round offset for Reno coexistence.
    this.roundsSinceBwProbe = Math.floor(this.rand() * 2);
    this.bwProbeWait = 2000 + this.rand() * 1000;
    this.cycleStamp = now;
    this.cycleCount++;
    this.bwSlots[this.cycleCount % MAX_BW_FILTER_CYCLES] = 0;
    this.maxBw = Math.max(...this.bwSlots);
    this.enter('probe_bw_down', now);
  }

  private startProbeBwRefill(now: number): void {
    this.resetLowerBounds();
    this.bwProbeUpRounds = 0;
    this.bwProbeUpAcks = 0;
    this.enter('probe_bw_refill', now);
  }

  private startProbeBwUp(now: number): void {
    this.fullBw = this.maxBw;
    this.fullBwCount = 0;
    this.enter('probe_bw_up', now);
    this.raiseInflightHiSlope();
  }

  private resetLowerBounds(): void {
    this.bwLo = Infinity;
    this.inflightLo = Infinity;
  }

  private enter(state: BbrState, now: number): void {
    this.state = state;
    this.phaseStamp = now;
    switch (state) {
      case 'startup':
        this.pacingGain = STARTUP_PACING_GAIN;
        this.cwndGain = STARTUP_CWND_GAIN;
        break;
      case 'drain':
        this.pacingGain = DRAIN_PACING_GAIN;
        this.cwndGain = STARTUP_CWND_GAIN;
        break;
      case 'probe_bw_down':
        this.pacingGain = PROBE_DOWN_PACING_GAIN;
        this.cwndGain = DEFAULT_CWND_GAIN;
        break;
      case 'probe_bw_cruise':
      case 'probe_bw_refill':
        this.pacingGain = 1;
        this.cwndGain = DEFAULT_CWND_GAIN;
        break;
      case 'probe_bw_up':
        this.pacingGain = PROBE_UP_PACING_GAIN;
        this.cwndGain = PROBE_UP_CWND_GAIN;
        break;
      case 'probe_rtt':
        this.pacingGain = 1;
        this.cwndGain = PROBE_RTT_CWND_GAIN;
        break;
    }
  }

  // ------------------------------------------------------------ min RTT

  private updateMinRtt(e: AckEvent): void {
    const expired = e.now > this.probeRttMinStamp + PROBE_RTT_INTERVAL;
    this.probeRttExpired = expired && this.probeRttMinDelay !== Infinity;
    if (e.rtt !== undefined && (e.rtt <= this.probeRttMinDelay || expired)) {
      this.probeRttMinDelay = e.rtt;
      this.probeRttMinStamp = e.now;
    }
    const minRttExpired = e.now > this.minRttStamp + MIN_RTT_FILTER_LEN;
    if (this.probeRttMinDelay < this.minRtt || minRttExpired) {
      this.minRtt = this.probeRttMinDelay;
      this.minRttStamp = this.probeRttMinStamp;
    }
  }

  private probeRttCwnd(): number {
    return Math.max(this.bdpMultiple(this.bw, PROBE_RTT_CWND_GAIN), this.minPipeCwnd);
  }

  private checkProbeRtt(e: AckEvent): void {
    if (this.state !== 'probe_rtt' && this.probeRttExpired && !this.idleRestart) {
      this.priorCwnd = this.savedCwnd();
      this.probeRttDoneStamp = undefined;
      this.probeRttRoundDone = false;
      this.enter('probe_rtt', e.now);
    }
    if (this.state !== 'probe_rtt') return;
    if (this.probeRttDoneStamp === undefined) {
      if (e.inflight <= this.probeRttCwnd()) {
        this.probeRttDoneStamp = e.now + PROBE_RTT_DURATION;
        this.probeRttRoundDone = false;
      }
    } else if (this.probeRttRoundDone && e.now > this.probeRttDoneStamp) {
      this.probeRttMinStamp = e.now;
      this.cwnd = Math.max(this.cwnd, this.priorCwnd);
      this.exitProbeRtt(e.now);
    }
  }

  private exitProbeRtt(now: number): void {
    this.resetLowerBounds();
    if (this.filledPipe) {
      this.startProbeBwDown(now);
      this.enter('probe_bw_cruise', now);
    } else {
      this.enter('startup', now);
    }
  }

  private savedCwnd(): number {
    return this.inRecovery || this.state === 'probe_rtt' ? Math.max(this.priorCwnd, this.cwnd) : this.cwnd;
  }

  // ------------------------------------------------------------ control

  private setPacingRate(e: AckEvent): void {
    if (this.maxBw === 0) {
      // BBRInitPacingRate: the initial window over the first RTT (1 ms before any sample), at Startup's gain.
      const rtt = e.srtt > 0 ? e.srtt : 1;
      this.pacing = (STARTUP_PACING_GAIN * initialWindow(this.mss)) / rtt;
      return;
    }
    const rate = this.pacingGain * this.bw * (1 - PACING_MARGIN);
    if (this.filledPipe || rate > this.pacing) this.pacing = rate;
  }

  private setCwnd(e: AckEvent): void {
    const maxInflight = this.inflight(this.bw, this.cwndGain);
    if (this.packetConservation) {
      this.cwnd = Math.max(this.cwnd, e.inflight + e.acked);
    } else if (this.filledPipe) {
      this.cwnd = Math.min(this.cwnd + e.acked, maxInflight);
    } else if (this.cwnd < maxInflight || this.delivered < initialWindow(this.mss)) {
      this.cwnd += e.acked;
    }
    this.cwnd = Math.max(this.cwnd, this.minPipeCwnd);
    if (this.state === 'probe_rtt') this.cwnd = Math.min(this.cwnd, this.probeRttCwnd());
    // BoundCwndForModel: inflight_hi while probing or cruising, the lower bound always.
    let cap = Infinity;
    if (this.state.startsWith('probe_bw') && this.state !== 'probe_bw_cruise') cap = this.inflightHi;
    else if (this.state === 'probe_rtt' || this.state === 'probe_bw_cruise') cap = this.inflightWithHeadroom();
    cap = Math.max(Math.min(cap, this.inflightLo), this.minPipeCwnd);
    this.cwnd = Math.floor(Math.min(this.cwnd, cap));
  }

  // -------------------------------------------------- loss and restarts

  /** Fast recovery: packet conservation for one round (draft: "Modulating cwnd in Loss Recovery"). */
  onCongestionEvent(_now: number, inflight: number): void {
    this.priorCwnd = this.savedCwnd();
    this.inRecovery = true;
    this.packetConservation = true;
    this.cwnd = Math.max(inflight + this.mss, this.minPipeCwnd);
  }

  onRecoveryExit(_now: number): void {
    this.inRecovery = false;
    this.packetConservation = false;
    this.cwnd = Math.max(this.cwnd, this.priorCwnd);
  }

  /** The sender marks everything outstanding lost and resends from SND.UNA: one segment, then the model decides. */
  onRto(_now: number, _inflight: number, firstExpiry: boolean): void {
    if (firstExpiry) this.priorCwnd = this.savedCwnd();
    this.inRecovery = false;
    this.packetConservation = false;
    this.cwnd = this.mss;
  }

  /** The loss was spurious: the window back, and the lower bounds it may have cut forgotten. */
  undo(_now: number): void {
    this.cwnd = Math.max(this.cwnd, this.priorCwnd);
    this.resetLowerBounds();
    this.fullBwCount = 0;
  }

  /** Restarting from idle: pace at the estimated bandwidth, and let no stale ProbeRTT start on the first ACKs. */
  onIdleRestart(now: number): void {
    this.idleRestart = true;
    if (this.state.startsWith('probe_bw') && this.bw > 0) this.pacing = this.bw * (1 - PACING_MARGIN);
    if (this.state === 'probe_rtt' && this.probeRttDoneStamp !== undefined && now > this.probeRttDoneStamp) {
      this.probeRttMinStamp = now;
      this.cwnd = Math.max(this.cwnd, this.priorCwnd);
      this.exitProbeRtt(now);
    }
  }
}
