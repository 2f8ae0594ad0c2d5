/**
 * One TCP connection: the transmission control block and the event
 * processing of RFC 9293 section 3.10 (SEGMENT ARRIVES, timeouts, user
 * calls), with the RFC 5961 checks against blind RST/SYN/ACK injection.
 *
 *   input(seg) -> state machine -> ACK processing (tcp-sender.ts) -> data
 *   and FIN -> deferred socket events;  then flush(): output and timers.
 *   onTimers(now): RTO, persist, delayed ACK, keep-alive, FIN-WAIT-2.
 *   app*(): calls from the Duplex only set requests; the stack applies them
 *   in service(now) during poll(), so user code never runs mid-update.
 */
import type { Host } from './host.js';
import type { Family } from './ip.js';
import { type Segment, type SackBlock, ACK, FIN, RST, SYN, MAX_WSCALE, buildSegment } from './tcp-segment.js';
import { seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt, SEQ0 } from './tcp-seq.js';
import { type TcpConfig, type TcpError, tcpError } from './tcp-config.js';
import { OooQueue } from './tcp-sack.js';
import { RcvBuffer } from './tcp-rcvbuf.js';
import { Timestamps } from './tcp-timestamps.js';
import type { CongestionName } from './cc/types.js';
import { Sender } from './tcp-sender.js';
import { formatIp } from '../ip/text.js';

/** ms from resetting a bad ACK in SYN-SENT to resending the SYN (Linux: TCP_TIMEOUT_MIN, 2 jiffies). */
const SYN_RESEND_AFTER_RESET = 2;

/** Most new data one ACK of a received batch may cover (Linux: a 64 KiB GRO aggregate draws one ACK). */
const MAX_ACK_STRETCH = 65536;

export type TcpState =
  | 'SYN-SENT'
  | 'SYN-RECEIVED'
  | 'ESTABLISHED'
  | 'FIN-WAIT-1'
  | 'FIN-WAIT-2'
  | 'CLOSE-WAIT'
  | 'CLOSING'
  | 'LAST-ACK'
  | 'TIME-WAIT'
  | 'CLOSED';

/** The socket side a connection reports to (TcpSocket implements it). */
export interface ConnSocket {
  readonly readableLength: number;
  readonly destroyed: boolean;
  /** @internal */ deliver(data: Buffer): void;
  /** @internal */ deliverEnd(): void;
  /** @internal */ connected(): void;
  /** @internal */ fail(err: TcpError): void;
}

/** What a connection needs from the TCP layer. */
export interface ConnOwner {
  readonly host: Host;
  readonly cfg: TcpConfig;
  /** The connection reached ESTABLISHED from a passive open: make its socket. */
  accepted(c: TcpConn): void;
  /** The connection is finished: forget it (remembering a TIME-WAIT entry when asked). */
  closed(c: TcpConn, timeWait: boolean, now: number): void;
  /**
   * The connection has app requests to apply in the next poll. `wake`
   * false: the work came from input(), whose output the driver collects
   * with the poll that follows it anyway.
   */
  markDirty(c: TcpConn, wake?: boolean): void;
  readonly stats: TcpStats;
}

export interface TcpStats {
  segmentsIn: number;
  segmentsOut: number;
  retransmits: number;
  fastRetransmits: number;
  timeouts: number;
  /** Tail loss probes sent (RFC 8985 section 7). */
  tailLossProbes: number;
  /** D-SACKs received (RFC 2883), and reductions undone as spurious (RFC 3708 / RFC 3522). */
  dsacksReceived: number;
  spuriousUndos: number;
  resetsSent: number;
  resetsReceived: number;
  challengeAcks: number;
}

export class TcpConn {
  state: TcpState;
  readonly v: Family;
  readonly localIp: Uint8Array;
  readonly localPort: number;
  readonly remoteIp: Uint8Array;
  readonly remotePort: number;
  readonly key: string;
  readonly passive: boolean;
  socket: ConnSocket | null = null;
  /** Our end uses a foreign address (transparent connect), held on the host until the tuple is gone. */
  foreign = false;
  /** The deadline this connection is filed under in the layer's timer heap (Infinity: not filed). */
  filedAt = Infinity;

  readonly snd: Sender;
  // Receive sequence space (RFC 9293 3.3.1).
  irs = SEQ0;
  rcvNxt = SEQ0;
  /** Right edge of the window we last advertised (RCV.NXT + field x 2^shift): the acceptance limit. */
  advRight = SEQ0;
  /** Our window shift (RCV.WIND.SHIFT) and the one we offer in our SYN. */
  rcvScale = 0;
  readonly offerScale: number;
  readonly ooo: OooQueue;
  /** The receive buffer, autotuned from the reader's consumption per round trip. */
  readonly rcv: RcvBuffer;
  /** RFC 7323 timestamps: TS.Recent, Last.ACK.sent, PAWS. */
  readonly ts: Timestamps;
  /** A duplicate segment to report in the first SACK block of the next ACK (RFC 2883), or null. */
  dsack: SackBlock | null = null;
  /** Sequence number of a FIN that arrived ahead of a hole. */
  oooFin: number | null = null;
  finReceived = false;
  /** Bytes handed to deferred socket pushes but not yet pushed. */
  undelivered = 0;
  /** Our MSS as advertised in our SYN. */
  readonly ourMss: number;
  /** Congestion controller for this connection (TcpConfig.congestion unless connect/listen chose), and its random seed. */
  congestion: CongestionName;
  readonly ccSeed: number;

