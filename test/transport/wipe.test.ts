/**
 * Secrets the device abandons are zeroed, checked by holding references to
 * the very buffers and reading them afterwards: a pending initiation's chain
 * key, hash and ephemeral private key when it is replaced by a retransmit,
 * superseded by the peer's own initiation, or given up; a replaced preshared
 * key; the precomputed static-static DH when our key changes or the peer goes.
 */
import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Pair } from './pair.js';
import { clampPrivateKey, publicKey } from '../../src/crypto/x25519.js';
import { REKEY_ATTEMPT_TIME, REKEY_TIMEOUT } from '../../src/transport/constants.js';
import type { Peer } from '../../src/transport/device.js';

const zero = (b: Uint8Array): boolean => b.every((x) => x === 0);

/** The secret buffers of a peer's pending initiation. */
function pending(peer: Peer): Uint8Array[] {
  const s = peer.initiation!.state;
  return [s.chainKey, s.hash, s.ephemeral.raw];
}

describe('device: abandoned key material is zeroed', () => {
  it('a pending initiation replaced by its retransmission', () => {
    const p = new Pair();
    p.sendFromA();
    p.lose();
    const old = pending(p.peerOfA);
    assert.ok(old.every((b) => !zero(b)), 'live state is not zero');
    p.advance(REKEY_TIMEOUT + 334);
    assert.notEqual(p.peerOfA.initiation!.state.chainKey, old[0]);
    assert.ok(old.every(zero), 'chain key, hash and ephemeral private key of the replaced initiation');
    assert.ok(pending(p.peerOfA).every((b) => !zero(b)));
  });

  it('a pending initiation superseded by the peer\'s initiation, and one given up', () => {
    const p = new Pair();
    p.sendFromB(); // b initiates too
    const bInit = p.lose();
    const bOld = pending(p.peerOfB);
    p.sendFromA();
    p.step(); // a's initiation reaches b, which answers it
    assert.equal(p.peerOfB.initiation, null);
    assert.ok(bOld.every(zero), 'b\'s own pending initiation, superseded');
    assert.equal(bInit.length, 1);

    const q = new Pair();
    q.sendFromA();
    let last = pending(q.peerOfA);
    const seen: Uint8Array[] = [...last];
    // Every attempt lost until a gives up.
    for (let t = 0; t < REKEY_ATTEMPT_TIME + 3 * REKEY_TIMEOUT; t += 1000) {
      q.advance(1000);
      q.lose();
      if (q.peerOfA.initiation && q.peerOfA.initiation.state.chainKey !== last[0]) {
        last = pending(q.peerOfA);
        seen.push(...last);
      }
    }
    assert.equal(q.eventsOf('a', 'handshake-gave-up').length, 1);
    assert.equal(q.peerOfA.initiation, null);
    assert.ok(seen.length >= 3 * 18, `${seen.length / 3} attempts`);
    assert.ok(seen.every(zero), 'every attempt\'s state, the last one included');
  });

  it('a replaced preshared key, and the static-static DH when our key changes or the peer is removed', () => {
    const p = new Pair({ psk: new Uint8Array(randomBytes(32)) });
    const oldPsk = p.peerOfB.crypto.presharedKey;
    assert.ok(!zero(oldPsk));
    p.b.setPresharedKey(p.peerOfB, new Uint8Array(randomBytes(32)));
    assert.ok(zero(oldPsk), 'the replaced preshared key');
    p.b.upsertPeer({ publicKey: publicKey(p.aKey), presharedKey: null }, p.now);
    assert.ok(zero(oldPsk));

    const ss = p.peerOfB.crypto.staticStatic!;
    const psk2 = p.peerOfB.crypto.presharedKey;
    assert.ok(!zero(ss));
    p.b.setPrivateKey(clampPrivateKey(randomBytes(32)));
    assert.ok(zero(ss), 'the static-static DH under the old private key');
    const ss2 = p.peerOfB.crypto.staticStatic!;
    assert.ok(!zero(ss2));
    p.b.removePeer(publicKey(p.aKey));
    assert.ok(zero(ss2), 'the static-static DH of a removed peer');
    assert.ok(zero(psk2));
  });

  it('after all this the pair still completes a handshake (nothing live was zeroed)', () => {
    const p = new Pair({ psk: new Uint8Array(randomBytes(32)) });
    p.sendFromA();
    p.lose();
    p.advance(REKEY_TIMEOUT + 334, { deliver: true });
    assert.equal(p.eventsOf('a', 'handshake-complete').length, 1);
    assert.equal(p.delivered.filter((d) => d.to === 'b').length, 1);
  });
});
