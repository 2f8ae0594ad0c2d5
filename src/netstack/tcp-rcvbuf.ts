/**
 * Receive-buffer autotuning ("dynamic right-sizing", as Linux's
 * tcp_rcv_space_adjust): the receive buffer, and so the window we may
 * advertise, starts small and grows with what the reader actually consumed
 * in one receiver-side round trip, so a fast reader on a long path gets a
 * window of about twice its bandwidth-delay product, while a slow reader
 * (or a peer pushing at a reader that does not read) never makes us hold
 * more than the initial buffer. Never shrinks; bounded by `max`.
 *
 *   data segment in -> rttSample(now - TSecr)   (timestamps), or
 *                      windowRtt(rcvNxt, now)   (one window's worth of data, without)
 *   data segment in -> adjust(consumed, now): once per measured RTT,
 *                      consumed this RTT > last RTT's -> buf = 2 x consumed
 *                      + 16 MSS, x1.5 / x2 when it rose by 25 / 50 %
 */
import { seqGe } from './tcp-seq.js';

/** Segments of headroom over twice the measured consumption (Linux: 16 * advmss). */
const HEADROOM_SEGMENTS = 16;
/** The first measurement's baseline, in segments (Linux: TCP_INIT_CWND * advmss). */
const INITIAL_SPACE_SEGMENTS = 10;

export class RcvBuffer {
  /** Current receive buffer, bytes: the most the peer may send ahead of the reader. */
  buf: number;
  /** Receiver-side RTT estimate, ms; 0 until the first sample. */
  rtt = 0;
  /** Bytes the reader consumed in the last measured round trip (Linux rcvq_space.space). */
  private space: number;
  /** Consumed count and time when the current measurement began. */
  private mark = 0;
  /** -0, not 0 (equal in every use): the field holds fractional ms, and a double from the start keeps the hidden class fixed (see SEQ0 in tcp-seq.ts). */
  private markAt = -0;
  /** Window-based RTT measurement (no timestamps): the sequence that ends it and its start time, or null. */
  private rttSeq: number | null = null;
  private rttAt = 0;

  constructor(
    initial: number,
    readonly max: number,
    private readonly mss: number,
  ) {
    this.buf = Math.min(initial, max);
    this.space = Math.min(this.buf, INITIAL_SPACE_SEGMENTS * mss);
  }

  /**
   * An RTT sample from a data segment's timestamp echo. The estimate
   * follows a smaller sample at once and a larger one slowly (7/8 old), as
   * Linux's tcp_rcv_rtt_update does: the echo of a delayed ACK overstates it.
   */
  rttSample(r: number): void {
    if (!(r >= 0)) return;
    const m = Math.max(r, 1);
    this.rtt = this.rtt === 0 || m < this.rtt ? m : this.rtt + (m - this.rtt) / 8;
  }

  /**
   * Without timestamps: the time to receive one window of data (from
   * `rcvNxt` to `rcvNxt + wnd`) bounds the RTT from above (Linux's
   * tcp_rcv_rtt_measure). Call on every in-order segment.
   */
  windowRtt(rcvNxt: number, wnd: number, now: number): void {
    if (this.rttSeq !== null && !seqGe(rcvNxt, this.rttSeq)) return;
    if (this.rttSeq !== null) this.rttSample(now - this.rttAt);
    this.rttSeq = (rcvNxt + Math.max(wnd, this.mss)) >>> 0;
    this.rttAt = now;
  }

  /**
   * The reader has consumed `consumed` bytes in total by `now`. Once per
   * receiver RTT: if it consumed more in this RTT than in the last, grow the
   * buffer to twice that plus headroom, and up to twice that again while the
   * sender is still speeding up (slow start doubles it per RTT).
   * Returns true when the buffer grew.
   */
  adjust(consumed: number, now: number): boolean {
    if (this.rtt === 0) {
      this.mark = consumed;
      this.markAt = now;
      return false;
    }
    if (now - this.markAt < this.rtt) return false;
    const copied = consumed - this.mark;
    this.mark = consumed;
    this.markAt = now;
    if (copied <= this.space) return false;
    // Twice what was read (a loss costs a round trip of data parked out of order), and more while the
    // reader's rate rises: by a half for 25 % growth, doubled for 50 % (a sender in slow start), as Linux 4.x.
    let want = 2 * copied + HEADROOM_SEGMENTS * this.mss;
    if (copied >= this.space * 1.5) want *= 2;
    else if (copied >= this.space * 1.25) want *= 1.5;
    this.space = copied;
    const next = Math.min(this.max, Math.floor(want));
    if (next <= this.buf) return false;
    this.buf = next;
    return true;
  }
}
