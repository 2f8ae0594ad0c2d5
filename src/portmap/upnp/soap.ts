/**
 * SOAP control of the IGD (UDA 1.1 section 3; UPnP-gw-WANIPConnection-v2 and
 * UPnP-gw-WANCommonInterfaceConfig-v1): the SOAPAction header and the POSTed
 * envelope go in, the HTTP status and the response or fault envelope come out.
 * Mappings go through the LeaseStore; a host may only map, change or delete
 * mappings to itself ("secure mode": NewInternalClient must be the address
 * the request came from). Sans-IO; never throws.
 *
 *   header -> service + action -> parseSoapEnvelope(body) -> in-args check
 *   -> action (store.map / removeExternal / list) -> response | UPnPError fault
 */
import { canonicalAddress } from '../policy.js';
import type { Lease, MapProtocol, MapRequest, PortMapContext } from '../types.js';
import { WANCIF_ACTIONS, WANIP_ACTIONS, type ActionSpec } from './description.js';
import { parseSoapEnvelope, SOAP_MAX_BODY, xmlEscape } from './xml.js';

export interface SoapResult {
  status: number;
  body: string;
  /** True when the lease table changed (the driver then re-applies forwards). */
  changed: boolean;
}

export type SoapService = 'WANIPConnection' | 'WANCommonInterfaceConfig';

export interface SoapActionHeader {
  /** As the client wrote it, e.g. urn:schemas-upnp-org:service:WANIPConnection:2 (responses echo it). */
  serviceType: string;
  service: SoapService;
  version: number;
  action: string;
}

/** UPnP error codes and their descriptions (UDA 1.1 table 3-3; WANIPConnection:2 section 2.4). */
export const UPNP_ERRORS: Readonly<Record<number, string>> = {
  401: 'Invalid Action',
  402: 'Invalid Args',
  501: 'Action Failed',
  606: 'Action not authorized',
  713: 'SpecifiedArrayIndexInvalid',
  714: 'NoSuchEntryInArray',
  716: 'WildCardNotPermittedInExtPort',
  718: 'ConflictInMappingEntry',
  726: 'RemoteHostOnlySupportsWildcard',
  728: 'NoPortMapsAvailable',
  729: 'ConflictWithOtherMechanisms',
  730: 'PortMappingNotFound',
  732: 'WildCardNotPermittedInIntPort',
  733: 'InconsistentParameters',
};

const MAX_VERSION: Record<SoapService, number> = { WANIPConnection: 2, WANCommonInterfaceConfig: 1 };
/** IGD:2 caps lease times at one week (WANIPConnection:2, PortMappingLeaseDuration). */
export const MAX_LEASE_SECONDS = 604800;
const MAX_DESCRIPTION = 128;
const MAX_LISTING = 1000;

/** Parse a SOAPAction header value: "urn:...:service:NAME:V#Action" (quotes optional). */
export function parseSoapAction(header: string): SoapActionHeader | null {
  if (header.length > 256) return null;
  let h = header.trim();
  if (h.length >= 2 && h.startsWith('"') && h.endsWith('"')) h = h.slice(1, -1);
  const m = /^(urn:schemas-upnp-org:service:(WANIPConnection|WANCommonInterfaceConfig):([0-9]{1,3}))#([A-Za-z][A-Za-z0-9_]{0,63})$/.exec(h);
  if (!m) return null;
  const service = m[2] as SoapService;
  const version = Number(m[3]);
  if (version < 1 || version > MAX_VERSION[service]) return null;
  return { serviceType: m[1]!, service, version, action: m[4]! };
}

const ENVELOPE_START =
  '<?xml version="1.0"?>\r\n<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" ' +
  's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>';
const ENVELOPE_END = '</s:Body></s:Envelope>\r\n';

/** A SOAP fault carrying a UPnPError (HTTP 500). */
export function soapFault(code: number): SoapResult {
  const desc = UPNP_ERRORS[code] ?? 'Action Failed';
  return {
    status: 500,
    changed: false,
    body:
      `${ENVELOPE_START}<s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring>` +
      `<detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>${code}</errorCode>` +
      `<errorDescription>${xmlEscape(desc)}</errorDescription></UPnPError></detail></s:Fault>${ENVELOPE_END}`,
  };
}

/** An out-argument value; { cdata } is written as a CDATA section (its text must not contain "]]>"). */
type OutValue = string | number | { cdata: string };

