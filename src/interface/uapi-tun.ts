/**
 * A TUN interface run the wireguard-go way (`wgts-tun`): it starts with no
 * key, peer or address, and everything arrives through the UAPI socket
 * (`wg setconf`, wg-quick); addresses, routes and the MTU are the host's
 * business (`ip`). Process glue (arguments, daemonizing, signals) stays in
 * src/cli/wgts-tun.ts.
 *
 *   start(tun, opts) -> driver (outer UDP socket in the namespace this
 *                       process runs in, whatever namespace the link moves to)
 *                    -> UAPI socket NAME.sock (or an inherited listening fd)
 *   'stop-request'  <- the link was deleted (the TUN read fails with EBADFD),
 *                      NAME.sock was deleted (wg-quick down's way for
 *                      userspace devices)
 *   stop()           UAPI, driver, TUN; idempotent
 */
import { EventEmitter } from 'node:events';
import type { WgConfig } from '../config/types.js';
import { Driver } from '../node/driver.js';
import type { Logger } from '../node/log.js';
import { driverBackend } from '../node/uapi-backend.js';
import { startUapiServer, type UapiServer } from '../uapi/server.js';
import type { TunDevice } from '../tun/index.js';

export interface UapiTunOptions {
  log: Logger;
  /** Serve UAPI on this inherited listening socket (WG_UAPI_FD) instead of creating NAME.sock. */
  uapiFd?: number;
  /** Where NAME.sock lives (default: /var/run/wireguard, else the per-user directory). */
  uapiDir?: string;
}

/** How often the device takes the interface MTU the host set (`ip link set mtu`), for padding. */
const MTU_POLL_MS = 1000;

/** The config of an interface that has nothing yet: an empty key means "no key" to the driver. */
function emptyConfig(name: string): WgConfig {
  return {
    interfaceName: name,
    iface: {
      line: 0, privateKey: new Uint8Array(0), publicKey: new Uint8Array(0), listenPort: undefined, fwMark: undefined,
      addresses: [], mtu: undefined, dns: { servers: [], search: [] }, table: undefined,
      preUp: [], postUp: [], preDown: [], postDown: [], saveConfig: undefined,
    },
    peers: [],
    warnings: [],
    sourceFile: '(uapi)',
    extensions: {},
  };
}

export class UapiTunInterface extends EventEmitter<{ 'stop-request': [why: string] }> {
  private uapi: UapiServer | null = null;
  private mtuTimer: NodeJS.Timeout | null = null;
  private stopping: Promise<void> | null = null;

  private constructor(readonly tun: TunDevice, readonly driver: Driver, private readonly o: UapiTunOptions) {
    super();
  }

  get name(): string {
    return this.tun.name;
  }

  get uapiPath(): string | null {
    return this.uapi?.path ?? null;
  }

  /** Serve `tun`; rejects (with everything it started stopped, the TUN too) when the UDP socket or UAPI cannot start. */
  static async start(tun: TunDevice, o: UapiTunOptions): Promise<UapiTunInterface> {
    const config = emptyConfig(tun.name);
    const driver = new Driver({ config, log: o.log, tun });
    const self = new UapiTunInterface(tun, driver, o);
    try {
      await self.startParts();
    } catch (e) {
      await self.stop();
      throw e;
    }
    return self;
  }

  private async startParts(): Promise<void> {
    const { driver, tun, o } = this;
    const mtu = tun.mtu;
    if (mtu > 0) driver.device.mtu = mtu;
    await driver.start();
    const backend = driverBackend(driver, (port) => void driver.setListenPort(port));
    this.uapi = await startUapiServer(tun.name, backend, {
      onEvent: (m) => o.log.debug(m),
      onSocketRemoved: () => this.emit('stop-request', 'UAPI socket removed'),
      ...(o.uapiFd !== undefined ? { fd: o.uapiFd } : {}),
      ...(o.uapiDir !== undefined ? { dir: o.uapiDir } : {}),
    });
    o.log.debug(`UAPI listener started on ${this.uapi.path}`);
    tun.onError((e) => this.emit('stop-request', e.code === 'EBADFD' ? 'the interface was deleted' : `TUN device error ${e.code ?? e.message}`));
    this.mtuTimer = setInterval(() => {
      const m = tun.mtu;
      if (m > 0 && m !== driver.device.mtu) driver.device.mtu = m;
    }, MTU_POLL_MS);
    this.mtuTimer.unref();
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      if (this.mtuTimer) clearInterval(this.mtuTimer);
      await this.uapi?.close();
      await this.driver.stop();
      await this.tun.close();
    })();
    return this.stopping;
  }
}
