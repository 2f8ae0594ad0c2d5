/**
 * The XML documents the IGD serves over HTTP (UDA 1.1 section 2): the root
 * device description (IGD:2 > WANDevice:2 > WANConnectionDevice:2) and one
 * SCPD per service. The action tables here are also what soap.ts checks
 * in-arguments against, so what we advertise and what we accept agree.
 * Service contents follow UPnP-gw-WANIPConnection-v2 and
 * UPnP-gw-WANCommonInterfaceConfig-v1 (only the actions we implement).
 */
import { xmlEscape } from './xml.js';
import {
  IGD_TYPE,
  PATHS,
  WAN_CONNECTION_DEVICE_TYPE,
  WAN_DEVICE_TYPE,
  WANCIF_SERVICE_TYPE,
  WANIP_SERVICE_TYPE,
  deviceUuids,
} from './igd-devices.js';

export interface DescriptionOptions {
  /** Root device UUID (with or without "uuid:"). */
  uuid: string;
  friendlyName?: string;
  /** e.g. http://10.0.0.1:5000; written as <URLBase> when given (relative URLs then resolve against it). */
  baseUrl?: string;
}

export interface StateVariable {
  name: string;
  type: 'string' | 'ui2' | 'ui4' | 'boolean';
  events?: boolean;
  allowed?: readonly string[];
  range?: readonly [number, number];
}

/** [argument name, related state variable]. */
export type Argument = readonly [string, string];

export interface ActionSpec {
  name: string;
  in: readonly Argument[];
  out: readonly Argument[];
}

const MAPPING_KEY: readonly Argument[] = [
  ['NewRemoteHost', 'RemoteHost'],
  ['NewExternalPort', 'ExternalPort'],
  ['NewProtocol', 'PortMappingProtocol'],
];
const MAPPING_VALUE: readonly Argument[] = [
  ['NewInternalPort', 'InternalPort'],
  ['NewInternalClient', 'InternalClient'],
  ['NewEnabled', 'PortMappingEnabled'],
  ['NewPortMappingDescription', 'PortMappingDescription'],
  ['NewLeaseDuration', 'PortMappingLeaseDuration'],
];

export const WANIP_ACTIONS: readonly ActionSpec[] = [
  {
    name: 'GetConnectionTypeInfo',
    in: [],
    out: [
      ['NewConnectionType', 'ConnectionType'],
      ['NewPossibleConnectionTypes', 'PossibleConnectionTypes'],
    ],
  },
  {
    name: 'GetStatusInfo',
    in: [],
    out: [
      ['NewConnectionStatus', 'ConnectionStatus'],
      ['NewLastConnectionError', 'LastConnectionError'],
      ['NewUptime', 'Uptime'],
    ],
  },
  {
    name: 'GetNATRSIPStatus',
    in: [],
    out: [
      ['NewRSIPAvailable', 'RSIPAvailable'],
      ['NewNATEnabled', 'NATEnabled'],
    ],
  },
  {
    name: 'GetGenericPortMappingEntry',
    in: [['NewPortMappingIndex', 'A_ARG_TYPE_PortMappingIndex']],
    out: [...MAPPING_KEY, ...MAPPING_VALUE],
  },
  { name: 'GetSpecificPortMappingEntry', in: MAPPING_KEY, out: MAPPING_VALUE },
  { name: 'AddPortMapping', in: [...MAPPING_KEY, ...MAPPING_VALUE], out: [] },
  {
    name: 'AddAnyPortMapping',
    in: [...MAPPING_KEY, ...MAPPING_VALUE],
    out: [['NewReservedPort', 'ExternalPort']],
  },
  { name: 'DeletePortMapping', in: MAPPING_KEY, out: [] },
  {
    name: 'DeletePortMappingRange',
    in: [
      ['NewStartPort', 'ExternalPort'],
      ['NewEndPort', 'ExternalPort'],
      ['NewProtocol', 'PortMappingProtocol'],
      ['NewManage', 'A_ARG_TYPE_Manage'],
    ],
    out: [],
  },
  { name: 'GetExternalIPAddress', in: [], out: [['NewExternalIPAddress', 'ExternalIPAddress']] },
  {
    name: 'GetListOfPortMappings',
    in: [
      ['NewStartPort', 'ExternalPort'],
      ['NewEndPort', 'ExternalPort'],
      ['NewProtocol', 'PortMappingProtocol'],
      ['NewManage', 'A_ARG_TYPE_Manage'],
      ['NewNumberOfPorts', 'PortMappingNumberOfEntries'],
    ],
    out: [['NewPortListing', 'A_ARG_TYPE_PortListing']],
  },
];

