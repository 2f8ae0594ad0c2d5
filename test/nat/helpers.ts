/**
 * Shared pieces of the forwarder tests: rules, loopback servers and clients,
 * waiting. Whatever opens a socket takes the test's context and closes it in
 * onTestFinished, so a failed assertion never leaves the file hanging on an open
 * handle; the close functions are idempotent, so a test may also close early.
 */
import { createHash, randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { TestContext } from 'vitest';
import { DEFAULTS, type NatRule } from '../../src/nat/rule.js';
import { Exposer, Forwarder } from '../../src/nat/forwarder.js';
import type { RuleSetOptions } from '../../src/nat/rule-set.js';
import type { UnitStats } from '../../src/nat/relay.js';
import { LoopbackTunnel } from './loopback-tunnel.js';

export function rule(p: Partial<NatRule> & Pick<NatRule, 'target'>): NatRule {
  return {
    kind: 'forward',
    protocols: ['tcp'],
    listen: { host: '127.0.0.1', port: 0 },
    ports: 1,
    source: DEFAULTS.source,
    proxyProtocol: DEFAULTS.proxyProtocol,
    maxConnections: DEFAULTS.maxConnections,
    idleTimeout: DEFAULTS.idleTimeout,
    udpTimeout: DEFAULTS.udpTimeout,
    maxSessions: DEFAULTS.maxSessions,
    ...p,
  };
}

export interface Rig {
  tunnel: LoopbackTunnel;
  log: string[];
  fw: Forwarder | Exposer;
  close(): Promise<void>;
}

/** Wraps `close` so that it runs once however often it is called, and registers it with t.after. */
export function closeAfter(t: TestContext, close: () => Promise<void> | void): () => Promise<void> {
  let done: Promise<void> | null = null;
  const once = (): Promise<void> => (done ??= Promise.resolve().then(close));
  t.onTestFinished(once);
  return once;
}

/** A Forwarder (or Exposer) whose tunnel side is the loopback test double; log lines are kept. */
export function rig(t: TestContext, kind: 'forward' | 'expose' = 'forward', opts: RuleSetOptions = {}): Rig {
  const tunnel = new LoopbackTunnel();
  const log: string[] = [];
  const sink = (level: string) => (m: string): void => {
    log.push(`${level}: ${m}`);
  };
  const o = { tunnel, log: { info: sink('info'), warn: sink('warn'), debug: () => {} }, sweepIntervalMs: 50, ...opts };
  const fw = kind === 'forward' ? new Forwarder(o) : new Exposer(o);
  return { tunnel, log, fw, close: closeAfter(t, () => fw.close()) };
}

/** The listening port of the only unit (or the unit matching `protocol`). */
export function portOf(fw: Forwarder | Exposer, protocol: 'tcp' | 'udp' = 'tcp', n = 0): number {
  const u = fw.stats().filter((s) => s.protocol === protocol && s.state === 'active')[n];
  if (!u || u.listeners.length === 0) throw new Error('no listening unit');
  return u.listeners[0]!.port;
}

export function statsOf(fw: Forwarder | Exposer, protocol: 'tcp' | 'udp' = 'tcp'): UnitStats {
  return fw.stats().find((s) => s.protocol === protocol)!;
}

export async function tcpServer(t: TestContext, host: string, onConn: (s: Socket) => void): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  const server = createServer({ allowHalfOpen: true }, onConn);
  const sockets = new Set<Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  const port = (server.address() as { port: number }).port;
  return {
    server,
    port,
    close: closeAfter(t, () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
    ),
  };
}

/**
 * A port that refuses connections on 127.0.0.1 and that no one else can take
 * until the test ends: a listener on 127.0.0.2 holds it, so nothing answers
 * on 127.0.0.1 (a SYN draws a RST). A bound port, unlike the local port of a
 * connection, is never picked as an ephemeral source port, so a connect to it
 * cannot become a TCP self-connect that hangs.
 */
