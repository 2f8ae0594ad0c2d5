/**
 * The sending half of a connection: send sequence space (RFC 9293 3.3.1),
 * the SYN and its options, ACK processing, retransmission (RFC 6298 with
 * Karn's rule), fast retransmit and recovery (RFC 5681, NewReno RFC 6582,
 * and SACK-based recovery RFC 6675 when the peer allows SACK), limited
 * transmit (RFC 3042), zero-window probing (RFC 9293 3.8.6.1), sender-side
 * silly window avoidance and Nagle (RFC 9293 3.8.6.2.1).
 *
 *   onAck(seg) -> window update, newAck() or dupAck() -> cwnd and recovery
 *              -> delivered records -> RateSampler -> AckEvent.rate -> cc
 *   output(now) -> newDataLoop() or recoveryLoop() -> paced()? -> sendRange() -> emit()
 *              (held by the Pacer: pacer.at is a deadline; output runs again then)
 *   timers: onRtoTimer() (go back N from SND.UNA), onPersistTimer()
 */
import type { TcpConn } from './tcp-conn.js';
import { type Segment, type SackBlock, ACK, FIN, PSH, SYN, TS_OPTION_BYTES, buildSegment, type OutSegment } from './tcp-segment.js';
import { seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt, seqMax, seqMin, SEQ0 } from './tcp-seq.js';
import { ByteQueue } from './tcp-buffer.js';
import { RtoEstimator } from './tcp-rto.js';
import type { AckEvent, CongestionControl } from './cc/types.js';
import { createCongestion } from './cc/index.js';
import { Scoreboard } from './tcp-sack.js';
import { SentLog, Rack } from './tcp-rack.js';
import { Prr } from './tcp-prr.js';
import { RateSampler } from './tcp-rate.js';
import { Pacer } from './tcp-pacer.js';
import { tsLt } from './tcp-timestamps.js';
import { tcpError } from './tcp-config.js';

/** Smallest send MSS accepted from a peer (Linux tcp_min_snd_mss). */
const MIN_MSS = 48;
/** SACK blocks per segment: 2 NOP + 2 + 4 x 8 = 36 bytes (RFC 2018 section 3); 3 beside the 12 bytes of timestamps. */
const MAX_SACK_BLOCKS = 4;
const MAX_SACK_BLOCKS_TS = 3;
/** RFC 8985 7.2 WCDelAckT: the worst-case delayed ACK a probe of a single segment waits out. */
const WC_DEL_ACK = 200;

export type Recovery = 'none' | 'newreno' | 'sack';

export class Sender {
  iss = SEQ0;
  una = SEQ0;
  nxt = SEQ0;
  /** Highest sequence number sent (SND.MAX / HighData). */
  max = SEQ0;
  /** Peer window in bytes (scaled), and the window update bookkeeping. */
  wnd = 0;
  wl1 = SEQ0;
  wl2 = SEQ0;
  sndScale = 0;
  maxWnd = 0;
  buf = new ByteQueue();
  /** Sequence number of buf's first byte. */
  bufSeq = SEQ0;
  finQueued = false;
  finSeq = SEQ0;
  finAcked = false;

  /** Effective send MSS (payload without options). */
  mss: number;
  peerMss = 0;
  sackOk = false;
  wsOk = false;

  readonly rto: RtoEstimator;
  rtActive = false;
  rtStart = SEQ0;
  rtEnd = SEQ0;
  rtTime = 0;
  cc: CongestionControl;
  /** Smallest RTT sample seen, ms (Infinity before the first). */
  minRtt = Infinity;
  /** A round trip ends when SND.UNA passes this (the SND.MAX when the previous round ended). */
  private roundEnd = SEQ0;
  recovery: Recovery = 'none';
  /** RFC 6582 "recover" / RFC 6675 RecoveryPoint. */
  recover = SEQ0;
  /** RFC 6675 HighRxt: retransmissions in this recovery reached here (exclusive). */
  highRxt = SEQ0;
  dupAcks = 0;
  private partialSeen = false;
  readonly board = new Scoreboard();
  /** One record per segment in flight, RACK (RFC 8985) and PRR (RFC 6937) state. */
  readonly log = new SentLog();
  readonly rack = new Rack();
  // Per-ACK and per-segment work allocates nothing: the callbacks, the
  // controller's AckEvent and the timestamps option are made once per
  // connection and refilled (consumers copy what they keep).
  /** `now` and the usable TSecr of the ACK being processed, for the callbacks below. */
  private ackNow = 0;
  private ackTsEcr: number | null = null;
  /** A record newly delivered by a SACK-era ACK: RACK and the rate sampler learn from it. */
  private readonly learn = (i: number): void => {
    this.rack.update(this.log, i, this.ackNow, this.minRtt, this.ackTsEcr);
    this.rate.onDelivered(this.log, i, this.ackNow);
  };
  /** A record newly delivered without SACK: the rate sampler learns from it. */
  private readonly delivered = (i: number): void => this.rate.onDelivered(this.log, i, this.ackNow);
  /** Whether the scoreboard holds [s, e) wholly SACKed. */
  private readonly sackCovered = (s: number, e: number): boolean => this.board.unsacked(s, e) === 0;
  private readonly ev: AckEvent = {
    now: 0, acked: 0, rtt: undefined, minRtt: Infinity, srtt: 0, inflight: 0, priorInflight: 0,
    cwndLimited: false, inRecovery: false, roundStart: false, rate: null, mss: 0,
  };
  private readonly tsOut = { val: SEQ0, ecr: SEQ0 };
  /**
   * The header fields of every segment emit() builds, refilled each time
   * instead of a new object per segment (buildSegment reads it and keeps
   * nothing). Every field is always present and seq/ack start as SEQ0, so
   * its hidden class never changes.
   */
  private readonly out: OutSegment = { srcPort: 0, dstPort: 0, seq: SEQ0, ack: SEQ0, flags: 0, window: 0, ts: undefined, sack: undefined };
  /** The payload range of the segment being built, for `fill` (one closure per connection, not one per segment). */
  private fillOff = 0;
  private fillLen = 0;
  private readonly fill = (b: Uint8Array, at: number): void => this.buf.copyTo(this.fillOff, this.fillLen, b, at);
  readonly prr = new Prr();
  /** Delivery-rate samples for the controller (draft-cheng-iccrg-delivery-rate-estimation). */
  readonly rate = new RateSampler();
  /** Releases segments at the controller's pacing rate; its `at` is one of the connection's deadlines. */
  readonly pacer = new Pacer();
  private prrEntering = false;
  /** RACK reorder timer and tail loss probe timer deadlines. */
  rackAt = Infinity;
  tlpAt = Infinity;
  /** SND.MAX when the outstanding probe left (TLP.end_seq), or null; whether it was a retransmission. */
  tlpEnd: number | null = null;
  private tlpRetrans = false;
  /** New data left or was acknowledged since the probe timer was last set. */
  private tlpRearm = false;
  /**
   * Undo of a spurious reduction (RFC 3708 D-SACK, RFC 3522 Eifel): SND.UNA
   * when the episode (recovery or RTO) began, or null; retransmissions of it
   * not yet proven needless by D-SACK; TSval of its first retransmission.
   */
  private undoMarker: number | null = null;
  private undoRetrans = 0;
  private undoTsval: number | null = null;
  private undoEifelChecked = false;
  /** The episode being undone was an RTO (its go-back-N is cancelled). */
  private undoAfterRto = false;

