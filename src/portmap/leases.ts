/**
 * The lease table behind NAT-PMP (RFC 6886), PCP (RFC 6887) and UPnP IGD
 * (the port-mapping lease table): every live port mapping, keyed by protocol + external port.
 *
 *   front-end request -> map(req, now)
 *     renewal?  NAT-PMP/PCP: same protocol + internal address + port
 *               (RFC 6886 section 3.3, RFC 6887 section 11.3);
 *               UPnP: same protocol + external port held by the same
 *               internal address:port (else a conflict)
 *     new:      allow-list (policy.ts) -> per-peer cap -> table bound ->
 *               the suggested external port if free, else (not exact) the
 *               next free permitted port upward, wrapping around
 *   unmap / removeExternal / expire(now) / setPolicy / setReserved -> the
 *   leases removed, so the driver can drop their forwards.
 *
 * "Free" means: no lease holds protocol/port, no static [Forward] holds it
 * (setReserved), and no NAT-PMP/PCP lease of another host holds the same
 * port of the other protocol (RFC 6886 section 3.3: the companion port is
 * reserved for the host that mapped it). Leases whose time has passed are
 * taken out at the start of every call that takes `now`; the next expire()
 * reports them. Lifetimes are seconds, times are monotonic ms.
 * list() and map() hand out the stored Lease objects (the driver compares
 * them by identity); callers must not modify them.
 */
import { externalChecker, permits } from './policy.js';
import type { Lease, LeaseStore, MapError, MapProtocol, MapRequest, MapResult, PortMapPolicy } from './types.js';

/** Hard bound on the table, whatever the per-peer cap and peer count. */
export const MAX_LEASES = 65536;

function slot(protocol: MapProtocol, port: number): number {
  return (protocol === 'tcp' ? 0 : 65536) + port;
}

function other(protocol: MapProtocol): MapProtocol {
  return protocol === 'tcp' ? 'udp' : 'tcp';
}

function fail(error: MapError): MapResult {
  return { ok: false, error };
}

function isPort(p: number, allowZero: boolean): boolean {
  return Number.isInteger(p) && p >= (allowZero ? 0 : 1) && p <= 65535;
}

export class LeaseTable implements LeaseStore {
  private current: PortMapPolicy;
  private readonly maxLeases: number;
  private readonly byExternal = new Map<number, Lease>();
  /** NAT-PMP/PCP leases by protocol + internal address + port. */
  private readonly byKey = new Map<string, Lease>();
  private readonly perPeer = new Map<string, number>();
  private reserved = new Set<number>();
  /** Lapsed leases already taken out of byExternal, for the next expire(). */
  private lapsed: Lease[] = [];
  private sorted: Lease[] | null = null;
  /** A lower bound of every stored expiresAt: purge() scans only once it has passed. */
  private earliest = Infinity;

  /** `maxLeases` bounds the whole table (default MAX_LEASES). */
  constructor(policy: PortMapPolicy, opts: { maxLeases?: number } = {}) {
    this.current = policy;
    this.maxLeases = opts.maxLeases ?? MAX_LEASES;
  }

  get policy(): PortMapPolicy {
    return this.current;
  }

