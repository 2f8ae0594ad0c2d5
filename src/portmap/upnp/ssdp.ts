/**
 * SSDP search answers (UPnP Device Architecture 1.1, section 1.3): a datagram
 * to 239.255.255.250:1900 (or unicast to us) goes in, the unicast
 * "HTTP/1.1 200 OK" datagrams to send back to its source come out. Only
 * M-SEARCH with MAN "ssdp:discover" and a search target we implement gets an
 * answer; everything else (NOTIFY, responses, junk, > 2 KB) gets none.
 * Sans-IO: the driver owns the socket and any MX delay.
 *
 *   msg -> parseSearch (request line, headers) -> matchTarget (ST) -> replies
 */
import { TYPES, URN_DEVICE, URN_SERVICE, DEFAULT_SERVER, deviceUuids, type DeviceUuids } from './igd-devices.js';

export interface SsdpOptions {
  /** Absolute URL of the root description, e.g. http://10.0.0.1:5000/rootDesc.xml. */
  location: string;
  /** Root device UUID (with or without "uuid:"). */
  uuid: string;
  server?: string;
  /** CACHE-CONTROL max-age in seconds (default 1800, the UDA minimum). */
  maxAge?: number;
  /** BOOTID.UPNP.ORG / CONFIGID.UPNP.ORG (default 1 each). */
  bootId?: number;
  configId?: number;
}

/** Datagrams longer than this are not searches we answer. */
export const SSDP_MAX_REQUEST = 2048;
/** ssdp:all: 3 for the root device, 2 per embedded device (2), 1 per service (2). */
export const SSDP_MAX_REPLIES = 9;

interface Target {
  st: string;
  usn: string;
}

function header(lines: string[]): Map<string, string> | null {
  const h = new Map<string, string>();
  for (const line of lines) {
    if (line === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) return null;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!/^[a-z0-9.!#$%&'*+^_`|~-]+$/.test(name)) return null;
    if (h.has(name) && (name === 'st' || name === 'man')) return null;
    h.set(name, line.slice(colon + 1).trim());
  }
  return h;
}

/** The ST of a valid M-SEARCH, or null. */
export function parseSearch(msg: Uint8Array): string | null {
  if (msg.length === 0 || msg.length > SSDP_MAX_REQUEST) return null;
  const text = Buffer.from(msg.buffer, msg.byteOffset, msg.byteLength).toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  const lines = (end >= 0 ? text.slice(0, end) : text).split(/\r?\n/);
  if (!/^M-SEARCH \* HTTP\/1\.[01]$/.test(lines[0] ?? '')) return null;
  const h = header(lines.slice(1));
  if (!h) return null;
  const man = h.get('man');
  if (man !== '"ssdp:discover"' && man !== 'ssdp:discover') return null;
  const mx = h.get('mx');
  if (mx !== undefined && !/^[0-9]{1,4}$/.test(mx)) return null;
  const st = h.get('st');
  if (!st || st.length > 256) return null;
  return st;
}

function allTargets(u: DeviceUuids): Target[] {
  const owner = [u.root, u.wan, u.wcd, u.wcd, u.wan];
  const out: Target[] = [
    { st: 'upnp:rootdevice', usn: `uuid:${u.root}::upnp:rootdevice` },
    { st: `uuid:${u.root}`, usn: `uuid:${u.root}` },
    { st: `uuid:${u.wan}`, usn: `uuid:${u.wan}` },
    { st: `uuid:${u.wcd}`, usn: `uuid:${u.wcd}` },
  ];
  TYPES.forEach(([kind, name, v], i) => {
    const st = `${kind === 'device' ? URN_DEVICE : URN_SERVICE}${name}:${v}`;
    out.push({ st, usn: `uuid:${owner[i]}::${st}` });
  });
  return out;
}

/** What to answer for one search target (empty: not ours). */
export function matchTarget(st: string, uuid: string): Target[] {
  const u = deviceUuids(uuid);
  if (st === 'ssdp:all') return allTargets(u);
  if (st === 'upnp:rootdevice') return [{ st, usn: `uuid:${u.root}::upnp:rootdevice` }];
  if (st.startsWith('uuid:')) {
    const id = st.slice(5).toLowerCase();
    return id === u.root || id === u.wan || id === u.wcd ? [{ st, usn: `uuid:${id}` }] : [];
  }
  const m = /^urn:schemas-upnp-org:(device|service):([A-Za-z0-9]+):([0-9]{1,3})$/.exec(st);
  if (!m) return [];
  const owner = [u.root, u.wan, u.wcd, u.wcd, u.wan];
  const i = TYPES.findIndex(([kind, name]) => kind === m[1] && name === m[2]);
  const v = Number(m[3]);
  if (i < 0 || v < 1 || v > TYPES[i]![2]) return [];
  // UDA 1.1 1.3.3: answer with the version asked for when we implement a later one.
  return [{ st, usn: `uuid:${owner[i]}::${st}` }];
}

function oneLine(s: string): string {
  return s.replace(/[\r\n]/g, '');
}

/**
 * The unicast replies to one datagram from `from`; [] when it is not a
 * search for something we implement (never throws on bad input).
 */
export function handleSsdp(
  msg: Uint8Array,
  from: { address: string; port: number },
  opts: SsdpOptions,
): Uint8Array[] {
  if (!Number.isInteger(from.port) || from.port < 1 || from.port > 65535) return [];
  const st = parseSearch(msg);
  if (st === null) return [];
  const targets = matchTarget(st, opts.uuid).slice(0, SSDP_MAX_REPLIES);
  const maxAge = opts.maxAge ?? 1800;
  const common =
    `CACHE-CONTROL: max-age=${maxAge}\r\n` +
    'EXT:\r\n' +
    `LOCATION: ${oneLine(opts.location)}\r\n` +
    `SERVER: ${oneLine(opts.server ?? DEFAULT_SERVER)}\r\n`;
  const ids = `BOOTID.UPNP.ORG: ${opts.bootId ?? 1}\r\nCONFIGID.UPNP.ORG: ${opts.configId ?? 1}\r\n`;
  return targets.map((t) =>
    Buffer.from(`HTTP/1.1 200 OK\r\n${common}ST: ${t.st}\r\nUSN: ${t.usn}\r\n${ids}\r\n`, 'latin1'),
  );
}
