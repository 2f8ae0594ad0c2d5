/**
 * The short CI version of the fault download (`npm run soak:download` runs
 * 200 MB): 96 MB through the vps's [Forward] to the home's [Expose] while the
 * outer UDP loses 3 % and reorders 3 % each way, the home side re-keys every
 * 3000 messages (test knob WGTS_TEST_REKEY_AFTER_MESSAGES; REKEY_AFTER_TIME is
 * 120 s) and its NAT rebinds twice. Same bar as the long run: right SHA-256,
 * every byte, no gap over 2 s at the client.
 *
 * Why 64 MB: an initiator sends at most one initiation per REKEY_TIMEOUT
 * (5 s), so the rekeys this test counts come one per 5 s of transfer however
 * low the message knob is. On a quiet machine 16 MB took 3.9 s, the session
 * from the first handshake never got old enough to re-key, and the check saw
 * 0 rekeys (under load the same 16 MB took 16 s and passed). 96 MB ran about
 * 16 s on a quiet machine when this was written and takes 55-64 s now (12-15
 * Mbit/s through 3 % loss with reordering, at 148f243 as at 4ddc354; not
 * explained yet), one to two minutes or more under heavy load; the rekey
 * count asked for follows the time taken.
 */
import { it } from 'vitest';
import assert from 'node:assert/strict';
import { describeFault, faultVerdict, runFaultDownload } from './fault-download.js';

it('a forwarded download survives rekeys, NAT rebinding and 3 % loss with reordering: right SHA-256, no stall over 2 s', { timeout: 240_000 }, async (t) => {
  const rebindAt = [0.3, 0.7];
  const r = await runFaultDownload({ bytes: 96 << 20, rebindAt, rekeyEvery: 3000, timeoutMs: 200_000 });
  console.log(describeFault(r));
  assert.deepEqual(faultVerdict(r, rebindAt.length), [], describeFault(r));
  // At one message-triggered rekey per REKEY_TIMEOUT (5 s), a transfer of T seconds has room for
  // about T/5, but not all of them: each initiation also waits its jitter, and at 3 % loss each way
  // a lost initiation or response costs another REKEY_TIMEOUT (8 and 10 were seen in 58 and 64 s,
  // where all-but-one asked for 10 and 11). Ask for half of them (at least one): rekeys that stop
  // part-way still fail it, and a faster machine does not.
  const due = Math.max(1, Math.floor(r.seconds / 10));
  assert.ok(r.handshakes.home >= due, `${due} rekeys expected in ${r.seconds.toFixed(1)} s (half of one per 5 s): ${describeFault(r)}`);
});
