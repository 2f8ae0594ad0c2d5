/**
 * The shared-memory layout between the driver and one crypto worker: a
 * single-producer single-consumer ring of fixed-size slots in a
 * SharedArrayBuffer plus an Int32Array of control words.
 *
 *   main:   write slot (op, key, nonce, data), then Atomics.store(SUBMITTED)
 *   worker: Atomics.load(SUBMITTED), seal/open the slot in place, wipe its key,
 *           then Atomics.store(DONE) and Atomics.notify(DONE)
 *
 * Counts are running totals (wrapping int32); slot = count % slots.
 */

/** Control words. */
export const SUBMITTED = 0;
export const DONE = 1;
export const STOP = 2;
/** The worker is (about to be) blocked in Atomics.wait: the main thread must notify. */
export const SLEEPING = 3;
export const CONTROL_WORDS = 4;

/** Slot layout (bytes). */
export const OP = 0; // u8: OP_SEAL | OP_OPEN
export const RESULT = 1; // u8: 1 ok, 0 failed (open: bad tag)
export const LEN = 4; // u32 LE: data bytes
export const NONCE = 16; // 12 bytes: 4 zero + counter u64 LE, as the transport header carries it
export const KEY = 32; // 32 bytes
export const DATA = 64;

export const OP_SEAL = 1;
export const OP_OPEN = 2;

/**
 * Data bytes per slot: a transport message for a 1500-byte inner MTU and more.
 * Larger messages are handled on the main thread.
 */
export const SLOT_DATA = 2048 - DATA;
export const SLOT_SIZE = DATA + SLOT_DATA;

export interface RingShared {
  control: SharedArrayBuffer;
  slots: SharedArrayBuffer;
  slotCount: number;
}