  map(req: MapRequest, now: number): MapResult {
    this.purge(now);
    if ((req.protocol !== 'tcp' && req.protocol !== 'udp') || !isPort(req.internalPort, false) || !isPort(req.externalPort, true)) {
      return fail('not-authorized');
    }
    if (!(req.lifetime > 0) || !Number.isFinite(now)) return fail('not-authorized');
    const lifetime = Math.max(1, Math.min(Math.floor(req.lifetime), Math.floor(this.current.maxLifetime)));

    // Renewal (or UPnP overwrite) of a lease this host already holds.
    let held: Lease | undefined;
    if (req.origin === 'upnp') {
      const at = req.externalPort === 0 ? undefined : this.byExternal.get(slot(req.protocol, req.externalPort));
      if (at && at.internalAddress === req.internalAddress && at.internalPort === req.internalPort) held = at;
      else if (at && req.exact) {
        return fail(permits(this.current, req.internalAddress, req.internalPort, req.externalPort) ? 'conflict' : 'not-authorized');
      }
    } else {
      held = this.findKey(req.protocol, req.internalAddress, req.internalPort);
      if (held && req.exact && req.externalPort !== 0 && held.externalPort !== req.externalPort) return fail('conflict');
    }
    if (held) {
      if (held.peer !== req.peer) {
        if (this.countPeer(req.peer) >= this.current.maxMappingsPerPeer) return fail('quota');
        this.countChange(held.peer, -1);
        this.countChange(req.peer, 1);
      }
      held.peer = req.peer;
      held.lifetime = lifetime;
      held.expiresAt = now + lifetime * 1000;
      if (req.origin !== 'upnp') {
        held.origin = req.origin;
        if (req.nonce) held.nonce = Uint8Array.from(req.nonce);
      } else if (req.description !== undefined) {
        held.description = req.description;
      }
      return { ok: true, lease: held, renewed: true };
    }

    // A new lease: allow-list first (refusals say so), then the caps.
    const allowed = externalChecker(this.current, req.internalAddress, req.internalPort);
    if (!allowed || (req.exact && req.externalPort !== 0 && !allowed(req.externalPort))) return fail('not-authorized');
    if (this.countPeer(req.peer) >= this.current.maxMappingsPerPeer) return fail('quota');
    if (this.byExternal.size >= this.maxLeases) return fail('no-resources');
    let port = 0;
    if (req.externalPort !== 0) {
      if (allowed(req.externalPort) && this.isFree(req.protocol, req.externalPort, req.internalAddress)) port = req.externalPort;
      else if (req.exact) return fail('conflict');
    }
    if (port === 0) {
      // RFC 6886 section 3.3: "If that external port is not available, the
      // NAT gateway MUST return an available external port if possible".
      const start = req.externalPort || req.internalPort;
      let sawAllowed = false;
      for (let i = 0; i < 65535; i++) {
        const p = ((start - 1 + i) % 65535) + 1;
        if (!allowed(p)) continue;
        sawAllowed = true;
        if (this.isFree(req.protocol, p, req.internalAddress)) {
          port = p;
          break;
        }
      }
      if (port === 0) return fail(sawAllowed ? 'no-resources' : 'not-authorized');
    }
    const lease: Lease = {
      protocol: req.protocol,
      externalPort: port,
      internalAddress: req.internalAddress,
      internalPort: req.internalPort,
      peer: req.peer,
      origin: req.origin,
      description: req.origin === 'upnp' ? (req.description ?? '') : '',
      lifetime,
      expiresAt: now + lifetime * 1000,
      nonce: req.origin === 'pcp' && req.nonce ? Uint8Array.from(req.nonce) : undefined,
    };
    this.add(lease);
    return { ok: true, lease, renewed: false };
  }

  unmap(protocol: MapProtocol | null, internalAddress: string, internalPort: number, now: number): Lease[] {
    this.purge(now);
    const out: Lease[] = [];
    for (const l of this.byExternal.values()) {
      if (l.internalAddress !== internalAddress) continue;
      if (protocol !== null && l.protocol !== protocol) continue;
      // One mapping: the NAT-PMP/PCP key. Port 0: every mapping of the host.
      if (internalPort !== 0 && (l.internalPort !== internalPort || l.origin === 'upnp')) continue;
      out.push(l);
    }
    for (const l of out) this.drop(l);
    return out;
  }

  removeExternal(protocol: MapProtocol, externalPort: number): Lease | undefined {
    const l = this.byExternal.get(slot(protocol, externalPort));
    if (l) this.drop(l);
    return l;
  }

  findExternal(protocol: MapProtocol, externalPort: number): Lease | undefined {
    return this.byExternal.get(slot(protocol, externalPort));
  }

  /** Stored leases by (protocol, externalPort); may include lapsed ones until expire() runs. */
  list(): Lease[] {
    this.sorted ??= [...this.byExternal.values()].sort((a, b) => slot(a.protocol, a.externalPort) - slot(b.protocol, b.externalPort));
    return this.sorted.slice();
  }