export const WANIP_STATE: readonly StateVariable[] = [
  { name: 'ConnectionType', type: 'string' },
  { name: 'PossibleConnectionTypes', type: 'string', events: true, allowed: ['Unconfigured', 'IP_Routed', 'IP_Bridged'] },
  {
    name: 'ConnectionStatus',
    type: 'string',
    events: true,
    allowed: ['Unconfigured', 'Connecting', 'Connected', 'PendingDisconnect', 'Disconnecting', 'Disconnected'],
  },
  { name: 'Uptime', type: 'ui4' },
  { name: 'LastConnectionError', type: 'string', allowed: ['ERROR_NONE'] },
  { name: 'RSIPAvailable', type: 'boolean' },
  { name: 'NATEnabled', type: 'boolean' },
  { name: 'ExternalIPAddress', type: 'string', events: true },
  { name: 'PortMappingNumberOfEntries', type: 'ui2', events: true },
  { name: 'PortMappingEnabled', type: 'boolean' },
  { name: 'PortMappingLeaseDuration', type: 'ui4', range: [0, 604800] },
  { name: 'RemoteHost', type: 'string' },
  { name: 'ExternalPort', type: 'ui2' },
  { name: 'InternalPort', type: 'ui2', range: [1, 65535] },
  { name: 'PortMappingProtocol', type: 'string', allowed: ['TCP', 'UDP'] },
  { name: 'InternalClient', type: 'string' },
  { name: 'PortMappingDescription', type: 'string' },
  { name: 'SystemUpdateID', type: 'ui4', events: true },
  { name: 'A_ARG_TYPE_Manage', type: 'boolean' },
  { name: 'A_ARG_TYPE_PortListing', type: 'string' },
  { name: 'A_ARG_TYPE_PortMappingIndex', type: 'ui2' },
];

export const WANCIF_ACTIONS: readonly ActionSpec[] = [
  {
    name: 'GetCommonLinkProperties',
    in: [],
    out: [
      ['NewWANAccessType', 'WANAccessType'],
      ['NewLayer1UpstreamMaxBitRate', 'Layer1UpstreamMaxBitRate'],
      ['NewLayer1DownstreamMaxBitRate', 'Layer1DownstreamMaxBitRate'],
      ['NewPhysicalLinkStatus', 'PhysicalLinkStatus'],
    ],
  },
  { name: 'GetTotalBytesSent', in: [], out: [['NewTotalBytesSent', 'TotalBytesSent']] },
  { name: 'GetTotalBytesReceived', in: [], out: [['NewTotalBytesReceived', 'TotalBytesReceived']] },
  { name: 'GetTotalPacketsSent', in: [], out: [['NewTotalPacketsSent', 'TotalPacketsSent']] },
  { name: 'GetTotalPacketsReceived', in: [], out: [['NewTotalPacketsReceived', 'TotalPacketsReceived']] },
];

export const WANCIF_STATE: readonly StateVariable[] = [
  { name: 'WANAccessType', type: 'string', allowed: ['DSL', 'POTS', 'Cable', 'Ethernet'] },
  { name: 'Layer1UpstreamMaxBitRate', type: 'ui4' },
  { name: 'Layer1DownstreamMaxBitRate', type: 'ui4' },
  { name: 'PhysicalLinkStatus', type: 'string', events: true, allowed: ['Up', 'Down'] },
  { name: 'TotalBytesSent', type: 'ui4' },
  { name: 'TotalBytesReceived', type: 'ui4' },
  { name: 'TotalPacketsSent', type: 'ui4' },
  { name: 'TotalPacketsReceived', type: 'ui4' },
];

const SPEC = '<specVersion><major>1</major><minor>1</minor></specVersion>';

