/** Small byte helpers shared by the core: constant-time compare, base64 keys. */

/** Constant-time equality of two byte arrays (length is not secret). */
export function equalConstantTime(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let acc = 0;
  for (let i = 0; i < a.length; i++) acc |= a[i]! ^ b[i]!;
  return acc === 0;
}

export function isZero(a: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < a.length; i++) acc |= a[i]!;
  return acc === 0;
}

const B64_KEY = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

/** Decode a base64 WireGuard key (32 bytes, 44 chars); null if malformed. */
export function decodeKey(s: string): Uint8Array | null {
  if (!B64_KEY.test(s)) return null;
  return new Uint8Array(Buffer.from(s, 'base64'));
}

export function encodeKey(k: Uint8Array): string {
  return Buffer.from(k.buffer, k.byteOffset, k.byteLength).toString('base64');
}

export function toHex(k: Uint8Array): string {
  return Buffer.from(k.buffer, k.byteOffset, k.byteLength).toString('hex');
}