  /** Removes and returns every lease whose time is up (and those already taken out by other calls). */
  expire(now: number): Lease[] {
    this.purge(now);
    const out = this.lapsed;
    this.lapsed = [];
    return out;
  }

  /** Monotonic ms of the next expiry (a past time when expire() has leases to report); Infinity when empty. */
  nextDeadline(): number {
    let next = Infinity;
    for (const l of this.lapsed) next = Math.min(next, l.expiresAt);
    for (const l of this.byExternal.values()) next = Math.min(next, l.expiresAt);
    return next;
  }

  /**
   * Replaces the policy (SIGHUP). Leases the new allow-list refuses are
   * removed and returned; longer lifetimes are cut to the new cap. Peers
   * above a lowered per-peer cap keep their leases until they lapse.
   */
  setPolicy(policy: PortMapPolicy, now: number): Lease[] {
    this.current = policy;
    const out: Lease[] = [];
    const cap = Math.max(1, Math.floor(policy.maxLifetime));
    for (const l of this.byExternal.values()) {
      if (!permits(policy, l.internalAddress, l.internalPort, l.externalPort)) {
        out.push(l);
      } else if (l.lifetime > cap) {
        l.lifetime = cap;
        l.expiresAt = Math.min(l.expiresAt, now + cap * 1000);
        this.earliest = Math.min(this.earliest, l.expiresAt);
      }
    }
    for (const l of out) this.drop(l);
    return out;
  }

  /** External ports held by static [Forward] rules; leases on them are removed and returned. */
  setReserved(ports: Array<{ protocol: MapProtocol; port: number }>): Lease[] {
    this.reserved = new Set(ports.filter((p) => isPort(p.port, false)).map((p) => slot(p.protocol, p.port)));
    const out: Lease[] = [];
    for (const [k, l] of this.byExternal) if (this.reserved.has(k)) out.push(l);
    for (const l of out) this.drop(l);
    return out;
  }

  private findKey(protocol: MapProtocol, internalAddress: string, internalPort: number): Lease | undefined {
    return this.byKey.get(`${protocol} ${internalAddress} ${internalPort}`);
  }

  private countPeer(peer: string): number {
    return this.perPeer.get(peer) ?? 0;
  }

  private countChange(peer: string, delta: number): void {
    const n = this.countPeer(peer) + delta;
    if (n > 0) this.perPeer.set(peer, n);
    else this.perPeer.delete(peer);
  }

  private isFree(protocol: MapProtocol, port: number, internalAddress: string): boolean {
    const k = slot(protocol, port);
    if (this.byExternal.has(k) || this.reserved.has(k)) return false;
    const companion = this.byExternal.get(slot(other(protocol), port));
    return !companion || companion.origin === 'upnp' || companion.internalAddress === internalAddress;
  }

  private add(l: Lease): void {
    this.byExternal.set(slot(l.protocol, l.externalPort), l);
    if (l.origin !== 'upnp') this.byKey.set(`${l.protocol} ${l.internalAddress} ${l.internalPort}`, l);
    this.countChange(l.peer, 1);
    this.earliest = Math.min(this.earliest, l.expiresAt);
    this.sorted = null;
  }

  private drop(l: Lease): void {
    const k = slot(l.protocol, l.externalPort);
    if (this.byExternal.get(k) !== l) return;
    this.byExternal.delete(k);
    const key = `${l.protocol} ${l.internalAddress} ${l.internalPort}`;
    if (this.byKey.get(key) === l) this.byKey.delete(key);
    this.countChange(l.peer, -1);
    this.sorted = null;
  }

  private purge(now: number): void {
    if (!(now >= this.earliest)) return;
    const gone: Lease[] = [];
    let earliest = Infinity;
    for (const l of this.byExternal.values()) {
      if (l.expiresAt <= now) gone.push(l);
      else earliest = Math.min(earliest, l.expiresAt);
    }
    for (const l of gone) {
      this.drop(l);
      this.lapsed.push(l);
    }
    this.earliest = earliest;
  }
}
