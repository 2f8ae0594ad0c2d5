/**
 * PCP server (RFC 6887), answered inside the tunnel on UDP 5351 for
 * datagrams whose first byte (version) is not 0. Supports ANNOUNCE and MAP.
 *
 *   datagram -> section 8.3 checks, in order:
 *     < 2 bytes or R bit set -> drop; version != 2 -> UNSUPP_VERSION
 *     (section 9, a bare 24-byte header carrying version 2); < 24 bytes ->
 *     drop; > 1100 or not a multiple of 4 -> MALFORMED_REQUEST; opcode not
 *     ANNOUNCE/MAP -> UNSUPP_OPCODE; MAP under 60 bytes -> MALFORMED_REQUEST;
 *     client IP field != source address -> ADDRESS_MISMATCH; options
 *     (section 7.3): unknown mandatory (< 128) -> UNSUPP_OPTION, bad
 *     length/repeat/wrong opcode -> MALFORMED_OPTION, optional ones skipped
 *   ANNOUNCE (section 14.1) -> SUCCESS, lifetime 0
 *   MAP (section 11) for the SENDER's address -> LeaseStore.map / removal;
 *     lifetime 0 deletes (section 15), PREFER_FAILURE (section 13.2) makes
 *     the suggested port exact, a nonce that does not match the existing
 *     mapping's is NOT_AUTHORIZED (section 11.3)
 *   -> { reply bytes, changed: a lease was created, renewed or removed }
 *
 * Error responses (section 8.3) are the response header followed by a copy
 * of the request's opcode data and options (cut to 1100 bytes); their
 * Lifetime is 30 s for short and 1800 s for long lifetime errors (section
 * 7.4). Addresses are 16 bytes, IPv4 as ::ffff:a.b.c.d (section 5). Never
 * throws: anything unexpected drops. No reply is longer than its request,
 * except UNSUPP_VERSION (24 bytes).
 */
import { parseIp } from '../ip/text.js';
import { epochSeconds, type PortMapReply } from './natpmp.js';
import { canonicalAddress } from './policy.js';
import type { Lease, MapProtocol, PortMapContext } from './types.js';

export const PCP_VERSION = 2;

/** Result codes, RFC 6887 section 7.4. */
export const PCP_RESULT = {
  SUCCESS: 0,
  UNSUPP_VERSION: 1,
  NOT_AUTHORIZED: 2,
  MALFORMED_REQUEST: 3,
  UNSUPP_OPCODE: 4,
  UNSUPP_OPTION: 5,
  MALFORMED_OPTION: 6,
  NETWORK_FAILURE: 7,
  NO_RESOURCES: 8,
  UNSUPP_PROTOCOL: 9,
  USER_EX_QUOTA: 10,
  CANNOT_PROVIDE_EXTERNAL: 11,
  ADDRESS_MISMATCH: 12,
  EXCESSIVE_REMOTE_PEERS: 13,
} as const;

export const PCP_OPCODE = { ANNOUNCE: 0, MAP: 1, PEER: 2 } as const;
export const PCP_OPTION = { THIRD_PARTY: 1, PREFER_FAILURE: 2, FILTER: 3 } as const;

/** Section 7: the longest PCP message. */
export const PCP_MAX_MESSAGE = 1100;
const HEADER = 24;
const MAP_DATA = 36;
/** Recommended error lifetimes (section 7.4): short and long lifetime errors. */
export const SHORT_ERROR_LIFETIME = 30;
export const LONG_ERROR_LIFETIME = 1800;

const DROP: PortMapReply = { reply: null, changed: false };

function errorLifetime(result: number): number {
  switch (result) {
    case PCP_RESULT.NETWORK_FAILURE:
    case PCP_RESULT.NO_RESOURCES:
    case PCP_RESULT.USER_EX_QUOTA:
    case PCP_RESULT.CANNOT_PROVIDE_EXTERNAL:
    case PCP_RESULT.EXCESSIVE_REMOTE_PEERS:
      return SHORT_ERROR_LIFETIME;
    default:
      return LONG_ERROR_LIFETIME;
  }
}

/** Section 7.2 response header into out[0..24): version, R|opcode, reserved, result, lifetime, epoch, 96 reserved bits. */
function header(out: Uint8Array, opcode: number, result: number, lifetime: number, epoch: number): void {
  const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
  out[0] = PCP_VERSION;
  out[1] = 0x80 | opcode;
  out[2] = 0;
  out[3] = result;
  v.setUint32(4, lifetime);
  v.setUint32(8, epoch);
  out.fill(0, 12, HEADER);
}

/** Error response: header + the request's opcode data and options, whole 32-bit words, at most 1100 bytes. */
function errorReply(msg: Uint8Array, opcode: number, result: number, epoch: number, lifetime = errorLifetime(result)): PortMapReply {
  const len = Math.max(HEADER, Math.min(msg.length, PCP_MAX_MESSAGE) & ~3);
  const out = new Uint8Array(len);
  if (msg.length > HEADER) out.set(msg.subarray(HEADER, len), HEADER);
  header(out, opcode, result, lifetime, epoch);
  return { reply: out, changed: false };
}

