/**
 * PROXY protocol header encoders (HAProxy's proxy-protocol.txt, versions 1
 * and 2). The relay writes one header first on the target-side connection,
 * carrying the public client's address (source) and the address it
 * connected to (destination), so the service behind the tunnel sees the
 * real client.
 *
 *   endpoints -> unmap ::ffff:a.b.c.d (both must then be one family)
 *   v1 (section 2.1): "PROXY TCP4|TCP6 src dst sport dport\r\n", or
 *                     "PROXY UNKNOWN\r\n" when the family is unknown
 *   v2 (section 2.2): 12-byte signature, ver_cmd 0x21 (v2, PROXY),
 *                     family/transport byte, length, addresses, ports;
 *                     AF_UNSPEC with no address when unknown
 */
import { formatIp, parseIp } from '../ip/text.js';
import { unmapV4 } from './rule.js';

export interface ProxyEndpoints {
  source: { address: string; port: number };
  destination: { address: string; port: number };
}

/** Section 2.2: the constant 12-byte v2 signature. */
export const PROXY_V2_SIGNATURE = Uint8Array.of(0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a);

interface Resolved {
  src: Uint8Array;
  dst: Uint8Array;
  sport: number;
  dport: number;
}

function ipBytes(address: string): Uint8Array | null {
  const zone = address.indexOf('%');
  return parseIp(unmapV4(zone >= 0 ? address.slice(0, zone) : address));
}

function port(p: number): boolean {
  return Number.isInteger(p) && p >= 0 && p <= 65535;
}

/** Both addresses of one family with valid ports, or null (sent as UNKNOWN / AF_UNSPEC). */
function resolve(e: ProxyEndpoints | null): Resolved | null {
  if (!e) return null;
  const src = ipBytes(e.source.address);
  const dst = ipBytes(e.destination.address);
  if (!src || !dst || src.length !== dst.length || !port(e.source.port) || !port(e.destination.port)) return null;
  return { src, dst, sport: e.source.port, dport: e.destination.port };
}

/** Version 1, TCP: one US-ASCII line; addresses in canonical form, no leading zeros. */
export function encodeProxyV1(e: ProxyEndpoints | null): Buffer {
  const r = resolve(e);
  if (!r) return Buffer.from('PROXY UNKNOWN\r\n', 'latin1');
  const fam = r.src.length === 4 ? 'TCP4' : 'TCP6';
  return Buffer.from(`PROXY ${fam} ${formatIp(r.src)} ${formatIp(r.dst)} ${r.sport} ${r.dport}\r\n`, 'latin1');
}

/** Version 2, command PROXY, STREAM (tcp) or DGRAM (udp) transport, no TLVs. */
export function encodeProxyV2(e: ProxyEndpoints | null, transport: 'tcp' | 'udp' = 'tcp'): Buffer {
  const r = resolve(e);
  const addrLen = r === null ? 0 : r.src.length === 4 ? 12 : 36;
  const out = Buffer.alloc(16 + addrLen);
  out.set(PROXY_V2_SIGNATURE, 0);
  out[12] = 0x21; // version 2, command PROXY
  if (r === null) {
    out[13] = 0x00; // AF_UNSPEC, UNSPEC: the receiver uses the real connection's endpoints
    out.writeUInt16BE(0, 14);
    return out;
  }
  const family = r.src.length === 4 ? 0x10 : 0x20;
  out[13] = family | (transport === 'tcp' ? 0x01 : 0x02);
  out.writeUInt16BE(addrLen, 14);
  out.set(r.src, 16);
  out.set(r.dst, 16 + r.src.length);
  out.writeUInt16BE(r.sport, 16 + 2 * r.src.length);
  out.writeUInt16BE(r.dport, 18 + 2 * r.src.length);
  return out;
}

export function encodeProxyHeader(version: 'v1' | 'v2', e: ProxyEndpoints | null): Buffer {
  return version === 'v1' ? encodeProxyV1(e) : encodeProxyV2(e, 'tcp');
}
