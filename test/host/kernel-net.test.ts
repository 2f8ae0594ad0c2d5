/**
 * KernelNet's listeners on loopback: a burst of handshakes larger than
 * Node's default accept queue (511) is held by the kernel while the event
 * loop is busy, so none of those clients waits for a 1 s SYN
 * retransmission (the wrk -c1000 row of the forward-web bench: 3,941
 * ListenOverflows in the vps namespace before the listener asked for more).
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { KernelNet, LISTEN_BACKLOG } from '../../src/host/kernel-net.js';

const BURST = 700;
const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));

/** Opens n connections at once; prints how many finished their handshake within 1.5 s. */
const CLIENT = `
const net = require('node:net');
const [port, n] = [Number(process.argv[1]), Number(process.argv[2])];
let ok = 0;
for (let i = 0; i < n; i++) {
  const s = net.connect({ host: '127.0.0.1', port }, () => ok++);
  s.on('error', () => {});
}
setTimeout(() => { console.log(ok); process.exit(0); }, 1500);
`;

test(`a listener holds ${BURST} handshakes made while its event loop is blocked (accept queue ${LISTEN_BACKLOG}, not Node's 511)`, { skip: somaxconn < BURST }, async () => {
  const accepted: number[] = [];
  const l = await new KernelNet().listenTcp({ host: '127.0.0.1', port: 0 }, (s) => {
    accepted.push(1);
    s.destroy();
  });
  try {
    // spawnSync blocks this process, so nothing is accepted while the client
    // connects: only the kernel's accept queue holds the finished handshakes.
    const r = spawnSync(process.execPath, ['-e', CLIENT, String(l.port), String(BURST)], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(Number(r.stdout.trim()), BURST, 'every handshake completed at once, none waited for a SYN retransmission');
    const until = Date.now() + 10_000;
    while (accepted.length < BURST && Date.now() < until) await new Promise((res) => setTimeout(res, 20));
    assert.equal(accepted.length, BURST);
  } finally {
    l.close();
  }
});
