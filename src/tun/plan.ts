/**
 * Pure pieces of wg-quick(8) (wireguard-tools src/wg-quick/linux.bash),
 * computed the way the script computes them: the order routes are added in,
 * the MTU taken from `ip route get` / `ip link show` output, hook `%i`
 * substitution, the resolvconf input, and the firewall scripts of
 * add_default. No I/O here; wgquick.ts runs the commands.
 */
import type { Cidr } from '../config/types.js';

/** The fallback when no route tells an MTU, as wg-quick: 1500 - 80. */
export const DEFAULT_LINK_MTU = 1500;
/** WireGuard overhead wg-quick subtracts: IPv6 header 40 + UDP 8 + WireGuard 32. */
export const MTU_OVERHEAD = 80;
/** wg-quick's first candidate table for the default route (= the fwmark). */
export const FIRST_DEFAULT_TABLE = 51820;

export function cidrText(c: Pick<Cidr, 'ip' | 'cidr'>): string {
  return `${c.ip}/${c.cidr}`;
}

export function familyFlag(prefix: string): '-4' | '-6' {
  return prefix.includes(':') ? '-6' : '-4';
}

/**
 * The AllowedIPs prefixes in the order cmd_up adds routes: `wg show allowed-ips`
 * filtered by `^[0-9a-z:.]+/[0-9]+$`, then `sort -nr -k 2 -t /` under LC_ALL=C:
 * longest prefix first, ties in reverse byte order of the whole line (GNU
 * sort's last-resort comparison is reversed by -r too). Duplicates once.
 */
export function routeOrder(allowed: readonly Pick<Cidr, 'ip' | 'cidr'>[]): string[] {
  const lines = [...new Set(allowed.map(cidrText))].filter((l) => /^[0-9a-z:.]+\/[0-9]+$/.test(l));
  const byteCmp = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));
  return lines.sort((a, b) => {
    const pa = Number(a.slice(a.indexOf('/') + 1));
    const pb = Number(b.slice(b.indexOf('/') + 1));
    if (pa !== pb) return pb - pa;
    return byteCmp(b, a);
  });
}

/** `ip route get` / `ip route show default` output: an explicit `mtu N`, else the device named by `dev X`. */
export function routeMtuOrDev(output: string): { mtu: number } | { dev: string } | null {
  const m = /mtu ([0-9]+)/.exec(output);
  if (m) return { mtu: Number(m[1]) };
  const d = /dev ([^ \n]+)/.exec(output);
  if (d) return { dev: d[1]! };
  return null;
}

/** `ip link show dev X` output -> its MTU. */
export function linkMtu(output: string): number | null {
  const m = /mtu ([0-9]+)/.exec(output);
  return m ? Number(m[1]) : null;
}

/** Endpoint address as set_mtu_up accepts it (its regex drops scoped IPv6 such as fe80::1%eth0). */
export function endpointForMtu(address: string): string | null {
  const a = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  return /^[a-z0-9:.]+$/.test(a) ? a : null;
}

/** The MTU wg-quick sets: the smallest found (or 1500 when none) minus 80. */
export function mtuFromCandidates(found: readonly number[]): number {
  let mtu = 2147483647;
  for (const m of found) if (m < mtu) mtu = m;
  if (!(mtu > 0 && mtu < 2147483647)) mtu = DEFAULT_LINK_MTU;
  return mtu - MTU_OVERHEAD;
}

/** A hook line with every `%i` replaced by the interface name (bash ${hook//%i/$INTERFACE}). */
export function substituteHook(hook: string, iface: string): string {
  return hook.split('%i').join(iface);
}

/** What set_dns pipes into `resolvconf -a`. */
export function resolvconfInput(servers: readonly string[], search: readonly string[]): string {
  let s = servers.map((n) => `nameserver ${n}\n`).join('');
  if (search.length > 0) s += `search ${search.join(' ')}\n`;
  return s;
}

