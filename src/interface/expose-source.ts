/**
 * The start-up warning for a home side set up to receive `Source = client`
 * connections (a peer with AllowedIPs 0.0.0.0/0 or ::/0, as the README's
 * Source = client setup says) whose [Expose] rules relay them to a local
 * server without a PROXY header: the relay connects from this host, so the
 * server sees 127.0.0.1 (or this host's address), never a visitor's.
 *
 *   config + command-line rules -> [Expose] with ProxyProtocol = off
 *     and a /0 AllowedIPs -> one warning naming the file, the rules and the fixes
 */
import type { WgConfig } from '../config/types.js';
import { headText, type NatRule } from '../nat/rule.js';

/** The warning text, or undefined when nothing promises more than it can deliver. */
export function exposeSourceWarning(config: WgConfig, expose: readonly NatRule[], source: string): string | undefined {
  const plain = expose.filter((r) => r.proxyProtocol === 'off');
  const wide = config.peers.flatMap((p) => p.allowedIps).find((a) => a.cidr === 0);
  if (!plain.length || !wide) return undefined;
  const rules = plain.map((r) => `[Expose] ${headText(r)}`).join(', ');
  const one = plain.length === 1;
  return `${source}: ${rules} connect${one ? 's' : ''} to ${one ? 'its target' : 'their targets'} from this host, so ${one ? 'that server sees' : 'those servers see'} ` +
    `this host's own address (127.0.0.1 for a loopback target), never a visitor's, even when the VPS forwards with Source = client ` +
    `(which AllowedIPs = ${wide.family === 6 ? '::/0' : '0.0.0.0/0'} here suggests). To see visitors' addresses: ` +
    `ProxyProtocol = v1 or v2 on ${one ? 'this' : 'each'} [Expose] (or instead on the VPS's [Forward]: the [Expose] passes its header through) with a server that reads the header (nginx proxy_protocol, HAProxy); ` +
    `or run this side in TUN mode (wgts up --tun, or wg-quick) without the [Expose], with the server listening on the tunnel address`;
}
