/**
 * node:http and node:https agents whose connections go through the tunnel:
 * the standard http.Agent / https.Agent (pooling, keep-alive) with
 * createConnection returning a TunnelSocket, and for https a TLS session
 * on top of it (tls.connect({ socket })).
 *
 *   http.request({ agent }) -> Agent.createConnection -> dialer.dial(port, host)
 *   https:                                            -> tls.connect({ socket: that, servername })
 */
import { Agent as HttpAgent, type AgentOptions } from 'node:http';
import { Agent as HttpsAgent, type AgentOptions as HttpsAgentOptions } from 'node:https';
import { isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import type { Duplex } from 'node:stream';
import type { TunnelDialer } from './dial.js';

type ConnOpts = { host?: string | null; hostname?: string | null; port?: number | string | null; servername?: string };

function target(o: ConnOpts, defPort: number): { host: string; port: number } {
  const host = o.hostname ?? o.host ?? 'localhost';
  return { host, port: Number(o.port ?? defPort) || defPort };
}

export class TunnelHttpAgent extends HttpAgent {
  constructor(
    private readonly dialer: TunnelDialer,
    opts?: AgentOptions,
  ) {
    super(opts);
  }

  override createConnection(o: ConnOpts): Duplex {
    const t = target(o, 80);
    return this.dialer.dial(t.port, t.host);
  }
}

export class TunnelHttpsAgent extends HttpsAgent {
  constructor(
    private readonly dialer: TunnelDialer,
    opts?: HttpsAgentOptions,
  ) {
    super(opts);
  }

  override createConnection(o: ConnOpts & ConnectionOptions): Duplex {
    const t = target(o, 443);
    return tlsOver(this.dialer.dial(t.port, t.host), t.host, o);
  }
}

/** TLS over a tunnel stream; SNI is the host name unless it is an address. */
export function tlsOver(socket: Duplex, host: string, o: ConnectionOptions = {}): Socket {
  const servername = o.servername ?? (isIP(host) ? undefined : host);
  return tlsConnect({ ...o, socket, host, ...(servername ? { servername } : {}) });
}
