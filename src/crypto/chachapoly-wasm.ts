/**
 * ChaCha20-Poly1305 (RFC 8439 section 2.8) compiled to WebAssembly at load
 * time, for transport data and the handshake's three short AEADs per side
 * (handshake.ts). node:crypto spends ~5 us per message creating
 * and tearing down a cipher object; this module encrypts a 1420-byte packet
 * in about that time or less and allocates nothing.
 *
 *   seal: key, nonce, plaintext -> wasm memory -> blocks 0..3 (block 0 is the
 *         Poly1305 key); ChaCha20 from counter 1 over the data in place
 *         (blocks 1..3 from that first step); Poly1305 over
 *         aad | pad | ciphertext | pad | lengths -> ciphertext, tag copied out
 *   open: the same MAC over the ciphertext, constant-time compare with the
 *         tag, and only then decrypt; forged input is never decrypted
 *
 * One instance per thread (the crypto workers have their own). After every
 * call nothing it wrote stays in wasm memory: key, states, keystream, AAD,
 * and the data region as far as the cipher wrote (plaintext, and the
 * keystream it XORs past the message end) are zeroed. Messages longer than
 * MAX_DATA, or a runtime without WebAssembly SIMD, make the functions return
 * undefined/false so callers fall back to node:crypto.
 */
import { chacha20XorFn } from './chacha20-wasm.js';
import { emitPolyFinish, emitPolyInit, poly1305BlocksFn } from './poly1305-wasm.js';
import { Fn, I32, OP, SIMD, module } from './wasm-encoder.js';

// Memory layout (bytes).
const STATE = 0; // ChaCha20 input block, 64
const POLY = 64; // Poly1305 state (POLY_STATE_BYTES)
const ZERO = 256; // 256 zero bytes, never written
const KS = 512; // block 0..3 keystream (the first 32 bytes are the Poly1305 key)
const KEY = 768;
const NONCE = 800;
const TAG = 816;
const LENS = 832;
const EXPECT = 848;
const AAD = 1024;
export const MAX_AAD = 1008;
const DATA = 2048;
export const MAX_DATA = 65536;
const PAGES = 2; // DATA + MAX_DATA + 256 (rounding) fits in 128 KiB

const FN_XOR = 0;
const FN_POLY = 1;

const CONSTANTS = [0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]; // "expand 32-byte k"

/** pad16(local) on the stack. */
function pad16(f: Fn, len: number): void {
  f.get(len).i32(15).op(OP.i32Add).i32(-16).op(OP.i32And);
}

/** State := constants | key | counter 0 | nonce; keystream blocks 0..3 -> KS; then counter := 4. */
function emitSetup(f: Fn): void {
  CONSTANTS.forEach((v, i) => { f.i32(STATE + 4 * i).i32(v).mem(OP.i32Store, 2); });
  for (let i = 0; i < 8; i++) f.i32(STATE + 16 + 4 * i).i32(KEY + 4 * i).mem(OP.i32Load, 2).mem(OP.i32Store, 2);
  f.i32(STATE + 48).i32(0).mem(OP.i32Store, 2);
  for (let i = 0; i < 3; i++) f.i32(STATE + 52 + 4 * i).i32(NONCE + 4 * i).mem(OP.i32Load, 2).mem(OP.i32Store, 2);
  f.i32(STATE).i32(ZERO).i32(KS).i32(256).op(OP.call, FN_XOR);
  f.i32(STATE + 48).i32(4).mem(OP.i32Store, 2);
}

/** Zero [base + len, base + pad16(len)): the MAC's padding. */
function emitZeroPad(f: Fn, base: number, len: number): void {
  const at = f.local(I32);
  const end = f.local(I32);
  f.i32(base).get(len).op(OP.i32Add).set(at);
  f.i32(base); pad16(f, len); f.op(OP.i32Add).set(end);
  f.until(() => f.get(at).get(end).op(OP.i32GeU), () => {
    f.get(at).i32(0).mem(OP.i32Store8, 0);
    f.get(at).i32(1).op(OP.i32Add).set(at);
  });
}

