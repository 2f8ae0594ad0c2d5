/**
 * `wgts demo`: two wgts peers in one process on loopback, with fresh keys,
 * no root and no setup. A "vps" listens; a "home" peer dials it with
 * PersistentKeepalive, as a home box behind CGNAT would. The demo then pings
 * the vps's tunnel address from the home side through the encrypted tunnel
 * (answered by the vps's userspace IP stack), prints what happened and the
 * commands to look at it, and runs until Ctrl-C.
 */
import { randomBytes } from 'node:crypto';
import { parseConfig } from '../config/parse.js';
import type { WgConfig } from '../config/types.js';
import { clampPrivateKey } from '../crypto/x25519.js';
import { encodeKey } from '../crypto/util.js';
import { publicKey } from '../crypto/x25519.js';
import { Driver } from '../node/driver.js';
import { Logger, isLogLevel, type LogLevel } from '../node/log.js';
import { driverBackend } from '../node/uapi-backend.js';
import { startUapiServer, type UapiServer } from '../uapi/server.js';
import { checksum } from '../netstack/checksum.js';

const VPS_ADDR = '10.77.0.1';
const HOME_ADDR = '10.77.0.2';

function mustParse(name: string, text: string): WgConfig {
  const r = parseConfig(`${name}.conf`, text, { interfaceName: name });
  if (!r.ok) throw new Error(`demo config ${name}: ${r.errors.map((e) => e.message).join('; ')}`);
  return r.config;
}

/** An ICMPv4 echo request from `src` to `dst` (RFC 792), 56 bytes of payload as ping sends. */
export function echoRequest(src: string, dst: string, id: number, seq: number): Uint8Array {
  const p = new Uint8Array(20 + 8 + 56);
  p[0] = 0x45; p[2] = p.length >> 8; p[3] = p.length & 0xff; p[8] = 64; p[9] = 1;
  p.set(src.split('.').map(Number), 12);
  p.set(dst.split('.').map(Number), 16);
  const h = checksum(p, 0, 20); p[10] = h >> 8; p[11] = h & 0xff;
  p[20] = 8; p[24] = id >> 8; p[25] = id & 0xff; p[26] = seq >> 8; p[27] = seq & 0xff;
  for (let i = 0; i < 56; i++) p[28 + i] = i;
  const c = checksum(p, 20, p.length); p[22] = c >> 8; p[23] = c & 0xff;
  return p;
}

function isEchoReply(p: Uint8Array, id: number): number | null {
  if (p.length < 28 || p[0]! >> 4 !== 4 || p[9] !== 1 || p[20] !== 0) return null;
  if (((p[24]! << 8) | p[25]!) !== id) return null;
  return (p[26]! << 8) | p[27]!;
}

export interface DemoHandle {
  vps: Driver;
  home: Driver;
  sockets: UapiServer[];
  /** Echo replies awaited by sequence number. */
  replies: Map<number, () => void>;
  stop(): Promise<void>;
}

/** Start both peers; resolves once the home side has completed a handshake. */
export async function startDemo(log: LogLevel = 'warn'): Promise<DemoHandle> {
  const vpsKey = clampPrivateKey(randomBytes(32));
  const homeKey = clampPrivateKey(randomBytes(32));
  const vpsCfg = mustParse('demo-vps', `[Interface]
PrivateKey = ${encodeKey(vpsKey)}
ListenPort = 0
Address = ${VPS_ADDR}/24

[Peer]
PublicKey = ${encodeKey(publicKey(homeKey))}
AllowedIPs = ${HOME_ADDR}/32
`);
  const vps = new Driver({ config: vpsCfg, log: new Logger('vps', log), bindAddress: '127.0.0.1' });
  await vps.start();
  const homeCfg = mustParse('demo-home', `[Interface]
PrivateKey = ${encodeKey(homeKey)}
Address = ${HOME_ADDR}/24

[Peer]
PublicKey = ${encodeKey(publicKey(vpsKey))}
Endpoint = 127.0.0.1:${vps.bind.port}
AllowedIPs = ${VPS_ADDR}/32
PersistentKeepalive = 25
`);
  const replies = new Map<number, () => void>();
  const home = new Driver({
    config: homeCfg, log: new Logger('home', log), bindAddress: '127.0.0.1',
    onDeliver: (p) => { const seq = isEchoReply(p, 0x7767); if (seq !== null) replies.get(seq)?.(); },
  });
  await home.start();
  const sockets: UapiServer[] = [];
  for (const [name, d] of [[`wgts-demo-vps`, vps], [`wgts-demo-home`, home]] as const) {
    try {
      sockets.push(await startUapiServer(`${name.slice(0, 10)}${process.pid % 100000}`.slice(0, 15), driverBackend(d, () => {})));
    } catch { /* another demo may hold the name; the demo works without it */ }
  }
  return {
    vps, home, sockets, replies,
    async stop() {
      for (const s of sockets) await s.close();
      await home.stop();
      await vps.stop();
    },
  };
}

