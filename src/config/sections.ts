/**
 * The table of known sections. The parser accepts exactly these; to add an
 * extension section ([Forward], [Expose], [PortMapping], ...), write a
 * SectionSpec and list it here. Built values of sections other than Interface/Peer land in
 * WgConfig.extensions[name].
 */
import { exposeSection, forwardSection } from './forward.js';
import { interfaceSection } from './interface.js';
import { peerSection } from './peer.js';
import { portMappingSection } from './portmap.js';
import { httpProxySection, socks5Section } from './proxy.js';
import type { SectionSpec } from './schema.js';
import { stdioTunnelSection, tcpClientTunnelSection, tcpServerTunnelSection, udpProxyTunnelSection } from './tunnels.js';

export const SECTIONS: readonly SectionSpec<any>[] = [
  interfaceSection,
  peerSection,
  forwardSection,
  exposeSection,
  portMappingSection,
  socks5Section,
  httpProxySection,
  tcpClientTunnelSection,
  tcpServerTunnelSection,
  udpProxyTunnelSection,
  stdioTunnelSection,
];
