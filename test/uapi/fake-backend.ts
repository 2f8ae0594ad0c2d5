// TEST DOUBLE for the device: an in-memory UapiBackend that applies
// UapiSetRequest with the semantics documented in src/uapi/types.ts
// (wireguard-go's order of effects), atomically (work on a copy, commit at the
// end). It records every request so tests can assert what the parser produced.
import { newPeerView, type UapiBackend, type UapiDeviceView, type UapiPeerView, type UapiPrefix, type UapiSetRequest } from '../../src/uapi/types.js';
import { UAPI_EADDRINUSE } from '../../src/uapi/errno.js';
import { publicKey } from '../../src/crypto/x25519.js';

function hex(k: Uint8Array): string {
  return Buffer.from(k).toString('hex');
}

function clonePeer(p: UapiPeerView): UapiPeerView {
  return { ...p, endpoint: p.endpoint ? { ...p.endpoint } : null, allowedIps: p.allowedIps.map((a) => ({ ...a })) };
}

export class InMemoryTestBackend implements UapiBackend {
  state: UapiDeviceView = { privateKey: null, listenPort: 0, fwmark: 0, peers: [] };
  readonly requests: UapiSetRequest[] = [];
  /** Ports the "device" cannot bind: apply() answers -EADDRINUSE and changes nothing. */
  readonly busyPorts = new Set<number>();
  viewCalls = 0;

  view(): UapiDeviceView {
    this.viewCalls++;
    return this.state;
  }

  apply(req: UapiSetRequest): { errno: number } {
    this.requests.push(req);
    if (req.listenPort !== undefined && this.busyPorts.has(req.listenPort)) return { errno: UAPI_EADDRINUSE };
    const next: UapiDeviceView = { ...this.state, peers: this.state.peers.map(clonePeer) };
    if (req.replacePeers) next.peers = [];
    if (req.privateKey !== undefined) {
      next.privateKey = req.privateKey;
      if (req.privateKey !== null) {
        const own = hex(publicKey(req.privateKey));
        next.peers = next.peers.filter((p) => hex(p.publicKey) !== own);
      }
    }
    if (req.listenPort !== undefined) next.listenPort = req.listenPort;
    if (req.fwmark !== undefined) next.fwmark = req.fwmark ?? 0;
    const ownHex = next.privateKey ? hex(publicKey(next.privateKey)) : null;
    for (const op of req.peers) {
      const key = hex(op.publicKey);
      if (key === ownHex) continue;
      let peer = next.peers.find((p) => hex(p.publicKey) === key);
      if (op.remove) {
        next.peers = next.peers.filter((p) => p !== peer);
        continue;
      }
      if (!peer) {
        if (op.updateOnly) continue;
        peer = newPeerView(op.publicKey);
        next.peers.push(peer);
      }
      if (op.presharedKey !== undefined) peer.presharedKey = op.presharedKey;
      if (op.endpoint !== undefined) peer.endpoint = op.endpoint;
      if (op.persistentKeepalive !== undefined) peer.persistentKeepalive = op.persistentKeepalive;
      if (op.replaceAllowedIps) peer.allowedIps = [];
      for (const a of op.addAllowedIps) {
        const same = (b: UapiPrefix): boolean => Buffer.compare(b.ip, a.ip) === 0 && b.cidr === a.cidr;
        for (const other of next.peers) other.allowedIps = other.allowedIps.filter((b) => !same(b));
        peer.allowedIps.push({ ...a });
      }
    }
    this.state = next;
    return { errno: 0 };
  }

  peer(pub: Uint8Array): UapiPeerView | undefined {
    return this.state.peers.find((p) => hex(p.publicKey) === hex(pub));
  }
}
