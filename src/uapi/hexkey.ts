/**
 * 32-byte keys as the UAPI carries them: 64 hex digits. Parsing follows Go's
 * hex.DecodeString (either case) with the exact-length check of wireguard-go's
 * loadExactHex; printing is lower case.
 */

const KEY_LEN = 32;

/** 64 hex digits -> 32 bytes, or null. Never echoes the input anywhere. */
export function keyFromHex(s: string): Uint8Array | null {
  if (s.length !== KEY_LEN * 2 || !/^[0-9a-fA-F]*$/.test(s)) return null;
  return new Uint8Array(Buffer.from(s, 'hex'));
}

export function keyToHex(k: Uint8Array): string {
  return Buffer.from(k.buffer, k.byteOffset, k.byteLength).toString('hex');
}

export const ZERO_KEY_HEX = '0'.repeat(KEY_LEN * 2);
