/**
 * Opt-in Prometheus endpoint (MetricsListen). On each request a snapshot is
 * taken (driverSnapshot: Driver peers, drops, send errors + NatHost unit
 * stats), rendered as text exposition format 0.0.4 (renderMetrics) or judged
 * for /healthz (health: some peer handshook within 180 s, REJECT_AFTER_TIME
 * of the whitepaper §6.1). Kubernetes-style probes beside it: /livez (the
 * process answers and can read its counters: 200, else 500) and /readyz (the
 * interface finished starting and is not shutting down: 200, else 503 with
 * the reason); neither depends on a peer, so a pod is not restarted or taken
 * out of service because a remote peer is away (that is /healthz's job).
 * Only public keys appear; no key material is read.
 * Hostile clients are bounded: a cap on connections in all and per client
 * address (a scraper needs one), headers within HEADERS_TIMEOUT_MS (checked
 * every CHECK_INTERVAL_MS, so a slowloris or a silent connection is cut
 * off), headers of at most MAX_HEADER_BYTES (else 431), idle sockets closed.
 * Format: https://prometheus.io/docs/instrumenting/exposition_formats/
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { encodeKey } from '../crypto/util.js';
import { REJECT_AFTER_TIME } from '../transport/constants.js';
import type { UnitStats } from '../nat/index.js';
import type { Driver } from './driver.js';
import type { NatHost } from './nat-host.js';

export interface PeerSample {
  /** Base64 public key (never a private key). */
  publicKey: string;
  rxBytes: number;
  txBytes: number;
  /** Unix seconds of the last handshake; null: never. */
  lastHandshakeUnix: number | null;
  /** Seconds since the last handshake (monotonic clock); null: never. */
  handshakeAge: number | null;
}

export interface MetricsSnapshot {
  interface: string;
  peers: PeerSample[];
  /** Device drops by reason. */
  drops: Record<string, number>;
  /** Outer datagrams the socket failed to send, by error code. */
  sendErrors: Record<string, number>;
  /** One entry per [Forward] / [Expose] unit. */
  units: UnitStats[];
  /** One entry per proxy or wireproxy tunnel section (filled in by the running interface). */
  proxies?: ProxySample[];
}

/** A [Socks5]/[http] proxy or a wireproxy tunnel section's counters (no credentials). */
export interface ProxySample {
  kind: string;
  /** Where it takes connections: host:port on this host, `tunnel:PORT` for a TCPServerTunnel, `stdio`. */
  listen: string;
  /** The fixed destination of a tunnel section (host:port as written). */
  target?: string;
  /** Connections (or UDP sessions) open now, and made so far. */
  active: number;
  total: number;
  /** Clients refused: bad credentials, bad requests, targets that failed (by reason). */
  refused: Record<string, number>;
  /** From the tunnel side to the client. */
  bytesIn: number;
  /** From the client into the tunnel. */
  bytesOut: number;
}

export interface Clocks {
  /** Monotonic ms (same clock as Peer.lastHandshake). */
  mono: () => number;
  /** Unix ms. */
  wall: () => number;
}

const systemClocks: Clocks = { mono: () => performance.now(), wall: () => Date.now() };

/** Read the live counters of a running interface. */
export function driverSnapshot(iface: string, driver: Driver, nat: NatHost | null, clocks: Clocks = systemClocks): MetricsSnapshot {
  const mono = clocks.mono();
  const wall = clocks.wall();
  const peers = driver.device.listPeers().map((p): PeerSample => {
    const age = p.lastHandshake === null ? null : Math.max(0, mono - p.lastHandshake) / 1000;
    return {
      publicKey: encodeKey(p.publicKey),
      rxBytes: p.rxBytes,
      txBytes: p.txBytes,
      lastHandshakeUnix: age === null ? null : Math.floor(wall / 1000 - age),
      handshakeAge: age,
    };
  });
  return {
    interface: iface,
    peers,
    drops: Object.fromEntries(driver.device.drops),
    sendErrors: Object.fromEntries(driver.sendErrors),
    units: nat ? nat.stats() : [],
  };
}

// --- rendering -------------------------------------------------------------

type Labels = Record<string, string>;

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatValue(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  return String(n);
}

/** One metric family: samples with the same label set are summed (e.g. a draining and a new unit). */
class Family {
  private readonly samples = new Map<string, number>();
  constructor(readonly name: string, readonly type: 'counter' | 'gauge', readonly help: string) {}

