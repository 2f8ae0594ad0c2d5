/**
 * Types of a parsed wg-quick configuration (wg(8) "CONFIGURATION FILE FORMAT"
 * plus the wg-quick(8) extras). The parser fills them; the CLI and the device
 * read them. Keys are raw 32-byte arrays; IPs are canonical strings.
 */

import type { CongestionName } from '../netstack/cc/types.js';

/** An IP with a prefix length: an interface address or an allowed-IPs entry. */
export interface Cidr {
  /** Canonical text form: dotted quad, or RFC 5952 lower-case IPv6. */
  ip: string;
  cidr: number;
  family: 4 | 6;
}

/** A peer endpoint, kept unresolved: `host` is an IP literal (no brackets) or a hostname. */
export interface Endpoint {
  host: string;
  port: number;
}

/** wg-quick's Table setting: which routing table gets the AllowedIPs routes. */
export type RouteTable =
  | { kind: 'off' }
  | { kind: 'auto' }
  | { kind: 'id'; id: number }
  | { kind: 'name'; name: string };

export interface InterfaceConfig {
  /** Line of the [Interface] header. */
  line: number;
  privateKey: Uint8Array;
  /** Derived from privateKey (X25519 base-point multiplication). */
  publicKey: Uint8Array;
  /** undefined: choose a random port, as wg does. */
  listenPort: number | undefined;
  /** 0 means off. undefined when not given. */
  fwMark: number | undefined;
  addresses: Cidr[];
  mtu: number | undefined;
  dns: { servers: string[]; search: string[] };
  table: RouteTable | undefined;
  preUp: string[];
  postUp: string[];
  preDown: string[];
  postDown: string[];
  saveConfig: boolean | undefined;
  /** Packets queued per peer while it has no session (Device maxStagedPackets); undefined: 128. */
  maxStagedPackets?: number | undefined;
  /** TIME-WAIT entries kept by the userspace TCP stack (TcpConfig.maxTimeWait); undefined: 4096. */
  maxTimeWait?: number | undefined;
  /** IP datagrams reassembled at once (ReassemblyLimits.maxDatagrams); undefined: 64. */
  maxReassemblyBuffers?: number | undefined;
  /** Where the Prometheus /metrics and /healthz server listens (host is an IP literal); undefined: off. */
  metricsListen?: Endpoint | undefined;
  /** Congestion controller of the userspace TCP stack (TcpConfig.congestion); undefined: cubic. */
  congestion?: CongestionName | undefined;
}

export interface PeerConfig {
  /** Line of the [Peer] header. */
  line: number;
  publicKey: Uint8Array;
  presharedKey: Uint8Array | undefined;
  endpoint: Endpoint | undefined;
  /** Normalized (host bits cleared) and de-duplicated, in file order. */
  allowedIps: Cidr[];
  /** Seconds; 0 means off. */
  persistentKeepalive: number;
}

/** An error or warning tied to a place in the file. Never holds secret values. */
export interface ConfigIssue {
  file: string;
  /** 1-based; 0 when the issue is about the whole file. */
  line: number;
  /** Canonical key name when the issue is about one key. */
  key: string | undefined;
  /** One line, without the `file:line: ` prefix (see formatIssue). */
  message: string;
}

export interface WgConfig {
  interfaceName: string;
  iface: InterfaceConfig;
  peers: PeerConfig[];
  warnings: ConfigIssue[];
  sourceFile: string;
  /** Built values of extension sections, keyed by the section's canonical name. */
  extensions: Record<string, unknown[]>;
}

export type ParseResult =
  | { ok: true; config: WgConfig }
  | { ok: false; errors: ConfigIssue[]; warnings: ConfigIssue[] };

/** A key the file names instead of holding it: PrivateKeyFile, PrivateKeyEnv or PresharedKeyFile. */
export interface SecretRef {
  /** The config key that names it. */
  key: string;
  kind: 'file' | 'env';
  /** The path as written (relative paths are relative to the config file's directory), or the variable name. */
  ref: string;
  line: number;
}

/**
 * What the caller found for a SecretRef: the text (the base64 key, trailing
 * whitespace allowed) and a description of where it came from for messages
 * (an absolute path, `environment variable NAME`); or why it could not be
 * read. Neither `where` nor `error` may contain the text.
 */
export type SecretText = { ok: true; text: string; where: string } | { ok: false; error: string };

export interface ParseOptions {
  /** Overrides the name derived from the file name. */
  interfaceName?: string;
  /**
   * Looks up PrivateKeyFile / PrivateKeyEnv / PresharedKeyFile. The parser
   * itself does no IO: loadConfigFile reads the files and the environment
   * first and answers from what it read. Without it those keys are errors.
   */
  secrets?: (ref: SecretRef) => SecretText;
  /**
   * The wg-quick file a top-level `WGConfig = path` line names (wireproxy's
   * form), already parsed: its [Interface] and [Peer]s are this config's.
   * loadConfigFile reads it; without it a WGConfig line is an error.
   */
  included?: WgConfig;
  /** A [Peer] without AllowedIPs gets 0.0.0.0/0, ::/0, as wireproxy reads one (set for a WGConfig file). */
  peerDefaultAll?: boolean;
}
