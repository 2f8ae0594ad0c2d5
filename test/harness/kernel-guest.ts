// A Linux kernel WireGuard peer for interop tests: the distribution's kernel
// (Debian's linux-image-amd64 ships wireguard.ko) booted under qemu TCG (no
// KVM needed) from a small busybox initramfs, with a tap device in a test
// namespace as its only NIC.
//
//   kernelGuestStatus()   what is missing (qemu, kernel image, modules, busybox)
//   buildInitramfs()      busybox + ip + wg + their ldd libraries + the module
//                         closure of virtio_net/virtio_pci/wireguard + /init,
//                         cached under /var/tmp per kernel version and input hash;
//                         pruneInitramfsCache() then drops superseded builds
//   KernelGuest.boot(ns)  tap in ns -> qemu (console on ttyS0 = the Proc's
//                         output, dumped on failure) -> control on hvc0
//                         (virtio-console: flow-controlled, unlike a 16550 whose
//                         FIFO lost input bytes under TCG) via a unix socket
//   guest.sh(script)      one shell script per call, run concurrently in the
//                         guest; resolves with its exit code and output
//
// Control protocol on hvc0 (raw, line based): host -> guest
// "RUN <id> <base64 script>"; guest -> host "@@<id> <rc> <base64 output>",
// one line per finished script (a mkdir lock keeps lines whole). Scripts may
// hold keys: they go only over the socket, never into argv or logs.
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import {
  accessSync, constants, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync,
  renameSync, rmSync, statSync, writeFileSync,
} from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Proc } from './exec.js';
import { which, type InteropStatus } from './interop.js';
import type { Netns } from './netns.js';
import { trackPath } from './registry.js';
import { waitFor } from './wait.js';

/** Binaries copied into the guest (with their libraries), by absolute host path. */
const GUEST_BINARIES = ['ip', 'wg'] as const;
/** Modules whose modules.dep closure is loaded at boot, in this order. */
const GUEST_MODULES = ['virtio_pci', 'virtio_net', 'virtio_console', 'wireguard'] as const;
const CACHE_DIR = process.env['WGTS_KERNEL_CACHE'] ?? '/var/tmp/wgts-kernel-guest';

export interface KernelFiles {
  version: string;
  vmlinuz: string;
  modulesDir: string;
  qemu: string;
  busybox: string;
  binaries: string[];
}

/** The newest /boot/vmlinuz-* that has a modules directory with wireguard in it. */
function findKernel(): { version: string; vmlinuz: string; modulesDir: string } | null {
  const forced = process.env['WGTS_KERNEL_VERSION'];
  let versions: string[] = [];
  try {
    versions = readdirSync('/boot').filter((f) => f.startsWith('vmlinuz-')).map((f) => f.slice('vmlinuz-'.length));
  } catch {
    return null;
  }
  if (forced) versions = versions.filter((v) => v === forced);
  versions.sort().reverse();
  for (const version of versions) {
    const modulesDir = `/lib/modules/${version}`;
    try {
      if (!/\/wireguard\.ko(\.xz|\.zst|\.gz)?:/.test(readFileSync(join(modulesDir, 'modules.dep'), 'utf8'))) continue;
      accessSync(`/boot/vmlinuz-${version}`, constants.R_OK);
    } catch {
      continue;
    }
    return { version, vmlinuz: `/boot/vmlinuz-${version}`, modulesDir };
  }
  return null;
}

let cachedFiles: KernelFiles | { why: string } | null = null;

/** Everything the guest needs from the host, or why it cannot be built here. */
export function kernelFiles(): KernelFiles | { why: string } {
  if (cachedFiles) return cachedFiles;
  const qemu = which('qemu-system-x86_64');
  const kernel = findKernel();
  const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p)) ?? null;
  const binaries = GUEST_BINARIES.map((b) => which(b));
  if (process.arch !== 'x64') cachedFiles = { why: `host is ${process.arch}; the kernel guest needs x86_64` };
  else if (!qemu) cachedFiles = { why: '`qemu-system-x86_64` not found (apt-get install qemu-system-x86)' };
  else if (!kernel) cachedFiles = { why: 'no /boot/vmlinuz-* with wireguard.ko in its /lib/modules (apt-get install linux-image-amd64)' };
  else if (!busybox) cachedFiles = { why: 'no busybox (apt-get install busybox-static)' };
  else if (binaries.some((b) => b === null)) cachedFiles = { why: `missing ${GUEST_BINARIES.filter((_, i) => !binaries[i]).join(', ')} on PATH` };
  else if (!isStatic(busybox)) cachedFiles = { why: `${busybox} is not statically linked (apt-get install busybox-static)` };
  else cachedFiles = { ...kernel, qemu, busybox, binaries: binaries as string[] };
  return cachedFiles;
}