  // ACK generation.
  ackNow = false;
  ackPending = false;
  segsSinceAck = 0;
  delackAt = Infinity;

  // Keep-alive (RFC 1122 4.2.3.6).
  keepAlive = false;
  keepIdle: number;
  keepBase = 0;
  keepProbes = 0;
  fw2At = Infinity;

  // App requests.
  orphan = false;
  abortRequested = false;
  windowCheck = false;
  needSyn = false;
  /** end() was called before the connection was established. */
  finOnEstablish = false;
  pendingWriteCb: ((err?: Error | null) => void) | null = null;
  finalCb: ((err?: Error | null) => void) | null = null;
  noDelay: boolean;
  error: TcpError | null = null;
  bytesReceived = 0;

  constructor(
    readonly owner: ConnOwner,
    opts: { v: Family; localIp: Uint8Array; localPort: number; remoteIp: Uint8Array; remotePort: number; key: string; passive: boolean; mtu: number; congestion?: CongestionName | undefined; tsOffset: number },
  ) {
    const cfg = owner.cfg;
    this.v = opts.v;
    this.localIp = opts.localIp;
    this.localPort = opts.localPort;
    this.remoteIp = opts.remoteIp;
    this.remotePort = opts.remotePort;
    this.key = opts.key;
    this.passive = opts.passive;
    this.state = opts.passive ? 'SYN-RECEIVED' : 'SYN-SENT';
    this.ourMss = opts.mtu - (opts.v === 4 ? 20 : 40) - 20;
    this.rcv = new RcvBuffer(cfg.rcvBuf, Math.max(cfg.rcvBuf, cfg.rcvBufMax), this.ourMss);
    let shift = 0;
    while (shift < MAX_WSCALE && 65535 * 2 ** shift < this.rcv.max) shift++;
    this.offerScale = shift;
    this.ooo = new OooQueue(cfg.maxOooChunks);
    this.ts = new Timestamps(opts.tsOffset, cfg.timestamps);
    this.noDelay = cfg.noDelay;
    this.keepIdle = cfg.keepIdle;
    this.congestion = opts.congestion ?? cfg.congestion;
    // Only BBR draws randomness, so the other controllers leave the random stream as it was.
    const s = this.congestion === 'bbr' ? owner.host.random(4) : Uint8Array.of(0, 0, 0, 0);
    this.ccSeed = ((s[0]! << 24) | (s[1]! << 16) | (s[2]! << 8) | s[3]!) >>> 0;
    this.snd = new Sender(this, opts.mtu);
  }

  get host(): Host {
    return this.owner.host;
  }

  get cfg(): TcpConfig {
    return this.owner.cfg;
  }

  get remoteAddress(): string {
    return formatIp(this.remoteIp);
  }

  // ---------------------------------------------------------------- opening

  /** Active open (RFC 9293 3.10.1): choose the ISS and send SYN. Called from the first service(). */
  openActive(iss: number, now: number): void {
    this.needSyn = false;
    this.snd.init(iss);
    this.keepBase = now;
    this.snd.sendSyn(now);
  }

  /** Passive open from a SYN that reached a listener (RFC 9293 3.10.7.2). */
  openPassive(seg: Segment, iss: number, now: number): void {
    this.irs = seg.seq;
    this.rcvNxt = seqAdd(seg.seq, 1);
    this.advRight = this.rcvNxt;
    this.snd.init(iss);
    this.snd.peerOptions(seg, now);
    this.keepBase = now;
    this.snd.sendSyn(now);
  }

  // ------------------------------------------------------------ segment in

  input(seg: Segment, now: number): void {
    this.owner.stats.segmentsIn++;
    if (this.state === 'SYN-SENT') this.inputSynSent(seg, now);
    else if (this.state !== 'CLOSED' && this.state !== 'TIME-WAIT') this.inputSynchronized(seg, now);
    this.flush(now, true);
  }