  rtxAt = Infinity;
  persistAt = Infinity;
  persistBackoff = 0;
  /** Consecutive retransmission timeouts (SYN or data). */
  retries = 0;
  synSentAt = 0;
  synRetransmitted = false;
  lastNow = 0;

  private readonly ipHdr: number;

  constructor(
    private readonly c: TcpConn,
    private readonly mtu: number,
  ) {
    this.ipHdr = c.v === 4 ? 20 : 40;
    this.mss = Math.min(c.v === 4 ? 536 : 1220, mtu - this.ipHdr - 20);
    this.rto = new RtoEstimator(c.cfg.rto);
    this.cc = this.makeCc();
  }

  /** The congestion controller for the current send MSS. */
  private makeCc(): CongestionControl {
    return createCongestion(this.c.congestion, this.mss, this.c.ccSeed);
  }

  init(iss: number): void {
    this.iss = iss;
    this.una = iss;
    this.nxt = iss;
    this.max = iss;
    this.bufSeq = seqAdd(iss, 1);
    if (this.finQueued) this.finSeq = seqAdd(this.bufSeq, this.buf.length); // end() came before the ISS was chosen
    this.recover = iss;
    this.highRxt = iss;
    this.wl2 = iss;
    this.roundEnd = iss;
    this.rack.reset(iss);
  }

  /** Options of the peer's SYN or SYN-ACK (RFC 9293 3.7.1, RFC 7323 2.2 and 3.2, RFC 2018 section 2). */
  peerOptions(seg: Segment, now: number): void {
    this.peerMss = seg.mss ?? (this.c.v === 4 ? 536 : 1220);
    this.c.ts.negotiate(seg, now);
    this.mss = this.effectiveMss(Math.min(this.peerMss + 20, this.mtu - this.ipHdr) - 20);
    if (seg.wscale !== null) {
      this.wsOk = true;
      this.sndScale = seg.wscale;
      this.c.rcvScale = this.c.offerScale;
    } else {
      this.wsOk = false;
      this.sndScale = 0;
      this.c.rcvScale = 0;
    }
    this.sackOk = seg.sackPermitted && this.c.cfg.sack;
    this.cc = this.makeCc();
  }

  /** The send MSS: payload of a full segment after the options every segment carries (RFC 6691). */
  private effectiveMss(m: number): number {
    return Math.max(MIN_MSS, m - (this.c.ts.ok ? TS_OPTION_BYTES : 0));
  }

  synOutstanding(): boolean {
    return this.c.state === 'SYN-SENT' || this.c.state === 'SYN-RECEIVED';
  }

  /** Sends (or resends) our SYN / SYN-ACK and arms the retransmission timer. */
  sendSyn(now: number): void {
    const c = this.c;
    const passive = c.state === 'SYN-RECEIVED';
    const window = Math.min(c.cfg.rcvBuf, 0xffff);
    const o: OutSegment = {
      srcPort: c.localPort,
      dstPort: c.remotePort,
      seq: this.iss,
      ack: passive ? c.rcvNxt : 0,
      flags: SYN | (passive ? ACK : 0),
      window,
      mss: c.ourMss,
    };
    if (!passive || this.wsOk) o.wscale = c.offerScale;
    if (c.cfg.sack && (!passive || this.sackOk)) o.sackPermitted = true;
    if (passive ? c.ts.ok : c.ts.enabled) o.ts = { val: c.ts.val(now), ecr: passive ? c.ts.recent : 0 };
    if (passive) {
      c.advRight = seqAdd(c.rcvNxt, window);
      c.ts.lastAckSent = c.rcvNxt;
    }
    c.host.emit(buildSegment(c.v, c.localIp, c.remoteIp, o, 0, null, c.host.nextIpId()));
    c.owner.stats.segmentsOut++;
    if (this.nxt === this.iss) this.synSentAt = now;
    this.nxt = seqAdd(this.iss, 1);
    if (seqGt(this.nxt, this.max)) this.max = this.nxt;
    this.rtxAt = now + this.rto.rto;
    this.lastNow = now;
  }

