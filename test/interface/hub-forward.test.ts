/**
 * A userspace-mode hub's [Forward] reached from a peer: the phone connects
 * through the tunnel to the vps's own tunnel address on the forwarded port,
 * and gets the forward's target (home's [Expose] -> a server on 127.0.0.1),
 * as a kernel hub with a DNAT rule would give it; a full-tunnel phone
 * reaches a wildcard [Forward] at this host's public address the same way.
 * Three userspace interfaces on loopback; the phone uses its own stack
 * (packets to the public address travel only inside the tunnel, over
 * loopback UDP: the vps's stack answers them itself).
 */
import { describe, it, afterAll } from 'vitest';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { networkInterfaces } from 'node:os';
import { clampPrivateKey } from '../../src/crypto/x25519.js';
import { Logger } from '../../src/node/log.js';
import { Interface } from '../../src/interface/interface.js';
import { conf, freeLoopbackPort, listenLoopback, wgText } from './loopback.js';

const VPS = '10.81.0.1';
const HOME = '10.81.0.2';
const PHONE = '10.81.0.3';

const start = (cfg: ReturnType<typeof conf>) => Interface.start(cfg, {
  log: new Logger(cfg.interfaceName, 'error'), mode: 'userspace', uapi: false, driver: { bindAddress: '127.0.0.1' },
});

/** Connects from the phone's stack to host:port until a line comes back (early attempts may precede the handshakes). */
async function echoThrough(phone: Interface, host: string, port: number): Promise<string> {
  const deadline = Date.now() + 20_000;
  let got = '';
  while (got !== 'through the hub\n' && Date.now() < deadline) {
    got = await new Promise<string>((res) => {
      let buf = '';
      const s = phone.stack!.tcp.connect({ host, port });
      const t = setTimeout(() => s.destroy(), 3000);
      s.on('connect', () => s.write('through the hub\n'));
      s.on('data', (d: Buffer) => { buf += d.toString(); if (buf.endsWith('\n')) s.end(); });
      s.on('error', () => {});
      s.on('close', () => { clearTimeout(t); res(buf); });
    });
    if (got !== 'through the hub\n') await new Promise((r) => setTimeout(r, 200));
  }
  return got;
}

describe('a userspace hub forward reached from a peer', { timeout: 60_000 }, () => {
  const cleanup: Array<() => Promise<void> | void> = [];
  afterAll(async () => { for (const f of cleanup.reverse()) await f(); });

  it("the phone reaches the [Forward]'s target at the vps's tunnel address and forwarded port", async () => {
    const echo = createServer((s) => { s.on('error', () => {}); s.pipe(s); });
    const local = await listenLoopback(echo);
    cleanup.push(() => new Promise<void>((r) => echo.close(() => r())));
    const fwd = await freeLoopbackPort();

    const [kVps, kHome, kPhone] = [0, 1, 2].map(() => clampPrivateKey(randomBytes(32))) as [Uint8Array, Uint8Array, Uint8Array];
    const vps = await start(conf('hfvps', wgText(kVps, `${VPS}/24`, [{ key: kHome, allowedIps: `${HOME}/32` }, { key: kPhone, allowedIps: `${PHONE}/32` }],
      `[Forward]\nListen = 127.0.0.1:${fwd}\nTarget = ${HOME}:8080\n`)));
    cleanup.push(() => vps.stop());
    const toVps = [{ key: kVps, allowedIps: '10.81.0.0/24', endpointPort: vps.driver.bind.port }];
    const home = await start(conf('hfhome', wgText(kHome, `${HOME}/24`, toVps, `[Expose]\nListen = ${HOME}:8080\nTarget = 127.0.0.1:${local}\n`)));
    cleanup.push(() => home.stop());
    const phone = await start(conf('hfphone', wgText(kPhone, `${PHONE}/24`, toVps)));
    cleanup.push(() => phone.stop());

    assert.equal(await echoThrough(phone, VPS, fwd), 'through the hub\n');
    const units = vps.stats().units;
    const viaTunnel = units.find((u) => u.kind === 'forward' && u.listeners.some((l) => l.address === VPS && l.port === fwd));
    assert.ok(viaTunnel && viaTunnel.total >= 1, `the via-tunnel copy of the forward carried the connection: ${JSON.stringify(units)}`);
  });

  it("a full-tunnel phone reaches a wildcard [Forward] at the vps host's public address, and a loopback-only one stays local", async (t) => {
    const pub = Object.values(networkInterfaces()).flatMap((l) => l ?? []).find((a) => !a.internal && a.family === 'IPv4')?.address;
    if (pub === undefined) {
      console.log('SKIP: this machine has no non-loopback IPv4 address to stand for the public one');
      t.skip();
      return;
    }
    const echo = createServer((s) => { s.on('error', () => {}); s.pipe(s); });
    const local = await listenLoopback(echo);
    cleanup.push(() => new Promise<void>((r) => echo.close(() => r())));
    const [fwd, only] = [await freeLoopbackPort(), await freeLoopbackPort()];

    const [kVps, kHome, kPhone] = [0, 1, 2].map(() => clampPrivateKey(randomBytes(32))) as [Uint8Array, Uint8Array, Uint8Array];
    const vps = await start(conf('hpvps', wgText(kVps, `${VPS}/24`, [{ key: kHome, allowedIps: `${HOME}/32` }, { key: kPhone, allowedIps: `${PHONE}/32` }],
      `[Forward]\nListen = 0.0.0.0:${fwd}\nTarget = ${HOME}:8080\n\n[Forward]\nListen = 127.0.0.1:${only}\nTarget = ${HOME}:8080\n`)));
    cleanup.push(() => vps.stop());
    const toVps = (allowedIps: string) => [{ key: kVps, allowedIps, endpointPort: vps.driver.bind.port }];
    const home = await start(conf('hphome', wgText(kHome, `${HOME}/24`, toVps('10.81.0.0/24'), `[Expose]\nListen = ${HOME}:8080\nTarget = 127.0.0.1:${local}\n`)));
    cleanup.push(() => home.stop());
    const phone = await start(conf('hpphone', wgText(kPhone, `${PHONE}/24`, toVps('0.0.0.0/0'))));
    cleanup.push(() => phone.stop());

    assert.equal(await echoThrough(phone, pub, fwd), 'through the hub\n');
    const listeners = vps.stats().units.filter((u) => u.kind === 'forward').flatMap((u) => u.listeners);
    assert.ok(listeners.some((l) => l.address === pub && l.port === fwd), `a copy listens at ${pub}:${fwd}: ${JSON.stringify(listeners)}`);
    // The 127.0.0.1-only forward has its tunnel-address copy but none at a loopback address in the stack.
    assert.equal(listeners.filter((l) => l.port === only).map((l) => l.address).sort().join(','), ['127.0.0.1', VPS].sort().join(','));
  });
});
