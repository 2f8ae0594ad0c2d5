/**
 * Transport (type 4) message layout, whitepaper 5.4.6:
 *   type u8 = 4 | reserved 3 | receiver u32 LE | counter u64 LE | AEAD(padded inner packet)
 * framing, sealing and opening it (the WebAssembly AEAD, else node:crypto),
 * and the inner IP header fields needed to trim padding and to route by
 * source/destination address (cryptokey routing, whitepaper section 3).
 */
import { open, sealInto, TAG_LEN } from '../crypto/aead.js';
import { wasmOpen, wasmSealInto } from '../crypto/chachapoly-wasm.js';
import { MESSAGE_TRANSPORT, PADDING_MULTIPLE, TRANSPORT_HEADER_SIZE } from '../noise/constants.js';

export function writeTransportHeader(out: Uint8Array, receiver: number, counter: number): void {
  const dv = new DataView(out.buffer, out.byteOffset, TRANSPORT_HEADER_SIZE);
  dv.setUint32(0, MESSAGE_TRANSPORT, true);
  dv.setUint32(4, receiver >>> 0, true);
  dv.setUint32(8, counter >>> 0, true);
  dv.setUint32(12, Math.floor(counter / 0x1_0000_0000), true);
}

/**
 * Seal a framed message in place: msg = header | padded plaintext | 16 spare
 * bytes; the plaintext becomes ciphertext and the tag fills the spare bytes.
 */
export function sealFrame(key: Uint8Array, counter: number | bigint, msg: Uint8Array): void {
  const plain = msg.subarray(TRANSPORT_HEADER_SIZE, msg.length - TAG_LEN);
  if (!wasmSealInto(key, counter, plain, msg, TRANSPORT_HEADER_SIZE)) sealInto(key, counter, plain, msg, TRANSPORT_HEADER_SIZE);
}

/**
 * Open the AEAD part of a transport message (ciphertext | tag): the
 * plaintext, or null. With `out`, the WebAssembly path writes the plaintext
 * there (the node:crypto fallback returns its own buffer either way).
 */
export function openPayload(key: Uint8Array, counter: bigint, sealed: Uint8Array, out?: Uint8Array): Uint8Array | null {
  const plain = wasmOpen(key, counter, sealed, out);
  return plain !== undefined ? plain : open(key, counter, sealed);
}

/** The padded length of an inner packet: a multiple of 16, never past the MTU (wireguard-go rule). */
export function paddedLength(len: number, mtu: number): number {
  if (len === 0) return 0;
  let padded = (len + PADDING_MULTIPLE - 1) & ~(PADDING_MULTIPLE - 1);
  if (len <= mtu && padded > mtu) padded = mtu;
  return Math.max(padded, len);
}

/**
 * The real length of a decrypted inner IP packet from its header, or -1 when
 * it is not a well-formed IPv4/IPv6 header that fits in `buf`.
 */
export function innerPacketLength(buf: Uint8Array): number {
  if (buf.length < 1) return -1;
  const version = buf[0]! >> 4;
  if (version === 4) {
    if (buf.length < 20) return -1;
    const total = (buf[2]! << 8) | buf[3]!;
    const ihl = (buf[0]! & 0x0f) * 4;
    if (ihl < 20 || total < ihl || total > buf.length) return -1;
    return total;
  }
  if (version === 6) {
    if (buf.length < 40) return -1;
    const total = 40 + ((buf[4]! << 8) | buf[5]!);
    if (total > buf.length) return -1;
    return total;
  }
  return -1;
}

/**
 * Byte offset of the source address of an IP packet and its length (4/16),
 * or 0 when the packet is too short for its header, has a version other than
 * 4 or 6, or an IPv4 header length (IHL) below 5 or past the packet's end.
 * The IPv4 total-length field is left to the caller (which trims padding).
 */
function addrOffset(p: Uint8Array): number {
  if (p.length < 1) return 0;
  const v = p[0]! >> 4;
  if (v === 4) {
    if (p.length < 20) return 0;
    const ihl = (p[0]! & 0x0f) * 4;
    if (ihl < 20 || ihl > p.length) return 0;
    return 12;
  }
  if (v === 6) return p.length < 40 ? 0 : 8;
  return 0;
}

/** The source address of a raw IP packet as a view into it (no copy), or null. */
export function packetSource(packet: Uint8Array): Uint8Array | null {
  const at = addrOffset(packet);
  if (at === 0) return null;
  const len = at === 12 ? 4 : 16;
  return packet.subarray(at, at + len);
}

/**
 * A router's hop: decrement the IPv4 TTL (updating the header checksum,
 * RFC 1624 eqn. 3) or the IPv6 hop limit in place. False, and the packet
 * unchanged, when it may not be forwarded (TTL/hop limit 0 or 1).
 */
export function decrementHopLimit(p: Uint8Array): boolean {
  const at = addrOffset(p);
  if (at === 12) {
    const ttl = p[8]!;
    if (ttl <= 1) return false;
    p[8] = ttl - 1;
    // HC' = ~(~HC + ~m + m'), m = the TTL|protocol word: TTL fell by one, so the sum gains 0x0100.
    let sum = (p[10]! << 8 | p[11]!) + 0x0100;
    sum = (sum & 0xffff) + (sum >>> 16);
    p[10] = sum >> 8;
    p[11] = sum & 0xff;
    return true;
  }
  if (at === 8) {
    if (p[7]! <= 1) return false;
    p[7] = p[7]! - 1;
    return true;
  }
  return false;
}

/** IPv4 224.0.0.0/4 or 255.255.255.255, IPv6 ff00::/8 (RFC 5771, RFC 4291 section 2.7). */
export function isMulticast(addr: Uint8Array): boolean {
  if (addr.length === 4) return (addr[0]! & 0xf0) === 0xe0 || addr.every((b) => b === 255);
  return addr[0] === 0xff;
}

/** The destination address of a raw IP packet as a view into it (no copy), or null. */
export function packetDestination(packet: Uint8Array): Uint8Array | null {
  const at = addrOffset(packet);
  if (at === 0) return null;
  const len = at === 12 ? 4 : 16;
  return packet.subarray(at + len, at + 2 * len);
}