export async function refusingPort(t: TestContext): Promise<number> {
  const holder = await tcpServer(t, '127.0.0.2', () => {});
  return holder.port;
}

/**
 * A port that was free on `host` a moment ago (bound to 0, read, released).
 * Only for a port that must be named before binding; whoever uses it must
 * retry on EADDRINUSE, since another process may take it in between.
 */
export async function probedPort(host = '127.0.0.1'): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, host, r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export interface DialOptions { host?: string; localAddress?: string; allowHalfOpen?: boolean }

/** A client connection, destroyed after the test. */
export async function dial(t: TestContext, port: number, opts: DialOptions = {}): Promise<Socket> {
  const s = await connectTo(port, opts);
  t.onTestFinished(() => {
    s.destroy();
  });
  return s;
}

function connectTo(port: number, opts: DialOptions): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: opts.host ?? '127.0.0.1', port, localAddress: opts.localAddress, allowHalfOpen: opts.allowHalfOpen ?? true });
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** Connects and reads to the end: the error code that ended it (ECONNRESET for a reset, at connect or later), or undefined. */
export async function outcome(port: number, opts: { host?: string; localAddress?: string } = {}): Promise<string | undefined> {
  let c: Socket;
  try {
    c = await connectTo(port, opts);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code;
  }
  return (await drain(c)).error;
}

export interface Drained {
  bytes: number;
  sha256: string;
  /** The error code that ended the stream, if any (ECONNRESET for a reset). */
  error: string | undefined;
}

/** Reads a socket until its end (peer's FIN) or close (after an error), hashing what arrives. */
export function drain(s: Socket): Promise<Drained> {
  const h = createHash('sha256');
  let bytes = 0;
  let error: string | undefined;
  return new Promise((resolve) => {
    s.on('data', (d: Buffer) => {
      bytes += d.length;
      h.update(d);
    });
    s.on('error', (e: NodeJS.ErrnoException) => {
      error = e.code ?? e.message;
    });
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      resolve({ bytes, sha256: h.digest('hex'), error });
    };
    s.on('end', finish);
    s.on('close', finish);
  });
}

/** Writes `total` random bytes with backpressure (then ends unless told not to); resolves with their SHA-256. */
export async function sendRandom(s: Socket, total: number, end = true): Promise<string> {
  const h = createHash('sha256');
  const chunk = 64 * 1024;
  for (let sent = 0; sent < total; ) {
    const n = Math.min(chunk, total - sent);
    const b = randomBytes(n);
    h.update(b);
    sent += n;
    if (!s.write(b)) await new Promise<void>((r) => s.once('drain', r));
  }
  if (end) s.end();
  return h.digest('hex');
}

export async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Counts the socket's calls into libuv: one _write or _writev is one write(2)/writev(2). */
export function countWrites(s: Socket): { calls: number } {
  const n = { calls: 0 };
  const w = s as unknown as { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void };
  const write = w._write.bind(s);
  const writev = w._writev.bind(s);
  w._write = (...a) => { n.calls++; write(...a); };
  w._writev = (...a) => { n.calls++; writev(...a); };
  return n;
}

/**
 * Pushes `ticks` rounds of `perTick` random 1368-byte segments (a 1420-byte
 * tunnel MTU's MSS) into `src`, one event-loop turn apart, as the stack hands
 * over a UDP batch's segments; then ends it. Returns the SHA-256 of all bytes.
 */
export async function pushSegmentTicks(src: { push(chunk: Buffer | null): boolean }, ticks = 3, perTick = 10): Promise<string> {
  const h = createHash('sha256');
  for (let tick = 0; tick < ticks; tick++) {
    for (let i = 0; i < perTick; i++) {
      const seg = randomBytes(1368);
      h.update(seg);
      src.push(seg);
    }
    await new Promise((r) => setImmediate(r));
  }
  src.push(null);
  return h.digest('hex');
}
