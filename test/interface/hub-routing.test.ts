/**
 * Issue 19 bug 1a: a userspace-mode hub routes between its peers as a kernel
 * hub with ip_forward does. Three userspace interfaces on loopback: a "vps"
 * with two peers, "phone" (10.78.0.3) and "home" (10.78.0.2), each of which
 * routes the whole tunnel subnet to the vps. A ping from the phone to home's
 * tunnel address reaches home with its TTL one lower, home's stack answers,
 * and the reply comes back to the phone the same way; a packet whose TTL is
 * spent is not forwarded; a destination no peer owns stays with the vps.
 */
import { describe, it, afterAll } from 'vitest';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { parseConfig } from '../../src/config/parse.js';
import { clampPrivateKey, publicKey } from '../../src/crypto/x25519.js';
import { encodeKey } from '../../src/crypto/util.js';
import { Logger } from '../../src/node/log.js';
import { Interface } from '../../src/interface/interface.js';
import { echoRequest } from '../../src/cli/demo.js';
import { checksum } from '../../src/netstack/checksum.js';

const VPS = '10.78.0.1';
const HOME = '10.78.0.2';
const PHONE = '10.78.0.3';

function conf(name: string, text: string) {
  const r = parseConfig(`${name}.conf`, text, { interfaceName: name });
  if (!r.ok) throw new Error(r.errors.map((e) => e.message).join('; '));
  return r.config;
}

const start = (cfg: ReturnType<typeof conf>, onDeliver?: (p: Uint8Array) => void) => Interface.start(cfg, {
  log: new Logger(cfg.interfaceName, 'warn'), mode: 'userspace', uapi: false,
  driver: { bindAddress: '127.0.0.1', ...(onDeliver ? { onDeliver } : {}) },
});

const ipv4 = (p: Uint8Array, at: number) => [...p.subarray(at, at + 4)].join('.');

function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const tick = () => (cond() ? resolve() : Date.now() - t0 > ms ? reject(new Error(`timed out waiting for ${what}`)) : setTimeout(tick, 10));
    tick();
  });
}

describe('userspace hub routing between peers', { timeout: 30_000 }, () => {
  const kVps = clampPrivateKey(randomBytes(32));
  const kHome = clampPrivateKey(randomBytes(32));
  const kPhone = clampPrivateKey(randomBytes(32));
  const running: Interface[] = [];
  const atHome: Uint8Array[] = [];
  const atPhone: Uint8Array[] = [];
  afterAll(async () => { for (const i of running) await i.stop(); });

  it('a ping from one peer to another goes through the vps and is answered', async () => {
    const vps = await start(conf('hubvps', `[Interface]
PrivateKey = ${encodeKey(kVps)}
ListenPort = 0
Address = ${VPS}/24

[Peer]
PublicKey = ${encodeKey(publicKey(kHome))}
AllowedIPs = ${HOME}/32

[Peer]
PublicKey = ${encodeKey(publicKey(kPhone))}
AllowedIPs = ${PHONE}/32
`));
    running.push(vps);
    const side = (name: string, key: Uint8Array, addr: string) => conf(name, `[Interface]
PrivateKey = ${encodeKey(key)}
Address = ${addr}/24

[Peer]
PublicKey = ${encodeKey(publicKey(kVps))}
Endpoint = 127.0.0.1:${vps.driver.bind.port}
AllowedIPs = 10.78.0.0/24
PersistentKeepalive = 1
`);
    const home = await start(side('hubhome', kHome, HOME), (p) => atHome.push(p.slice()));
    running.push(home);
    const phone = await start(side('hubphone', kPhone, PHONE), (p) => atPhone.push(p.slice()));
    running.push(phone);

    const ping = echoRequest(PHONE, HOME, 0x1234, 1);
    phone.driver.sendInner(ping);
    await waitFor(() => atHome.some((p) => p[9] === 1 && ipv4(p, 12) === PHONE), 10_000, 'the echo request at home');
    const req = atHome.find((p) => p[9] === 1 && ipv4(p, 12) === PHONE)!;
    assert.equal(ipv4(req, 16), HOME);
    assert.equal(req[8], ping[8]! - 1, 'the vps decremented the TTL as a router does');
    assert.equal(checksum(req, 0, 20), 0, 'the IPv4 header checksum is valid after the TTL change');
    await waitFor(() => atPhone.some((p) => p[9] === 1 && ipv4(p, 12) === HOME && p[20] === 0), 10_000, 'the echo reply at the phone');
    assert.equal(vps.driver.device.dropCount('no-route'), 0);
  });

  it('a packet with TTL 1 or for an address no peer owns is not sent on', async () => {
    const [vps, , phone] = running as [Interface, Interface, Interface];
    const spent = echoRequest(PHONE, HOME, 0x1234, 2);
    spent[8] = 1;
    const c = checksum(spent.subarray(0, 20).fill(0, 10, 12), 0, 20);
    spent[10] = c >> 8; spent[11] = c & 0xff;
    phone.driver.sendInner(spent);
    const nowhere = echoRequest(PHONE, '10.78.0.9', 0x1234, 3);
    phone.driver.sendInner(nowhere);
    const vpsRx = () => vps.stats().peers.reduce((a, p) => a + p.rxBytes, 0);
    const before = vpsRx();
    await waitFor(() => vpsRx() > before, 5000, 'the vps to receive both');
    // A third ping, routable, sent after them: once it is at home, the first two would have been too.
    phone.driver.sendInner(echoRequest(PHONE, HOME, 0x1234, 4));
    const seq = (p: Uint8Array) => p[9] === 1 && p[20] === 8 ? p[27] : -1;
    await waitFor(() => atHome.some((p) => seq(p) === 4), 5000, 'the third ping at home');
    assert.deepEqual(atHome.map(seq).filter((n) => n !== -1), [1, 4]);
    assert.ok(vps.driver.device.dropCount('no-route') === 0, 'the vps stack, not the router, handles what it cannot route');
  });
});
