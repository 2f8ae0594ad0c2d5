/**
 * `wgts demo`: the main job in one process on loopback, with fresh keys, no
 * root and no setup. A "vps" wgts listens and forwards a public TCP port
 * ([Forward]) into the tunnel; a "home" wgts behind it (PersistentKeepalive,
 * as a box behind CGNAT) exposes a tiny built-in web server ([Expose]) on its
 * tunnel address. The demo fetches the page through the public port, pings
 * through the tunnel, prints what it did and the URL to try by hand, and runs
 * until Ctrl-C.
 */
import { randomBytes } from 'node:crypto';
import { createServer as createHttpServer, get as httpGet, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { parseConfig } from '../config/parse.js';
import type { WgConfig } from '../config/types.js';
import { clampPrivateKey, publicKey } from '../crypto/x25519.js';
import { encodeKey } from '../crypto/util.js';
import { Logger, isLogLevel, type LogLevel } from '../node/log.js';
import { checksum } from '../netstack/checksum.js';
import { Interface } from '../interface/interface.js';

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

/** A free TCP port on 127.0.0.1: `preferred` if it is free, else one the kernel picks. */
async function freePort(preferred: number): Promise<number> {
  const tryPort = (port: number) => new Promise<number>((resolve, reject) => {
    const srv = createNetServer();
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => resolve(p));
    });
  });
  try { return await tryPort(preferred); } catch { return tryPort(0); }
}

