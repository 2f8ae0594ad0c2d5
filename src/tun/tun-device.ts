/**
 * A Linux TUN device (IFF_TUN | IFF_NO_PI: each read/write is one bare IPv4
 * or IPv6 packet). The fd is non-blocking and watched by libuv in the addon:
 *
 *   kernel -> read(2) batch -> one ArrayBuffer per batch -> onPacket(view) per packet
 *   write(packet) -> write(2) on the loop thread -> true, or a counted drop
 *
 * Reading starts when the first onPacket callback is set, so packets that
 * arrive before a consumer exists wait in the kernel queue. The device is
 * not persistent: the kernel removes the interface when the fd closes,
 * including when the process dies.
 */
import { constants as osConstants } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { validInterfaceName } from '../uapi/paths.js';
import { requireAddon, type NativeHandle, type NativeTun } from '../host/addon.js';

export interface TunStats {
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  /** Packets write() could not hand to the kernel, by errno code (EIO: link down, EINVAL: not an IP packet, ...). */
  txDrops: Map<string, number>;
}

export interface TunDevice {
  /** The interface name the kernel gave the device. */
  readonly name: string;
  /** The device's descriptor, for handing it to a child process (wgts-tun daemonizing); -1 once closed. */
  readonly fd: number;
  /** The interface MTU as the kernel has it now (changed by `ip link set mtu`). */
  readonly mtu: number;
  readonly stats: TunStats;
  /** Set the consumer of packets the host routes into the device; starts reading. */
  onPacket(cb: (packet: Uint8Array) => void): void;
  /** Called once if reading fails for good (e.g. EBADFD after `ip link delete`). Reading stops. */
  onError(cb: (err: NodeJS.ErrnoException) => void): void;
  /** Hand one IP packet to the host stack. false: dropped (counted in stats.txDrops). Never throws for packet content. */
  write(packet: Uint8Array): boolean;
  /** Set the interface MTU (SIOCSIFMTU). */
  setMtu(mtu: number): void;
  /** Stop reading and close the fd; the interface disappears. Idempotent. */
  close(): Promise<void>;
}

export interface OpenTunOptions {
  /** Set this MTU right after creating the device. */
  mtu?: number;
  /**
   * Create the device inside this network namespace: a name under
   * /var/run/netns or an absolute path to a netns file. Only the calling thread
   * switches, and back, inside one synchronous native call.
   */
  netns?: string;
}

function errnoError(code: string, message: string, errno?: number): NodeJS.ErrnoException {
  const e = new Error(message) as NodeJS.ErrnoException;
  e.code = code;
  if (errno !== undefined) e.errno = errno;
  return e;
}

/** Turn the addon's open() errors into advice. */
function explainOpenError(name: string, e: NodeJS.ErrnoException): NodeJS.ErrnoException {
  const code = e.code ?? 'EIO';
  let msg: string;
  switch (code) {
    case 'ENOENT':
    case 'ENODEV':
    case 'ENXIO':
      msg = `cannot open /dev/net/tun (${code}): load the tun module (modprobe tun), or in a container pass the device (e.g. --device /dev/net/tun)`;
      break;
    case 'EPERM':
    case 'EACCES':
      msg = `creating TUN interface ${name} needs CAP_NET_ADMIN (${code}): run as root, or grant the capability (setcap cap_net_admin+ep on the node binary, or AmbientCapabilities in a systemd unit)`;
      break;
    case 'EBUSY':
      msg = `an interface named ${name} exists and is in use (EBUSY): choose another name with --interface, or take the other one down`;
      break;
    case 'EINVAL':
      msg = `cannot create TUN interface ${name} (EINVAL): an interface of another type probably has this name (see \`ip link show dev ${name}\`)`;
      break;
    default:
      msg = `cannot create TUN interface ${name}: ${e.message}`;
  }
  return errnoError(code, msg, e.errno);
}

class LinuxTun implements TunDevice {
  readonly stats: TunStats = { rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, txDrops: new Map() };
  private packetCb: ((p: Uint8Array) => void) | null = null;
  private errorCb: ((e: NodeJS.ErrnoException) => void) | null = null;
  private started = false;
  private closing: Promise<void> | null = null;
  private lastMtu = 0;

  constructor(private readonly addon: NativeTun, private readonly h: NativeHandle) {}