  /** Our SYN was acknowledged by `seg` (a SYN-ACK, or the ACK completing a passive open). */
  synAcked(seg: Segment, now: number): void {
    const scaled = this.c.state === 'SYN-RECEIVED'; // RFC 7323 2.2: a SYN's window is never scaled
    this.una = seg.ack;
    if (seqLt(this.nxt, this.una)) this.nxt = this.una;
    this.wnd = scaled ? seg.window << this.sndScale : seg.window; // shift, not 2 ** (a libm pow call per ACK); at most 65535 << 14 < 2^31
    this.maxWnd = this.wnd;
    this.wl1 = seg.seq;
    this.wl2 = seg.ack;
    if (!this.synRetransmitted) this.rttSample(now - this.synSentAt);
    else this.rto.afterSynTimeout();
    this.retries = 0;
    this.rtxAt = Infinity;
    this.recover = this.una;
    this.highRxt = this.una;
    if (this.c.passive) this.c.advRight = seqMax(this.c.advRight, this.c.rcvNxt);
  }

  // ------------------------------------------------------------ ACKs in

  /** ACK processing for synchronized states; false means drop the rest of the segment. */
  onAck(seg: Segment, now: number): boolean {
    const c = this.c;
    const ack = seg.ack;
    this.lastNow = now;
    if (seqGt(ack, this.max)) {
      c.ackNow = true;
      c.host.drop('tcp-ack-of-unsent');
      return false;
    }
    // RFC 5961 section 5.2: an ACK older than SND.UNA - MAX.SND.WND is dropped (with an ACK).
    if (seqLt(ack, seqAdd(this.una, -Math.max(this.maxWnd, 0xffff)))) {
      c.ackNow = true;
      c.host.drop('tcp-ack-too-old');
      return false;
    }
    const prevWnd = this.wnd;
    if (seqLe(this.una, ack) && (seqLt(this.wl1, seg.seq) || (this.wl1 === seg.seq && seqLe(this.wl2, ack)))) {
      this.wnd = seg.window << this.sndScale;
      this.wl1 = seg.seq;
      this.wl2 = ack;
      if (this.wnd > this.maxWnd) this.maxWnd = this.wnd;
    }
    if (seqGt(ack, this.una)) {
      this.newAck(ack, seg, now);
    } else {
      const pure = seg.data.length === 0 && (seg.flags & (SYN | FIN)) === 0;
      const dup = ack === this.una && pure && seqGt(this.nxt, this.una);
      if (this.sackOk) {
        const priorPipe = this.pipe();
        const delivered = this.sackInput(seg, now);
        if (dup && (this.wnd === prevWnd || delivered > 0)) this.dupAcks++;
        if (delivered > 0) this.afterDelivery(seg, now, delivered, undefined, priorPipe, this.recovery !== 'none');
      } else if (dup && this.wnd === prevWnd) this.dupAck(now);
    }
    return true;
  }

  private newAck(ack: number, seg: Segment, now: number): void {
    const c = this.c;
    const acked = seqDiff(ack, this.una);
    const flightBefore = seqDiff(this.max, this.una);
    const priorPipe = this.sackOk ? this.pipe() : flightBefore;
    const dataAcked = Math.min(acked, this.buf.length);
    this.buf.consume(dataAcked);
    this.bufSeq = seqAdd(this.bufSeq, dataAcked);
    this.una = ack;
    if (seqLt(this.nxt, ack)) this.nxt = ack;
    if (seqLt(this.highRxt, ack)) this.highRxt = ack;
    this.retries = 0;
    this.persistBackoff = 0;
    this.tlpRearm = true;
    // With timestamps every ACK of new data is a sample (RFC 7323 4.1); without, one timed
    // segment per round trip, with Karn's rule (rtActive is cleared when it is retransmitted).
    let rtt = c.ts.rtt(seg, now);
    if (this.rtActive && seqGe(ack, this.rtEnd)) {
      if (rtt === undefined) rtt = now - this.rtTime;
      this.rtActive = false;
    }
    if (rtt !== undefined) this.rttSample(rtt, flightBefore);
    const inRecovery = this.recovery !== 'none';
    let delivered: number;
    if (this.sackOk) {
      delivered = acked + this.sackInput(seg, now);
    } else {
      this.board.advance(ack);
      this.ackNow = now;
      this.log.ackTo(ack, this.delivered);
      delivered = acked;
    }
    if (this.tlpEnd !== null && seqGe(ack, this.tlpEnd)) this.tlpAcked(now);
    this.eifel(seg, now);
    let restartTimer = true;
    switch (this.recovery) {
      case 'newreno':
        if (seqGe(ack, this.recover)) {
          // Full acknowledgment (RFC 6582 3.2 step 3).
          this.cc.cwnd = Math.min(this.cc.ssthresh, Math.max(seqDiff(this.max, this.una), this.mss) + this.mss);
          this.endRecovery(now);
        } else {
          // Partial acknowledgment: retransmit the next hole, deflate (RFC 6582 3.2 step 4).
          this.sendRange(this.una, seqAdd(this.una, this.mss), now, false);
          this.cc.cwnd = Math.max(this.mss, this.cc.cwnd - acked + (acked >= this.mss ? this.mss : 0));
          if (this.partialSeen) restartTimer = false; // the "Impatient" variant
          this.partialSeen = true;
        }
        break;
      case 'sack':
        break; // afterDelivery() runs PRR and ends recovery
      case 'none':
        this.dupAcks = 0;
        break;
    }
    this.afterDelivery(seg, now, delivered, rtt, this.sackOk ? priorPipe : flightBefore, inRecovery);
    if (restartTimer || this.rtxAt === Infinity) {
      this.rtxAt = seqGt(this.nxt, this.una) || this.recovery !== 'none' ? now + this.rto.rto : Infinity;
    }
    if (this.finQueued && !this.finAcked && seqGt(ack, this.finSeq)) {
      this.finAcked = true;
      c.onFinAcked(now);
    }
    if (this.bufferHasRoom()) c.bufferDrained();
  }