/** Ping `count` times through the tunnel; returns round-trip times in ms (NaN for a loss). */
export async function demoPing(h: DemoHandle, count: number, timeoutMs = 2000): Promise<number[]> {
  const replies = h.replies;
  const rtts: number[] = [];
  for (let seq = 1; seq <= count; seq++) {
    const t0 = performance.now();
    const got = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => { replies.delete(seq); resolve(false); }, timeoutMs);
      replies.set(seq, () => { clearTimeout(timer); replies.delete(seq); resolve(true); });
    });
    h.home.sendInner(echoRequest(HOME_ADDR, VPS_ADDR, 0x7767, seq));
    rtts.push((await got) ? performance.now() - t0 : NaN);
  }
  return rtts;
}

export async function runDemo(argv: string[]): Promise<number> {
  let level: LogLevel = 'warn';
  let once = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--once') once = true;
    else if (a === '--log-level' && isLogLevel(argv[i + 1] ?? '')) level = argv[++i] as LogLevel;
    else if (a === '--help' || a === '-h') {
      console.log('Usage: wgts demo [--once] [--log-level LEVEL]\n  --once  exit after the demo instead of running until Ctrl-C');
      return 0;
    } else {
      process.stderr.write(`wgts demo: unknown argument ${a}\n`);
      return 1;
    }
  }
  console.log('wgts demo: starting a "vps" and a "home" peer on loopback with fresh keys...');
  const h = await startDemo(level);
  console.log(`  vps  listens on udp 127.0.0.1:${h.vps.bind.port}, tunnel address ${VPS_ADDR}`);
  console.log(`  home dials it (PersistentKeepalive = 25), tunnel address ${HOME_ADDR}`);
  const rtts = await demoPing(h, 4);
  const ok = rtts.filter((r) => !Number.isNaN(r));
  for (const [i, r] of rtts.entries()) {
    console.log(Number.isNaN(r) ? `  ping ${VPS_ADDR} seq=${i + 1}: no reply` : `  ping ${VPS_ADDR} seq=${i + 1}: reply in ${r.toFixed(2)} ms (ICMP through the WireGuard tunnel)`);
  }
  const peer = h.home.device.listPeers()[0]!;
  console.log(`  handshake: ${peer.lastHandshake !== null ? 'done' : 'not done'}; home sent ${peer.txBytes} bytes, received ${peer.rxBytes} bytes (encrypted, on UDP)`);
  if (ok.length === 0) {
    console.log('wgts demo: FAILED: no replies came back through the tunnel');
    await h.stop();
    return 1;
  }
  if (once) { await h.stop(); return 0; }
  if (h.sockets.length) {
    console.log('\nLook at it while it runs:');
    for (const s of h.sockets) console.log(`  npx wgts show ${s.path.replace(/^.*\//, '').replace(/\.sock$/, '')}`);
  }
  console.log('\nNext: write a wg-quick config and run `npx wgts up wg0.conf --userspace`. Ctrl-C to stop the demo.');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  await h.stop();
  return 0;
}