  /**
   * Whether an ACK this input asked for may wait for the poll() that ends
   * the driver's received batch (Host.batching), where one ACK answers all
   * the batch's segments: it leaves in the same flush of datagrams either
   * way, so only ACKs that repeat each other are saved. At most 64 KiB of
   * new data per ACK (Linux's GRO aggregate), so a large batch still clocks
   * the sender out in steps. Only with SACK: a sender without it counts
   * duplicate ACKs as its loss signal (RFC 5681 3.2). Not in states that
   * leave the table at this flush.
   */
  private ackMayWait(): boolean {
    if (!this.host.batching || !this.snd.sackOk || seqDiff(this.rcvNxt, this.ts.lastAckSent) >= MAX_ACK_STRETCH) return false;
    const st = this.state;
    return st === 'ESTABLISHED' || st === 'CLOSE-WAIT' || st === 'FIN-WAIT-1' || st === 'FIN-WAIT-2' || st === 'CLOSING' || st === 'LAST-ACK';
  }

  private inputSynSent(seg: Segment, now: number): void {
    const s = this.snd;
    const hasAck = (seg.flags & ACK) !== 0;
    if (hasAck && (seqLe(seg.ack, s.iss) || seqGt(seg.ack, s.max))) {
      if ((seg.flags & RST) === 0) {
        this.sendReset(seg.ack, 0, false);
        // Most likely the ACK of an earlier incarnation of this tuple that the
        // peer holds in TIME-WAIT and that our RST just ended (as Linux's
        // tcp_rcv_synsent_state_process): resend the SYN soon, once, rather
        // than after the whole initial RTO.
        if (s.retries === 0) s.rtxAt = Math.min(s.rtxAt, now + SYN_RESEND_AFTER_RESET);
      }
      this.host.drop('tcp-syn-sent-bad-ack');
      return;
    }
    if (seg.flags & RST) {
      if (hasAck) {
        this.owner.stats.resetsReceived++;
        this.abort(tcpError('ECONNREFUSED', 'connect', this.remoteAddress, this.remotePort), false, now);
      } else this.host.drop('tcp-syn-sent-rst-without-ack');
      return;
    }
    if ((seg.flags & SYN) === 0) {
      this.host.drop('tcp-syn-sent-no-syn');
      return;
    }
    this.irs = seg.seq;
    this.rcvNxt = seqAdd(seg.seq, 1);
    this.advRight = this.rcvNxt;
    s.peerOptions(seg, now);
    if (hasAck) {
      s.synAcked(seg, now);
      this.established(now);
      this.ackNow = true;
    } else {
      // Simultaneous open (RFC 9293 figure 7).
      this.state = 'SYN-RECEIVED';
      s.sendSyn(now);
    }
  }

  /** Our receive window as advertised (RCV.WND). */
  get rcvWnd(): number {
    return Math.max(0, seqDiff(this.advRight, this.rcvNxt));
  }

  /**
   * RFC 9293 3.10.7.4 first check: is any of the segment inside the receive
   * window? An empty segment may also sit exactly on the right edge, as
   * Linux's tcp_sequence() allows: a peer whose window we filled sends its
   * ACKs with SEQ = SND.NXT = our RCV.NXT+RCV.WND, and refusing them leaves
   * two senders, each with a full window of out-of-order data, retransmitting
   * into each other's refused ACKs until they time out.
   */
  private acceptable(seq: number, len: number): boolean {
    const wnd = this.rcvWnd;
    if (len === 0) return wnd === 0 ? seq === this.rcvNxt : seqGe(seq, this.rcvNxt) && seqLe(seq, this.advRight);
    if (wnd === 0) return false;
    const last = seqAdd(seq, len - 1);
    return (seqGe(seq, this.rcvNxt) && seqLt(seq, this.advRight)) || (seqGe(last, this.rcvNxt) && seqLt(last, this.advRight));
  }

