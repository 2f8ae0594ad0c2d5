/**
 * NAT-PMP server (RFC 6886), answered inside the tunnel on UDP 5351 for
 * datagrams whose first byte (version) is 0.
 *
 *   datagram -> drop if < 2 bytes or a response (opcode >= 128, section 3.5)
 *   op 0 -> external address response (section 3.2)
 *   op 1/2 -> LeaseStore.map / unmap for the SENDER's address (section 3.3:
 *     "The source address of the packet MUST be used for the internal
 *     address"), lifetime 0 = delete, internal port 0 too = delete all of
 *     this host's mappings of that protocol (section 3.4)
 *   other op -> the request echoed with result 5 (section 3.5)
 *   -> { reply bytes, changed: a lease was created, renewed or removed }
 *
 * Replies are at most 16 bytes, except the unsupported-opcode echo, which is
 * never longer than the request. Never throws: anything unexpected drops.
 */
import { parseIp } from '../ip/text.js';
import { canonicalAddress } from './policy.js';
import type { MapError, MapProtocol, PortMapContext } from './types.js';

/** Result codes, RFC 6886 section 3.5. */
export const NATPMP_RESULT = {
  SUCCESS: 0,
  UNSUPPORTED_VERSION: 1,
  NOT_AUTHORIZED: 2,
  NETWORK_FAILURE: 3,
  OUT_OF_RESOURCES: 4,
  UNSUPPORTED_OPCODE: 5,
} as const;

/** Longest unsupported-opcode echo (the PCP message limit, RFC 6887 section 7). */
const MAX_ECHO = 1100;

export interface PortMapReply {
  reply: Uint8Array | null;
  changed: boolean;
}

const DROP: PortMapReply = { reply: null, changed: false };

/** Seconds Since Start of Epoch (section 3.6), as an unsigned 32-bit value. */
export function epochSeconds(ctx: PortMapContext, now: number): number {
  const s = Math.floor((now - ctx.epochStart) / 1000);
  return Number.isFinite(s) && s > 0 ? Math.min(s, 0xffffffff) : 0;
}

function errorCode(e: MapError): number {
  return e === 'not-authorized' ? NATPMP_RESULT.NOT_AUTHORIZED : NATPMP_RESULT.OUT_OF_RESOURCES;
}

function externalV4(ctx: PortMapContext): Uint8Array | null {
  const b = parseIp(ctx.externalAddress);
  return b && b.length === 4 && !(b[0] === 0 && b[1] === 0 && b[2] === 0 && b[3] === 0) ? b : null;
}

/** Section 3.3 response: vers, 128+op, result, epoch, internal port, mapped external port, lifetime. */
function mapReply(op: number, result: number, epoch: number, internalPort: number, externalPort: number, lifetime: number): Uint8Array {
  const out = new Uint8Array(16);
  const v = new DataView(out.buffer);
  out[1] = 128 + op;
  v.setUint16(2, result);
  v.setUint32(4, epoch);
  v.setUint16(8, internalPort);
  v.setUint16(10, externalPort);
  v.setUint32(12, lifetime);
  return out;
}

export function handleNatPmp(msg: Uint8Array, from: { address: string; port: number }, ctx: PortMapContext, now: number): PortMapReply {
  try {
    return handle(msg, from, ctx, now);
  } catch {
    return DROP;
  }
}

function handle(msg: Uint8Array, from: { address: string; port: number }, ctx: PortMapContext, now: number): PortMapReply {
  if (msg.length < 2) return DROP;
  const version = msg[0]!;
  const op = msg[1]!;
  // Section 3.5: a response (opcode >= 128) is silently ignored.
  if (op >= 128) return DROP;
  const epoch = epochSeconds(ctx, now);

  if (version !== 0) {
    // Section 3.5 "Unsupported Version": 8 bytes, version 0, result 1. The
    // opcode carries the response bit (as miniupnpd does) so that two
    // servers can never bounce this reply between each other as a request.
    const out = new Uint8Array(8);
    const v = new DataView(out.buffer);
    out[1] = 128 + op;
    v.setUint16(2, NATPMP_RESULT.UNSUPPORTED_VERSION);
    v.setUint32(4, epoch);
    return { reply: out, changed: false };
  }

  const address = canonicalAddress(from.address);
  if (address === null) return DROP;
  const peer = ctx.peerOf(address);

  if (op === 0) {
    // Section 3.2: vers 0, op 128, result, epoch, external IPv4 address.
    const out = new Uint8Array(12);
    const v = new DataView(out.buffer);
    out[1] = 128;
    v.setUint32(4, epoch);
    const ext = externalV4(ctx);
    if (peer === null) v.setUint16(2, NATPMP_RESULT.NOT_AUTHORIZED);
    else if (!ext) v.setUint16(2, NATPMP_RESULT.NETWORK_FAILURE);
    else out.set(ext, 8);
    return { reply: out, changed: false };
  }

  if (op === 1 || op === 2) {
    // Section 3.3 request: vers, op, reserved(16), internal port, suggested external port, lifetime.
    if (msg.length < 12) return DROP;
    const v = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
    const protocol: MapProtocol = op === 1 ? 'udp' : 'tcp';
    const internalPort = v.getUint16(4);
    const suggested = v.getUint16(6);
    const lifetime = v.getUint32(8);
    if (peer === null) return { reply: mapReply(op, NATPMP_RESULT.NOT_AUTHORIZED, epoch, internalPort, 0, 0), changed: false };

    if (lifetime === 0) {
      // Section 3.4: delete (the suggested port is ignored); internal port 0
      // deletes all of this host's mappings of the protocol. Deleting what
      // does not exist succeeds. The reply carries external port 0, lifetime 0.
      const removed = ctx.store.unmap(protocol, address, internalPort, now);
      return { reply: mapReply(op, NATPMP_RESULT.SUCCESS, epoch, internalPort, 0, 0), changed: removed.length > 0 };
    }

    if (!externalV4(ctx)) return { reply: mapReply(op, NATPMP_RESULT.NETWORK_FAILURE, epoch, internalPort, 0, 0), changed: false };
    const r = ctx.store.map(
      { protocol, internalAddress: address, internalPort, externalPort: suggested, exact: false, lifetime, peer, origin: 'natpmp' },
      now,
    );
    if (!r.ok) return { reply: mapReply(op, errorCode(r.error), epoch, internalPort, 0, 0), changed: false };
    return { reply: mapReply(op, NATPMP_RESULT.SUCCESS, epoch, internalPort, r.lease.externalPort, r.lease.lifetime), changed: true };
  }

  // Section 3.5: an unknown request opcode (< 128) is returned whole with the
  // top bit of the opcode set and result code 5.
  const out = new Uint8Array(Math.max(4, Math.min(msg.length, MAX_ECHO)));
  out.set(msg.subarray(0, out.length));
  out[1] = op | 128;
  out[2] = 0;
  out[3] = NATPMP_RESULT.UNSUPPORTED_OPCODE;
  return { reply: out, changed: false };
}
