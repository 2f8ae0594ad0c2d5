/** The port forwarder ([Forward]/[Expose]): rules, relays, and the nets they run on. */
export { Forwarder, Exposer, type ForwarderOptions } from './forwarder.js';
export { RuleSet, type RuleSetOptions, type ApplyResult } from './rule-set.js';
export type { UnitStats, NatLog } from './relay.js';
export type { TunnelNet, NetSocket, NetListener, NetUdpSocket } from '../host/net.js';
export { KernelNet, type KernelNetOptions } from '../host/kernel-net.js';
export { StackNet } from './stack-net.js';
export { encodeProxyV1, encodeProxyV2, encodeProxyHeader, PROXY_V2_SIGNATURE, type ProxyEndpoints } from './proxy-protocol.js';
export { DEFAULTS, LIMITS, shortFormText, units, type NatRule, type NatUnit, type NatKind, type NatProtocol } from './rule.js';