function ok(h: SoapActionHeader, out: readonly (readonly [string, OutValue])[], changed = false): SoapResult {
  const val = (v: OutValue): string =>
    typeof v === 'object' ? `<![CDATA[${v.cdata.replaceAll(']]>', ']]&gt;')}]]>` : xmlEscape(String(v));
  const args = out.map(([k, v]) => `<${k}>${val(v)}</${k}>`).join('');
  return {
    status: 200,
    changed,
    body: `${ENVELOPE_START}<u:${h.action}Response xmlns:u="${h.serviceType}">${args}</u:${h.action}Response>${ENVELOPE_END}`,
  };
}

class Fault {
  constructor(readonly code: number) {}
}

function fail(code: number): never {
  throw new Fault(code);
}

function port(v: string | undefined): number {
  const t = (v ?? '').trim();
  if (!/^[0-9]{1,5}$/.test(t)) fail(402);
  const n = Number(t);
  if (n > 65535) fail(402);
  return n;
}

function protocol(v: string | undefined): MapProtocol {
  const t = (v ?? '').trim().toLowerCase();
  if (t !== 'tcp' && t !== 'udp') fail(402);
  return t;
}

function bool(v: string | undefined): boolean {
  const t = (v ?? '').trim().toLowerCase();
  if (t === '1' || t === 'true' || t === 'yes') return true;
  if (t === '0' || t === 'false' || t === 'no') return false;
  return fail(402);
}

function uint(v: string | undefined, max: number): number {
  const t = (v ?? '').trim();
  if (!/^[0-9]{1,10}$/.test(t)) fail(402);
  return Math.min(Number(t), max);
}

function remaining(l: Lease, now: number): number {
  return Math.max(1, Math.ceil((l.expiresAt - now) / 1000));
}

function upper(p: MapProtocol): string {
  return p === 'tcp' ? 'TCP' : 'UDP';
}

interface Call {
  h: SoapActionHeader;
  args: Map<string, string>;
  requester: string | null;
  ctx: PortMapContext;
  now: number;
}

function live(c: Call): Lease[] {
  return c.ctx.store.list().filter((l) => l.expiresAt > c.now);
}

/** The requester's canonical address and peer, or 606. */
function who(c: Call): { address: string; peer: string } {
  if (c.requester === null) return fail(606);
  const peer = c.ctx.peerOf(c.requester);
  if (peer === null) return fail(606);
  return { address: c.requester, peer };
}

function addMapping(c: Call, any: boolean): SoapResult {
  const a = c.args;
  if ((a.get('NewRemoteHost') ?? '').trim() !== '') fail(726);
  const ext = port(a.get('NewExternalPort'));
  if (ext === 0 && !any) fail(716);
  const proto = protocol(a.get('NewProtocol'));
  const internalPort = port(a.get('NewInternalPort'));
  if (internalPort === 0) fail(732);
  const client = canonicalAddress(a.get('NewInternalClient') ?? '');
  if (client === null) fail(402);
  if (!bool(a.get('NewEnabled'))) fail(402);
  const description = (a.get('NewPortMappingDescription') ?? '').slice(0, MAX_DESCRIPTION);
  let lifetime = uint(a.get('NewLeaseDuration'), MAX_LEASE_SECONDS);
  const { address, peer } = who(c);
  if (client !== address) fail(606);
  if (lifetime === 0) lifetime = c.ctx.store.policy.maxLifetime;
  const store = c.ctx.store;

  // AddPortMapping of an external port this host already maps to another
  // internal port overwrites that mapping (WANIPConnection:2, 2.5.16); the
  // store calls it a conflict, so take the old lease out first.
  const replaced: Lease[] = [];
  const atExt = ext === 0 ? undefined : store.findExternal(proto, ext);
  if (!any && atExt && atExt.expiresAt > c.now && atExt.internalAddress === address && atExt.internalPort !== internalPort) {
    replaced.push(atExt);
  }
  for (const l of replaced) store.removeExternal(l.protocol, l.externalPort);

  const req: MapRequest = {
    protocol: proto,
    internalAddress: address,
    internalPort,
    externalPort: ext,
    exact: !any,
    lifetime,
    peer,
    origin: 'upnp',
    description,
  };
  const r = store.map(req, c.now);
  if (r.ok && (any || r.lease.externalPort === ext)) {
    return ok(c.h, any ? [['NewReservedPort', r.lease.externalPort]] : [], true);
  }
  if (r.ok) store.removeExternal(r.lease.protocol, r.lease.externalPort); // exact asked, another port given
  for (const l of replaced) {
    store.map(
      {
        protocol: l.protocol,
        internalAddress: l.internalAddress,
        internalPort: l.internalPort,
        externalPort: l.externalPort,
        exact: true,
        lifetime: remaining(l, c.now),
        peer: l.peer,
        origin: l.origin,
        description: l.description,
        ...(l.nonce ? { nonce: l.nonce } : {}),
      },
      c.now,
    );
  }
  const changed = replaced.length > 0 || r.ok;
  const err = r.ok ? 'conflict' : r.error;
  const code =
    err === 'not-authorized'
      ? 606
      : err === 'conflict' && !any
        ? store.findExternal(proto, ext)
          ? 718
          : 729
        : 728;
  return { ...soapFault(code), changed };
}