  private inputSynchronized(seg: Segment, now: number): void {
    const flags = seg.flags;
    const segLen = seg.data.length + (flags & SYN ? 1 : 0) + (flags & FIN ? 1 : 0);
    if (this.state === 'SYN-RECEIVED' && flags & SYN && !(flags & RST) && seg.seq === this.irs) {
      const s = this.snd;
      if (flags & ACK && seqLt(s.una, seg.ack) && seqLe(seg.ack, s.max)) {
        // Simultaneous open (RFC 9293 figure 8): the peer's SYN-ACK acknowledges our SYN.
        s.synAcked(seg, now);
        this.established(now);
        this.ackNow = true;
      } else {
        // A retransmitted SYN while we wait: answer with our SYN-ACK again.
        s.sendSyn(now);
      }
      return;
    }
    // PAWS (RFC 7323 5.3 R1): an old duplicate is answered with an ACK and dropped; a RST is exempt.
    const disorderedAck = flags === ACK && seg.data.length === 0 && seg.seq === this.rcvNxt && seg.ack === this.snd.una && seg.sack.length === 0;
    if (!(flags & RST) && this.ts.paws(seg, now, disorderedAck, this.snd.rto.rto)) {
      this.ackNow = true;
      this.host.drop('tcp-paws');
      return;
    }
    if (!this.acceptable(seg.seq, segLen)) {
      if (flags & RST) return this.host.drop('tcp-rst-out-of-window');
      // A zero-window probe still carries a usable ACK and window update.
      if (flags & ACK && seg.seq === this.rcvNxt && this.state !== 'SYN-RECEIVED') this.snd.onAck(seg, now);
      // Data we already have: say so with a D-SACK (RFC 2883 section 4).
      if (seg.data.length > 0 && seqLe(seqAdd(seg.seq, seg.data.length), this.rcvNxt)) this.reportDuplicate(seg.seq, seqAdd(seg.seq, seg.data.length));
      this.ackNow = true;
      this.host.drop('tcp-out-of-window');
      return;
    }
    if (flags & RST) {
      // RFC 5961 section 3.2: only an exact match resets; else a challenge ACK.
      if (seg.seq === this.rcvNxt) {
        this.owner.stats.resetsReceived++;
        if (this.state === 'SYN-RECEIVED' && this.passive) this.abort(null, false, now);
        else this.abort(tcpError(this.state === 'SYN-RECEIVED' ? 'ECONNREFUSED' : 'ECONNRESET', 'read', this.remoteAddress, this.remotePort), false, now);
      } else {
        this.challengeAck('tcp-rst-challenged');
      }
      return;
    }
    if (flags & SYN) {
      // RFC 5961 section 4: a SYN in a synchronized state gets a challenge ACK.
      this.challengeAck('tcp-syn-challenged');
      return;
    }
    if (!(flags & ACK)) return this.host.drop('tcp-no-ack');
    this.keepBase = now;
    this.keepProbes = 0;
    if (this.state === 'SYN-RECEIVED') {
      const s = this.snd;
      if (seqLt(s.una, seg.ack) && seqLe(seg.ack, s.max)) {
        s.synAcked(seg, now);
        this.established(now);
      } else {
        this.sendReset(seg.ack, 0, false);
        this.host.drop('tcp-syn-received-bad-ack');
        return;
      }
    } else if (!this.snd.onAck(seg, now)) {
      return;
    }
    this.ts.remember(seg, seqLe(seg.seq, this.ts.lastAckSent), now);
    if (this.state === 'CLOSED' || this.state === 'TIME-WAIT') return;
    if (seg.data.length > 0 || flags & FIN) this.inputData(seg, now);
  }

  private challengeAck(reason: string): void {
    this.owner.stats.challengeAcks++;
    this.ackNow = true;
    this.host.drop(reason);
  }

  /** SYN exchange done: ESTABLISHED (or FIN-WAIT-1 if the app already ended). */
  private established(now: number): void {
    this.state = 'ESTABLISHED';
    this.keepBase = now;
    if (this.passive) this.owner.accepted(this);
    else {
      const sock = this.socket;
      if (sock) this.host.defer(() => sock.connected());
    }
    if (this.finOnEstablish) {
      this.finOnEstablish = false;
      this.state = 'FIN-WAIT-1';
    }
  }

  /** RFC 9293 3.10.7.4 steps seven and eight: segment text and FIN. */
  private inputData(seg: Segment, now: number): void {
    let seq = seg.seq;
    let data = seg.data;
    let fin = (seg.flags & FIN) !== 0;
    // Trim what we already have.
    if (seqLt(seq, this.rcvNxt)) {
      const skip = seqDiff(this.rcvNxt, seq);
      if (data.length > 0) this.reportDuplicate(seq, seqAdd(seq, Math.min(skip, data.length)));
      if (skip >= data.length + (fin ? 1 : 0)) {
        this.ackNow = true;
        return;
      }
      if (skip >= data.length) data = data.subarray(data.length);
      else data = data.subarray(skip);
      seq = this.rcvNxt;
    }
    // Trim what lies past the window (its FIN too).
    const room = seqDiff(this.advRight, seq);
    if (data.length > room) {
      data = data.subarray(0, Math.max(0, room));
      fin = false;
    }
    const receiving = this.state === 'ESTABLISHED' || this.state === 'FIN-WAIT-1' || this.state === 'FIN-WAIT-2';
    if (!receiving) {
      // The peer already sent FIN: nothing more can arrive but retransmissions.
      this.ackNow = true;
      return;
    }
    if (this.orphan && data.length > 0) {
      // RFC 1122 4.2.2.13: data for a closed socket is lost, say so with RST.
      this.host.drop('tcp-data-after-close');
      this.abort(null, true, now);
      return;
    }
    if (seq === this.rcvNxt) {
      const hadHoles = this.ooo.bytes > 0;
      if (data.length > 0) {
        this.measureRcvRtt(seg, now);
        this.deliver(Buffer.from(data));
        this.rcvNxt = seqAdd(this.rcvNxt, data.length);
        this.rcv.adjust(this.consumed(), now);
      }
      if (hadHoles) {
        for (const c of this.ooo.pop(this.rcvNxt)) {
          this.deliver(Buffer.from(c.buffer, c.byteOffset, c.byteLength));
          this.rcvNxt = seqAdd(this.rcvNxt, c.length);
        }
        this.ackNow = true; // RFC 5681 4.2: ACK at once when a hole fills
      }
      if (fin || (this.oooFin !== null && this.oooFin === this.rcvNxt)) {
        this.receiveFin();
      } else if (data.length > 0) {
        this.segsSinceAck++;
        if (this.segsSinceAck >= 2) this.ackNow = true;
        else {
          this.ackPending = true;
          if (this.delackAt === Infinity) this.delackAt = now + this.cfg.delayedAck;
        }
      }
    } else {
      // Out of order: keep it and send a duplicate ACK with SACK (RFC 5681 4.2).
      const added = data.length > 0 ? this.ooo.insert(seq, data) : 0;
      if (added < 0) this.host.drop('tcp-ooo-full');
      else if (added === 0 && data.length > 0) this.reportDuplicate(seq, seqAdd(seq, data.length));
      if (fin) this.oooFin = seqAdd(seq, data.length);
      this.ackNow = true;
    }
  }