function isStatic(bin: string): boolean {
  const r = spawnSync('ldd', [bin], { encoding: 'utf8' });
  return /not a dynamic executable|statically linked/.test(r.stdout + r.stderr);
}

/** InteropStatus for interopSuite's gate: ok only when a guest can be built and booted. */
export function kernelGuestStatus(): InteropStatus {
  const f = kernelFiles();
  return 'why' in f ? { ok: false, why: `kernel guest: ${f.why}` } : { ok: true };
}

/** Shared libraries `ldd` lists for a binary (absolute paths, including the loader). */
function lddLibs(bin: string): string[] {
  const r = spawnSync('ldd', [bin], { encoding: 'utf8' });
  const libs: string[] = [];
  for (const line of r.stdout.split('\n')) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m) libs.push(m[1]!);
  }
  return libs;
}

/** modules.dep closure of `roots`, dependencies first (relative paths as in modules.dep). */
export function moduleClosure(modulesDep: string, roots: readonly string[]): string[] {
  const deps = new Map<string, string[]>();
  const byName = new Map<string, string>();
  for (const line of modulesDep.split('\n')) {
    const m = /^([^:]+):\s*(.*)$/.exec(line.trim());
    if (!m) continue;
    deps.set(m[1]!, m[2]!.split(/\s+/).filter(Boolean));
    byName.set(moduleName(m[1]!), m[1]!);
  }
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = (path: string): void => {
    if (seen.has(path)) return;
    seen.add(path);
    for (const d of deps.get(path) ?? []) visit(d);
    order.push(path);
  };
  for (const root of roots) {
    const path = byName.get(root);
    if (!path) throw new Error(`module ${root} not in modules.dep`);
    visit(path);
  }
  return order;
}

function moduleName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1).replace(/\.ko(\.\w+)?$/, '').replace(/-/g, '_');
}