function deleteMapping(c: Call): SoapResult {
  const a = c.args;
  const ext = port(a.get('NewExternalPort'));
  const proto = protocol(a.get('NewProtocol'));
  const { address } = who(c);
  if ((a.get('NewRemoteHost') ?? '').trim() !== '') fail(714);
  const l = c.ctx.store.findExternal(proto, ext);
  if (!l || l.expiresAt <= c.now) fail(714);
  if (l.internalAddress !== address) fail(606);
  c.ctx.store.removeExternal(proto, ext);
  return ok(c.h, [], true);
}

function range(c: Call): { start: number; end: number; proto: MapProtocol; manage: boolean } {
  const start = port(c.args.get('NewStartPort'));
  const end = port(c.args.get('NewEndPort'));
  const proto = protocol(c.args.get('NewProtocol'));
  const manage = bool(c.args.get('NewManage'));
  if (start > end) fail(733);
  return { start, end, proto, manage };
}

function deleteRange(c: Call): SoapResult {
  const { start, end, proto } = range(c);
  const { address } = who(c);
  // Whatever NewManage says, a host is only authorized for its own mappings.
  const victims = live(c).filter(
    (l) => l.protocol === proto && l.externalPort >= start && l.externalPort <= end && l.internalAddress === address,
  );
  if (victims.length === 0) fail(730);
  for (const l of victims) c.ctx.store.removeExternal(l.protocol, l.externalPort);
  return ok(c.h, [], true);
}

function entryOut(l: Lease, now: number, withKey: boolean): [string, string | number][] {
  return [
    ...(withKey
      ? ([
          ['NewRemoteHost', ''],
          ['NewExternalPort', l.externalPort],
          ['NewProtocol', upper(l.protocol)],
        ] as [string, string | number][])
      : []),
    ['NewInternalPort', l.internalPort],
    ['NewInternalClient', l.internalAddress],
    ['NewEnabled', 1],
    ['NewPortMappingDescription', l.description],
    ['NewLeaseDuration', remaining(l, now)],
  ];
}

function specificEntry(c: Call): SoapResult {
  const ext = port(c.args.get('NewExternalPort'));
  const proto = protocol(c.args.get('NewProtocol'));
  if ((c.args.get('NewRemoteHost') ?? '').trim() !== '') fail(714);
  const l = c.ctx.store.findExternal(proto, ext);
  if (!l || l.expiresAt <= c.now) fail(714);
  return ok(c.h, entryOut(l, c.now, false));
}

function genericEntry(c: Call): SoapResult {
  const t = (c.args.get('NewPortMappingIndex') ?? '').trim();
  if (!/^[0-9]{1,5}$/.test(t)) fail(402);
  const l = live(c)[Number(t)];
  if (!l) fail(713);
  return ok(c.h, entryOut(l, c.now, true));
}

