/**
 * Loads the optional native addon (native/tun.c and native/udp.c, built by
 * native/build.mjs at install time). Everything TUN-, SO_MARK- and batched
 * UDP-related (native-udp.ts) goes through here; when
 * the addon is missing, `loadAddon()` says why instead of throwing, so
 * userspace mode never depends on it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** The raw native surface. Negative numbers are -errno. */
export interface NativeTun {
  open(name: string, netnsPath: string | null): NativeHandle;
  /** Adopt an open TUN descriptor (WG_TUN_FD); it is closed with the handle. */
  openFd(fd: number): NativeHandle;
  start(h: NativeHandle, onPackets: (buf: ArrayBuffer, lens: Uint32Array, count: number) => void, onError: (code: string, errno: number) => void): void;
  write(h: NativeHandle, packet: Uint8Array): number;
  getMtu(h: NativeHandle): number;
  setMtu(h: NativeHandle, mtu: number): number;
  close(h: NativeHandle, onClosed: () => void): void;
  setSockMark(fd: number, mark: number): number;
  getSockMark(fd: number): number;
}

/** Opaque object wrapping the native device; `name` is what the kernel chose, `fd` its descriptor (to hand to a child). */
export interface NativeHandle { readonly name: string; readonly fd: number }

export type AddonResult = { ok: true; addon: NativeTun; path: string } | { ok: false; why: string };

/** native/ relative to this file, from dist/src/host/ (compiled) or src/host/ (sources). */
const ROOTS = ['../../../native/', '../../native/'].map((r) => fileURLToPath(new URL(r, import.meta.url)));

let cached: AddonResult | null = null;

function buildStatus(root: string): string | null {
  try {
    const s = JSON.parse(readFileSync(root + 'build/status.json', 'utf8')) as { ok?: boolean; why?: string | null };
    return s.ok === false && s.why ? s.why : null;
  } catch {
    return null;
  }
}

export function loadAddon(): AddonResult {
  if (cached) return cached;
  if (process.platform !== 'linux') return (cached = { ok: false, why: `TUN mode is Linux-only (this is ${process.platform})` });
  const override = process.env['WGTS_TUN_ADDON'];
  const root = ROOTS.find((r) => existsSync(r + 'tun.c')) ?? ROOTS[0]!;
  const path = override || root + 'build/Release/wgts_tun.node';
  if (!existsSync(path)) {
    const why = buildStatus(root);
    return (cached = {
      ok: false,
      why: `the TUN addon is not built${why ? ` (${why})` : ''}: run \`node ${root}build.mjs\` (needs python3, make, a C compiler and Node headers)`,
    });
  }
  try {
    const addon = createRequire(import.meta.url)(path) as NativeTun;
    return (cached = { ok: true, addon, path });
  } catch (e) {
    return (cached = { ok: false, why: `the TUN addon ${path} does not load: ${(e as Error).message.split('\n')[0]}; rebuild it with \`node ${root}build.mjs\`` });
  }
}

/** The addon, or an Error carrying the reason (for APIs that must throw). */
export function requireAddon(): NativeTun {
  const r = loadAddon();
  if (!r.ok) throw new Error(r.why);
  return r.addon;
}