function homePage(): Server {
  return createHttpServer((req, res) => {
    const body = `<!doctype html><title>wgts demo</title><h1>Hello from home</h1>\n` +
      `<p>This page is served on 127.0.0.1 at "home", exposed into a WireGuard tunnel by wgts, ` +
      `and forwarded from the "vps" public port by wgts. You asked for ${req.url}.</p>\n`;
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
}

export function fetchText(url: string, timeoutMs = 5000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpGet(url, { timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}

export interface DemoHandle {
  vps: Interface;
  home: Interface;
  /** The public URL on the "vps" that reaches the home web server. */
  url: string;
  /** Echo replies awaited by sequence number. */
  replies: Map<number, () => void>;
  stop(): Promise<void>;
}

/** A demo side: loopback only, and its UAPI socket under a per-process name when that is free. */
function startSide(cfg: WgConfig, side: string, level: LogLevel, onDeliver?: (p: Uint8Array) => void): Promise<Interface> {
  // Interface names are at most 15 characters: "demo-home-12345".
  return Interface.start(cfg, {
    log: new Logger(side, level), mode: 'userspace', uapi: { name: `demo-${side}-${process.pid % 100000}`, optional: true },
    driver: { bindAddress: '127.0.0.1', ...(onDeliver ? { onDeliver } : {}) },
  });
}

/** Start both peers; resolves once the home side has completed a handshake. */
export async function startDemo(log: LogLevel = 'warn', preferredPort = 8080): Promise<DemoHandle> {
  const vpsKey = clampPrivateKey(randomBytes(32));
  const homeKey = clampPrivateKey(randomBytes(32));
  const web = homePage();
  await new Promise<void>((r) => web.listen(0, '127.0.0.1', () => r()));
  const webPort = (web.address() as { port: number }).port;
  const publicPort = await freePort(preferredPort);
  const vps = await startSide(mustParse('demo-vps', `[Interface]
PrivateKey = ${encodeKey(vpsKey)}
ListenPort = 0
Address = ${VPS_ADDR}/24

[Peer]
PublicKey = ${encodeKey(publicKey(homeKey))}
AllowedIPs = ${HOME_ADDR}/32

[Forward]
Protocol = tcp
Listen = 127.0.0.1:${publicPort}
Target = ${HOME_ADDR}:80
`), 'vps', log);
  const replies = new Map<number, () => void>();
  const home = await startSide(mustParse('demo-home', `[Interface]
PrivateKey = ${encodeKey(homeKey)}
Address = ${HOME_ADDR}/24

[Peer]
PublicKey = ${encodeKey(publicKey(vpsKey))}
Endpoint = 127.0.0.1:${vps.driver.bind.port}
AllowedIPs = ${VPS_ADDR}/32
PersistentKeepalive = 25

[Expose]
Protocol = tcp
Listen = ${HOME_ADDR}:80
Target = 127.0.0.1:${webPort}
`), 'home', log, (p) => { const seq = isEchoReply(p, 0x7767); if (seq !== null) replies.get(seq)?.(); }).catch(async (e) => {
    await vps.stop();
    throw e;
  });
  return {
    vps, home, replies, url: `http://127.0.0.1:${publicPort}/`,
    async stop() {
      await home.stop();
      await vps.stop();
      await new Promise<void>((r) => web.close(() => r()));
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
    h.home.driver.sendInner(echoRequest(HOME_ADDR, VPS_ADDR, 0x7767, seq));
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
      console.log('Usage: wgts demo [--once] [--log-level LEVEL]\n  --once       exit after the demo instead of running until Ctrl-C\n  --log-level  error|warn|info|debug (default warn)\n\nExample:\n  npx wgts demo     # then: curl http://127.0.0.1:8080/');
      return 0;
    } else {
      process.stderr.write(`wgts demo: unknown argument ${a}\n`);
      return 1;
    }
  }
  console.log('wgts demo: a "vps" and a "home" wgts on loopback, fresh keys, no root');
  const h = await startDemo(level);
  console.log(`  vps   UDP 127.0.0.1:${h.vps.driver.bind.port}, tunnel ${VPS_ADDR}, [Forward] ${h.url.replace(/^http:\/\/|\/$/g, '')} -> ${HOME_ADDR}:80`);
  console.log(`  home  dials the vps (PersistentKeepalive = 25), tunnel ${HOME_ADDR}, [Expose] ${HOME_ADDR}:80 -> a built-in web server on 127.0.0.1`);
  const rtts = await demoPing(h, 3);
  const ok = rtts.filter((r) => !Number.isNaN(r));
  console.log(`  ping ${VPS_ADDR} from home through the tunnel: ${ok.length}/${rtts.length} replies${ok.length ? `, ${(ok.reduce((a, b) => a + b, 0) / ok.length).toFixed(2)} ms average` : ''}`);
  let fetched: { status: number; body: string } | null = null;
  try {
    fetched = await fetchText(h.url);
  } catch (e) {
    console.log(`  GET ${h.url}: failed: ${(e as Error).message}`);
  }
  if (fetched) {
    const title = /<h1>([^<]*)<\/h1>/.exec(fetched.body)?.[1] ?? fetched.body.slice(0, 40);
    console.log(`  GET ${h.url} -> ${fetched.status}, "${title}" (${fetched.body.length} bytes, vps port -> tunnel -> home -> 127.0.0.1)`);
  }
  const peer = h.home.driver.device.listPeers()[0]!;
  console.log(`  home sent ${peer.txBytes} and received ${peer.rxBytes} encrypted bytes over UDP`);
  if (!fetched || fetched.status !== 200 || ok.length === 0) {
    console.log('wgts demo: FAILED: the page or the pings did not come back through the tunnel');
    await h.stop();
    return 1;
  }
  if (once) { await h.stop(); return 0; }
  const sockets = [h.vps.uapiPath, h.home.uapiPath].filter((p): p is string => p !== null);
  if (sockets.length) {
    console.log('\nLook at it while it runs:');
    for (const s of sockets) console.log(`  npx wgts show ${s.replace(/^.*\//, '').replace(/\.sock$/, '')}`);
  }
  console.log(`\nTry it by hand:  curl ${h.url}`);
  console.log('Next: write a wg-quick config with a [Forward] section and run `npx wgts up wg0.conf` (see README). Ctrl-C stops the demo.');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  await h.stop();
  return 0;
}