function listMappings(c: Call): SoapResult {
  const { start, end, proto, manage } = range(c);
  const want = uint(c.args.get('NewNumberOfPorts'), MAX_LISTING) || MAX_LISTING;
  const entries = live(c)
    .filter(
      (l) =>
        l.protocol === proto &&
        l.externalPort >= start &&
        l.externalPort <= end &&
        (manage || l.internalAddress === c.requester),
    )
    .slice(0, want);
  if (entries.length === 0) fail(730);
  const e = (k: string, v: string | number): string => `<p:${k}>${xmlEscape(String(v))}</p:${k}>`;
  const inner =
    '<p:PortMappingList xmlns:p="urn:schemas-upnp-org:gw:WANIPConnection" ' +
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ' +
    'xsi:schemaLocation="urn:schemas-upnp-org:gw:WANIPConnection http://www.upnp.org/schemas/gw/WANIPConnection-v2.xsd">' +
    entries
      .map(
        (l) =>
          '<p:PortMappingEntry>' +
          e('NewRemoteHost', '') +
          e('NewExternalPort', l.externalPort) +
          e('NewProtocol', upper(l.protocol)) +
          e('NewInternalPort', l.internalPort) +
          e('NewInternalClient', l.internalAddress) +
          e('NewEnabled', 1) +
          e('NewDescription', l.description) +
          e('NewLeaseTime', remaining(l, c.now)) +
          '</p:PortMappingEntry>',
      )
      .join('') +
    '</p:PortMappingList>';
  // A CDATA section, as miniupnpd sends it: miniupnpc hands the raw text of
  // NewPortListing to its listing parser without decoding entities.
  return ok(c.h, [['NewPortListing', { cdata: inner }]]);
}

function dispatch(c: Call): SoapResult {
  const h = c.h;
  switch (h.action) {
    case 'GetExternalIPAddress':
      return ok(h, [['NewExternalIPAddress', c.ctx.externalAddress]]);
    case 'GetStatusInfo':
      return ok(h, [
        ['NewConnectionStatus', 'Connected'],
        ['NewLastConnectionError', 'ERROR_NONE'],
        ['NewUptime', Math.max(0, Math.floor((c.now - c.ctx.epochStart) / 1000))],
      ]);
    case 'GetConnectionTypeInfo':
      return ok(h, [
        ['NewConnectionType', 'IP_Routed'],
        ['NewPossibleConnectionTypes', 'IP_Routed'],
      ]);
    case 'GetNATRSIPStatus':
      return ok(h, [
        ['NewRSIPAvailable', 0],
        ['NewNATEnabled', 1],
      ]);
    case 'AddPortMapping':
      return addMapping(c, false);
    case 'AddAnyPortMapping':
      return addMapping(c, true);
    case 'DeletePortMapping':
      return deleteMapping(c);
    case 'DeletePortMappingRange':
      return deleteRange(c);
    case 'GetSpecificPortMappingEntry':
      return specificEntry(c);
    case 'GetGenericPortMappingEntry':
      return genericEntry(c);
    case 'GetListOfPortMappings':
      return listMappings(c);
    case 'GetCommonLinkProperties':
      return ok(h, [
        ['NewWANAccessType', 'Ethernet'],
        ['NewLayer1UpstreamMaxBitRate', 1000000000],
        ['NewLayer1DownstreamMaxBitRate', 1000000000],
        ['NewPhysicalLinkStatus', 'Up'],
      ]);
    case 'GetTotalBytesSent':
    case 'GetTotalBytesReceived':
    case 'GetTotalPacketsSent':
    case 'GetTotalPacketsReceived':
      return ok(h, [[`New${h.action.slice(3)}`, 0]]);
    default:
      return fail(401);
  }
}

/**
 * Run one SOAP action. `action` is the SOAPAction header value, `requester`
 * the TCP peer of the HTTP connection. Faults come back as HTTP 500 with a
 * UPnPError body; a bug inside becomes 501 Action Failed, never a throw.
 */
export function handleSoap(
  action: string,
  body: string,
  requester: { address: string },
  ctx: PortMapContext,
  now: number,
): SoapResult {
  try {
    const h = parseSoapAction(action);
    if (!h) return soapFault(401);
    const table: readonly ActionSpec[] = h.service === 'WANIPConnection' ? WANIP_ACTIONS : WANCIF_ACTIONS;
    const spec = table.find((a) => a.name === h.action);
    if (!spec) return soapFault(401);
    if (body.length > SOAP_MAX_BODY) return soapFault(402);
    const call = parseSoapEnvelope(body);
    if (!call) return soapFault(402);
    if (call.action !== h.action) return soapFault(401);
    for (const [name] of spec.in) if (!call.args.has(name)) return soapFault(402);
    return dispatch({ h, args: call.args, requester: canonicalAddress(requester.address), ctx, now });
  } catch (e) {
    if (e instanceof Fault) return soapFault(e.code);
    return soapFault(501);
  }
}
