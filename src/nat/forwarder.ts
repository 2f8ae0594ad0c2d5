/**
 * The two rule sets of the port forwarder:
 *   Forwarder: [Forward] rules, public listeners on the host -> targets
 *              inside the tunnel (the VPS side).
 *   Exposer:   [Expose] rules, listeners on our tunnel Address -> services
 *              on this host (the home side, without TUN).
 * Both default the host side to kernel sockets (KernelNet).
 */
import { KernelNet } from '../host/kernel-net.js';
import type { TunnelNet } from '../host/net.js';
import { RuleSet, type RuleSetOptions } from './rule-set.js';

export interface ForwarderOptions extends RuleSetOptions {
  /** The tunnel side: StackNet in userspace mode, KernelNet in TUN mode. */
  tunnel: TunnelNet;
  /** The host side; default new KernelNet('host'). */
  host?: TunnelNet;
}

export class Forwarder extends RuleSet {
  constructor(opts: ForwarderOptions) {
    super('forward', opts.host ?? new KernelNet('host'), opts.tunnel, opts);
  }
}

export class Exposer extends RuleSet {
  constructor(opts: ForwarderOptions) {
    super('expose', opts.tunnel, opts.host ?? new KernelNet('host'), opts);
  }
}