  get name(): string {
    return this.h.name;
  }

  get fd(): number {
    return this.closing ? -1 : this.h.fd;
  }

  get mtu(): number {
    if (!this.closing) {
      const m = this.addon.getMtu(this.h);
      if (m > 0) this.lastMtu = m;
    }
    return this.lastMtu;
  }

  setMtu(mtu: number): void {
    if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw new RangeError(`MTU must be an integer in 68..65535, got ${mtu}`);
    const r = this.addon.setMtu(this.h, mtu);
    if (r < 0) throw errnoError(ERRNO_NAMES[-r] ?? 'EIO', `cannot set the MTU of ${this.name} to ${mtu}: ${ERRNO_NAMES[-r] ?? `errno ${-r}`}`, -r);
  }

  onPacket(cb: (packet: Uint8Array) => void): void {
    this.packetCb = cb;
    if (this.started || this.closing) return;
    this.started = true;
    this.addon.start(
      this.h,
      (buf, lens, count) => this.deliver(buf, lens, count),
      (code, errno) => {
        const e = errnoError(code, `reading from TUN ${this.name} failed: ${code}${code === 'EBADFD' ? ' (the interface was deleted)' : ''}`, errno);
        if (this.errorCb) this.errorCb(e);
      },
    );
  }

  onError(cb: (err: NodeJS.ErrnoException) => void): void {
    this.errorCb = cb;
  }

  private deliver(buf: ArrayBuffer, lens: Uint32Array, count: number): void {
    let off = 0;
    for (let i = 0; i < count; i++) {
      const len = lens[i]!;
      const view = new Uint8Array(buf, off, len);
      off += len;
      this.stats.rxPackets++;
      this.stats.rxBytes += len;
      // The consumer may close the device from inside its callback: stop then.
      if (this.closing || !this.packetCb) return;
      this.packetCb(view);
    }
  }

  write(packet: Uint8Array): boolean {
    const r = this.closing ? -9 : this.addon.write(this.h, packet);
    if (r >= 0) {
      this.stats.txPackets++;
      this.stats.txBytes += r;
      return true;
    }
    const code = ERRNO_NAMES[-r] ?? `errno ${-r}`;
    this.stats.txDrops.set(code, (this.stats.txDrops.get(code) ?? 0) + 1);
    return false;
  }

  close(): Promise<void> {
    if (!this.closing) {
      this.lastMtu = this.mtu;
      this.closing = new Promise<void>((resolve) => this.addon.close(this.h, resolve));
    }
    return this.closing;
  }
}

/** errno number -> name (EIO, EINVAL, ...) for drop counters and errors. */
const ERRNO_NAMES: Record<number, string> = {
  ...Object.fromEntries(Object.entries(osConstants.errno).map(([k, v]) => [v, k])),
  77: 'EBADFD', // Linux; not in os.constants
};

/**
 * Take over a TUN device whose descriptor this process inherited
 * (WG_TUN_FD, as wireguard-go takes it): IFF_TUN|IFF_NO_PI, any namespace.
 */
export function adoptTun(fd: number): TunDevice {
  const addon = requireAddon();
  return new LinuxTun(addon, addon.openFd(fd));
}

/**
 * Create (or attach to a free persistent) TUN interface `name`. Rejects with
 * an ErrnoException whose message says what to do (permissions, missing
 * /dev/net/tun, name in use). Throws when the addon is not available.
 */
export async function openTun(name: string, opts: OpenTunOptions = {}): Promise<TunDevice> {
  if (!validInterfaceName(name)) throw new RangeError(`invalid interface name ${JSON.stringify(name)}: at most 15 bytes, no '/', ':' or whitespace`);
  const addon = requireAddon();
  const ns = opts.netns === undefined ? null : isAbsolute(opts.netns) ? opts.netns : join('/var/run/netns', opts.netns);
  let h: NativeHandle;
  try {
    h = addon.open(name, ns);
  } catch (e) {
    throw explainOpenError(name, e as NodeJS.ErrnoException);
  }
  const dev = new LinuxTun(addon, h);
  if (opts.mtu !== undefined) {
    try {
      dev.setMtu(opts.mtu);
    } catch (e) {
      await dev.close();
      throw e;
    }
  }
  return dev;
}
