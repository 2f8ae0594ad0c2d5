/**
 * The conformance checks, each one observable behaviour of a WireGuard peer
 * with the whitepaper section it comes from. Every check that expects
 * silence ("no answer to a bad mac1") also runs a positive control in the
 * same check (a valid message that must be answered), so a peer that never
 * answers anything - a black hole, a UDP echo - FAILs and never PASSes.
 *
 *   runChecks(ctx) -> for each check: run(ctx) -> Result (PASS/FAIL/SKIP + evidence)
 *
 * Checks share one Probe (one UDP socket, our one identity) and run in order;
 * each starts its own handshake where it needs a session, so they stay
 * independent of each other's state in the peer.
 */
import { hexHead, type PendingInitiation, type Probe, type Session } from './probe.js';
import { addressBytes, echoRequest, isEchoReply } from './echo.js';
import { messageType, parseResponse, peekReceiverIndex } from '../noise/messages.js';
import { tai64n } from '../crypto/tai64n.js';
import { MESSAGE_COOKIE_REPLY, MESSAGE_RESPONSE, MESSAGE_TRANSPORT, RESPONSE_SIZE } from '../noise/constants.js';
import { KEEPALIVE_TIMEOUT, REJECT_AFTER_TIME, REKEY_AFTER_TIME, REKEY_TIMEOUT } from '../transport/constants.js';

export type Status = 'PASS' | 'FAIL' | 'SKIP';

export interface Result {
  id: string;
  section: string;
  title: string;
  status: Status;
  /** Why, in one line. */
  detail: string;
  /** On FAIL: what we sent and what came back. */
  sent?: string;
  received?: string;
  ms: number;
}

export interface Context {
  probe: Probe;
  /** Our tunnel address and the peer's (same family). */
  ours: Uint8Array;
  theirs: Uint8Array;
  long: boolean;
  /** Waits `ms` of real time (the CLI's clock). */
  sleep(ms: number): Promise<void>;
  /**
   * Set when the first check got no handshake response at all: later checks
   * then fail at once instead of waiting out their retries again.
   */
  silent?: boolean;
}

type Outcome = Omit<Result, 'id' | 'section' | 'title' | 'ms'>;

export interface Check {
  id: string;
  section: string;
  title: string;
  long?: boolean;
  run(ctx: Context): Promise<Outcome>;
}

/** How long silence must last to count as "no answer". */
const QUIET_MS = 2_500;
let echoId = 0x5754;
let echoSeq = 1;

const pass = (detail: string): Outcome => ({ status: 'PASS', detail });
const fail = (detail: string, sent?: Uint8Array | string | null, received?: Uint8Array | string | null): Outcome => ({
  status: 'FAIL', detail,
  ...(sent !== undefined ? { sent: typeof sent === 'string' ? sent : hexHead(sent) } : {}),
  ...(received !== undefined ? { received: typeof received === 'string' ? received : hexHead(received) } : {}),
});
const skip = (detail: string): Outcome => ({ status: 'SKIP', detail });

const isResponseTo = (init: PendingInitiation) => (d: Uint8Array) =>
  messageType(d) === MESSAGE_RESPONSE && peekReceiverIndex(d) === init.localIndex;
const isCookieTo = (init: PendingInitiation) => (d: Uint8Array) =>
  messageType(d) === MESSAGE_COOKIE_REPLY && peekReceiverIndex(d) === init.localIndex;
const isTransportTo = (s: Session) => (d: Uint8Array) =>
  d.length >= 32 && d[0] === MESSAGE_TRANSPORT && peekReceiverIndex(d) === s.localIndex;

/** Initiation -> response, retried every REKEY_TIMEOUT up to `tries` times. */
async function handshake(ctx: Context, tries = 3): Promise<{ session: Session; init: PendingInitiation; response: Uint8Array } | { error: Outcome }> {
  if (ctx.silent) return { error: fail('the peer never answered a handshake initiation (see the handshake check)') };
  let last: PendingInitiation | null = null;
  for (let i = 0; i < tries; i++) {
    await ctx.probe.spaceInitiations();
    const init = ctx.probe.initiation();
    last = init;
    ctx.probe.send(init.message);
    const response = await ctx.probe.recv(isResponseTo(init), REKEY_TIMEOUT);
    if (!response) continue;
    const session = ctx.probe.completeHandshake(init, response);
    if (!session) return { error: fail('the response to our initiation does not verify (wrong keys, PSK or construction)', init.message, response) };
    return { session, init, response };
  }
  const other = ctx.probe.received().slice(-1)[0]?.data ?? null;
  return { error: fail(`no handshake response after ${tries} initiations ${REKEY_TIMEOUT / 1000} s apart`, last?.message ?? null, other) };
}