/**
 * resolvconf_iface_prefix: with Debian's resolvconf (a real file, not a
 * symlink to resolvectl) and /etc/resolvconf/interface-order, the first
 * `NAME*` pattern line gives the prefix "NAME." (e.g. "tun." so the entry sorts
 * with VPN interfaces).
 */
export function resolvconfPrefix(interfaceOrder: string | null, resolvconfIsSymlink: boolean): string {
  if (interfaceOrder === null || resolvconfIsSymlink) return '';
  for (const line of interfaceOrder.split('\n')) {
    const m = /^([A-Za-z0-9-]+)\*$/.exec(line.trim());
    if (m) return `${m[1]}.`;
  }
  return '';
}

/** Addresses from `ip -o -4|-6 addr show dev X`, as add_default's loop reads them. */
export function addressesFromIpOutput(output: string): string[] {
  const out: string[] = [];
  for (const line of output.split('\n')) {
    const m = /.*inet6? ([0-9a-f:.]+)\/[0-9]+.*/.exec(line);
    if (m) out.push(m[1]!);
  }
  return out;
}

/** add_default's nft script for one family ("ip" or "ip6"); each line as wg-quick writes it. */
export function nftScript(pf: 'ip' | 'ip6', iface: string, table: number, addresses: readonly string[]): string {
  const t = `wg-quick-${iface}`;
  let s = `add table ${pf} ${t}\n`;
  s += `add chain ${pf} ${t} preraw { type filter hook prerouting priority -300; }\n`;
  s += `add chain ${pf} ${t} premangle { type filter hook prerouting priority -150; }\n`;
  s += `add chain ${pf} ${t} postmangle { type filter hook postrouting priority -150; }\n`;
  for (const a of addresses) {
    s += `add rule ${pf} ${t} preraw iifname != "${iface}" ${pf} daddr ${a} fib saddr type != local drop\n`;
  }
  s += `add rule ${pf} ${t} postmangle meta l4proto udp mark ${table} ct mark set mark \n`;
  s += `add rule ${pf} ${t} premangle meta l4proto udp meta mark set ct mark \n`;
  return s;
}

/** The comment that tags every iptables rule wg-quick adds (and remove_firewall looks for). */
export function iptablesMarker(iface: string): string {
  return `-m comment --comment "wg-quick(8) rule for ${iface}"`;
}

/** add_default's iptables-restore input for one family, used when nft is absent. */
export function iptablesRestoreScript(iface: string, table: number, addresses: readonly string[]): string {
  const marker = iptablesMarker(iface);
  let s = '*raw\n';
  for (const a of addresses) s += `-I PREROUTING ! -i ${iface} -d ${a} -m addrtype ! --src-type LOCAL -j DROP ${marker}\n`;
  s += 'COMMIT\n*mangle\n';
  s += `-I POSTROUTING -m mark --mark ${table} -p udp -j CONNMARK --save-mark ${marker}\n`;
  s += `-I PREROUTING -p udp -j CONNMARK --restore-mark ${marker}\n`;
  s += 'COMMIT\n';
  return s;
}

/** remove_firewall (nft): `delete table ...` for every table named wg-quick-IFACE in `nft list tables`. */
export function nftRemoveScript(listTables: string, iface: string): string {
  let s = '';
  for (const line of listTables.split('\n')) {
    const l = line.trim();
    if (l.endsWith(` wg-quick-${iface}`)) s += `delete ${l}\n`;
  }
  return s;
}

/** remove_firewall (iptables): the `*table`/COMMIT lines plus our -A rules turned into -D; null when none. */
export function iptablesRemoveScript(save: string, iface: string): string | null {
  const marker = iptablesMarker(iface);
  let s = '';
  let found = false;
  for (const line of save.split('\n')) {
    const isRule = line.startsWith('-A ') && line.includes(marker);
    if (!(line.startsWith('*') || line === 'COMMIT' || isRule)) continue;
    if (isRule) found = true;
    s += (line.startsWith('-A') ? '-D' + line.slice(2) : line) + '\n';
  }
  return found ? s : null;
}
