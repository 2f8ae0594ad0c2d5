/**
 * Shared types of the port-mapping service: the [PortMapping]
 * policy the config builds, and the lease store the three protocol
 * front-ends (NAT-PMP, PCP, UPnP IGD) call. Pure data; no I/O.
 *
 *   request (natpmp.ts / pcp.ts / upnp/) -> LeaseStore.map(req, now)
 *   -> policy check (allow-list, per-peer cap, lifetime cap) -> Lease
 *   -> the driver turns every live lease into a [Forward]-style rule
 *   public listenAddress:externalPort -> internalAddress:internalPort.
 */

export type MapProtocol = 'tcp' | 'udp';
export type MapOrigin = 'natpmp' | 'pcp' | 'upnp';
export type PortMapService = 'natpmp' | 'pcp' | 'upnp';

/** One line of the allow-list, in the spirit of miniupnpd's `allow 1024-65535 10.0.0.0/24 1024-65535`. */
export interface PermRule {
  allow: boolean;
  /** Inclusive external port range. */
  external: [number, number];
  /** Canonical IP text and prefix length: the requesting (internal) address must be inside. */
  prefix: { ip: string; cidr: number; family: 4 | 6 };
  /** Inclusive internal port range. */
  internal: [number, number];
  /** Config line, for messages. 0 when built in code. */
  line: number;
}

export interface PortMapPolicy {
  /** Which front-ends answer. */
  services: Record<PortMapService, boolean>;
  /** The external IPv4 address to report; undefined: the driver picks one (the listen address, or the host's first public one). */
  externalAddress: string | undefined;
  /** Where mapped public ports listen on the host (default 0.0.0.0). */
  listenAddress: string;
  /**
   * First match wins. An empty list means the default rule:
   * allow external 1024-65535 from any address, internal 1024-65535.
   * A non-empty list with no match refuses.
   */
  rules: PermRule[];
  /** Longest lease granted, in seconds; longer requests are cut to it. */
  maxLifetime: number;
  /** Live mappings one peer may hold at once. */
  maxMappingsPerPeer: number;
  /** TCP port of the UPnP IGD HTTP server on the tunnel address. */
  upnpHttpPort: number;
}

export interface Lease {
  protocol: MapProtocol;
  externalPort: number;
  /** Canonical IP text: the requesting host's tunnel address. */
  internalAddress: string;
  internalPort: number;
  /** The requesting peer (base64 public key): the peer whose AllowedIPs hold internalAddress. */
  peer: string;
  origin: MapOrigin;
  /** UPnP NewPortMappingDescription; '' for NAT-PMP and PCP. */
  description: string;
  /** Seconds granted (after the cap). */
  lifetime: number;
  /** Monotonic ms when it lapses. */
  expiresAt: number;
  /** PCP mapping nonce (12 bytes); undefined for NAT-PMP and UPnP. */
  nonce?: Uint8Array | undefined;
}

export interface MapRequest {
  protocol: MapProtocol;
  internalAddress: string;
  internalPort: number;
  /** Suggested external port; 0 = any. */
  externalPort: number;
  /**
   * True: only externalPort will do (UPnP AddPortMapping, PCP PREFER_FAILURE);
   * false: another free allowed port may be assigned (NAT-PMP, PCP).
   */
  exact: boolean;
  /** Seconds requested, > 0 (deletion is unmap()). */
  lifetime: number;
  peer: string;
  origin: MapOrigin;
  description?: string;
  nonce?: Uint8Array;
}

export type MapError =
  /** The allow-list refuses it (NAT-PMP 2, PCP NOT_AUTHORIZED, UPnP 606/718...). */
  | 'not-authorized'
  /** The peer holds maxMappingsPerPeer already, or no allowed port is free (NAT-PMP 4, PCP NO_RESOURCES / USER_EX_QUOTA). */
  | 'no-resources'
  | 'quota'
  /** exact was asked and the port is held by another host, a static [Forward], or another lease (UPnP 718, PCP CANNOT_PROVIDE_EXTERNAL). */
  | 'conflict';

export type MapResult = { ok: true; lease: Lease; renewed: boolean } | { ok: false; error: MapError };

/** What the protocol front-ends need from the lease table. */
export interface LeaseStore {
  /** Create, or renew when the same internal address+port+protocol already holds a lease (same peer). */
  map(req: MapRequest, now: number): MapResult;
  /**
   * Delete the lease of internalAddress:internalPort/protocol (NAT-PMP and PCP
   * lifetime 0), or every lease of internalAddress when internalPort is 0 and
   * protocol is null (NAT-PMP "delete all"). Returns what was removed.
   */
  unmap(protocol: MapProtocol | null, internalAddress: string, internalPort: number, now: number): Lease[];
  /** Delete by external port (UPnP DeletePortMapping). */
  removeExternal(protocol: MapProtocol, externalPort: number): Lease | undefined;
  findExternal(protocol: MapProtocol, externalPort: number): Lease | undefined;
  /** Live leases, ordered by (protocol, externalPort): UPnP GetGenericPortMappingEntry indexes into this. */
  list(): Lease[];
  /** The policy in force (front-ends read externalAddress etc. from it). */
  readonly policy: PortMapPolicy;
}

/** What every front-end handler is given besides the request itself. */
export interface PortMapContext {
  store: LeaseStore;
  /** The resolved external IPv4 address (dotted quad) to report. */
  externalAddress: string;
  /** The peer (base64 public key) whose AllowedIPs hold `address`, or null (then the request is refused). */
  peerOf(address: string): string | null;
  /** Monotonic ms when the service started: NAT-PMP/PCP "seconds since start of epoch" is (now - epochStart) / 1000. */
  epochStart: number;
}