  /**
   * The SACK side of an ACK: the scoreboard and the send records take the
   * cumulative ACK and the blocks, RACK learns from every newly delivered
   * segment and marks what it now knows lost. Returns the bytes newly SACKed.
   */
  private sackInput(seg: Segment, now: number): number {
    this.ackNow = now;
    this.ackTsEcr = this.c.ts.ok ? seg.tsEcr : null;
    const learn = this.learn;
    // RFC 2883 section 4: a first block below the ACK, or inside the second block, reports a duplicate.
    const d = seg.sack[0];
    // Valid only for data we sent, no larger than the largest window (as Linux checks).
    if (d !== undefined && seqLt(d.start, d.end) && seqLe(d.end, this.max) && seqDiff(d.end, d.start) <= Math.max(this.maxWnd, this.mss)) {
      const second = seg.sack[1];
      if (seqLe(d.end, seg.ack) || (second !== undefined && seqGe(d.start, second.start) && seqLe(d.end, second.end))) this.onDsack(d, now);
    }
    const before = this.board.sacked;
    this.board.advance(this.una);
    const advanced = before - this.board.sacked;
    this.log.ackTo(this.una, learn);
    if (seg.sack.length > 0) {
      this.board.add(seg.sack, this.una, this.max);
      for (const b of seg.sack) {
        if (seqGt(b.end, this.una) && seqLe(b.end, this.max)) this.log.sack(seqMax(b.start, this.una), b.end, this.sackCovered, learn);
      }
    }
    this.detectLoss(now);
    return this.board.sacked - before + advanced;
  }

  /** RACK loss detection (RFC 8985 6.2 step 5); starts recovery when it marks a loss, or arms the reorder timer. */
  private detectLoss(now: number): void {
    const reo = this.rack.reoWnd(this.recovery !== 'none', Math.floor(this.log.sackedBytes / this.mss), this.minRtt, this.rto.srtt);
    const lostBefore = this.log.lostBytes;
    const marked = this.rack.detectLoss(this.log, now, reo);
    this.rate.onLost(this.log.lostBytes - lostBefore);
    this.rackAt = this.rack.timeout > 0 ? now + this.rack.timeout : Infinity;
    if (marked && this.recovery === 'none' && seqGe(this.una, this.recover)) this.enterRecovery('sack', now);
  }

  /**
   * After an ACK delivered data: PRR sets the window while recovering
   * (RFC 6937), recovery ends at the recovery point, and the controller
   * hears about it. `priorPipe` is the pipe before the ACK.
   */
  private afterDelivery(seg: Segment, now: number, delivered: number, rtt: number | undefined, priorPipe: number, inRecovery: boolean): void {
    if (this.recovery === 'sack') {
      if (seqGe(this.una, this.recover)) {
        if (this.cc.usesPrr) this.cc.cwnd = Math.max(this.cc.ssthresh, this.mss); // RFC 6937: cwnd = ssthresh at the end
        this.endRecovery(now);
      } else if (this.cc.usesPrr) {
        const pipe = this.pipe();
        let sndcnt = this.prr.onAck(delivered, pipe, this.cc.ssthresh, this.mss);
        if (this.prrEntering) sndcnt = Math.max(sndcnt, this.mss); // the fast retransmit goes out regardless
        this.prrEntering = false;
        this.cc.cwnd = pipe + sndcnt;
      }
    }
    void seg;
    this.cc.onAck(this.ackEvent(now, delivered, rtt, priorPipe, inRecovery));
  }

  /** What the controller learns from an ACK that delivered `delivered` bytes. */
  private ackEvent(now: number, delivered: number, rtt: number | undefined, priorInflight: number, inRecovery: boolean): AckEvent {
    const roundStart = seqGe(this.una, this.roundEnd);
    if (roundStart) this.roundEnd = this.max;
    const e = this.ev;
    e.now = now;
    e.acked = delivered;
    e.rtt = rtt;
    e.minRtt = this.minRtt;
    e.srtt = this.rto.srtt;
    e.inflight = this.sackOk ? this.pipe() : seqDiff(this.max, this.una);
    e.priorInflight = priorInflight;
    e.cwndLimited = priorInflight >= this.cc.cwnd / 2;
    e.inRecovery = inRecovery;
    e.roundStart = roundStart;
    e.rate = this.rate.sample(this.minRtt);
    e.mss = this.mss;
    return e;
  }

