/**
 * The attacker process of the flood test: sends bogus handshake initiations
 * to 127.0.0.1:PORT as fast as it can from several source ports, until
 * SIGUSR2 or its time limit, then prints a JSON summary on stdout.
 *
 *   args: port, the target's public key (base64), max ms, source sockets,
 *   packets/s (0 = as fast as it can), and "spread" to bind each socket on
 *   its own loopback address (127.10.0.0 upwards: all of 127/8 is local, so
 *   this is a flood from that many hosts without spoofing or privileges) and
 *   send only valid-mac1 initiations, the kind that costs a table entry
 *   each packet: 148-byte type 1; even ones random garbage (bad mac1), odd
 *   ones with a valid mac1 for the target's public key (anyone can compute
 *   it) and random content -> the target must drop the first kind and, under
 *   load, answer the second with cookie replies. Every reply is checked as an
 *   initiator would: XChaCha20-Poly1305 under HASH("cookie--" || target
 *   public key), nonce from the reply, our mac1 as associated data.
 * Traffic goes to 127.0.0.1 only.
 */
import { createSocket, type Socket } from 'node:dgram';
import { randomFillSync } from 'node:crypto';
import { hash, mac } from '../../src/crypto/blake2s.js';
import { xopen } from '../../src/crypto/xaead.js';
import { LABEL_COOKIE, LABEL_MAC1 } from '../../src/noise/constants.js';

const [portArg, pubArg, maxMsArg, socketsArg, rateArg] = process.argv.slice(2);
const port = Number(portArg);
const pub = new Uint8Array(Buffer.from(pubArg ?? '', 'base64'));
const maxMs = Number(maxMsArg ?? 10_000);
const nSockets = Number(socketsArg ?? 4);
/** Packets per second; 0 = as fast as this process can send. */
const rate = Number(rateArg ?? 0);
const spread = process.argv[7] === 'spread';
if (!Number.isInteger(port) || pub.length !== 32) {
  process.stderr.write('usage: flooder PORT PUBKEY_BASE64 [MAX_MS] [SOCKETS] [RATE]\n');
  process.exit(2);
}
const HOST = '127.0.0.1';
const enc = new TextEncoder();
const mac1Key = hash(enc.encode(LABEL_MAC1), pub);
const cookieKey = hash(enc.encode(LABEL_COOKIE), pub);

// mac1 of each valid-mac1 message, by sender index (a ring: replies come back quickly).
const RING = 1 << 20; // ~10 s of flood: replies can lag behind a full socket queue
const ringMac1 = new Uint8Array(RING * 16);
const ringIndex = new Uint32Array(RING).fill(0xffffffff);

const stats = {
  sentGarbage: 0,
  sentValidMac1: 0,
  sendErrors: 0,
  bytesSent: 0,
  bytesReceived: 0,
  replies: 0,
  cookieReplies: 0,
  cookieVerified: 0,
  cookieBad: 0,
  cookieUnknownIndex: 0,
  otherReplies: 0,
  ms: 0,
};

const sockets: Socket[] = [];
let stopping = false;
let inFlight = 0;
const MAX_IN_FLIGHT = 512;
let counter = 1;
const pool = new Uint8Array(148 * 1024);
let poolAt = pool.length;

function randomChunk(n: number): Uint8Array {
  if (poolAt + n > pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  const out = pool.subarray(poolAt, poolAt + n);
  poolAt += n;
  return out;
}

function onReply(msg: Buffer): void {
  stats.replies++;
  stats.bytesReceived += msg.length;
  if (msg.length !== 64 || msg[0] !== 3 || msg[1] !== 0 || msg[2] !== 0 || msg[3] !== 0) {
    stats.otherReplies++;
    return;
  }
  stats.cookieReplies++;
  const receiver = msg.readUInt32LE(4);
  const slot = receiver & (RING - 1);
  if (ringIndex[slot] !== receiver) {
    stats.cookieUnknownIndex++;
    return;
  }
  const m1 = ringMac1.subarray(slot * 16, slot * 16 + 16);
  const cookie = xopen(cookieKey, new Uint8Array(msg.subarray(8, 32)), new Uint8Array(msg.subarray(32, 64)), m1);
  if (cookie !== null && cookie.length === 16) stats.cookieVerified++;
  else stats.cookieBad++;
}

function buildPacket(valid: boolean): Uint8Array {
  const m = new Uint8Array(148);
  m.set(randomChunk(148));
  m[0] = 1;
  m[1] = 0;
  m[2] = 0;
  m[3] = 0;
  const idx = counter++ >>> 0;
  m[4] = idx & 0xff;
  m[5] = (idx >>> 8) & 0xff;
  m[6] = (idx >>> 16) & 0xff;
  m[7] = (idx >>> 24) & 0xff;
  if (valid) {
    const m1 = mac(mac1Key, m.subarray(0, 116));
    m.set(m1, 116);
    m.fill(0, 132); // no mac2: we never learn a cookie
    const slot = idx & (RING - 1);
    ringIndex[slot] = idx;
    ringMac1.set(m1, slot * 16);
  }
  return m;
}

const start = performance.now();

function pump(): void {
  if (stopping) return;
  const elapsed = performance.now() - start;
  if (elapsed >= maxMs) { stop(); return; }
  let n = 0;
  // With a rate: only what the schedule allows so far (burst of at most 256).
  const budget = rate > 0 ? Math.min(256, Math.floor((elapsed / 1000) * rate) - (stats.sentGarbage + stats.sentValidMac1)) : 256;
  if (budget <= 0) { setTimeout(pump, 1); return; }
  while (inFlight < MAX_IN_FLIGHT && n < budget) {
    const valid = spread || (counter & 1) === 1;
    const m = buildPacket(valid);
    const s = sockets[(counter >>> 1) % sockets.length]!; // both kinds from every socket
    inFlight++;
    n++;
    s.send(m, port, HOST, (err) => {
      inFlight--;
      if (err) stats.sendErrors++;
    });
    if (valid) stats.sentValidMac1++;
    else stats.sentGarbage++;
    stats.bytesSent += 148;
  }
  setImmediate(pump);
}

function stop(): void {
  if (stopping) return;
  stopping = true;
  stats.ms = performance.now() - start;
  // Let replies still in flight arrive, then report.
  setTimeout(() => {
    for (const s of sockets) s.close();
    process.stdout.write(JSON.stringify(stats) + '\n');
  }, 300);
}

process.on('SIGUSR2', stop);
process.on('SIGTERM', stop);

let bound = 0;
for (let i = 0; i < nSockets; i++) {
  const s = createSocket('udp4');
  s.on('message', onReply);
  s.on('error', () => { stats.sendErrors++; });
  s.bind(0, spread ? `127.${10 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}` : HOST, () => {
    if (++bound === nSockets) {
      process.stderr.write('flooder: ready\n');
      pump();
    }
  });
  sockets.push(s);
}
