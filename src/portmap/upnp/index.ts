/** UPnP IGD:2 front-end of the port-mapping service: SSDP, descriptions, SOAP, HTTP. */
export { handleSsdp, parseSearch, matchTarget, SSDP_MAX_REQUEST, SSDP_MAX_REPLIES, type SsdpOptions } from './ssdp.js';
export { rootDescription, wanIpConnectionScpd, wanCommonInterfaceConfigScpd, type DescriptionOptions } from './description.js';
export { handleSoap, parseSoapAction, soapFault, UPNP_ERRORS, type SoapResult } from './soap.js';
export {
  serveHttpConnection,
  parseHttpRequest,
  formatHttpResponse,
  type HttpHandler,
  type HttpRequest,
  type HttpResponse,
  type HttpLimits,
} from './http.js';
export { createIgdHandler, igdLocation, type IgdOptions } from './igd.js';
export { PATHS, IGD_TYPE, WANIP_SERVICE_TYPE, WANCIF_SERVICE_TYPE, deviceUuids, uuidFromBytes, DEFAULT_SERVER } from './igd-devices.js';