/** Poly1305 of AAD | pad | DATA | pad | le64(aadLen) | le64(len) into `out` (RFC 8439 section 2.8). */
function emitMac(f: Fn, aadLen: number, len: number, out: number): void {
  emitPolyInit(f, POLY, KS);
  emitZeroPad(f, AAD, aadLen);
  f.i32(AAD); pad16(f, aadLen); f.op(OP.call, FN_POLY);
  emitZeroPad(f, DATA, len);
  f.i32(DATA); pad16(f, len); f.op(OP.call, FN_POLY);
  f.i32(LENS).get(aadLen).op(OP.i64ExtendI32U).mem(OP.i64Store, 3);
  f.i32(LENS + 8).get(len).op(OP.i64ExtendI32U).mem(OP.i64Store, 3);
  f.i32(LENS).i32(16).op(OP.call, FN_POLY);
  emitPolyFinish(f, POLY, out);
}

/**
 * XOR DATA with the keystream from counter 1: blocks 1..3 are already in KS
 * (computed with block 0), the rest from counter 4 in whole 256-byte steps.
 * Bytes past len are scratch.
 */
function emitCrypt(f: Fn, len: number): void {
  for (let i = 0; i < 12; i++) {
    f.i32(DATA + 16 * i);
    f.i32(DATA + 16 * i).simdMem(SIMD.load, 0, 0);
    f.i32(KS + 64 + 16 * i).simdMem(SIMD.load, 0, 0);
    f.simd(SIMD.xor).simdMem(SIMD.store, 0, 0);
  }
  // (len - 192) rounded up to 256, or 0 for len <= 192: (len + 63) & -256
  f.i32(STATE).i32(DATA + 192).i32(DATA + 192);
  f.get(len).i32(63).op(OP.i32Add).i32(-256).op(OP.i32And);
  f.op(OP.call, FN_XOR);
}

function sealFn(): Fn {
  const f = new Fn([I32, I32], []);
  emitSetup(f);
  emitCrypt(f, 1);
  emitMac(f, 0, 1, TAG);
  return f;
}

function openFn(): Fn {
  const f = new Fn([I32, I32], [I32]);
  const diff = f.local(I32);
  emitSetup(f);
  emitMac(f, 0, 1, EXPECT);
  for (let i = 0; i < 4; i++) {
    f.get(diff).i32(TAG + 4 * i).mem(OP.i32Load, 2).i32(EXPECT + 4 * i).mem(OP.i32Load, 2).op(OP.i32Xor).op(OP.i32Or).set(diff);
  }
  f.get(diff).op(OP.i32Eqz).op(OP.if, OP.void);
  emitCrypt(f, 1);
  f.op(OP.end);
  f.get(diff).op(OP.i32Eqz);
  return f;
}

/** The module bytes (exported for tests and the benchmark). */
export function chachaPolyModule(): Uint8Array {
  return module([chacha20XorFn(), poly1305BlocksFn(POLY), sealFn(), openFn()], ['xor', 'poly', 'seal', 'open'], PAGES);
}

/** The slice of the WebAssembly JS API used here (this project's TypeScript lib has no DOM types). */
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
}
const wasmApi = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

interface Instance {
  mem: Uint8Array;
  view: DataView;
  seal: (aadLen: number, len: number) => void;
  open: (aadLen: number, len: number) => number;
}

let instance: Instance | null | undefined;

function load(): Instance | null {
  if (instance !== undefined) return instance;
  instance = null;
  if (process.env['WGTS_WASM_AEAD'] === '0') return null;
  try {
    const bytes = chachaPolyModule();
    if (!wasmApi || !wasmApi.validate(bytes)) return null; // no WebAssembly, or no SIMD
    const exp = new wasmApi.Instance(new wasmApi.Module(bytes)).exports as unknown as {
      mem: { buffer: ArrayBuffer }; seal: Instance['seal']; open: Instance['open'];
    };
    instance = { mem: new Uint8Array(exp.mem.buffer), view: new DataView(exp.mem.buffer), seal: exp.seal, open: exp.open };
  } catch {
    instance = null;
  }
  return instance;
}

/** Whether this thread runs the WebAssembly AEAD (false: node:crypto is used). */
export function wasmAeadAvailable(): boolean {
  return load() !== null;
}

