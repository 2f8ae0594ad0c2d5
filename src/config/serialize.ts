/**
 * serializeConfig: WgConfig -> wg-quick(8) text that parseConfig reads back
 * to the same config (like `wg showconf`, plus the wg-quick keys).
 * Output holds the private and preshared keys unless `redactSecrets` is set;
 * keys that came from PrivateKeyFile, PrivateKeyEnv or PresharedKeyFile are
 * written inline as PrivateKey / PresharedKey (the config holds only the key).
 */
import { encodeKey } from '../crypto/util.js';
import { formatCidr, formatEndpoint } from './addr.js';
import type { SectionSpec } from './schema.js';
import { SECTIONS } from './sections.js';
import type { RouteTable, WgConfig } from './types.js';

export interface SerializeOptions {
  /** Print `<redacted>` instead of PrivateKey / PresharedKey (output no longer parses). */
  redactSecrets?: boolean;
}

function table(t: RouteTable): string {
  switch (t.kind) {
    case 'off':
    case 'auto':
      return t.kind;
    case 'id':
      return String(t.id);
    case 'name':
      return t.name;
  }
}

export function serializeConfig(
  cfg: WgConfig,
  opts: SerializeOptions = {},
  sections: readonly SectionSpec<any>[] = SECTIONS,
): string {
  const secret = (k: Uint8Array): string => (opts.redactSecrets ? '<redacted>' : encodeKey(k));
  const out: string[] = [];
  const kv = (k: string, v: string): void => {
    out.push(`${k} = ${v}`);
  };
  const i = cfg.iface;
  out.push('[Interface]');
  kv('PrivateKey', secret(i.privateKey));
  if (i.listenPort !== undefined) kv('ListenPort', String(i.listenPort));
  if (i.fwMark !== undefined) kv('FwMark', i.fwMark === 0 ? 'off' : `0x${i.fwMark.toString(16)}`);
  if (i.addresses.length) kv('Address', i.addresses.map(formatCidr).join(', '));
  if (i.mtu !== undefined) kv('MTU', String(i.mtu));
  const dns = [...i.dns.servers, ...i.dns.search];
  if (dns.length) kv('DNS', dns.join(', '));
  if (i.table) kv('Table', table(i.table));
  for (const c of i.preUp) kv('PreUp', c);
  for (const c of i.postUp) kv('PostUp', c);
  for (const c of i.preDown) kv('PreDown', c);
  for (const c of i.postDown) kv('PostDown', c);
  if (i.saveConfig !== undefined) kv('SaveConfig', String(i.saveConfig));
  if (i.maxStagedPackets !== undefined) kv('MaxStagedPackets', String(i.maxStagedPackets));
  if (i.maxTimeWait !== undefined) kv('MaxTimeWait', String(i.maxTimeWait));
  if (i.maxReassemblyBuffers !== undefined) kv('MaxReassemblyBuffers', String(i.maxReassemblyBuffers));
  if (i.metricsListen !== undefined) kv('MetricsListen', formatEndpoint(i.metricsListen));
  if (i.congestion !== undefined) kv('Congestion', i.congestion);

  for (const p of cfg.peers) {
    out.push('', '[Peer]');
    kv('PublicKey', encodeKey(p.publicKey));
    if (p.presharedKey) kv('PresharedKey', secret(p.presharedKey));
    if (p.allowedIps.length) kv('AllowedIPs', p.allowedIps.map(formatCidr).join(', '));
    if (p.endpoint) kv('Endpoint', formatEndpoint(p.endpoint));
    if (p.persistentKeepalive) kv('PersistentKeepalive', String(p.persistentKeepalive));
  }

  for (const spec of sections) {
    const items = cfg.extensions[spec.name];
    if (!spec.serialize || !items) continue;
    for (const item of items) {
      out.push('', `[${spec.name}]`);
      for (const [k, v] of spec.serialize(item)) kv(k, opts.redactSecrets && spec.keys[k]?.secret ? '<redacted>' : v);
    }
  }
  return out.join('\n') + '\n';
}
