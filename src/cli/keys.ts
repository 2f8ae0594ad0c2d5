/**
 * Key subcommands compatible with wg(8) `genkey`, `genpsk` and `pubkey`.
 * Pure: random bytes or stdin bytes in, one output line (44 base64 chars +
 * "\n") or an error message out; src/cli/main.ts does the I/O.
 * Input rules follow wireguard-tools src/pubkey.c and src/encoding.c: exactly
 * 44 leading bytes of standard base64 ending in "=" with zero pad bits, then
 * only NUL or ASCII whitespace. Errors never contain the key material.
 */
import { clampPrivateKey, publicKey } from '../crypto/x25519.js';
import { decodeKey, encodeKey } from '../crypto/util.js';

export type Random = (n: number) => Uint8Array;

export const KEY_LEN = 32;
/** Base64 length of a key, as written by wg (with one "=" of padding). */
export const KEY_B64_LEN = 44;

export const KEY_FORMAT_ERROR = 'Key is not the correct length or format';
export const TRAILING_ERROR = 'Trailing characters found after key';

export type PubkeyResult = { ok: true; line: string } | { ok: false; error: string };

function draw(random: Random): Uint8Array {
  const r = random(KEY_LEN);
  if (r.length !== KEY_LEN) throw new Error(`random source returned ${r.length} bytes, wanted ${KEY_LEN}`);
  return r;
}

/** `wg genkey`: 32 random bytes, clamped (RFC 7748 section 5), as a base64 line. */
export function genkey(random: Random): string {
  const r = draw(random);
  const k = clampPrivateKey(r);
  r.fill(0);
  const line = encodeKey(k) + '\n';
  k.fill(0);
  return line;
}

/** `wg genpsk`: 32 random bytes, unclamped, as a base64 line. */
export function genpsk(random: Random): string {
  const r = draw(random);
  const line = encodeKey(r) + '\n';
  r.fill(0);
  return line;
}

/** Bytes wg accepts after the key: NUL, tab, LF, VT, FF, CR and space. */
export function isTrailingFiller(byte: number): boolean {
  return byte === 0 || byte === 0x20 || (byte >= 0x09 && byte <= 0x0d);
}

/**
 * `wg pubkey`: the whole of stdin in, the public key line out. As in wg,
 * trailing garbage is reported before the key itself is validated.
 */
export function pubkey(input: Uint8Array): PubkeyResult {
  if (input.length < KEY_B64_LEN) return { ok: false, error: KEY_FORMAT_ERROR };
  for (let i = KEY_B64_LEN; i < input.length; i++) {
    if (!isTrailingFiller(input[i]!)) return { ok: false, error: TRAILING_ERROR };
  }
  const text = Buffer.from(input.buffer, input.byteOffset, KEY_B64_LEN).toString('latin1');
  const priv = decodeKey(text);
  if (!priv) return { ok: false, error: KEY_FORMAT_ERROR };
  const pub = publicKey(priv);
  priv.fill(0);
  return { ok: true, line: encodeKey(pub) + '\n' };
}