function writeNonce(x: Instance, counter: number | bigint): void {
  x.view.setUint32(NONCE, 0, true);
  if (typeof counter === 'bigint') {
    x.view.setBigUint64(NONCE + 4, counter, true);
  } else {
    x.view.setUint32(NONCE + 4, counter >>> 0, true);
    x.view.setUint32(NONCE + 8, Math.floor(counter / 0x1_0000_0000), true);
  }
}

/**
 * Bytes from DATA that a call of `len` bytes may have written: emitCrypt XORs
 * 192 bytes, then (len - 192) rounded up to 256; the MAC pads to 16 within that.
 */
function dataWritten(len: number): number {
  return 192 + ((len + 63) & -256);
}

/** Zero everything a call wrote; the cost is a memset of about the message's size. */
function wipe(x: Instance, aadLen: number, len: number): void {
  x.mem.fill(0, STATE, ZERO); // cipher state and Poly1305 state
  x.mem.fill(0, KS, AAD); // keystream blocks 0..3, key, nonce, tag, lengths, expected tag
  x.mem.fill(0, AAD, AAD + ((aadLen + 15) & -16));
  x.mem.fill(0, DATA, DATA + dataWritten(len));
}

/** The instance's memory (null without WebAssembly), for tests that check nothing is left in it. */
export function wasmAeadMemory(): Uint8Array | null {
  return load()?.mem ?? null;
}

/**
 * Seal `plaintext` with the WireGuard nonce for `counter` into dst at
 * dstOffset (ciphertext, then the 16-byte tag); dst may overlap plaintext.
 * false: not handled here (no WebAssembly SIMD, or too long) - use node:crypto.
 */
export function wasmSealInto(
  key: Uint8Array, counter: number | bigint, plaintext: Uint8Array, dst: Uint8Array, dstOffset: number, aad?: Uint8Array,
): boolean {
  const n = plaintext.length;
  const aadLen = aad ? aad.length : 0;
  if (n > MAX_DATA || aadLen > MAX_AAD || key.length !== 32) return false;
  const x = load();
  if (!x) return false;
  if (dstOffset < 0 || dstOffset + n + 16 > dst.length) throw new RangeError('aead: destination too small');
  x.mem.set(key, KEY);
  writeNonce(x, counter);
  if (aad && aadLen) x.mem.set(aad, AAD);
  x.mem.set(plaintext, DATA);
  x.seal(aadLen, n);
  dst.set(x.mem.subarray(DATA, DATA + n), dstOffset);
  dst.set(x.mem.subarray(TAG, TAG + 16), dstOffset + n);
  wipe(x, aadLen, n);
  return true;
}

/**
 * Open ciphertext | tag under `counter`: the plaintext (written into `out`
 * when given, which must hold sealed.length - 16 bytes), null when the tag
 * does not verify, or undefined when not handled here (use node:crypto).
 */
export function wasmOpen(
  key: Uint8Array, counter: number | bigint, sealed: Uint8Array, out?: Uint8Array, aad?: Uint8Array,
): Uint8Array | null | undefined {
  if (sealed.length < 16) return null;
  const n = sealed.length - 16;
  const aadLen = aad ? aad.length : 0;
  if (n > MAX_DATA || aadLen > MAX_AAD || key.length !== 32) return undefined;
  const x = load();
  if (!x) return undefined;
  x.mem.set(key, KEY);
  writeNonce(x, counter);
  if (aad && aadLen) x.mem.set(aad, AAD);
  x.mem.set(sealed.subarray(0, n), DATA);
  x.mem.set(sealed.subarray(n), TAG);
  const ok = x.open(aadLen, n) === 1;
  let dst: Uint8Array | null = null;
  if (ok && out && out.length >= n) {
    dst = out.subarray(0, n);
  } else if (ok && !out) {
    const pooled = Buffer.allocUnsafe(n); // every byte is written below
    dst = new Uint8Array(pooled.buffer, pooled.byteOffset, n);
  }
  if (dst) dst.set(x.mem.subarray(DATA, DATA + n));
  wipe(x, aadLen, n);
  if (!ok) return null;
  if (!dst) throw new RangeError('aead: output too small');
  return dst;
}
