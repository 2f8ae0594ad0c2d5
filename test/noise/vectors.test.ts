// Known answers from test/noise/reference_handshake.py, an independent Python implementation of
// the whitepaper section 5.4 (hashlib BLAKE2s, `cryptography` X25519 and ChaCha20-Poly1305).
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { seal } from '../../src/crypto/aead.js';
import { wasmAeadAvailable } from '../../src/crypto/chachapoly-wasm.js';
import { PrivateKey } from '../../src/crypto/x25519.js';
import { CookieChecker, CookieGenerator } from '../../src/noise/cookie.js';
import { consumeInitiation, consumeResponse, createInitiation, createResponse, makePeerCrypto, type LocalIdentity } from '../../src/noise/handshake.js';
import { hex, queuedRandom } from './helpers.js';

/** The project root (dist/test/noise/ -> ../../..): vitest.config.mjs lives there. */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

interface Case {
  name: string;
  initiator_static_private: string;
  responder_static_private: string;
  initiator_static_public: string;
  responder_static_public: string;
  preshared_key: string;
  initiator_ephemeral_random: string;
  responder_ephemeral_random: string;
  timestamp: string;
  initiator_index: number;
  responder_index: number;
  initiation: string;
  response: string;
  initiator_send_key: string;
  initiator_recv_key: string;
  keepalive_from_initiator: string;
  cookie_secret: string;
  cookie_nonce: string;
  cookie_source: string;
  cookie_reply_to: 'initiation' | 'response';
  cookie_reply: string;
  restamped_with_mac2: string;
}

const file = JSON.parse(readFileSync(new URL('../../../test/vectors/noise-handshake.json', import.meta.url), 'utf8')) as { source: string; cases: Case[] };

function local(privHex: string): LocalIdentity {
  const privateKey = new PrivateKey(hex(privHex));
  return { privateKey, publicKey: privateKey.publicKey };
}

test('vector file names its source', () => {
  assert.match(file.source, /reference_handshake\.py/);
  assert.equal(file.cases.length, 2);
});

for (const v of file.cases) {
  test(`handshake known answer (${v.name}): initiation, response, keys and keepalive are byte-exact`, () => {
    const now = 1_000;
    const i = local(v.initiator_static_private);
    const r = local(v.responder_static_private);
    assert.deepEqual(i.publicKey, hex(v.initiator_static_public));
    assert.deepEqual(r.publicKey, hex(v.responder_static_public));
    const iSeesR = makePeerCrypto(i, r.publicKey, hex(v.preshared_key));
    const rSeesI = makePeerCrypto(r, i.publicKey, hex(v.preshared_key));
    const iMacs = new CookieGenerator(r.publicKey);
    const rMacs = new CookieGenerator(i.publicKey);

    const init = createInitiation(i, iSeesR, hex(v.initiator_ephemeral_random), hex(v.timestamp), v.initiator_index)!;
    iMacs.addMacs(init.message, now);
    assert.equal(Buffer.from(init.message).toString('hex'), v.initiation);

    const consumed = consumeInitiation(r, init.message, () => ({ peer: 'i', crypto: rSeesI }))!;
    assert.deepEqual(consumed.state.timestamp, hex(v.timestamp));
    const resp = createResponse(r, rSeesI, consumed.state, hex(v.responder_ephemeral_random), v.responder_index)!;
    rMacs.addMacs(resp.message, now);
    assert.equal(Buffer.from(resp.message).toString('hex'), v.response);
    assert.deepEqual(resp.keys.recvKey, hex(v.initiator_send_key));
    assert.deepEqual(resp.keys.sendKey, hex(v.initiator_recv_key));

    const done = consumeResponse(i, iSeesR, init.state, resp.message)!;
    assert.equal(done.remoteIndex, v.responder_index);
    assert.deepEqual(done.keys.sendKey, hex(v.initiator_send_key));
    assert.deepEqual(done.keys.recvKey, hex(v.initiator_recv_key));

    const header = new Uint8Array(16);
    header[0] = 4;
    new DataView(header.buffer).setUint32(4, done.remoteIndex, true);
    const keepalive = Buffer.concat([header, seal(done.keys.sendKey, 0, new Uint8Array(0))]);
    assert.equal(keepalive.toString('hex'), v.keepalive_from_initiator);

    // Cookie reply to one of the two messages, then that message re-stamped with mac2.
    const toInit = v.cookie_reply_to === 'initiation';
    const target = toInit ? init.message : resp.message;
    const checker = new CookieChecker(toInit ? r.publicKey : i.publicKey, queuedRandom(hex(v.cookie_secret), hex(v.cookie_nonce)));
    const source = hex(v.cookie_source);
    assert.ok(checker.checkMac1(target));
    const reply = checker.createReply(target, source, now);
    assert.equal(Buffer.from(reply).toString('hex'), v.cookie_reply);
    const generator = toInit ? iMacs : rMacs;
    assert.ok(generator.consumeReply(reply, now));
    const restamped = Uint8Array.from(target);
    generator.addMacs(restamped, now + 1);
    assert.equal(Buffer.from(restamped).toString('hex'), v.restamped_with_mac2);
    assert.ok(checker.checkMac2(restamped, source, now + 1));
  });
}

// The handshake seals and opens through the WebAssembly AEAD and falls back
// to chachapoly-small.ts without it: this file again in a child process with
// the WebAssembly AEAD switched off (WGTS_WASM_AEAD=0) checks that path.
if (process.env['WGTS_WASM_AEAD'] === '0') {
  test('child run: the WebAssembly AEAD is off, the handshake uses chachapoly-small.ts', () => {
    assert.equal(wasmAeadAvailable(), false);
  });
} else {
  test('the known answers also hold on the fallback AEAD (this file rerun with WGTS_WASM_AEAD=0)', () => {
    assert.equal(wasmAeadAvailable(), true, 'this run uses the WebAssembly AEAD');
    const env: NodeJS.ProcessEnv = { ...process.env, WGTS_WASM_AEAD: '0' };
    const vitest = join(dirname(createRequire(import.meta.url).resolve('vitest/package.json')), 'vitest.mjs');
    const args = [vitest, 'run', '--config', 'vitest.config.mjs', '--reporter=json', fileURLToPath(import.meta.url)];
    const child = spawnSync(process.execPath, args, { env, encoding: 'utf8', cwd: ROOT });
    assert.equal(child.status, 0, child.stdout + child.stderr);
    const report = JSON.parse(child.stdout.slice(child.stdout.indexOf('{'))) as {
      numFailedTests: number;
      testResults: Array<{ assertionResults: Array<{ title: string; status: string }> }>;
    };
    assert.equal(report.numFailedTests, 0);
    const results = report.testResults.flatMap((r) => r.assertionResults);
    assert.ok(results.length >= 2, 'the known-answer tests ran again in the child');
    assert.ok(results.every((r) => r.status === 'passed'), JSON.stringify(results));
    assert.ok(results.some((r) => r.title.startsWith('child run:')), 'the child saw WGTS_WASM_AEAD=0');
  });
}
