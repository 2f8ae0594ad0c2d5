/**
 * Hand-built packets for the TUN tests, independent of src/netstack: an
 * RFC 1071 Internet checksum, ICMP echo request over IPv4 (RFC 792) and
 * ICMPv6 echo request over IPv6 (RFC 4443, pseudo-header of RFC 8200 8.1),
 * and a minimal IPv4/UDP packet (RFC 768) for the benchmark.
 */

/** RFC 1071 one's-complement sum over the given byte ranges, folded and inverted. */
export function inetChecksum(...parts: Uint8Array[]): number {
  let sum = 0;
  for (const p of parts) {
    for (let i = 0; i + 1 < p.length; i += 2) sum += (p[i]! << 8) | p[i + 1]!;
    if (p.length % 2) sum += p[p.length - 1]! << 8;
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

export function ipv4Bytes(a: string): Uint8Array {
  return Uint8Array.from(a.split('.').map(Number));
}

/** Full 16-byte form of an IPv6 address (handles one "::"). */
export function ipv6Bytes(a: string): Uint8Array {
  const [head, tail] = a.includes('::') ? a.split('::') : [a, undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  });
  return out;
}

function put16(b: Uint8Array, off: number, v: number): void {
  b[off] = v >> 8;
  b[off + 1] = v & 0xff;
}

export function ipv4Header(src: string, dst: string, proto: number, payloadLen: number, id = 0x1234): Uint8Array {
  const h = new Uint8Array(20);
  h[0] = 0x45;
  put16(h, 2, 20 + payloadLen);
  put16(h, 4, id);
  h[6] = 0x40; // DF
  h[8] = 64;
  h[9] = proto;
  h.set(ipv4Bytes(src), 12);
  h.set(ipv4Bytes(dst), 16);
  put16(h, 10, inetChecksum(h));
  return h;
}

export function icmpv4Echo(src: string, dst: string, ident: number, seq: number, data: Uint8Array): Uint8Array {
  const icmp = new Uint8Array(8 + data.length);
  icmp[0] = 8; // echo request
  put16(icmp, 4, ident);
  put16(icmp, 6, seq);
  icmp.set(data, 8);
  put16(icmp, 2, inetChecksum(icmp));
  const p = new Uint8Array(20 + icmp.length);
  p.set(ipv4Header(src, dst, 1, icmp.length), 0);
  p.set(icmp, 20);
  return p;
}

export function icmpv6Echo(src: string, dst: string, ident: number, seq: number, data: Uint8Array): Uint8Array {
  const icmp = new Uint8Array(8 + data.length);
  icmp[0] = 128; // echo request
  put16(icmp, 4, ident);
  put16(icmp, 6, seq);
  icmp.set(data, 8);
  const s = ipv6Bytes(src);
  const d = ipv6Bytes(dst);
  const pseudo = new Uint8Array(40);
  pseudo.set(s, 0);
  pseudo.set(d, 16);
  pseudo[35] = icmp.length & 0xff;
  pseudo[34] = icmp.length >> 8;
  pseudo[39] = 58;
  put16(icmp, 2, inetChecksum(pseudo, icmp));
  const p = new Uint8Array(40 + icmp.length);
  p[0] = 0x60;
  put16(p, 4, icmp.length);
  p[6] = 58;
  p[7] = 64;
  p.set(s, 8);
  p.set(d, 24);
  p.set(icmp, 40);
  return p;
}

/** IPv4/UDP with a zero UDP checksum (allowed for IPv4, RFC 768). */
export function udpv4(src: string, dst: string, sport: number, dport: number, payload: Uint8Array): Uint8Array {
  const p = new Uint8Array(28 + payload.length);
  p.set(ipv4Header(src, dst, 17, 8 + payload.length), 0);
  put16(p, 20, sport);
  put16(p, 22, dport);
  put16(p, 24, 8 + payload.length);
  p.set(payload, 28);
  return p;
}
