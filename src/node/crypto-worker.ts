/**
 * A crypto worker thread (see crypto-pool.ts): takes slots from its ring in
 * order, seals or opens each in place with ChaCha20-Poly1305, wipes the key
 * from the slot, and publishes the running count of finished slots.
 *
 *   seal: data = header 16 | plaintext | 16 spare -> ciphertext, tag in the spare bytes
 *   open: data = ciphertext | tag                 -> plaintext at the start, RESULT = ok
 * with the WebAssembly AEAD (this thread's own instance), else node:crypto.
 */
import { workerData } from 'node:worker_threads';
import { openPayload, sealFrame } from '../transport/packet.js';
import {
  CONTROL_WORDS, DATA, DONE, KEY, LEN, NONCE, OP, OP_OPEN, OP_SEAL, RESULT, SLEEPING, SLOT_SIZE, STOP, SUBMITTED, type RingShared,
} from './crypto-ring.js';

/** Wake the driver at least this often while a long run of slots is being worked through. */
const NOTIFY_EVERY = 16;

const shared = workerData as RingShared;
const control = new Int32Array(shared.control, 0, CONTROL_WORDS);
const bytes = new Uint8Array(shared.slots);
const view = new DataView(shared.slots);
const slotCount = shared.slotCount;

function work(slot: number): void {
  const base = slot * SLOT_SIZE;
  const len = view.getUint32(base + LEN, true);
  const key = bytes.subarray(base + KEY, base + KEY + 32);
  const data = bytes.subarray(base + DATA, base + DATA + len);
  // The counter as the nonce carries it (bytes 4..12, little-endian).
  const counter = view.getBigUint64(base + NONCE + 4, true);
  try {
    if (bytes[base + OP] === OP_SEAL) {
      sealFrame(key, counter, data);
      bytes[base + RESULT] = 1;
    } else if (bytes[base + OP] === OP_OPEN) {
      const plain = openPayload(key, counter, data, data);
      if (plain) {
        data.set(plain, 0);
        bytes[base + RESULT] = 1;
      } else {
        bytes[base + RESULT] = 0;
      }
    } else {
      bytes[base + RESULT] = 0;
    }
  } catch {
    bytes[base + RESULT] = 0;
  }
  key.fill(0);
}

let done = Atomics.load(control, DONE);
for (;;) {
  const submitted = Atomics.load(control, SUBMITTED);
  if (submitted === done) {
    if (Atomics.load(control, STOP) !== 0) break;
    // Announce the sleep, then re-check: the driver notifies only sleepers.
    Atomics.store(control, SLEEPING, 1);
    if (Atomics.load(control, SUBMITTED) === done && Atomics.load(control, STOP) === 0) Atomics.wait(control, SUBMITTED, done);
    Atomics.store(control, SLEEPING, 0);
    continue;
  }
  let n = 0;
  while (done !== submitted) {
    work(((done >>> 0) % slotCount));
    done = (done + 1) | 0;
    Atomics.store(control, DONE, done);
    if (++n % NOTIFY_EVERY === 0) Atomics.notify(control, DONE);
  }
  Atomics.notify(control, DONE);
}