/** 16-byte form of an address: IPv4 as IPv4-mapped IPv6 (section 5). */
function address16(text: string): Uint8Array | null {
  const b = parseIp(text);
  if (!b) return null;
  if (b.length === 16) return b;
  const out = new Uint8Array(16);
  out[10] = 0xff;
  out[11] = 0xff;
  out.set(b, 12);
  return out;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The all-zeros address of either family: :: or ::ffff:0.0.0.0 (section 11.1). */
function unspecified(a: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (a[i] !== 0) return false;
  const mapped = a[10] === 0xff && a[11] === 0xff;
  if (!mapped && (a[10] !== 0 || a[11] !== 0)) return false;
  return a[12] === 0 && a[13] === 0 && a[14] === 0 && a[15] === 0;
}

function externalMapped(ctx: PortMapContext): Uint8Array | null {
  const b = parseIp(ctx.externalAddress);
  if (!b || b.length !== 4 || (b[0] === 0 && b[1] === 0 && b[2] === 0 && b[3] === 0)) return null;
  return address16(ctx.externalAddress);
}

function remaining(l: Lease, now: number): number {
  return Math.max(0, Math.min(0xffffffff, Math.ceil((l.expiresAt - now) / 1000)));
}

export function handlePcp(msg: Uint8Array, from: { address: string; port: number }, ctx: PortMapContext, now: number): PortMapReply {
  try {
    return handle(msg, from, ctx, now);
  } catch {
    return DROP;
  }
}

function handle(msg: Uint8Array, from: { address: string; port: number }, ctx: PortMapContext, now: number): PortMapReply {
  if (msg.length < 2 || (msg[1]! & 0x80) !== 0) return DROP;
  const opcode = msg[1]! & 0x7f;
  const epoch = epochSeconds(ctx, now);
  if (msg[0] !== PCP_VERSION) {
    const out = new Uint8Array(HEADER);
    header(out, opcode, PCP_RESULT.UNSUPP_VERSION, LONG_ERROR_LIFETIME, epoch);
    return { reply: out, changed: false };
  }
  if (msg.length < HEADER) return DROP;
  if (msg.length > PCP_MAX_MESSAGE || msg.length % 4 !== 0) return errorReply(msg, opcode, PCP_RESULT.MALFORMED_REQUEST, epoch);
  if (opcode !== PCP_OPCODE.ANNOUNCE && opcode !== PCP_OPCODE.MAP) return errorReply(msg, opcode, PCP_RESULT.UNSUPP_OPCODE, epoch);
  const dataLen = opcode === PCP_OPCODE.MAP ? MAP_DATA : 0;
  if (msg.length < HEADER + dataLen) return errorReply(msg, opcode, PCP_RESULT.MALFORMED_REQUEST, epoch);

  const address = canonicalAddress(from.address);
  const source = address === null ? null : address16(address);
  if (!address || !source || !equalBytes(source, msg.subarray(8, HEADER))) return errorReply(msg, opcode, PCP_RESULT.ADDRESS_MISMATCH, epoch);

  // Options (section 7.3): code, reserved, 16-bit length, data padded to 4.
  let preferFailure = false;
  for (let at = HEADER + dataLen; at < msg.length; ) {
    if (at + 4 > msg.length) return errorReply(msg, opcode, PCP_RESULT.MALFORMED_OPTION, epoch);
    const code = msg[at]!;
    const len = (msg[at + 2]! << 8) | msg[at + 3]!;
    const next = at + 4 + ((len + 3) & ~3);
    if (next > msg.length) return errorReply(msg, opcode, PCP_RESULT.MALFORMED_OPTION, epoch);
    if (code === PCP_OPTION.PREFER_FAILURE) {
      // Section 13.2: MAP only, no data, at most once.
      if (opcode !== PCP_OPCODE.MAP || len !== 0 || preferFailure) return errorReply(msg, opcode, PCP_RESULT.MALFORMED_OPTION, epoch);
      preferFailure = true;
    } else if (code < 128) {
      // Mandatory to process and not supported here: THIRD_PARTY (the
      // mapping is always for the sender), FILTER, and anything unknown.
      return errorReply(msg, opcode, PCP_RESULT.UNSUPP_OPTION, epoch);
    }
    at = next;
  }

  if (opcode === PCP_OPCODE.ANNOUNCE) {
    const out = new Uint8Array(HEADER);
    header(out, opcode, PCP_RESULT.SUCCESS, 0, epoch);
    return { reply: out, changed: false };
  }
  return map(msg, address, preferFailure, ctx, now, epoch);
}

/** Section 11.1 MAP response: header + nonce, protocol, 24 reserved bits, internal port, assigned external port and address [+ PREFER_FAILURE]. */
function mapReply(msg: Uint8Array, result: number, lifetime: number, epoch: number, externalPort: number, externalAddress: Uint8Array, preferFailure: boolean): Uint8Array {
  const out = new Uint8Array(HEADER + MAP_DATA + (preferFailure ? 4 : 0));
  header(out, PCP_OPCODE.MAP, result, lifetime, epoch);
  out.set(msg.subarray(24, 37), 24); // nonce, protocol
  out.set(msg.subarray(40, 42), 40); // internal port
  out[42] = externalPort >> 8;
  out[43] = externalPort & 0xff;
  out.set(externalAddress, 44);
  if (preferFailure) out[60] = PCP_OPTION.PREFER_FAILURE;
  return out;
}

function map(msg: Uint8Array, address: string, preferFailure: boolean, ctx: PortMapContext, now: number, epoch: number): PortMapReply {
  const v = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  const lifetime = v.getUint32(4);
  const nonce = msg.slice(24, 36);
  const proto = msg[36]!;
  const internalPort = v.getUint16(40);
  const suggestedPort = v.getUint16(42);
  const suggestedAddress = msg.subarray(44, 60);
  const fail = (result: number, life?: number): PortMapReply => errorReply(msg, PCP_OPCODE.MAP, result, epoch, life);

  // Section 11.1: protocol 0 means all protocols, and then the port must be 0.
  if (proto === 0 && internalPort !== 0) return fail(PCP_RESULT.MALFORMED_REQUEST);
  // Section 13.2: PREFER_FAILURE asks for the suggested port itself, so it needs one.
  if (preferFailure && lifetime !== 0 && suggestedPort === 0) return fail(PCP_RESULT.MALFORMED_OPTION);
  if (proto !== 0 && proto !== 6 && proto !== 17) return fail(PCP_RESULT.UNSUPP_PROTOCOL);
  const peer = ctx.peerOf(address);
  if (peer === null) return fail(PCP_RESULT.NOT_AUTHORIZED);
  const protocol: MapProtocol | null = proto === 6 ? 'tcp' : proto === 17 ? 'udp' : null;
  const ours = externalMapped(ctx);

  // This host's NAT-PMP/PCP mappings that the request names (port 0 / protocol 0: all).
  const named = ctx.store
    .list()
    .filter((l) => l.origin !== 'upnp' && l.internalAddress === address && (protocol === null || l.protocol === protocol) && (internalPort === 0 || l.internalPort === internalPort));
  const single = protocol !== null && internalPort !== 0 ? named[0] : undefined;
  const nonceOk = (l: Lease): boolean => l.nonce === undefined || equalBytes(l.nonce, nonce);
  // Section 11.3: a mapping held under another nonce is refused, with the
  // Lifetime saying how long that mapping still lasts.
  if (single && !nonceOk(single)) return fail(PCP_RESULT.NOT_AUTHORIZED, remaining(single, now));

  if (lifetime === 0) {
    // Section 15: delete; deleting a mapping that does not exist succeeds.
    const removed: Lease[] = [];
    for (const l of named) if (nonceOk(l) && ctx.store.removeExternal(l.protocol, l.externalPort)) removed.push(l);
    const port = single && ours ? single.externalPort : suggestedPort;
    const addr = single && ours ? ours : suggestedAddress;
    return { reply: mapReply(msg, PCP_RESULT.SUCCESS, 0, epoch, port, addr, false), changed: removed.length > 0 };
  }

  if (protocol === null) return fail(PCP_RESULT.UNSUPP_PROTOCOL);
  if (internalPort === 0) return fail(PCP_RESULT.NOT_AUTHORIZED); // "all ports" mappings are not offered
  if (!ours) return fail(PCP_RESULT.NETWORK_FAILURE);
  if (preferFailure && !unspecified(suggestedAddress) && !equalBytes(suggestedAddress, ours)) return fail(PCP_RESULT.CANNOT_PROVIDE_EXTERNAL);

  const r = ctx.store.map(
    { protocol, internalAddress: address, internalPort, externalPort: suggestedPort, exact: preferFailure, lifetime, peer, origin: 'pcp', nonce },
    now,
  );
  if (!r.ok) {
    switch (r.error) {
      case 'not-authorized':
        return fail(PCP_RESULT.NOT_AUTHORIZED);
      case 'quota':
        return fail(PCP_RESULT.USER_EX_QUOTA);
      case 'conflict':
        return fail(preferFailure ? PCP_RESULT.CANNOT_PROVIDE_EXTERNAL : PCP_RESULT.NO_RESOURCES);
      default:
        return fail(PCP_RESULT.NO_RESOURCES);
    }
  }
  return { reply: mapReply(msg, PCP_RESULT.SUCCESS, r.lease.lifetime, epoch, r.lease.externalPort, ours, preferFailure), changed: true };
}