  /**
   * One RTT measurement: the RTO estimator and the minimum. With a sample on
   * every ACK, RFC 7323 appendix G weighs each by the ACKs expected per
   * flight (FlightSize / 2 SMSS, for delayed ACKs) so SRTT keeps its memory.
   */
  private rttSample(r: number, flight = 0): void {
    this.rto.sample(r, this.c.ts.ok ? Math.max(1, Math.ceil(flight / (2 * this.mss))) : 1);
    if (r < this.minRtt) this.minRtt = r;
  }

  /** Bytes in flight (RFC 6675 pipe from the send records). */
  pipe(): number {
    return this.log.inflight(seqDiff(this.max, this.una));
  }

  private endRecovery(now: number | null): void {
    const was = this.recovery;
    this.recovery = 'none';
    this.dupAcks = 0;
    this.partialSeen = false;
    if (now !== null && was !== 'none') {
      this.cc.onRecoveryExit(now);
      this.rack.onRecoveryExit();
    }
  }

  /** A duplicate ACK from a peer without SACK (RFC 5681 / RFC 6582). */
  private dupAck(now: number): void {
    this.dupAcks++;
    switch (this.recovery) {
      case 'none':
        if (!seqGe(this.una, this.recover)) return; // still below the last recovery point (RFC 6582 section 4.1)
        if (this.dupAcks === 3) this.enterRecovery('newreno', now);
        break;
      case 'newreno':
        this.cc.cwnd += this.mss; // window inflation (RFC 6582 3.2 step 3 of RFC 5681)
        break;
      case 'sack':
        break;
    }
  }

  private enterRecovery(kind: Recovery, now: number): void {
    const c = this.c;
    c.owner.stats.fastRetransmits++;
    const flight = seqDiff(this.max, this.una);
    this.cc.onCongestionEvent(now, flight);
    this.startUndoEpisode(false);
    this.recover = this.max;
    this.recovery = kind;
    this.highRxt = this.una;
    this.partialSeen = false;
    this.tlpEnd = null;
    this.tlpAt = Infinity;
    if (kind === 'newreno') {
      this.sendRange(this.una, seqAdd(this.una, this.mss), now, false);
      this.cc.cwnd = this.cc.ssthresh + 3 * this.mss;
    } else {
      // RFC 6937: RecoverFS is the pipe when recovery starts; PRR then clocks out retransmissions.
      this.prr.enter(flight);
      this.prrEntering = true;
      if (this.cc.usesPrr) this.cc.cwnd = this.pipe() + this.mss;
    }
    if (this.rtxAt === Infinity) this.rtxAt = now + this.rto.rto;
  }

  /** A new loss episode (recovery or the first RTO) starts: its retransmissions may later prove spurious. */
  private startUndoEpisode(rto: boolean): void {
    this.undoMarker = this.una;
    this.undoRetrans = 0;
    this.undoTsval = null;
    this.undoEifelChecked = false;
    this.undoAfterRto = rto;
  }

  /**
   * A D-SACK (RFC 2883): the peer got something twice. RACK widens its
   * reordering window; when every retransmission of the current episode has
   * come back as a duplicate, none was needed (RFC 3708): undo.
   */
  private onDsack(b: SackBlock, now: number): void {
    this.c.owner.stats.dsacksReceived++;
    this.rack.onDsack(this.nxt, this.una);
    // Only duplicates of this episode's retransmissions count (at or above its SND.UNA, below its recovery point).
    if (this.undoMarker === null || seqLt(b.start, this.undoMarker) || seqGt(b.end, this.recover) || this.undoRetrans === 0) return;
    this.undoRetrans -= Math.max(1, Math.ceil(seqDiff(b.end, b.start) / this.mss));
    if (this.undoRetrans <= 0) this.undo(now);
  }

  /**
   * Eifel detection (RFC 3522): the first ACK past the episode's first
   * retransmission echoes a TSval older than that retransmission's, so the
   * original arrived and the retransmission was needless: undo.
   */
  private eifel(seg: Segment, now: number): void {
    if (this.undoMarker === null || this.undoTsval === null || this.undoEifelChecked || seg.tsEcr === null || !this.c.ts.ok) return;
    if (!seqGt(seg.ack, this.undoMarker)) return;
    this.undoEifelChecked = true;
    if (tsLt(seg.tsEcr, this.undoTsval)) this.undo(now);
  }

  /** The last reduction was spurious: the controller restores its window, recovery (or the RTO's go-back-N) ends. */
  private undo(now: number): void {
    this.c.owner.stats.spuriousUndos++;
    this.undoMarker = null;
    this.cc.undo(now);
    if (this.undoAfterRto) {
      // Nothing was lost after all: stop resending what the peer has (RFC 4015 response).
      this.log.undoLost();
      if (seqLt(this.nxt, this.max)) this.nxt = this.max;
      this.recover = this.una;
    } else if (this.recovery !== 'none') {
      this.log.undoLost();
      this.endRecovery(now);
      this.recover = this.una;
    }
  }

  /** The ACK covered the tail loss probe (RFC 8985 7.4): a retransmitted probe that repaired a loss still halves the window. */
  private tlpAcked(now: number): void {
    if (this.tlpRetrans && this.recovery === 'none') {
      this.cc.onCongestionEvent(now, seqDiff(this.max, this.una));
      if (this.cc.usesPrr) this.cc.cwnd = Math.max(this.cc.ssthresh, this.mss);
    }
    this.tlpEnd = null;
  }

  // ----------------------------------------------------------- sending

