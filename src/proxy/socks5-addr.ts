/**
 * The address field of SOCKS5 (RFC 1928 section 4/5/7), shared by requests,
 * replies and UDP datagram headers:
 *
 *   ATYP 1: 4-byte IPv4 | ATYP 3: length byte + name | ATYP 4: 16-byte IPv6, then PORT (2 bytes)
 */
import { formatIp, parseIp } from '../ip/text.js';

export type AddressField = { host: string; port: number; end: number } | { error: 'bad-name' | 'bad-address-type' };

/** The field starting at `at` (the ATYP byte); null when it is not all there yet. */
export function readAddress(b: Buffer, at: number): AddressField | null {
  if (b.length < at + 2) return null;
  const atyp = b[at]!;
  let host: string;
  let p: number;
  if (atyp === 1) {
    if (b.length < at + 7) return null;
    host = formatIp(b.subarray(at + 1, at + 5));
    p = at + 5;
  } else if (atyp === 4) {
    if (b.length < at + 19) return null;
    host = formatIp(b.subarray(at + 1, at + 17));
    p = at + 17;
  } else if (atyp === 3) {
    const n = b[at + 1]!;
    if (b.length < at + 2 + n + 2) return null;
    host = b.subarray(at + 2, at + 2 + n).toString('latin1');
    p = at + 2 + n;
    if (n === 0 || !/^[A-Za-z0-9._-]+$/.test(host)) return { error: 'bad-name' };
  } else {
    return { error: 'bad-address-type' };
  }
  return { host, port: b.readUInt16BE(p), end: p + 2 };
}

/** ATYP ADDR PORT for an IP literal. */
export function writeAddress(ip: string, port: number): Buffer {
  const a = parseIp(ip) ?? new Uint8Array(4);
  const out = Buffer.alloc(3 + a.length);
  out[0] = a.length === 4 ? 1 : 4;
  out.set(a, 1);
  out.writeUInt16BE(port, 1 + a.length);
  return out;
}