  /** The receiver's RTT for autotuning: the timestamp echo of an in-order segment, else one window's arrival time. */
  private measureRcvRtt(seg: Segment, now: number): void {
    const r = this.ts.rtt(seg, now);
    if (r !== undefined) this.rcv.rttSample(r);
    else if (!this.ts.ok) this.rcv.windowRtt(this.rcvNxt, this.rcvWnd, now);
  }

  /** Bytes the reader has taken out of the socket so far. */
  private consumed(): number {
    return this.bytesReceived - this.undelivered - this.unread();
  }

  private unread(): number {
    return this.socket !== null && !this.socket.destroyed ? this.socket.readableLength : 0;
  }

  private reportDuplicate(start: number, end: number): void {
    if (this.snd.sackOk) this.dsack = { start, end };
  }

  private deliver(buf: Buffer): void {
    const n = buf.length;
    this.bytesReceived += n;
    this.undelivered += n;
    const sock = this.socket;
    this.host.defer(() => {
      this.undelivered -= n;
      if (sock !== null && !sock.destroyed) sock.deliver(buf);
    });
  }

  private receiveFin(): void {
    this.rcvNxt = seqAdd(this.rcvNxt, 1);
    this.finReceived = true;
    this.oooFin = null;
    this.ackNow = true;
    const sock = this.socket;
    if (sock) this.host.defer(() => sock.deliverEnd());
    switch (this.state) {
      case 'ESTABLISHED':
        this.state = 'CLOSE-WAIT';
        break;
      case 'FIN-WAIT-1':
        this.state = this.snd.finAcked ? 'TIME-WAIT' : 'CLOSING';
        break;
      case 'FIN-WAIT-2':
        this.state = 'TIME-WAIT';
        break;
      default:
        break;
    }
  }

  /** Our FIN was acknowledged (called by the sender). */
  onFinAcked(now: number): void {
    const cb = this.finalCb;
    if (cb) {
      this.finalCb = null;
      this.host.defer(() => cb());
    }
    switch (this.state) {
      case 'FIN-WAIT-1':
        this.state = 'FIN-WAIT-2';
        if (this.orphan) this.fw2At = now + this.cfg.finWait2Timeout;
        break;
      case 'CLOSING':
        this.state = 'TIME-WAIT';
        break;
      case 'LAST-ACK':
        this.state = 'CLOSED';
        break;
      default:
        break;
    }
  }

  // --------------------------------------------------------------- window

  /**
   * The window field to send, with receiver-side silly window avoidance
   * (RFC 9293 3.8.6.2.2): the right edge moves on only in steps of at least
   * min(RCV.BUFF/2, MSS), and moves left only by the field's rounding (less
   * than one 2^shift unit). Called only for a segment about to be sent.
   */
  windowField(): number {
    if (this.windowMoves()) this.advRight = this.offerRight();
    if (seqLt(this.advRight, this.rcvNxt)) this.advRight = this.rcvNxt;
    // The field floors to the unit: the edge the peer is told becomes the acceptance limit
    // (Linux's rcv_wup + rcv_wnd), retreating by less than a unit when RCV.NXT moved by a
    // non-multiple of it (RFC 7323 2.4: scaling rounds), or probes past it would be taken.
    const unit = 1 << this.rcvScale; // a shift, not 2 ** (a libm pow call per segment sent); the scale is at most 14
    const field = Math.min(0xffff, Math.floor(seqDiff(this.advRight, this.rcvNxt) / unit));
    this.advRight = seqAdd(this.rcvNxt, field * unit);
    return field;
  }

  /**
   * The right edge the free buffer would advertise now: RCV.NXT plus the free
   * space rounded DOWN to the window-scale unit (2^shift bytes), as the field
   * carries it. advRight only ever takes such an edge, so the data we accept
   * (up to advRight) never exceeds an edge the peer was told: accepting the
   * unrounded edge took zero-window probes a byte at a time while the field
   * read 0, each ACK of them resetting the peer's probe backoff. Rounding up
   * instead (Linux's tcp_select_window when it would otherwise shrink) let
   * the edge creep past the buffer, a unit per partial segment.
   */
  private offerRight(): number {
    const used = this.unread() + this.undelivered;
    const unit = 1 << this.rcvScale;
    const free = Math.min(Math.max(0, this.rcv.buf - used), 0xffff * unit);
    return seqAdd(this.rcvNxt, free - (free % unit));
  }

