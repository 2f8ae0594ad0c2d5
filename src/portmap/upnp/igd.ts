/**
 * The IGD's HTTP routes (UDA 1.1 sections 2 and 3): GET of the root
 * description and the two SCPDs, POST of SOAP actions to the two control
 * URLs. Only what the root description lists is served: other paths 404,
 * other methods 405 (eventing, SUBSCRIBE, is not implemented). The returned
 * handler plugs into serveHttpConnection; it never throws.
 *
 *   request -> route by path -> static XML | handleSoap(SOAPAction, body,
 *   TCP peer address, ctx(), now()) -> onChange() when leases changed
 */
import type { PortMapContext } from '../types.js';
import { DEFAULT_SERVER, PATHS } from './igd-devices.js';
import { rootDescription, wanCommonInterfaceConfigScpd, wanIpConnectionScpd } from './description.js';
import type { HttpHandler, HttpResponse } from './http.js';
import { handleSoap, parseSoapAction, soapFault, type SoapService } from './soap.js';

export interface IgdOptions {
  /** The current context (read per request: a reload may swap the store or policy). */
  ctx: () => PortMapContext;
  /** Root device UUID. */
  uuid: string;
  /** e.g. http://10.0.0.1:5000 (the tunnel address and upnpHttpPort); written as <URLBase>. */
  baseUrl: string;
  friendlyName?: string;
  server?: string;
  now: () => number;
  /** Called after an action added, renewed or removed leases. */
  onChange: () => void;
}

const XML = 'text/xml; charset="utf-8"';

/** Absolute URL of the root description, for SSDP LOCATION. */
export function igdLocation(baseUrl: string): string {
  return baseUrl.replace(/\/+$/, '') + PATHS.rootDesc;
}

export function createIgdHandler(o: IgdOptions): HttpHandler {
  const server = o.server ?? DEFAULT_SERVER;
  const docs = new Map<string, string>([
    [PATHS.rootDesc, rootDescription({ uuid: o.uuid, baseUrl: o.baseUrl.replace(/\/+$/, ''), ...(o.friendlyName ? { friendlyName: o.friendlyName } : {}) })],
    [PATHS.ipScpd, wanIpConnectionScpd()],
    [PATHS.cifScpd, wanCommonInterfaceConfigScpd()],
  ]);
  const controls = new Map<string, SoapService>([
    [PATHS.ipControl, 'WANIPConnection'],
    [PATHS.cifControl, 'WANCommonInterfaceConfig'],
  ]);
  const events = new Set<string>([PATHS.ipEvent, PATHS.cifEvent]);
  const plain = (status: number, text: string, extra: Record<string, string> = {}): HttpResponse => ({
    status,
    headers: { 'Content-Type': 'text/plain', Server: server, ...extra },
    body: `${text}\n`,
  });

  return (req, remote) => {
    const doc = docs.get(req.path);
    if (doc !== undefined) {
      if (req.method !== 'GET') return plain(405, 'Method Not Allowed', { Allow: 'GET' });
      return { status: 200, headers: { 'Content-Type': XML, Server: server }, body: doc };
    }
    const service = controls.get(req.path);
    if (service !== undefined) {
      if (req.method !== 'POST') return plain(405, 'Method Not Allowed', { Allow: 'POST' });
      const soapHeaders = { 'Content-Type': XML, Server: server, EXT: '' };
      const action = req.headers.get('soapaction') ?? '';
      const parsed = parseSoapAction(action);
      // The action's service must be the one this control URL belongs to.
      const r =
        parsed && parsed.service !== service
          ? soapFault(401)
          : handleSoap(action, req.body, { address: remote.address }, o.ctx(), o.now());
      if (r.changed) {
        try {
          o.onChange();
        } catch {
          /* the driver's problem; the client still gets its answer */
        }
      }
      return { status: r.status, headers: soapHeaders, body: r.body };
    }
    if (events.has(req.path)) return plain(405, 'Method Not Allowed', { Allow: '' });
    return plain(404, 'Not Found');
  };
}
