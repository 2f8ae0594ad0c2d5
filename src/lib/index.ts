/**
 * The package's entry point (`import { Tunnel } from 'wgts'`): the Tunnel
 * class and the types a program sees through it. Everything else under
 * src/ is internal.
 */
export { Tunnel, type TunnelOptions, type TunnelConfig, type TunnelEvents, type PeerInfo } from './tunnel.js';
export type { TunnelServer } from './server.js';
export type { TunnelUdpSocket } from './dgram.js';
export type { TunnelSocket, TunnelHttpAgent, TunnelHttpsAgent, ProxyStats } from '../proxy/index.js';
export type { WgConfig } from '../config/types.js';
export { parseConfig } from '../config/parse.js';