  /** Whether the free buffer would move the advertised right edge on by a step (silly window avoidance). */
  private windowMoves(): boolean {
    const right = this.offerRight();
    return seqGt(right, this.advRight) && seqDiff(right, this.advRight) >= Math.min(this.rcv.buf >> 1, this.ourMss);
  }

  /** Whether reading freed enough to be worth a window update now. */
  private windowUpdateWorth(): boolean {
    const buf = this.rcv.buf;
    if (this.rcvWnd >= buf >> 1) return false;
    return seqDiff(this.offerRight(), this.advRight) >= Math.min(buf >> 1, this.ourMss);
  }

  // ---------------------------------------------------------------- output

  /**
   * After processing: send what is allowed, ACK if due, arm timers, and
   * leave the table when done. `fromInput`: a pure ACK that may wait is left
   * to the poll() that ends the batch (ackMayWait), which answers it all.
   */
  flush(now: number, fromInput = false): void {
    this.snd.lastNow = now;
    if (this.state !== 'CLOSED' && this.state !== 'TIME-WAIT' && this.state !== 'SYN-SENT') this.snd.output(now);
    if (this.ackNow && this.state !== 'CLOSED' && this.state !== 'SYN-SENT') {
      if (fromInput && this.ackMayWait()) this.owner.markDirty(this, false);
      else this.sendAck();
    }
    if (this.state === 'TIME-WAIT') this.finish(true, now);
    else if (this.state === 'CLOSED') this.finish(false, now);
  }

  /**
   * A pure ACK with the current window (and SACK blocks). Its sequence
   * number is SND.MAX, not SND.NXT: after going back N for a retransmission
   * SND.NXT lies below what the peer already has, and an ACK carrying it
   * would be unacceptable there (two such peers would answer each other's
   * ACKs forever). BSD does the same.
   */
  sendAck(): void {
    this.snd.emit(this.snd.pureAckSeq(), 0, ACK);
  }

  /** Called by the sender after any segment carrying an ACK went out. */
  ackSent(): void {
    this.ts.lastAckSent = this.rcvNxt;
    this.dsack = null;
    this.ackNow = false;
    this.ackPending = false;
    this.segsSinceAck = 0;
    this.delackAt = Infinity;
  }

  /** Sends a RST: <SEQ=seq><CTL=RST> or, with `withAck`, <SEQ=seq><ACK=ack><CTL=RST,ACK>. */
  sendReset(seq: number, ack: number, withAck: boolean): void {
    this.owner.stats.resetsSent++;
    const pkt = buildSegment(
      this.v,
      this.localIp,
      this.remoteIp,
      { srcPort: this.localPort, dstPort: this.remotePort, seq, ack: withAck ? ack : 0, flags: RST | (withAck ? ACK : 0), window: 0 },
      0,
      null,
      this.host.nextIpId(),
    );
    this.host.emit(pkt);
  }

  /**
   * Ends the connection at once. With `rst`, tells the peer (RFC 9293 3.10.5
   * ABORT). `err` goes to the socket (null: close quietly).
   */
  abort(err: TcpError | null, rst: boolean, now: number): void {
    if (this.state === 'CLOSED') return;
    // SND.MAX as for a pure ACK; if the peer still challenges it (RFC 5961), its challenge ACK meets
    // a closed port and draws a RST with SEQ = its RCV.NXT exactly.
    if (rst && this.state !== 'SYN-SENT') this.sendReset(this.snd.pureAckSeq(), this.rcvNxt, true);
    this.state = 'CLOSED';
    this.error = err;
    this.snd.release();
    this.ooo.clear();
    const sock = this.socket;
    const wcb = this.pendingWriteCb ?? this.heldCb;
    const fcb = this.finalCb;
    this.heldChunk = null;
    this.heldCb = null;
    this.pendingWriteCb = null;
    this.finalCb = null;
    if (sock !== null) {
      this.host.defer(() => {
        const e = err ?? tcpError('ECONNRESET', 'read', this.remoteAddress, this.remotePort);
        if (wcb) wcb(e);
        if (fcb) fcb(e);
        if (err !== null || !sock.destroyed) sock.fail(e);
      });
    }
    this.finish(false, now);
  }

  private finished = false;

  private finish(timeWait: boolean, now: number): void {
    if (this.finished) return;
    this.finished = true;
    this.snd.release();
    this.owner.closed(this, timeWait, now);
  }

  // ---------------------------------------------------------------- timers

