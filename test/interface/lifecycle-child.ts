/**
 * Child of lifecycle.test.ts: runs one Interface scenario and then simply
 * returns, never calling process.exit, so the parent sees whether stop()
 * (or a refused start) left a timer or handle that keeps the process alive.
 *
 *   pair:    two Interfaces on loopback handshake; prints their events and
 *            stats, reloads one without its peer, stops both
 *   refused: a start whose [Forward] port is taken rejects; its UDP port is
 *            free again afterwards
 */
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { parseConfig } from '../../src/config/parse.js';
import type { WgConfig } from '../../src/config/types.js';
import { encodeKey } from '../../src/crypto/util.js';
import { clampPrivateKey, publicKey } from '../../src/crypto/x25519.js';
import { Interface } from '../../src/interface/interface.js';
import { Logger } from '../../src/node/log.js';

const say = (line: string): void => void process.stdout.write(line + '\n');

function config(name: string, text: string): WgConfig {
  const r = parseConfig(`${name}.conf`, text, { interfaceName: name });
  if (!r.ok) throw new Error(r.errors.map((e) => e.message).join('; '));
  return r.config;
}

function start(cfg: WgConfig, side: string): Promise<Interface> {
  return Interface.start(cfg, { log: new Logger(side, 'warn'), mode: 'userspace', uapi: false, driver: { bindAddress: '127.0.0.1', listenPort: 0 } });
}

async function pair(): Promise<void> {
  const ka = clampPrivateKey(randomBytes(32));
  const kb = clampPrivateKey(randomBytes(32));
  const peerA = `[Peer]\nPublicKey = ${encodeKey(publicKey(ka))}\nAllowedIPs = 10.66.0.1/32\n`;
  const a = await start(config('lc-a', `[Interface]\nPrivateKey = ${encodeKey(ka)}\nAddress = 10.66.0.1/24\n\n[Peer]\nPublicKey = ${encodeKey(publicKey(kb))}\nAllowedIPs = 10.66.0.2/32\n`), 'a');
  const b = await start(config('lc-b', `[Interface]\nPrivateKey = ${encodeKey(kb)}\nAddress = 10.66.0.2/24\n\n${peerA}Endpoint = 127.0.0.1:${a.driver.bind.port}\nPersistentKeepalive = 1\n`), 'b');
  for (const [side, i] of [['a', a], ['b', b]] as const) {
    for (const ev of ['handshake', 'peer-up', 'peer-down'] as const) i.on(ev, () => say(`${side} ${ev}`));
  }
  // The events are asserted by the parent; the listeners above are in place
  // before either side can have answered (a start resolves before its first
  // datagram leaves, at the end of the event-loop turn).
  await Promise.all([a, b].map((i) => new Promise<void>((resolve) => i.once('peer-up', () => resolve()))));
  const s = b.stats();
  say(`stats ${s.interface} peers=${s.peers.length} handshake=${s.peers[0]?.handshakeAge !== null}`);
  say(`net ${b.net.label} stack=${b.stack !== null}`);
  // A reload without the peer removes it; the interface keeps running.
  await b.reload(config('lc-b', `[Interface]\nPrivateKey = ${encodeKey(kb)}\nAddress = 10.66.0.2/24\n`));
  say(`reloaded peers=${b.driver.device.listPeers().length}`);
  await b.stop();
  await a.stop();
  await a.stop(); // a second stop is harmless
  say('STOPPED');
}

async function refused(): Promise<void> {
  const holder = createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
  const taken = (holder.address() as { port: number }).port;
  const probe = createSocket('udp4');
  await new Promise<void>((r) => probe.bind(0, '127.0.0.1', () => r()));
  const udpPort = probe.address().port;
  await new Promise<void>((r) => probe.close(() => r()));
  const k = clampPrivateKey(randomBytes(32));
  const cfg = config('lc-r', `[Interface]\nPrivateKey = ${encodeKey(k)}\nListenPort = ${udpPort}\nAddress = 10.67.0.1/24\n\n` +
    `[Peer]\nPublicKey = ${encodeKey(publicKey(clampPrivateKey(randomBytes(32))))}\nAllowedIPs = 10.67.0.2/32\n\n` +
    `[Forward]\nProtocol = tcp\nListen = 127.0.0.1:${taken}\nTarget = 10.67.0.2:80\n`);
  try {
    await Interface.start(cfg, { log: new Logger('r', 'error', () => {}), mode: 'userspace', uapi: false, driver: { bindAddress: '127.0.0.1' } });
    say('STARTED');
  } catch (e) {
    say(`REFUSED ${(e as Error).message}`);
  }
  await new Promise<void>((r) => holder.close(() => r()));
  const again = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    again.once('error', reject);
    again.bind(udpPort, '127.0.0.1', () => resolve());
  }).then(() => say('UDP PORT FREE'), (e: Error) => say(`UDP PORT HELD ${e.message}`));
  again.close();
}

const scenario = process.argv[2];
if (scenario === 'pair') await pair();
else if (scenario === 'refused') await refused();
else throw new Error(`unknown scenario ${scenario}`);