/** Send one echo request under `counter` (default next); resolve with the reply's transport message or null. */
async function echo(ctx: Context, s: Session, opts: { counter?: number; src?: Uint8Array; timeoutMs?: number } = {}): Promise<{ sent: Uint8Array; reply: Uint8Array | null }> {
  const id = echoId, seq = echoSeq++ & 0xffff;
  const src = opts.src ?? ctx.ours;
  const sent = s.seal(echoRequest(src, ctx.theirs, id, seq), opts.counter);
  ctx.probe.send(sent);
  const reply = await ctx.probe.recv((d) => {
    if (!isTransportTo(s)(d)) return false;
    const o = s.open(d);
    return o !== null && isEchoReply(o.plain, src, ctx.theirs, id, seq);
  }, opts.timeoutMs ?? 5_000);
  return { sent, reply };
}

async function withSession(ctx: Context, fn: (s: Session) => Promise<Outcome>): Promise<Outcome> {
  const h = await handshake(ctx);
  if ('error' in h) return { ...h.error, detail: `no session: ${h.error.detail}` };
  return fn(h.session);
}

/** Problems with a transport message from the peer (reserved bytes, index, padding). */
function transportProblems(s: Session, d: Uint8Array): string[] {
  const p: string[] = [];
  if (d[1] !== 0 || d[2] !== 0 || d[3] !== 0) p.push('reserved bytes are not zero');
  if (peekReceiverIndex(d) !== s.localIndex) p.push(`receiver index ${peekReceiverIndex(d)} is not ours (${s.localIndex})`);
  const o = s.open(d);
  if (!o) p.push('does not decrypt');
  else if (o.plain.length % 16 !== 0) p.push(`payload of ${o.plain.length} bytes is not padded to a multiple of 16`);
  return p;
}