/** Decompressed bytes of a .ko, .ko.xz, .ko.zst or .ko.gz. */
function readModule(path: string): Buffer {
  const tool = path.endsWith('.xz') ? ['xz', '-dc'] : path.endsWith('.zst') ? ['zstd', '-dc'] : path.endsWith('.gz') ? ['gzip', '-dc'] : null;
  if (!tool) return readFileSync(path);
  const r = spawnSync(tool[0]!, [...tool.slice(1), path], { maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${tool[0]} -dc ${path} failed: ${r.stderr?.toString() ?? r.error?.message}`);
  return r.stdout;
}

const INIT = `#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /tmp /run /var/run /sbin /usr/bin /usr/sbin
/bin/busybox --install -s /bin
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
for m in $(cat /modules.order); do insmod "/modules/$m" || echo "guest: insmod $m failed"; done
/usr/sbin/ip link set lo up
/usr/sbin/ip link set eth0 up
sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.eth0.accept_dad=0
for i in 1 2 3 4 5 6 7 8 9 10; do [ -e /dev/hvc0 ] && break; sleep 0.2; done
stty -F /dev/hvc0 raw -echo -echoe -echok -icrnl -onlcr 2>/dev/null
exec 3<>/dev/hvc0
reply() {
  until mkdir /tmp/.lock 2>/dev/null; do usleep 5000; done
  printf '@@%s %s %s\\n' "$1" "$2" "$(base64 -w0 < "$3")" >&3
  rmdir /tmp/.lock
}
echo "guest: ready, $(uname -r)"
printf '@@READY 0 x\\n' >&3
while read -r verb id b64 <&3; do
  [ "$verb" = RUN ] || { echo "guest: bad control line: $verb $id"; continue; }
  echo "guest: run $id ($(echo "$b64" | wc -c) bytes)"
  (
    echo "$b64" | base64 -d > /tmp/.cmd.$id
    sh /tmp/.cmd.$id > /tmp/.out.$id 2>&1 < /dev/null
    rc=$?
    echo "guest: done $id rc=$rc"
    reply "$id" "$rc" /tmp/.out.$id
    rm -f /tmp/.cmd.$id /tmp/.out.$id
  ) &
done
poweroff -f
`;

/**
 * Build (or reuse) the guest initramfs for kernel `f.version`: a newc cpio
 * written by busybox cpio. The cache key is the kernel version plus a hash of
 * every input file and the /init text, so an upgraded wg or module rebuilds it.
 */
export function buildInitramfs(f: KernelFiles): string {
  const modulesDep = readFileSync(join(f.modulesDir, 'modules.dep'), 'utf8');
  const modules = moduleClosure(modulesDep, GUEST_MODULES);
  const files = new Map<string, string>(); // guest path -> host path
  files.set('/bin/busybox', f.busybox);
  for (const bin of f.binaries) {
    files.set(`/usr/sbin/${bin.slice(bin.lastIndexOf('/') + 1)}`, bin);
    for (const lib of lddLibs(bin)) files.set(lib, lib);
  }
  const hash = createHash('sha256').update(INIT);
  for (const [g, h] of [...files].sort()) hash.update(`${g}\0`).update(readFileSync(h));
  for (const m of modules) hash.update(`${m}\0`).update(String(statSync(join(f.modulesDir, m)).mtimeMs));
  const key = hash.digest('hex').slice(0, 16);
  const out = join(CACHE_DIR, `initramfs-${f.version}-${key}.cpio`);
  if (existsSync(out)) {
    pruneInitramfsCache(CACHE_DIR, out);
    return out;
  }

  const root = mkdtempSync(join(tmpdir(), 'wgts-initramfs-'));
  try {
    for (const [g, h] of files) {
      mkdirSync(join(root, dirname(g)), { recursive: true });
      copyFileSync(h, join(root, g));
    }
    mkdirSync(join(root, 'modules'));
    const order: string[] = [];
    for (const m of modules) {
      const name = `${moduleName(m)}.ko`;
      writeFileSync(join(root, 'modules', name), readModule(join(f.modulesDir, m)));
      order.push(name);
    }
    writeFileSync(join(root, 'modules.order'), order.join('\n') + '\n');
    writeFileSync(join(root, 'init'), INIT, { mode: 0o755 });
    const list = spawnSync('find', ['.', '-mindepth', '1'], { cwd: root, encoding: 'utf8' }).stdout;
    const cpio = spawnSync(f.busybox, ['cpio', '-o', '-H', 'newc'], { cwd: root, input: list, maxBuffer: 256 << 20 });
    if (cpio.status !== 0) throw new Error(`busybox cpio failed: ${cpio.stderr.toString()}`);
    mkdirSync(CACHE_DIR, { recursive: true });
    const tmp = `${out}.${process.pid}.tmp`;
    writeFileSync(tmp, cpio.stdout);
    renameSync(tmp, out); // atomic: a concurrent builder never sees half a file
    pruneInitramfsCache(CACHE_DIR, out);
    return out;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** An interrupted build's temporary file older than this is removed by pruning. */
const STALE_TMP_MS = 60 * 60 * 1000;
const CACHE_ENTRY = /^initramfs-(.+)-[0-9a-f]{16}\.cpio(\.\d+\.tmp)?$/;

/**
 * Remove what a fresh build `keep` (a path in `dir`) supersedes: other builds
 * for the same kernel version (older inputs: wg, libraries, modules, /init),
 * builds for kernels no longer installed (`installed(version)` false: no
 * /lib/modules/VERSION), and temporary files of interrupted builds older than
 * an hour (a younger one may be a concurrent builder's). Other names are left
 * alone. Returns the names removed.
 */
export function pruneInitramfsCache(
  dir: string,
  keep: string,
  installed: (version: string) => boolean = (v) => existsSync(`/lib/modules/${v}`),
  now = Date.now(),
): string[] {
  const kept = /^initramfs-(.+)-[0-9a-f]{16}\.cpio$/.exec(keep.slice(keep.lastIndexOf('/') + 1));
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return removed;
  }
  for (const name of names) {
    const m = CACHE_ENTRY.exec(name);
    if (!m || join(dir, name) === keep) continue;
    const path = join(dir, name);
    const stale = m[2] !== undefined
      ? now - statSync(path).mtimeMs > STALE_TMP_MS
      : m[1] === kept?.[1] || !installed(m[1]!);
    if (!stale) continue;
    rmSync(path, { force: true });
    removed.push(name);
  }
  return removed;
}

export interface GuestResult {
  code: number;
  out: string;
}

export interface BootOptions {
  /** Name of the tap device created in the namespace (<= 15 chars). */
  tap?: string;
  memMb?: number;
  /** Boot timeout (TCG on a busy 2-core machine is slow). Default 180 s. */
  timeoutMs?: number;
}

let guestCounter = 0;

/** One booted guest. Stop it with stop(); cleanupAll() also kills it (by PID). */
export class KernelGuest {
  private nextId = 1;
  private buf = '';
  private readonly pending = new Map<string, (r: GuestResult) => void>();
  private ready = false;

  private constructor(
    readonly proc: Proc,
    readonly tap: string,
    readonly version: string,
    private readonly sock: Socket,
    readonly bootMs: number,
  ) {
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => this.onData(d));
    sock.on('error', () => {});
  }

  /**
   * Create `tap` in ns (host side of the guest's eth0), boot the guest on it
   * and wait until its command loop answers.
   */
  static async boot(ns: Netns, opts: BootOptions = {}): Promise<KernelGuest> {
    const f = kernelFiles();
    if ('why' in f) throw new Error(`kernel guest unavailable: ${f.why}`);
    const initrd = buildInitramfs(f);
    const tap = opts.tap ?? ns.nextIfName('ktap');
    await ns.ip(['tuntap', 'add', 'dev', tap, 'mode', 'tap']);
    await ns.ip(['link', 'set', 'dev', tap, 'up']);
    const dir = mkdtempSync(join(tmpdir(), 'wgts-guest-'));
    trackPath(dir);
    const ctl = join(dir, `ctl${guestCounter++}.sock`);
    const start = Date.now();
    const proc = ns.spawn([
      f.qemu, '-accel', 'tcg', '-cpu', 'max', '-smp', '1', '-m', String(opts.memMb ?? 256),
      '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
      '-kernel', f.vmlinuz, '-initrd', initrd,
      '-append', 'console=ttyS0 panic=-1 loglevel=4 net.ifnames=0 random.trust_cpu=on',
      '-serial', 'stdio',
      '-device', 'virtio-serial-pci',
      '-chardev', `socket,id=ctl,path=${ctl},server=on,wait=off`, '-device', 'virtconsole,chardev=ctl',
      '-netdev', `tap,id=n0,ifname=${tap},script=no,downscript=no`,
      '-device', 'virtio-net-pci,netdev=n0,mac=52:54:00:77:67:01',
    ], { label: `qemu kernel guest ${f.version}` });
    const sock = await waitFor(() => {
      proc.assertRunning();
      if (!existsSync(ctl)) return null;
      return new Promise<Socket | null>((resolve) => {
        const s = connect(ctl);
        s.once('connect', () => resolve(s));
        s.once('error', () => resolve(null));
      });
    }, 20_000, 'qemu to open the guest control socket');
    const guest = new KernelGuest(proc, tap, f.version, sock, 0);
    await waitFor(() => {
      proc.assertRunning();
      return guest.ready;
    }, opts.timeoutMs ?? 180_000, 'the kernel guest to boot and answer on hvc0', { intervalMs: 200 });
    (guest as { bootMs: number }).bootMs = Date.now() - start;
    return guest;
  }

  private onData(d: string): void {
    this.buf += d;
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl).replace(/\r$/, '');
      this.buf = this.buf.slice(nl + 1);
      const m = /^@@(\S+) (\d+) (\S*)$/.exec(line.slice(line.indexOf('@@')));
      if (!m) continue;
      if (m[1] === 'READY') {
        this.ready = true;
        continue;
      }
      const done = this.pending.get(m[1]!);
      if (!done) continue;
      this.pending.delete(m[1]!);
      done({ code: Number(m[2]), out: Buffer.from(m[3]!, 'base64').toString('utf8') });
    }
  }

  /** Run a shell script in the guest (concurrently with others). Never throws on a non-zero exit. */
  sh(script: string, timeoutMs = 30_000): Promise<GuestResult> {
    const id = String(this.nextId++);
    return new Promise<GuestResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`guest script ${id} timed out after ${timeoutMs} ms (first line: ${script.split('\n')[0]!.slice(0, 80)})`));
      }, timeoutMs);
      this.pending.set(id, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      this.sock.write(`RUN ${id} ${Buffer.from(script).toString('base64')}\n`);
    });
  }

  /** sh() that throws (with the script's output) on a non-zero exit. */
  async run(script: string, timeoutMs = 30_000): Promise<string> {
    const r = await this.sh(script, timeoutMs);
    if (r.code !== 0) throw new Error(`guest script failed (exit ${r.code}): ${script.split('\n')[0]!.slice(0, 80)}\n${r.out}`);
    return r.out;
  }

  /** The guest's console (kernel log and /init messages) so far. */
  console(): string {
    return this.proc.output();
  }

  async stop(): Promise<void> {
    this.sock.destroy();
    await this.proc.stop(3000);
  }
}