  /** Sends what the windows allow; arms the retransmission or persist timer. */
  output(now: number): void {
    this.lastNow = now;
    this.pacer.at = Infinity;
    const st = this.c.state;
    if (st !== 'ESTABLISHED' && st !== 'CLOSE-WAIT' && st !== 'FIN-WAIT-1' && st !== 'CLOSING' && st !== 'LAST-ACK') return;
    if (this.recovery === 'sack') this.recoveryLoop(now);
    else this.newDataLoop(now);
    if (this.pacer.at === Infinity) this.pacer.paused();
    // A send buffer at its bound holds the application back: it is not what limits sending.
    this.rate.checkAppLimited(this.bufferHasRoom() ? seqDiff(this.sendLimit(), this.nxt) : Infinity, this.mss, this.pipe(), this.cc.cwnd, this.recovery === 'sack' && this.log.nextLost() >= 0);
    this.armTimers(now);
  }

  /** The pacer holds the next segment back: false, and the pacer's deadline is armed. */
  private paced(now: number): boolean {
    const rate = this.cc.pacingRate();
    if (this.pacer.ready(now, rate)) return true;
    this.pacer.wait(rate, this.mss);
    return false;
  }

  /** End of the data we may send (exclusive), counting a queued FIN. */
  private sendLimit(): number {
    return seqAdd(this.bufSeq, this.buf.length + (this.finQueued ? 1 : 0));
  }

  private optionBytes(blocks: SackBlock[] | null): number {
    return blocks === null || blocks.length === 0 ? 0 : 4 + 8 * blocks.length;
  }

  /** The SACK blocks of our next segment: a pending D-SACK first (RFC 2883), then the out-of-order data. */
  private sackBlocks(): SackBlock[] | null {
    const d = this.c.dsack;
    if (!this.sackOk || (this.c.ooo.bytes === 0 && d === null)) return null;
    const max = this.c.ts.ok ? MAX_SACK_BLOCKS_TS : MAX_SACK_BLOCKS;
    if (d === null) return this.c.ooo.blocks(max);
    return this.c.ooo.bytes === 0 ? [d] : [d, ...this.c.ooo.blocks(max - 1)];
  }

  private newDataLoop(now: number): void {
    for (let guard = 0; guard < 100_000; guard++) {
      const off = seqDiff(this.nxt, this.bufSeq);
      const avail = this.buf.length - off;
      const finPending = this.finQueued && seqLe(this.nxt, this.finSeq);
      if (avail <= 0 && !finPending) return;
      if (this.nxt === this.max && this.log.full()) return; // per-segment tracking is bounded
      const inflight = seqDiff(this.nxt, this.una);
      const allowance = this.recovery === 'none' ? Math.min(this.dupAcks, 2) * this.mss : 0; // RFC 3042
      const usable = Math.min(this.cc.cwnd + allowance, this.wnd) - inflight;
      const room = this.mss - this.optionBytes(this.sackBlocks());
      const len = Math.max(0, Math.min(room, avail, usable));
      if (avail > 0) {
        if (len <= 0) return;
        // Silly window avoidance: a short segment only if it ends the data or is half the largest window seen.
        if (len < avail && len < room && len < this.maxWnd >> 1) return;
        // Nagle: hold a short final segment while data is unacknowledged.
        if (len === avail && len < room && !this.c.noDelay && inflight > 0 && !finPending) return;
      }
      if (!this.paced(now)) return;
      const end = seqAdd(this.nxt, len + (finPending && len === Math.max(avail, 0) ? 1 : 0));
      const sent = this.sendRange(this.nxt, end, now, true);
      if (sent === 0) return;
      this.advanceNxt(sent);
    }
  }

  private advanceNxt(n: number): void {
    this.nxt = seqAdd(this.nxt, n);
    if (seqGt(this.nxt, this.max)) {
      this.max = this.nxt;
      this.tlpRearm = true;
    }
  }

  /**
   * SACK recovery (RFC 6675 section 5 step C with RACK's loss marks): while
   * the window (PRR's cwnd) exceeds the pipe, retransmit the first lost
   * segment, else send new data within the peer's window.
   */
  private recoveryLoop(now: number): void {
    for (let guard = 0; guard < 100_000; guard++) {
      const room = this.cc.cwnd - this.pipe();
      const r = this.log.nextLost();
      if (r >= 0) {
        const start = this.log.startOf(r);
        const end = this.log.endOf(r);
        if (room < Math.min(this.mss, seqDiff(end, start))) return;
        if (!this.paced(now)) return;
        if (this.sendRange(start, end, now, false) === 0) return;
        continue;
      }
      if (this.log.full()) return;
      const limit = seqMin(this.sendLimit(), seqAdd(this.una, this.wnd));
      const finNext = this.finQueued && this.nxt === seqAdd(this.bufSeq, this.buf.length) && seqLe(this.nxt, this.finSeq);
      if (!seqLt(this.nxt, limit) && !finNext) return;
      if (room < Math.min(this.mss, Math.max(1, seqDiff(limit, this.nxt)))) return;
      if (!this.paced(now)) return;
      const n = this.sendRange(this.nxt, finNext ? seqAdd(this.nxt, 1) : limit, now, true);
      if (n === 0) return;
      this.advanceNxt(n);
    }
  }