  deadline(): number {
    let d = Math.min(this.snd.rtxAt, this.snd.persistAt, this.snd.rackAt, this.snd.tlpAt, this.snd.pacer.at, this.delackAt, this.fw2At);
    if (this.keepAlive && (this.state === 'ESTABLISHED' || this.state === 'CLOSE-WAIT')) {
      d = Math.min(d, this.keepBase + this.keepIdle + this.keepProbes * this.cfg.keepInterval);
    }
    return d;
  }

  onTimers(now: number): void {
    if (this.snd.rtxAt <= now) this.snd.onRtoTimer(now);
    if (this.state === 'CLOSED') return this.flush(now);
    if (this.snd.rackAt <= now) this.snd.onRackTimer(now);
    if (this.snd.tlpAt <= now) this.snd.onTlpTimer(now);
    if (this.snd.persistAt <= now) this.snd.onPersistTimer(now);
    if (this.snd.pacer.at <= now) this.snd.pacer.at = Infinity; // flush() below sends the next quantum
    if (this.delackAt <= now) {
      this.delackAt = Infinity;
      if (this.ackPending) this.ackNow = true;
    }
    if (this.fw2At <= now) {
      this.fw2At = Infinity;
      if (this.state === 'FIN-WAIT-2') this.state = 'CLOSED';
    }
    if (this.keepAlive && (this.state === 'ESTABLISHED' || this.state === 'CLOSE-WAIT')) {
      const due = this.keepBase + this.keepIdle + this.keepProbes * this.cfg.keepInterval;
      if (due <= now) this.onKeepAlive(now);
    }
    this.flush(now);
  }

  private onKeepAlive(now: number): void {
    if (this.snd.busy()) {
      // Data is outstanding or queued: the RTO or persist timer watches the peer.
      this.keepBase = now;
      this.keepProbes = 0;
      return;
    }
    if (this.keepProbes >= this.cfg.keepCount) {
      this.abort(tcpError('ETIMEDOUT', 'read', this.remoteAddress, this.remotePort), true, now);
      return;
    }
    this.keepProbes++;
    // SEG.SEQ = SND.NXT - 1 with no data: the peer must answer with an ACK.
    this.snd.emit(seqAdd(this.snd.una, -1), 0, ACK, null);
  }

  // ------------------------------------------------------------ app calls

  /**
   * A chunk written by the app. Only what fits under the send buffer limit
   * is copied in; the rest stays with the caller (held, not copied) and
   * `cb` runs once all of it is in, so a single huge write cannot grow the
   * buffer past its bound.
   */
  appWrite(chunk: Uint8Array, cb: (err?: Error | null) => void): void {
    if (this.state === 'CLOSED' || this.snd.finQueued) {
      cb(this.error ?? tcpError('EPIPE', 'write', this.remoteAddress, this.remotePort));
      return;
    }
    this.heldChunk = chunk;
    this.heldCb = cb;
    this.inAppWrite = true;
    this.takeHeld();
    this.inAppWrite = false;
    this.owner.markDirty(this);
  }

  private heldChunk: Uint8Array | null = null;
  private inAppWrite = false;
  private heldCb: ((err?: Error | null) => void) | null = null;

  /** Moves as much of the held chunk as fits into the send buffer; when all is in, releases its callback. */
  private takeHeld(): void {
    const chunk = this.heldChunk;
    if (chunk === null) return;
    const room = this.snd.bufferLimit() - this.snd.buf.length;
    if (room <= 0) return;
    if (chunk.length <= room) {
      this.snd.buf.push(chunk);
      this.heldChunk = null;
      const cb = this.heldCb!;
      this.heldCb = null;
      if (this.inAppWrite && this.snd.bufferHasRoom()) cb();
      else this.pendingWriteCb = cb;
      return;
    }
    this.snd.buf.push(chunk.subarray(0, room));
    this.heldChunk = chunk.subarray(room);
  }

  /** The app ended its side: queue FIN after the buffered data (RFC 9293 3.10.4 CLOSE). */
  appEnd(cb: (err?: Error | null) => void): void {
    if (this.state === 'CLOSED') {
      cb(this.error ?? tcpError('EPIPE', 'write', this.remoteAddress, this.remotePort));
      return;
    }
    this.finalCb = cb;
    this.queueFin();
    this.owner.markDirty(this);
  }

  private queueFin(): void {
    if (this.snd.finQueued || this.finOnEstablish) return;
    this.snd.queueFin();
    switch (this.state) {
      case 'SYN-SENT':
      case 'SYN-RECEIVED':
        this.finOnEstablish = true;
        break;
      case 'ESTABLISHED':
        this.state = 'FIN-WAIT-1';
        break;
      case 'CLOSE-WAIT':
        this.state = 'LAST-ACK';
        break;
      default:
        break;
    }
  }

  /** The reader wants more (or consumed some): maybe advertise a larger window. */
  appRead(): void {
    if (this.state === 'CLOSED' || this.windowCheck) return;
    if (this.windowUpdateWorth()) {
      this.windowCheck = true;
      this.owner.markDirty(this);
    }
  }

