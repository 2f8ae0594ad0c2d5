/**
 * The UAPI backend of a running driver: `get` reads a view of the device,
 * `set` applies a parsed request. Requests arrive fully parsed and validated
 * (src/uapi), so applying cannot fail half-way, except the listen port,
 * whose rebind is asynchronous in Node and reported in the log.
 */
import type { UapiBackend, UapiDeviceView, UapiEndpoint, UapiSetRequest } from '../uapi/types.js';
import { formatIp, parseIpZone } from '../ip/text.js';
import type { Driver } from './driver.js';
import { DEFAULT_TCP } from '../netstack/tcp-config.js';

/**
 * A device endpoint (the socket address text Node reported or was given) as
 * the view shows it; null if it is not an IP literal, which a resolved
 * endpoint always is.
 */
function endpointView(e: { address: string; port: number }): UapiEndpoint | null {
  const a = parseIpZone(e.address);
  return a === null ? null : { ip: a.ip, zone: a.zone, port: e.port };
}

export function driverBackend(
  driver: Driver,
  onListenPort: (port: number) => void,
  extraStats: () => Array<[string, string]> = () => [],
): UapiBackend {
  const dev = driver.device;
  return {
    view(): UapiDeviceView {
      const t = performance.now();
      const wallNow = Date.now();
      return {
        privateKey: dev.privateKey,
        listenPort: driver.bind.port,
        fwmark: driver.fwmark,
        peers: dev.listPeers().map((p) => ({
          publicKey: p.publicKey,
          presharedKey: p.crypto.presharedKey.some((b) => b !== 0) ? p.crypto.presharedKey : null,
          endpoint: p.endpoint ? endpointView(p.endpoint) : null,
          allowedIps: dev.allowedIps.entries(p).map((e) => ({ ip: e.ip, cidr: e.cidr })),
          persistentKeepalive: p.persistentKeepalive,
          lastHandshakeWallMs: p.lastHandshake === null ? 0 : Math.round(wallNow - (t - p.lastHandshake)),
          rxBytes: p.rxBytes,
          txBytes: p.txBytes,
          protocolVersion: 1,
        })),
      };
    },
    stats() {
      const out: Array<[string, number | string]> = [];
      for (const [reason, n] of [...dev.drops.entries()].sort()) out.push([`drop.${reason}`, n]);
      for (const [code, n] of [...driver.sendErrors.entries()].sort()) out.push([`send_error.${code.toLowerCase()}`, n]);
      const cc = driver.stack?.tcp.cfg.congestion;
      if (cc !== undefined && cc !== DEFAULT_TCP.congestion) out.push(['tcp.congestion', cc]);
      out.push(...extraStats());
      return out;
    },
    apply(req: UapiSetRequest) {
      const t = performance.now();
      if (req.replacePeers) dev.removeAllPeers();
      if (req.privateKey !== undefined) dev.setPrivateKey(req.privateKey);
      if (req.listenPort !== undefined && req.listenPort !== driver.bind.port) onListenPort(req.listenPort);
      if (req.fwmark !== undefined) {
        if (driver.tun) driver.setFwmark(req.fwmark ?? 0);
        else if (req.fwmark) driver.log.warn('fwmark set over UAPI: not applied in userspace mode');
      }
      for (const op of req.peers) {
        const own = dev.publicKey;
        if (own && Buffer.compare(Buffer.from(own), Buffer.from(op.publicKey)) === 0) continue;
        if (op.remove) { dev.removePeer(op.publicKey); continue; }
        const existing = dev.getPeer(op.publicKey);
        if (op.updateOnly && !existing) continue;
        const { peer, output } = dev.upsertPeer({
          publicKey: op.publicKey,
          ...(op.presharedKey !== undefined ? { presharedKey: op.presharedKey } : {}),
          // The device's endpoint is the socket address text Node's dgram API takes; the zone is not kept.
          ...(op.endpoint !== undefined ? { endpoint: { address: formatIp(op.endpoint.ip), port: op.endpoint.port } } : {}),
        }, t);
        driver.handle(output);
        if (!peer) continue;
        if (op.endpoint !== undefined) driver.forgetHostname(peer);
        if (op.replaceAllowedIps) dev.allowedIps.removeValue(peer);
        for (const a of op.addAllowedIps) dev.allowedIps.insert(a.ip, a.cidr, peer);
        if (op.persistentKeepalive !== undefined) driver.handle(dev.setPersistentKeepalive(peer, op.persistentKeepalive, t));
      }
      driver.schedule();
      return { errno: 0 };
    },
  };
}