  /**
   * Sends one segment covering [seq, end) as far as one MSS allows, with the
   * FIN when it reaches the queued FIN. Returns the sequence space used.
   * `time`: this segment may be timed for an RTT sample (never a retransmission, Karn).
   */
  private sendRange(seq: number, end: number, now: number, time: boolean): number {
    const blocks = this.sackBlocks();
    const room = this.mss - this.optionBytes(blocks);
    const off = seqDiff(seq, this.bufSeq);
    const len = Math.max(0, Math.min(room, this.buf.length - off, seqDiff(end, seq)));
    const fin = this.finQueued && seqAdd(seq, len) === this.finSeq && seqGt(end, this.finSeq);
    if (len === 0 && !fin) return 0;
    const used = len + (fin ? 1 : 0);
    const rxt = seqLt(seq, this.max);
    const stats = this.c.owner.stats;
    if (rxt) {
      stats.retransmits++;
      if (this.undoMarker !== null) {
        this.undoRetrans++;
        if (this.undoTsval === null && this.c.ts.ok) this.undoTsval = this.c.ts.val(now);
      }
      // Karn: a retransmitted segment never yields an RTT sample.
      if (this.rtActive && seqLt(seq, this.rtEnd) && seqGt(seqAdd(seq, used), this.rtStart)) this.rtActive = false;
    } else if (time && !this.rtActive) {
      this.rtActive = true;
      this.rtStart = seq;
      this.rtEnd = seqAdd(seq, used);
      this.rtTime = now;
    }
    const atEnd = off + len === this.buf.length;
    this.emit(seq, len, ACK | (fin ? FIN : 0) | (len > 0 && atEnd ? PSH : 0), blocks);
    this.log.onSend(seq, seqAdd(seq, used), now, this.c.ts.ok ? this.c.ts.val(now) : 0, this.rate.stamp(now, this.pipe(), used));
    this.pacer.sent(now, used, this.cc.pacingRate(), this.mss);
    if (this.recovery === 'sack') this.prr.sent(used);
    if (rxt && this.rtxAt === Infinity) this.rtxAt = now + this.rto.rto;
    return used;
  }

  /** SND.MAX, except past a zero-window probe byte the peer may not have taken. */
  pureAckSeq(): number {
    return this.persistBackoff > 0 && seqGt(this.max, this.nxt) && !seqGt(this.nxt, this.una) ? this.nxt : this.max;
  }

  /** Builds and queues one segment with the current ACK and window. */
  emit(seq: number, len: number, flags: number, blocks?: SackBlock[] | null): void {
    const c = this.c;
    if (blocks === undefined) blocks = this.sackBlocks();
    const o = this.out;
    o.srcPort = c.localPort;
    o.dstPort = c.remotePort;
    o.seq = seq;
    o.ack = c.rcvNxt;
    o.flags = flags;
    o.window = c.windowField();
    o.ts = undefined;
    if (c.ts.ok) {
      const ts = this.tsOut;
      ts.val = c.ts.val(this.lastNow);
      ts.ecr = c.ts.recent;
      o.ts = ts;
    }
    o.sack = blocks !== null && blocks.length > 0 ? blocks : undefined;
    this.fillOff = seqDiff(seq, this.bufSeq);
    this.fillLen = len;
    const pkt = buildSegment(c.v, c.localIp, c.remoteIp, o, len, len > 0 ? this.fill : null, c.host.nextIpId());
    c.host.emit(pkt);
    c.owner.stats.segmentsOut++;
    if (flags & ACK) c.ackSent();
  }

  private armTimers(now: number): void {
    const outstanding = seqGt(this.nxt, this.una) || (this.recovery !== 'none' && seqGt(this.max, this.una));
    if (outstanding) {
      if (this.rtxAt === Infinity) this.rtxAt = now + this.rto.rto;
      this.persistAt = Infinity;
      if (this.tlpRearm) this.armTlp(now);
      this.tlpRearm = false;
      return;
    }
    this.rtxAt = Infinity;
    this.tlpAt = Infinity;
    this.rackAt = Infinity;
    const pending = this.buf.length - seqDiff(this.nxt, this.bufSeq) > 0 || (this.finQueued && seqLe(this.nxt, this.finSeq));
    if (!pending) this.persistAt = Infinity;
    else if (this.persistAt === Infinity) this.persistAt = now + this.persistTimeout();
  }

  /**
   * Tail loss probe timer (RFC 8985 7.2), after new data left or new data
   * was acknowledged: PTO = 2 SRTT, plus the worst-case delayed ACK when one
   * segment is in flight, and never later than the RTO. Only with SACK,
   * outside recovery, one probe at a time.
   */
  private armTlp(now: number): void {
    if (!this.sackOk || this.recovery !== 'none' || this.tlpEnd !== null || !this.rto.hasSample || !seqGe(this.nxt, this.max)) {
      this.tlpAt = Infinity;
      return;
    }
    let pto = 2 * this.rto.srtt;
    if (seqDiff(this.max, this.una) <= this.mss) pto += WC_DEL_ACK;
    this.tlpAt = Math.min(now + Math.max(pto, 1), this.rtxAt);
  }

  private persistTimeout(): number {
    return Math.min(this.rto.rto * 2 ** Math.min(this.persistBackoff, 16), this.c.cfg.rto.max);
  }

  // ------------------------------------------------------------- timers

