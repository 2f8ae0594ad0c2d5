/**
 * The shape of the UPnP IGD we serve (IGD:2, UPnP-gw-InternetGatewayDevice-v2):
 * three nested devices, two services, and the HTTP paths the description
 * lists. ssdp.ts answers searches for these types, description.ts writes them
 * out, igd.ts routes HTTP requests by these paths. Pure data.
 *
 *   InternetGatewayDevice:2 (root UDN)
 *     WANDevice:2 (UDN+1)             WANCommonInterfaceConfig:1
 *       WANConnectionDevice:2 (UDN+2) WANIPConnection:2
 */

export const URN_DEVICE = 'urn:schemas-upnp-org:device:';
export const URN_SERVICE = 'urn:schemas-upnp-org:service:';

export const IGD_TYPE = `${URN_DEVICE}InternetGatewayDevice:2`;
export const WAN_DEVICE_TYPE = `${URN_DEVICE}WANDevice:2`;
export const WAN_CONNECTION_DEVICE_TYPE = `${URN_DEVICE}WANConnectionDevice:2`;
export const WANIP_SERVICE_TYPE = `${URN_SERVICE}WANIPConnection:2`;
export const WANCIF_SERVICE_TYPE = `${URN_SERVICE}WANCommonInterfaceConfig:1`;

/** Every device and service type we implement: [kind, name, highest version]. */
export const TYPES: readonly (readonly ['device' | 'service', string, number])[] = [
  ['device', 'InternetGatewayDevice', 2],
  ['device', 'WANDevice', 2],
  ['device', 'WANConnectionDevice', 2],
  ['service', 'WANIPConnection', 2],
  ['service', 'WANCommonInterfaceConfig', 1],
];

/** HTTP paths the root description lists (kept short: miniupnpc keeps URLs in 128-byte buffers). */
export const PATHS = {
  rootDesc: '/rootDesc.xml',
  ipScpd: '/WANIPCn.xml',
  ipControl: '/ctl/IPConn',
  ipEvent: '/evt/IPConn',
  cifScpd: '/WANCfg.xml',
  cifControl: '/ctl/CmnIfCfg',
  cifEvent: '/evt/CmnIfCfg',
} as const;

/** SERVER header of SSDP and HTTP replies (UDA 1.1: "OS/version UPnP/1.1 product/version"). */
export const DEFAULT_SERVER = 'Node.js UPnP/1.1 wgts/0.1';

export interface DeviceUuids {
  root: string;
  wan: string;
  wcd: string;
}

/** Bare UUID text (no "uuid:" prefix, lower case). */
export function bareUuid(uuid: string): string {
  return uuid.replace(/^uuid:/i, '').toLowerCase();
}

/**
 * UDNs of the three devices: the root UUID, and for the embedded devices the
 * same UUID with its last hex digit advanced by 1 and 2 (stable, distinct).
 */
export function deviceUuids(uuid: string): DeviceUuids {
  const root = bareUuid(uuid);
  const m = /^(.*)([0-9a-f])$/.exec(root);
  const bump = (n: number): string =>
    m ? m[1]! + ((parseInt(m[2]!, 16) + n) % 16).toString(16) : `${root}-${n}`;
  return { root, wan: bump(1), wcd: bump(2) };
}

/** 16 bytes (e.g. part of a hash of the server's public key) as UUID text, version 4 and variant bits set. */
export function uuidFromBytes(b: Uint8Array): string {
  if (b.length < 16) throw new RangeError('uuidFromBytes: need 16 bytes');
  const x = Uint8Array.from(b.subarray(0, 16));
  x[6] = (x[6]! & 0x0f) | 0x40;
  x[8] = (x[8]! & 0x3f) | 0x80;
  const h = Array.from(x, (v) => v.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