export const CHECKS: Check[] = [
  {
    id: 'handshake',
    section: '5.4.2, 5.4.3',
    title: 'a valid initiation gets a valid response',
    async run(ctx) {
      const h = await handshake(ctx);
      if ('error' in h) return h.error;
      const r = parseResponse(h.response);
      if (h.response.length !== RESPONSE_SIZE || !r) return fail(`response is ${h.response.length} bytes, not ${RESPONSE_SIZE}`, h.init.message, h.response);
      if (h.response[1] !== 0 || h.response[2] !== 0 || h.response[3] !== 0) return fail('response reserved bytes are not zero', h.init.message, h.response);
      return pass(`response from index ${r.senderIndex} verifies`);
    },
  },
  {
    id: 'echo',
    section: '5.4.6',
    title: 'the session carries an ICMP echo both ways',
    run: (ctx) => withSession(ctx, async (s) => {
      const e = await echo(ctx, s);
      if (!e.reply) return fail('no echo reply inside the tunnel', e.sent, ctx.probe.received().slice(-1)[0]?.data ?? null);
      return pass('echo request delivered, echo reply received and decrypted');
    }),
  },
  {
    id: 'transport-format',
    section: '5.4.6',
    title: 'transport messages: reserved zero, receiver index as sent, payload padded to 16',
    run: (ctx) => withSession(ctx, async (s) => {
      const e = await echo(ctx, s);
      if (!e.reply) return fail('no transport message to inspect (no echo reply)', e.sent, null);
      const problems = transportProblems(s, e.reply);
      return problems.length ? fail(problems.join('; '), e.sent, e.reply) : pass(`${e.reply.length}-byte message well-formed`);
    }),
  },
  {
    id: 'mac1-bad',
    section: '5.4.4',
    title: 'no answer to an initiation with a bad mac1',
    async run(ctx) {
      await ctx.probe.spaceInitiations();
      const bad = ctx.probe.initiation();
      bad.message[116] ^= 0x01; // first byte of mac1 (offset 116)
      ctx.probe.send(bad.message);
      const got = await ctx.probe.recv((d) => isResponseTo(bad)(d) || isCookieTo(bad)(d), QUIET_MS);
      if (got) return fail('the peer answered an initiation whose mac1 is wrong', bad.message, got);
      const h = await handshake(ctx);
      if ('error' in h) return { ...h.error, detail: `control: ${h.error.detail}` };
      return pass('silence for the bad mac1; the same initiation with a good mac1 was answered');
    },
  },
  {
    id: 'timestamp-replay',
    section: '5.1, 5.4.2',
    title: 'no answer to a replayed initiation (same TAI64N timestamp)',
    async run(ctx) {
      const h = await handshake(ctx);
      if ('error' in h) return { ...h.error, detail: `control: ${h.error.detail}` };
      await ctx.probe.spaceInitiations(); // past any per-peer initiation rate limit
      ctx.probe.send(h.init.message);
      const got = await ctx.probe.recv(isResponseTo(h.init), QUIET_MS);
      if (got) return fail('the peer answered a byte-for-byte replay of an initiation it already answered', h.init.message, got);
      return pass('the original was answered, its replay was not');
    },
  },
  {
    id: 'timestamp-stale',
    section: '5.1, 5.4.2',
    title: 'no answer to a fresh initiation with an older TAI64N timestamp',
    async run(ctx) {
      const h = await handshake(ctx);
      if ('error' in h) return { ...h.error, detail: `control: ${h.error.detail}` };
      await ctx.probe.spaceInitiations();
      const old = ctx.probe.initiation({ timestamp: tai64n(Date.now() - 60_000) });
      ctx.probe.send(old.message);
      const got = await ctx.probe.recv(isResponseTo(old), QUIET_MS);
      if (got) return fail('the peer answered an initiation 60 s older than one it accepted', old.message, got);
      return pass('a new ephemeral key with a 60 s older timestamp got no answer');
    },
  },
  {
    id: 'transport-replay',
    section: '5.4.6',
    title: 'a replayed transport message is not delivered twice',
    run: (ctx) => withSession(ctx, async (s) => {
      const e = await echo(ctx, s);
      if (!e.reply) return fail('control: no echo reply to the original', e.sent, null);
      ctx.probe.send(e.sent);
      const again = await ctx.probe.recv(isTransportTo(s), QUIET_MS);
      const o = again ? s.open(again) : null;
      if (o && o.plain.length > 0) return fail('the replayed packet was delivered again (an answer came back)', e.sent, again);
      return pass('answered once; the replay got no answer');
    }),
  },
  {
    id: 'counter-reorder',
    section: '5.4.6 (RFC 6479 window)',
    title: 'counters out of order inside the window are accepted',
    run: (ctx) => withSession(ctx, async (s) => {
      const base = s.sendCounter;
      s.sendCounter = base + 3;
      const later = await echo(ctx, s, { counter: base + 2 });
      const earlier = await echo(ctx, s, { counter: base + 1 });
      if (!later.reply) return fail(`control: no reply to counter ${base + 2}`, later.sent, null);
      if (!earlier.reply) return fail(`counter ${base + 1} after ${base + 2} was rejected`, earlier.sent, null);
      return pass(`counter ${base + 2} then ${base + 1}: both answered`);
    }),
  },
  {
    id: 'counter-window',
    section: '5.4.6 (RFC 6479 window)',
    title: 'a counter older than the window is rejected',
    run: (ctx) => withSession(ctx, async (s) => {
      const ahead = await echo(ctx, s, { counter: 10_000 });
      if (!ahead.reply) return fail('control: no reply to counter 10000', ahead.sent, null);
      const old = await echo(ctx, s, { counter: 3, timeoutMs: QUIET_MS });
      if (old.reply) return fail('counter 3, never used but 9997 behind the highest (windows are 8128 in Linux and Go), was accepted', old.sent, old.reply);
      return pass('counter 10000 answered, then counter 3 was not');
    }),
  },
  {
    id: 'allowedips-source',
    section: '5.2 (cryptokey routing)',
    title: 'an inner packet whose source is outside AllowedIPs is dropped',
    run: (ctx) => withSession(ctx, async (s) => {
      // 203.0.113.77 / 2001:db8::77 (documentation ranges) are assumed outside the peer's AllowedIPs for us.
      const outside = addressBytes(ctx.ours.length === 4 ? '203.0.113.77' : '2001:db8::77');
      const bad = await echo(ctx, s, { src: outside, timeoutMs: QUIET_MS });
      if (bad.reply) return fail('an echo from an address outside AllowedIPs was answered', bad.sent, bad.reply);
      const good = await echo(ctx, s);
      if (!good.reply) return fail('control: no reply from our own tunnel address', good.sent, null);
      return pass('no answer from outside AllowedIPs; answered from our address (a peer that accepts it but routes its answer elsewhere also passes: silence is all we can see)');
    }),
  },
  {
    id: 'keepalive',
    section: '6.5 (passive keepalive)',
    title: `a keepalive comes ~${KEEPALIVE_TIMEOUT / 1000} s after received data when the peer has nothing to send`,
    run: (ctx) => withSession(ctx, async (s) => {
      // An unsolicited echo reply is data the peer accepts but does not answer.
      const data = s.seal(echoRequest(ctx.ours, ctx.theirs, echoId, echoSeq++ & 0xffff, { reply: true }));
      ctx.probe.send(data);
      const t0 = Date.now();
      const got = await ctx.probe.recv((d) => {
        if (!isTransportTo(s)(d)) return false;
        return s.open(d)?.plain.length === 0;
      }, KEEPALIVE_TIMEOUT + 6_000);
      const dt = Date.now() - t0;
      if (!got) return fail(`no keepalive within ${(KEEPALIVE_TIMEOUT + 6_000) / 1000} s of our data`, data, ctx.probe.received().slice(-1)[0]?.data ?? null);
      if (dt < KEEPALIVE_TIMEOUT - 2_000) return fail(`keepalive after ${(dt / 1000).toFixed(1)} s, earlier than KEEPALIVE_TIMEOUT`, data, got);
      return pass(`keepalive after ${(dt / 1000).toFixed(1)} s`);
    }),
  },
  {
    id: 'cookie',
    section: '5.3, 5.4.7',
    title: 'under a burst of initiations the peer sends a valid cookie reply and accepts the retry with mac2',
    async run(ctx) {
      await ctx.probe.spaceInitiations();
      const burst = ctx.probe.initiation();
      // Copies of one initiation: each passes mac1 and counts towards the peer's load.
      for (let i = 0; i < 4000; i++) {
        ctx.probe.send(burst.message);
        if (i % 200 === 199) await ctx.sleep(1);
      }
      const reply = await ctx.probe.recv(isCookieTo(burst), 3_000);
      if (!reply) {
        const answered = ctx.probe.received().some((r) => isResponseTo(burst)(r.data));
        return answered ? skip('the peer answered the burst without going under load (no cookie reply)') :
          fail('neither a response nor a cookie reply to 4000 copies of a valid initiation', burst.message, null);
      }
      if (!ctx.probe.cookies.consumeReply(reply, Date.now())) return fail('the cookie reply does not decrypt with our mac1', burst.message, reply);
      await ctx.sleep(1_100);
      ctx.probe.drain();
      for (let i = 0; i < 3; i++) {
        await ctx.probe.spaceInitiations();
        const retry = ctx.probe.initiation(); // now carries mac2 from the cookie
        ctx.probe.send(retry.message);
        const r = await ctx.probe.recv(isResponseTo(retry), REKEY_TIMEOUT);
        if (r && ctx.probe.completeHandshake(retry, r)) return pass('cookie reply decrypted; the initiation with mac2 was answered');
      }
      return fail('an initiation carrying mac2 from the cookie got no response', null, ctx.probe.received().slice(-1)[0]?.data ?? null);
    },
  },
  {
    id: 'reject-after-time',
    section: '6.1, 6.2 (REKEY_AFTER_TIME, REJECT_AFTER_TIME)',
    title: 'a session is used past REKEY_AFTER_TIME, refused after REJECT_AFTER_TIME, and a new one works',
    long: true,
    run: (ctx) => withSession(ctx, async (s) => {
      const first = await echo(ctx, s);
      if (!first.reply) return fail('control: no echo reply on the new session', first.sent, null);
      await ctx.sleep(REKEY_AFTER_TIME + 5_000);
      const mid = await echo(ctx, s);
      if (!mid.reply) return fail(`the session was refused ${(REKEY_AFTER_TIME + 5_000) / 1000} s in, before REJECT_AFTER_TIME`, mid.sent, null);
      await ctx.sleep(REJECT_AFTER_TIME - REKEY_AFTER_TIME + 2_000);
      const late = await echo(ctx, s, { timeoutMs: QUIET_MS });
      if (late.reply) return fail(`the session still answered ${(REJECT_AFTER_TIME + 7_000) / 1000} s after the handshake`, late.sent, late.reply);
      const h = await handshake(ctx);
      if ('error' in h) return { ...h.error, detail: `control: ${h.error.detail}` };
      const fresh = await echo(ctx, h.session);
      if (!fresh.reply) return fail('control: no echo reply on the new session', fresh.sent, null);
      return pass('answered at 125 s, silent at 187 s, a new handshake works');
    }),
  },
];

export async function runChecks(ctx: Context, onResult: (r: Result) => void = () => {}): Promise<Result[]> {
  const results: Result[] = [];
  for (const c of CHECKS) {
    const t0 = Date.now();
    let o: Outcome;
    if (c.long && !ctx.long) o = skip('long check: run with --long (about 3 minutes)');
    else {
      try {
        o = await c.run(ctx);
      } catch (e) {
        o = fail(`check crashed: ${(e as Error).message}`);
      }
    }
    const r: Result = { id: c.id, section: c.section, title: c.title, ...o, ms: Date.now() - t0 };
    if (c.id === 'handshake' && o.status === 'FAIL' && /no handshake response/.test(o.detail)) ctx.silent = true;
    results.push(r);
    onResult(r);
    ctx.probe.drain();
  }
  return results;
}