  /** Retransmission timeout (RFC 6298 section 5, RFC 5681 section 3.1 step 4). */
  onRtoTimer(now: number): void {
    const c = this.c;
    this.rtxAt = Infinity;
    this.lastNow = now;
    if (c.state === 'SYN-SENT' || c.state === 'SYN-RECEIVED') {
      if (this.retries >= c.cfg.synRetries) {
        c.abort(c.passive && c.state === 'SYN-RECEIVED' ? null : tcpError('ETIMEDOUT', 'connect', c.remoteAddress, c.remotePort), false, now);
        return;
      }
      this.retries++;
      c.owner.stats.timeouts++;
      this.rto.backoff();
      this.synRetransmitted = true;
      this.sendSyn(now);
      return;
    }
    if (!seqGt(this.max, this.una)) return;
    this.retries++;
    c.owner.stats.timeouts++;
    if (this.retries > c.cfg.maxRetries) {
      c.abort(tcpError('ETIMEDOUT', 'read', c.remoteAddress, c.remotePort), false, now);
      return;
    }
    this.cc.onRto(now, seqDiff(this.max, this.una), this.retries === 1);
    if (this.retries === 1) this.startUndoEpisode(true);
    this.recover = this.max;
    this.endRecovery(null);
    this.board.clear(); // RFC 2018 section 8: ignore SACK information after a timeout
    const lostBefore = this.log.lostBytes;
    this.log.rto(); // RFC 8985 6.3: everything outstanding is lost
    this.rate.onLost(Math.max(0, this.log.lostBytes - lostBefore));
    this.tlpEnd = null;
    this.tlpAt = Infinity;
    this.rackAt = Infinity;
    this.rto.backoff();
    this.rtActive = false;
    this.nxt = this.una; // go back N; output() resends from SND.UNA under cwnd = 1 SMSS
    this.highRxt = this.una;
  }

  /** RACK's reorder timer (RFC 8985 6.2 step 5): the reordering window of a segment ran out. */
  onRackTimer(now: number): void {
    this.rackAt = Infinity;
    this.lastNow = now;
    if (!seqGt(this.max, this.una)) return;
    this.detectLoss(now);
  }

  /**
   * Tail loss probe (RFC 8985 7.3): send one new segment if the windows
   * allow, else retransmit the last one, so the ACK it draws (with SACK)
   * lets RACK find the tail loss without waiting for the RTO.
   */
  onTlpTimer(now: number): void {
    this.tlpAt = Infinity;
    this.lastNow = now;
    if (this.recovery !== 'none' || this.tlpEnd !== null || !seqGt(this.max, this.una) || this.nxt !== this.max) return;
    const unsent = seqDiff(this.sendLimit(), this.nxt);
    let n = 0;
    if (unsent > 0 && seqLe(seqAdd(this.nxt, Math.min(unsent, this.mss)), seqAdd(this.una, this.wnd)) && !this.log.full()) {
      n = this.sendRange(this.nxt, this.sendLimit(), now, true);
      this.advanceNxt(n);
      this.tlpRetrans = false;
    }
    if (n === 0) {
      const last = this.log.last();
      if (last < 0) return;
      const lastEnd = this.log.endOf(last);
      const from = seqMax(seqMax(this.log.startOf(last), seqAdd(lastEnd, -this.mss)), this.una);
      if (this.sendRange(from, lastEnd, now, false) === 0) return;
      this.tlpRetrans = true;
    }
    this.c.owner.stats.tailLossProbes++;
    this.tlpEnd = this.max;
    this.tlpRearm = false;
    this.rtxAt = now + this.rto.rto;
  }

  /** Persist timer: probe a zero window with one byte, or override SWS avoidance. */
  onPersistTimer(now: number): void {
    this.persistAt = Infinity;
    this.lastNow = now;
    if (seqGt(this.nxt, this.una)) return;
    const avail = this.buf.length - seqDiff(this.nxt, this.bufSeq);
    if (avail <= 0) return;
    if (this.wnd === 0) {
      this.sendRange(this.nxt, seqAdd(this.nxt, 1), now, false);
      const probeEnd = seqAdd(this.nxt, 1);
      if (seqGt(probeEnd, this.max)) this.max = probeEnd;
      this.rtxAt = Infinity; // the probe is not "in flight"; the persist timer watches it
      this.persistBackoff++;
      this.persistAt = now + this.persistTimeout();
    } else {
      const n = this.sendRange(this.nxt, seqAdd(this.nxt, Math.min(avail, this.wnd)), now, true);
      this.nxt = seqAdd(this.nxt, n);
      if (seqGt(this.nxt, this.max)) this.max = this.nxt;
    }
  }

  // --------------------------------------------------------- app facing

  /** Send buffer limit: 2 x min(cwnd, peer window), within [sndBufMin, sndBufMax]. */
  bufferLimit(): number {
    const cfg = this.c.cfg;
    return Math.min(cfg.sndBufMax, Math.max(cfg.sndBufMin, 2 * Math.min(this.cc.cwnd, this.wnd)));
  }

  bufferHasRoom(): boolean {
    return this.buf.length < this.bufferLimit();
  }

  queueFin(): void {
    if (this.finQueued) return;
    this.finQueued = true;
    this.finSeq = seqAdd(this.bufSeq, this.buf.length);
  }

  /** Data is outstanding or waiting to go. */
  busy(): boolean {
    return seqGt(this.max, this.una) || this.buf.length > 0;
  }

  release(): void {
    this.buf.consume(this.buf.length); // its blocks go back to the shared pool
    this.buf = new ByteQueue();
    this.board.clear();
    this.log.clear();
    this.rtxAt = Infinity;
    this.persistAt = Infinity;
    this.tlpAt = Infinity;
    this.rackAt = Infinity;
    this.pacer.reset();
  }

  /** ICMP "packet too big" / "fragmentation needed" (RFC 1191, RFC 8201): shrink the MSS and resend. */
  pathMtu(mtu: number): void {
    const floor = this.c.v === 6 ? 1280 : 68;
    const m = this.effectiveMss(Math.max(mtu, floor) - this.ipHdr - 20);
    if (m >= this.mss) return;
    this.mss = m;
    this.cc.setMss(m);
    this.rtActive = false;
    this.nxt = this.una;
  }
}
