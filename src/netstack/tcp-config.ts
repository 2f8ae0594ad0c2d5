/**
 * TCP tunables with their defaults and where each default comes from, and
 * the Node-style errors a connection fails with.
 */
import { type RtoConfig, DEFAULT_RTO } from './tcp-rto.js';
import type { CongestionName } from './cc/types.js';

export interface TcpConfig {
  /**
   * Receive buffer per connection at the start (bytes the peer may send
   * ahead of the reader); autotuning (tcp-rcvbuf.ts) grows it with what the
   * reader consumes per round trip, up to rcvBufMax (Linux tcp_rmem[1], [2]).
   */
  rcvBuf: number;
  rcvBufMax: number;
  /** Send buffer bounds: it holds 2 x min(cwnd, peer window), within [min, max]. */
  sndBufMin: number;
  sndBufMax: number;
  rto: RtoConfig;
  /** Delayed ACK timer (RFC 9293 3.8.6.3: under 0.5 s; Linux uses 40 ms). */
  delayedAck: number;
  /** SYN (or SYN-ACK) retransmissions before giving up (Linux tcp_syn_retries: 6). */
  synRetries: number;
  /** Data retransmissions by timeout before giving up (Linux tcp_retries2: 15). */
  maxRetries: number;
  /** TIME-WAIT duration, 2 x MSL (Linux: 60 s). */
  timeWait: number;
  /** TIME-WAIT entries kept; the oldest is forgotten when full. */
  maxTimeWait: number;
  /** How long an orphaned connection (socket destroyed) may sit in FIN-WAIT-2 (Linux tcp_fin_timeout: 60 s). */
  finWait2Timeout: number;
  /** Keep-alive defaults (RFC 1122 4.2.3.6: off by default, idle >= 2 h; Linux: 75 s interval, 9 probes). */
  keepIdle: number;
  keepInterval: number;
  keepCount: number;
  /** Disable Nagle's algorithm by default (forwarded traffic is already coalesced). */
  noDelay: boolean;
  /** Connections (all states but TIME-WAIT) at once. */
  maxConnections: number;
  /** Half-open (SYN-RECEIVED) connections per listener. */
  backlog: number;
  /** Out-of-order chunks held per connection. */
  maxOooChunks: number;
  /** Offer and accept SACK (RFC 2018). Off: loss recovery is NewReno alone (RFC 6582). */
  sack: boolean;
  /** Offer and accept timestamps (RFC 7323): an RTT sample on every ACK, and PAWS. Linux: tcp_timestamps = 1. */
  timestamps: boolean;
  /** Congestion controller of every connection (Linux's default is CUBIC). */
  congestion: CongestionName;
}

export const DEFAULT_TCP: TcpConfig = {
  rcvBuf: 128 * 1024,
  rcvBufMax: 6 << 20,
  sndBufMin: 64 * 1024,
  sndBufMax: 4 << 20,
  rto: DEFAULT_RTO,
  delayedAck: 40,
  synRetries: 6,
  maxRetries: 15,
  timeWait: 60_000,
  maxTimeWait: 4096,
  finWait2Timeout: 60_000,
  keepIdle: 2 * 3600_000,
  keepInterval: 75_000,
  keepCount: 9,
  noDelay: true,
  maxConnections: 10_000,
  backlog: 128,
  maxOooChunks: 4096,
  sack: true,
  timestamps: true,
  congestion: 'cubic',
};

const ERRNO: Record<string, number> = { ECONNREFUSED: -111, ECONNRESET: -104, ETIMEDOUT: -110, EHOSTUNREACH: -113, EPIPE: -32, EADDRNOTAVAIL: -99, EADDRINUSE: -98 };

export interface TcpError extends Error {
  code: string;
  errno: number;
  syscall: string;
  address?: string;
  port?: number;
}

export function tcpError(code: string, syscall: string, address?: string, port?: number): TcpError {
  const where = address !== undefined ? ` ${address}:${port}` : '';
  return Object.assign(new Error(`${syscall} ${code}${where}`), { code, errno: ERRNO[code] ?? -1, syscall, address, port });
}