  add(labels: Labels, value: number): void {
    const key = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',');
    this.samples.set(key, (this.samples.get(key) ?? 0) + value);
  }

  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.type}`);
    for (const [labels, v] of this.samples) out.push(`${this.name}{${labels}} ${formatValue(v)}`);
  }
}

/** The snapshot as Prometheus text exposition format 0.0.4. */
export function renderMetrics(s: MetricsSnapshot): string {
  const fam = (name: string, type: 'counter' | 'gauge', help: string) => new Family(name, type, help);
  const rx = fam('wgts_peer_receive_bytes_total', 'counter', 'Bytes received from the peer (as the rx of wg show transfer).');
  const tx = fam('wgts_peer_transmit_bytes_total', 'counter', 'Bytes sent to the peer (as the tx of wg show transfer).');
  const last = fam('wgts_peer_last_handshake_seconds', 'gauge', 'Unix time of the latest handshake with the peer; 0 = never.');
  const age = fam('wgts_peer_handshake_age_seconds', 'gauge', 'Seconds since the latest handshake; absent when there has been none.');
  const drops = fam('wgts_drops_total', 'counter', 'Datagrams or packets dropped by the device, by reason.');
  const sendErr = fam('wgts_send_errors_total', 'counter', 'Outer UDP datagrams that could not be sent, by error code.');
  const active = fam('wgts_forward_active', 'gauge', 'Open TCP connections or UDP sessions of a forward/expose rule.');
  const total = fam('wgts_forward_connections_total', 'counter', 'TCP connections that reached the target, or UDP sessions created.');
  const bytes = fam('wgts_forward_bytes_total', 'counter', 'Payload bytes relayed by a rule; direction is to_target or from_target.');
  const refused = fam('wgts_forward_refused_total', 'counter', 'Connections reset or first datagrams dropped by a rule, by reason.');
  const pActive = fam('wgts_proxy_active', 'gauge', 'Open connections (or UDP sessions) of a proxy or tunnel section.');
  const pTotal = fam('wgts_proxy_connections_total', 'counter', 'Connections (or UDP sessions) a proxy or tunnel section has carried.');
  const pBytes = fam('wgts_proxy_bytes_total', 'counter', 'Payload bytes through a proxy or tunnel section; direction is into_tunnel or from_tunnel.');
  const pRefused = fam('wgts_proxy_refused_total', 'counter', 'Clients or requests a proxy or tunnel section refused, by reason.');
  const tUp = fam('wgts_forward_target_up', 'gauge', '1 while a target of a rule is up (health checks pass, its peer has a fresh handshake), else 0.');
  const tChange = fam('wgts_forward_target_last_change_seconds', 'gauge', 'Unix time of the target\'s last state change (or of when it was added).');
  const tActive = fam('wgts_forward_target_active', 'gauge', 'Open TCP connections or UDP sessions of a rule to one target.');
  const tTotal = fam('wgts_forward_target_connections_total', 'counter', 'TCP connections that reached the target, or UDP sessions sent to it.');

  const iface = s.interface;
  for (const p of s.peers) {
    const l = { interface: iface, public_key: p.publicKey };
    rx.add(l, p.rxBytes);
    tx.add(l, p.txBytes);
    last.add(l, p.lastHandshakeUnix ?? 0);
    if (p.handshakeAge !== null) age.add(l, p.handshakeAge);
  }
  for (const [reason, n] of Object.entries(s.drops)) drops.add({ interface: iface, reason }, n);
  for (const [code, n] of Object.entries(s.sendErrors)) sendErr.add({ interface: iface, code }, n);
  for (const u of s.units) {
    const l = { interface: iface, kind: u.kind, rule: u.rule, protocol: u.protocol };
    active.add(l, u.active);
    total.add(l, u.total);
    bytes.add({ ...l, direction: 'to_target' }, u.bytesToTarget);
    bytes.add({ ...l, direction: 'from_target' }, u.bytesFromTarget);
    for (const [reason, n] of Object.entries(u.refused)) refused.add({ ...l, reason }, n);
    for (const x of u.targets ?? []) {
      const tl = { ...l, target: x.target };
      tUp.add(tl, x.state === 'up' ? 1 : 0);
      tChange.add(tl, Math.floor(x.lastChange / 1000));
      tActive.add(tl, x.active);
      tTotal.add(tl, x.total);
    }
  }
  for (const p of s.proxies ?? []) {
    const l = { interface: iface, kind: p.kind, listen: p.listen, ...(p.target !== undefined ? { target: p.target } : {}) };
    pActive.add(l, p.active);
    pTotal.add(l, p.total);
    pBytes.add({ ...l, direction: 'into_tunnel' }, p.bytesOut);
    pBytes.add({ ...l, direction: 'from_tunnel' }, p.bytesIn);
    for (const [reason, n] of Object.entries(p.refused)) pRefused.add({ ...l, reason }, n);
  }
  const out: string[] = [];
  for (const f of [rx, tx, last, age, drops, sendErr, active, total, bytes, refused, tUp, tChange, tActive, tTotal, pActive, pTotal, pBytes, pRefused]) f.render(out);
  return out.join('\n') + '\n';
}

/** Healthy when at least one peer has a handshake younger than 180 s. */
export function health(s: MetricsSnapshot): { ok: boolean; message: string } {
  const limit = REJECT_AFTER_TIME / 1000;
  if (s.peers.length === 0) return { ok: false, message: 'no peers configured' };
  const ages = s.peers.map((p) => p.handshakeAge).filter((a): a is number => a !== null);
  if (ages.length === 0) return { ok: false, message: `no handshake yet with any of ${s.peers.length} peer(s)` };
  const youngest = Math.min(...ages);
  if (youngest < limit) return { ok: true, message: 'ok' };
  return { ok: false, message: `latest handshake was ${Math.floor(youngest)} s ago (limit ${limit} s)` };
}

// --- HTTP ------------------------------------------------------------------

export interface MetricsServer {
  /** The bound address (port filled in when 0 was asked for). */
  readonly address: { host: string; port: number };
  /** Client connections open now. */
  connections(): number;
  close(): Promise<void>;
}

/** Connections held at once, in all and per client address. */
const MAX_CONNECTIONS = 64;
const MAX_PER_ADDRESS = 8;
/** The request line and headers must arrive within this; the whole request within REQUEST_TIMEOUT_MS. */
const HEADERS_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 10_000;
/** How often node:http looks for connections past those timeouts. */
const CHECK_INTERVAL_MS = 500;
/** A socket with no traffic for this long is closed (kept-alive scrapers included). */
const IDLE_TIMEOUT_MS = 15_000;
const MAX_HEADER_BYTES = 8192;

function reply(res: ServerResponse, status: number, type: string, body: string, head: boolean): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(head ? undefined : body);
}

const PATHS = new Set(['/metrics', '/healthz', '/livez', '/readyz']);

/** What /readyz asks: null when ready, else why not. */
export type ReadyCheck = () => string | null;

function handle(req: IncomingMessage, res: ServerResponse, source: () => MetricsSnapshot, ready: ReadyCheck): void {
  const head = req.method === 'HEAD';
  let path = '';
  try {
    path = new URL(req.url ?? '/', 'http://metrics.invalid').pathname;
  } catch {
    path = '';
  }
  const text = 'text/plain; charset=utf-8';
  if ((req.method !== 'GET' && !head) || !PATHS.has(path)) {
    reply(res, 404, text, 'not found: try GET /metrics, /healthz, /livez or /readyz\n', head);
    return;
  }
  if (path === '/readyz') {
    const why = ready();
    reply(res, why === null ? 200 : 503, text, `${why === null ? 'ok' : why.replace(/[\r\n]+/g, ' ')}\n`, head);
    return;
  }
  let snap: MetricsSnapshot;
  try {
    snap = source();
  } catch (e) {
    reply(res, 500, text, `cannot read counters: ${(e as Error).message}\n`, head);
    return;
  }
  if (path === '/metrics') {
    reply(res, 200, 'text/plain; version=0.0.4; charset=utf-8', renderMetrics(snap), head);
  } else if (path === '/livez') {
    reply(res, 200, text, 'ok\n', head);
  } else {
    const h = health(snap);
    reply(res, h.ok ? 200 : 503, text, `${h.message.replace(/[\r\n]+/g, ' ')}\n`, head);
  }
}

/**
 * Listen on host:port (IPv6 hosts without brackets) and serve /metrics,
 * /healthz, /livez and /readyz. node:http is loaded here, only when metrics are asked for: it
 * costs ~2.5 MB of resident memory in every daemon otherwise.
 */
export async function startMetricsServer(listen: { host: string; port: number }, source: () => MetricsSnapshot, ready: ReadyCheck = () => null): Promise<MetricsServer> {
  const { createServer } = await import('node:http');
  const server = createServer({
    connectionsCheckingInterval: CHECK_INTERVAL_MS, headersTimeout: HEADERS_TIMEOUT_MS,
    requestTimeout: REQUEST_TIMEOUT_MS, maxHeaderSize: MAX_HEADER_BYTES,
  }, (req, res) => handle(req, res, source, ready));
  server.maxConnections = MAX_CONNECTIONS;
  server.timeout = IDLE_TIMEOUT_MS;
  const open = new Set<Socket>();
  const perAddress = new Map<string, number>();
  server.on('connection', (sock: Socket) => {
    const from = sock.remoteAddress ?? '';
    const n = perAddress.get(from) ?? 0;
    if (n >= MAX_PER_ADDRESS) { sock.destroy(); return; }
    perAddress.set(from, n + 1);
    open.add(sock);
    sock.once('close', () => {
      open.delete(sock);
      const left = (perAddress.get(from) ?? 1) - 1;
      if (left > 0) perAddress.set(from, left); else perAddress.delete(from);
    });
  });
  return new Promise((resolve, reject) => {
    const onError = (e: Error): void => reject(e);
    server.once('error', onError);
    server.listen(listen.port, listen.host, () => {
      server.off('error', onError);
      const a = server.address() as AddressInfo;
      resolve({
        address: { host: a.address, port: a.port },
        connections: () => open.size,
        close: () => new Promise<void>((done) => {
          server.close(() => done());
          server.closeAllConnections();
        }),
      });
    });
  });
}