function scpd(actions: readonly ActionSpec[], state: readonly StateVariable[]): string {
  const arg = ([n, v]: Argument, dir: 'in' | 'out'): string =>
    `<argument><name>${n}</name><direction>${dir}</direction><relatedStateVariable>${v}</relatedStateVariable></argument>`;
  const act = (a: ActionSpec): string => {
    const args = [...a.in.map((x) => arg(x, 'in')), ...a.out.map((x) => arg(x, 'out'))];
    return `<action><name>${a.name}</name>${args.length ? `<argumentList>${args.join('')}</argumentList>` : ''}</action>`;
  };
  const sv = (v: StateVariable): string =>
    `<stateVariable sendEvents="${v.events ? 'yes' : 'no'}"><name>${v.name}</name><dataType>${v.type}</dataType>` +
    (v.allowed ? `<allowedValueList>${v.allowed.map((x) => `<allowedValue>${x}</allowedValue>`).join('')}</allowedValueList>` : '') +
    (v.range ? `<allowedValueRange><minimum>${v.range[0]}</minimum><maximum>${v.range[1]}</maximum></allowedValueRange>` : '') +
    '</stateVariable>';
  return (
    '<?xml version="1.0"?>\r\n' +
    `<scpd xmlns="urn:schemas-upnp-org:service-1-0">${SPEC}` +
    `<actionList>${actions.map(act).join('')}</actionList>` +
    `<serviceStateTable>${state.map(sv).join('')}</serviceStateTable></scpd>\r\n`
  );
}

/** SCPD of WANIPConnection:2 (served at PATHS.ipScpd). */
export function wanIpConnectionScpd(): string {
  return scpd(WANIP_ACTIONS, WANIP_STATE);
}

/** SCPD of WANCommonInterfaceConfig:1 (served at PATHS.cifScpd). */
export function wanCommonInterfaceConfigScpd(): string {
  return scpd(WANCIF_ACTIONS, WANCIF_STATE);
}

function service(type: string, id: string, control: string, event: string, scpdUrl: string): string {
  return (
    `<service><serviceType>${type}</serviceType><serviceId>${id}</serviceId>` +
    `<controlURL>${control}</controlURL><eventSubURL>${event}</eventSubURL><SCPDURL>${scpdUrl}</SCPDURL></service>`
  );
}

function device(type: string, name: string, udn: string, inner: string): string {
  return (
    `<device><deviceType>${type}</deviceType><friendlyName>${xmlEscape(name)}</friendlyName>` +
    '<manufacturer>wgts</manufacturer><modelDescription>WireGuard port mapping</modelDescription>' +
    `<modelName>wgts</modelName><modelNumber>2</modelNumber><UDN>uuid:${xmlEscape(udn)}</UDN>${inner}</device>`
  );
}

/** The root device description (served at PATHS.rootDesc). */
export function rootDescription(o: DescriptionOptions): string {
  const u = deviceUuids(o.uuid);
  const name = (o.friendlyName ?? 'wgts port mapping').slice(0, 64);
  const wcd = device(
    WAN_CONNECTION_DEVICE_TYPE,
    'WANConnectionDevice',
    u.wcd,
    `<serviceList>${service(WANIP_SERVICE_TYPE, 'urn:upnp-org:serviceId:WANIPConn1', PATHS.ipControl, PATHS.ipEvent, PATHS.ipScpd)}</serviceList>`,
  );
  const wan = device(
    WAN_DEVICE_TYPE,
    'WANDevice',
    u.wan,
    `<serviceList>${service(WANCIF_SERVICE_TYPE, 'urn:upnp-org:serviceId:WANCommonIFC1', PATHS.cifControl, PATHS.cifEvent, PATHS.cifScpd)}</serviceList>` +
      `<deviceList>${wcd}</deviceList>`,
  );
  const root = device(IGD_TYPE, name, u.root, `<deviceList>${wan}</deviceList>`);
  const base = o.baseUrl ? `<URLBase>${xmlEscape(o.baseUrl)}</URLBase>` : '';
  return (
    '<?xml version="1.0"?>\r\n' +
    `<root xmlns="urn:schemas-upnp-org:device-1-0" configId="1">${SPEC}${base}${root}</root>\r\n`
  );
}
