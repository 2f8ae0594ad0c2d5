/**
 * What the driver says about device events, and the peer up/down state they
 * imply: a peer is up from its first completed handshake until the
 * handshake gives up or its keys are zeroed after inactivity.
 *
 *   DeviceEvent -> record() -> log line(s)
 *                           -> PeerEvent ('handshake', 'peer-up', 'peer-down') to the listener
 */
import type { DeviceEvent } from '../transport/device.js';
import { endpointKey, type Peer } from '../transport/peer.js';
import type { Logger } from './log.js';

export interface PeerEvent {
  type: 'handshake' | 'peer-up' | 'peer-down';
  peer: Peer;
}

/** How log lines name a peer. */
export function peerName(p: Peer): string {
  return `peer ${p.label}`;
}

export class EventLog {
  private readonly up = new Set<string>();

  constructor(
    private readonly log: Logger,
    private readonly onPeerEvent: (e: PeerEvent) => void = () => {},
  ) {}

  record(e: DeviceEvent): void {
    switch (e.type) {
      case 'handshake-initiated':
        this.log.debug(`${peerName(e.peer)}: sending handshake initiation${e.retry ? ' (retry)' : ''}`);
        break;
      case 'handshake-complete':
        this.log.info(`${peerName(e.peer)}: handshake complete (${e.role})`);
        this.onPeerEvent({ type: 'handshake', peer: e.peer });
        if (!this.up.has(e.peer.id)) {
          this.up.add(e.peer.id);
          this.log.info(`${peerName(e.peer)}: up`);
          this.onPeerEvent({ type: 'peer-up', peer: e.peer });
        }
        break;
      case 'handshake-gave-up':
        this.log.info(`${peerName(e.peer)}: handshake did not complete after 90 seconds, giving up`);
        this.down(e.peer);
        break;
      case 'keys-zeroed':
        this.log.debug(`${peerName(e.peer)}: session keys zeroed after inactivity`);
        this.down(e.peer);
        break;
      case 'endpoint-changed':
        this.log.info(`${peerName(e.peer)}: endpoint ${endpointKey(e.endpoint)}${e.endpoint.local ? ` (to our ${e.endpoint.local})` : ''}`);
        break;
      case 'cookie-sent':
        if (this.log.level === 'debug') this.log.debug(`under load: cookie reply to ${endpointKey(e.to)}`);
        break;
      default: {
        const never: never = e;
        void never;
      }
    }
  }

  private down(peer: Peer): void {
    if (!this.up.delete(peer.id)) return;
    this.log.info(`${peerName(peer)}: down`);
    this.onPeerEvent({ type: 'peer-down', peer });
  }
}
