/**
 * Shared pieces of the UPnP tests: a lease table behind a PortMapContext
 * whose peers are 10.0.0.2 and 10.0.0.3 (127.0.0.0/8 for the real-client
 * test), SOAP requests written the way miniupnpc writes them, and a reader
 * for the name/value pairs of a response (independent of src/portmap/upnp/xml.ts).
 */
import { LeaseTable } from '../../src/portmap/leases.js';
import { defaultPolicy } from '../../src/portmap/policy.js';
import type { PortMapContext, PortMapPolicy } from '../../src/portmap/types.js';

export const EXTERNAL = '203.0.113.7';
export const IP2 = 'urn:schemas-upnp-org:service:WANIPConnection:2';
export const CIF1 = 'urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1';

export interface TestCtx {
  ctx: PortMapContext;
  store: LeaseTable;
}

export function makeCtx(policy: Partial<PortMapPolicy> = {}): TestCtx {
  const store = new LeaseTable({ ...defaultPolicy(), ...policy });
  const peers: Record<string, string> = { '10.0.0.2': 'peerA=', '10.0.0.3': 'peerB=' };
  const ctx: PortMapContext = {
    store,
    externalAddress: EXTERNAL,
    peerOf: (a) => peers[a] ?? (a.startsWith('127.') ? 'loopback=' : null),
    epochStart: 1000,
  };
  return { ctx, store };
}

/** A SOAP request body shaped like miniupnpc's simpleUPnPcommand (values written as given). */
export function soapBody(service: string, action: string, args: Array<[string, string]> = []): string {
  const a = args.map(([k, v]) => `<${k}>${v}</${k}>`).join('');
  return (
    '<?xml version="1.0"?>\r\n' +
    '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/">' +
    `<s:Body><u:${action} xmlns:u="${service}">${a}</u:${action}></s:Body></s:Envelope>\r\n`
  );
}

/** Leaf elements of a response (prefixes dropped), CDATA kept raw, the five XML entities decoded. */
export function leafValues(xml: string): Map<string, string> {
  const out = new Map<string, string>();
  const re = /<(?:[A-Za-z0-9_]+:)?([A-Za-z0-9_]+)(?:\s[^>]*)?>(<!\[CDATA\[[\s\S]*?\]\]>|[^<]*)<\/(?:[A-Za-z0-9_]+:)?\1>/g;
  for (const m of xml.matchAll(re)) {
    const raw = m[2]!;
    const v = raw.startsWith('<![CDATA[')
      ? raw.slice(9, -3)
      : raw.replace(/&(lt|gt|quot|apos|amp);/g, (_, e: string) => ({ lt: '<', gt: '>', quot: '"', apos: "'", amp: '&' })[e]!);
    if (!out.has(m[1]!)) out.set(m[1]!, v);
  }
  return out;
}

/** The addMapping arguments miniupnpc sends, in its order. */
export function mappingArgs(o: {
  ext: number | string;
  proto?: string;
  intPort: number | string;
  client: string;
  desc?: string;
  lease?: number | string;
  remote?: string;
  enabled?: string;
}): Array<[string, string]> {
  return [
    ['NewRemoteHost', o.remote ?? ''],
    ['NewExternalPort', String(o.ext)],
    ['NewProtocol', o.proto ?? 'TCP'],
    ['NewInternalPort', String(o.intPort)],
    ['NewInternalClient', o.client],
    ['NewEnabled', o.enabled ?? '1'],
    ['NewPortMappingDescription', o.desc ?? 'libminiupnpc'],
    ['NewLeaseDuration', String(o.lease ?? 0)],
  ];
}

/** Deterministic bytes for the no-throw loops (xorshift32). */
export function prng(seed: number): (n: number) => Uint8Array {
  let x = seed >>> 0 || 1;
  return (n) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      out[i] = x & 0xff;
    }
    return out;
  };
}