  /**
   * The socket was destroyed. With an error, or with received data nobody
   * will read, the connection is reset; otherwise it closes gracefully in
   * the background (an orphan, as the kernel does after close()).
   */
  appDestroy(err: Error | null, unread: boolean): void {
    if (this.state === 'CLOSED' || this.state === 'TIME-WAIT') return;
    this.orphan = true;
    this.pendingWriteCb = null;
    this.heldChunk = null;
    this.heldCb = null;
    this.finalCb = null;
    if (err !== null || unread || this.ooo.bytes > 0 || this.state === 'SYN-SENT') {
      this.abortRequested = true;
    } else {
      this.queueFin();
      if (this.state === 'FIN-WAIT-2') this.fw2At = this.snd.lastNow + this.cfg.finWait2Timeout;
    }
    this.owner.markDirty(this);
  }

  setKeepAlive(enable: boolean, initialDelay: number): void {
    this.keepAlive = enable;
    if (initialDelay > 0) this.keepIdle = initialDelay;
    this.keepProbes = 0;
    this.keepBase = this.snd.lastNow;
    this.owner.markDirty(this);
  }

  /** Applies app requests (from poll()). */
  service(now: number): void {
    if (this.state === 'CLOSED') return;
    this.snd.lastNow = now;
    if (this.needSyn) return; // the layer opens it
    if (this.abortRequested) {
      this.abortRequested = false;
      this.abort(null, this.state !== 'SYN-SENT', now);
      return;
    }
    if (this.windowCheck) {
      this.windowCheck = false;
      // The edge itself moves when the ACK carrying it is built (windowField).
      if (this.windowMoves()) this.ackNow = true;
    }
    this.flush(now);
  }

  /** ACKs made room in the send buffer: take more of a held chunk, or release a held write callback. */
  bufferDrained(): void {
    if (this.heldChunk !== null) {
      this.takeHeld();
      if (this.heldChunk !== null || this.pendingWriteCb === null) return;
    }
    const cb = this.pendingWriteCb;
    if (cb !== null && this.snd.bufferHasRoom()) {
      this.pendingWriteCb = null;
      this.host.defer(() => cb());
    }
  }

  /** An ICMP error about a segment we sent (RFC 5927: checked against SND.UNA..SND.MAX by the caller). */
  icmpError(kind: 'unreachable' | 'too-big' | 'other', mtu: number, now: number): void {
    if (kind === 'too-big') {
      this.snd.pathMtu(mtu);
      return;
    }
    if (kind === 'unreachable' && this.state === 'SYN-SENT') {
      this.abort(tcpError('EHOSTUNREACH', 'connect', this.remoteAddress, this.remotePort), false, now);
    }
  }

  /** Broken invariants (empty when sound); used by the property tests. */
  invariantViolations(): string[] {
    const out: string[] = [];
    const s = this.snd;
    if (this.state === 'CLOSED' || this.state === 'TIME-WAIT') return out;
    if (this.state !== 'SYN-SENT' || !this.needSyn) {
      if (!seqLe(s.una, s.nxt)) out.push('SND.UNA > SND.NXT');
      if (!seqLe(s.nxt, s.max)) out.push('SND.NXT > SND.MAX');
      const outstanding = seqDiff(s.max, s.una);
      const limit = s.buf.length + (s.synOutstanding() ? 1 : 0) + (s.finQueued ? 1 : 0) + 1;
      if (outstanding < 0 || outstanding > limit) out.push(`outstanding ${outstanding} beyond buffer ${limit}`);
    }
    if (s.cc.cwnd < s.mss && s.recovery === 'none') out.push(`cwnd ${s.cc.cwnd} below one MSS`);
    if (!(s.rto.rto >= this.cfg.rto.min && s.rto.rto <= this.cfg.rto.max)) out.push(`rto ${s.rto.rto} out of bounds`);
    if (this.rcvWnd > this.rcv.buf + 65535) out.push(`rcv window ${this.rcvWnd} beyond buffer`);
    if (this.rcv.buf > this.rcv.max) out.push(`receive buffer ${this.rcv.buf} beyond its bound ${this.rcv.max}`);
    let prevEnd: number | null = null;
    for (const b of this.ooo.spans()) {
      if (!seqGt(b.start, this.rcvNxt)) out.push('out-of-order block at or below RCV.NXT');
      if (prevEnd !== null && !seqGt(b.start, prevEnd)) out.push('out-of-order blocks overlap or touch');
      prevEnd = b.end;
    }
    for (const r of s.board.ranges) {
      if (!seqGt(r.start, s.una) && r.start !== s.una) out.push('SACK range below SND.UNA');
      if (seqGt(r.end, s.max)) out.push('SACK range above SND.MAX');
    }
    if (this.undelivered < 0) out.push('negative undelivered');
    return out;
  }
}
