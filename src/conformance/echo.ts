/**
 * The data-plane probe of the conformance checker: ICMP echo requests from
 * our tunnel address to the peer's (IPv4 or IPv6), and recognising the echo
 * reply that comes back inside a transport message.
 *
 *   echoRequest(src, dst, id, seq) -> IP packet -> Session.seal
 *   Session.open -> padded plaintext -> isEchoReply(plain, src, dst, id, seq)
 */
import { newPacket, sealPacket, transportChecksum } from '../netstack/ip.js';
import { checksum } from '../netstack/checksum.js';
import { ICMP4_ECHO_REPLY, ICMP4_ECHO_REQUEST, ICMP6_ECHO_REPLY, ICMP6_ECHO_REQUEST } from '../netstack/icmp.js';
import { parseIp } from '../ip/text.js';

const PROTO_ICMP = 1;
const PROTO_ICMPV6 = 58;
const PAYLOAD = new TextEncoder().encode('wgts conformance probe');

export function addressBytes(addr: string): Uint8Array {
  const b = parseIp(addr);
  if (!b) throw new Error(`not an IP address: ${addr}`);
  return b;
}

/** An ICMP echo request (or, with `reply`, an unsolicited echo reply) from src to dst. */
export function echoRequest(src: Uint8Array, dst: Uint8Array, id: number, seq: number, opts: { reply?: boolean } = {}): Uint8Array {
  const v = src.length === 4 ? 4 : 6;
  const ipLen = v === 4 ? 20 : 40;
  const p = newPacket(v, 8 + PAYLOAD.length);
  p[ipLen] = v === 4 ? (opts.reply ? ICMP4_ECHO_REPLY : ICMP4_ECHO_REQUEST) : (opts.reply ? ICMP6_ECHO_REPLY : ICMP6_ECHO_REQUEST);
  p[ipLen + 4] = id >> 8;
  p[ipLen + 5] = id & 0xff;
  p[ipLen + 6] = seq >> 8;
  p[ipLen + 7] = seq & 0xff;
  p.set(PAYLOAD, ipLen + 8);
  sealPacket(p, v, src, dst, v === 4 ? PROTO_ICMP : PROTO_ICMPV6, id ^ seq);
  const c = v === 4 ? checksum(p, ipLen) : transportChecksum(p, ipLen, src, dst, PROTO_ICMPV6);
  p[ipLen + 2] = c >> 8;
  p[ipLen + 3] = c & 0xff;
  return Uint8Array.from(p);
}

/** Whether a (padded) plaintext is the echo reply to our request (id, seq) from dst back to src. */
export function isEchoReply(plain: Uint8Array, src: Uint8Array, dst: Uint8Array, id: number, seq: number): boolean {
  const v = plain[0]! >> 4;
  if ((v === 4) !== (src.length === 4) || (v !== 4 && v !== 6)) return false;
  const ipLen = v === 4 ? (plain[0]! & 0x0f) * 4 : 40;
  if (plain.length < ipLen + 8) return false;
  const from = v === 4 ? plain.subarray(12, 16) : plain.subarray(8, 24);
  const to = v === 4 ? plain.subarray(16, 20) : plain.subarray(24, 40);
  const proto = v === 4 ? plain[9] : plain[6];
  if (proto !== (v === 4 ? PROTO_ICMP : PROTO_ICMPV6)) return false;
  if (!equal(from, dst) || !equal(to, src)) return false;
  const t = plain[ipLen]!;
  if (t !== (v === 4 ? ICMP4_ECHO_REPLY : ICMP6_ECHO_REPLY)) return false;
  return ((plain[ipLen + 4]! << 8) | plain[ipLen + 5]!) === id && ((plain[ipLen + 6]! << 8) | plain[ipLen + 7]!) === seq;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
