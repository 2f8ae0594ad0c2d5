/**
 * The firewall half of wg-quick's add_default, and remove_firewall. For a
 * default route through the tunnel (fwmark + policy rules), per family:
 *
 *  - preraw: drop packets addressed to the tunnel's own addresses that arrive
 *    on another interface from a non-local source. With policy routing the
 *    reverse-path filter no longer guards the tunnel address, so a host on the
 *    LAN could otherwise reach (or probe) it from outside the tunnel.
 *  - postmangle/premangle: copy the fwmark of our outgoing UDP (the encrypted
 *    datagrams) into conntrack, and restore it on the replies. With
 *    net.ipv4.conf.all.src_valid_mark=1 the reverse-path check of an incoming
 *    reply then uses the mark, finds the endpoint via the main table (not the
 *    tunnel), and strict rp_filter (=1) does not drop the handshake replies.
 *
 * nft when present, else iptables-restore, as wg-quick; with neither, a
 * warning (wg-quick would fail here): routing works with rp_filter 0 or 2,
 * but with strict rp_filter the endpoint's replies are dropped (checked in
 * test/tun/netns.test.ts by removing nft from PATH).
 */
import type { Steps } from './steps.js';
import { addressesFromIpOutput, iptablesRemoveScript, iptablesRestoreScript, nftRemoveScript, nftScript } from './plan.js';

const SRC_VALID_MARK = '/proc/sys/net/ipv4/conf/all/src_valid_mark';

/** add_default's firewall part for one family. Returns which tool was used, or null. */
export async function addDefaultFirewall(
  steps: Steps,
  iface: string,
  family: 4 | 6,
  table: number,
  beforeApply: (tool: 'nft' | 'iptables') => void,
): Promise<'nft' | 'iptables' | null> {
  const proto = family === 4 ? '-4' : '-6';
  const addrs = addressesFromIpOutput(await steps.query(['ip', '-o', proto, 'addr', 'show', 'dev', iface]));
  if (family === 4) {
    const v = await steps.runner.readFile(SRC_VALID_MARK);
    if (v === null || v.trim() !== '1') {
      if (await steps.runner.which('sysctl')) {
        await steps.cmd(['sysctl', '-q', 'net.ipv4.conf.all.src_valid_mark=1']);
      } else {
        steps.log(`[#] echo 1 > ${SRC_VALID_MARK}`);
        await steps.runner.writeFile(SRC_VALID_MARK, '1\n');
      }
    }
  }
  if (await steps.runner.which('nft')) {
    beforeApply('nft');
    await steps.cmd(['nft', '-f', '/dev/stdin'], nftScript(family === 4 ? 'ip' : 'ip6', iface, table, addrs));
    return 'nft';
  }
  const restore = family === 4 ? 'iptables-restore' : 'ip6tables-restore';
  if (await steps.runner.which(restore)) {
    beforeApply('iptables');
    await steps.cmd([restore, '-n'], iptablesRestoreScript(iface, table, addrs));
    return 'iptables';
  }
  const rp = family === 4 ? (await steps.runner.readFile('/proc/sys/net/ipv4/conf/all/rp_filter'))?.trim() : undefined;
  steps.warn(
    `Warning: neither nft nor ${restore} found: the anti-spoofing and conntrack mark rules for ${iface} are not installed; ` +
      (rp === '1'
        ? 'net.ipv4.conf.all.rp_filter is 1 (strict), so replies from the endpoint WILL be dropped: install nftables, or set rp_filter=2'
        : 'with strict rp_filter (=1) replies from the endpoint would be dropped: install nftables'),
  );
  return null;
}

/** remove_firewall: delete the wg-quick-IFACE nft tables and the iptables rules tagged for IFACE. */
export async function removeFirewall(steps: Steps, iface: string): Promise<void> {
  if (await steps.runner.which('nft')) {
    const script = nftRemoveScript(await steps.query(['nft', 'list', 'tables']), iface);
    if (script) await steps.cmd(['nft', '-f', '/dev/stdin'], script);
  }
  if (await steps.runner.which('iptables')) {
    for (const ipt of ['iptables', 'ip6tables']) {
      const script = iptablesRemoveScript(await steps.query([`${ipt}-save`]), iface);
      if (script) await steps.cmd([`${ipt}-restore`, '-n'], script);
    }
  }
}
