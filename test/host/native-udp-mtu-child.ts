/**
 * Child of native-udp-mtu.test.ts, run inside a namespace whose loopback MTU
 * is 1280: sends runs of equal datagrams through the addon's socket and
 * prints what arrived as one JSON line.
 */
import { createHash } from 'node:crypto';
import { NativeUdpSocket, nativeUdp } from '../../src/host/native-udp.js';

const addon = nativeUdp();
if (!addon) {
  console.log(JSON.stringify({ error: 'native UDP unavailable' }));
  process.exit(0);
}
const sizes = [...new Array<number>(40).fill(1400), ...new Array<number>(40).fill(1000), 1400, 200, 1400];
const a = new NativeUdpSocket(addon, { family: 4, address: '127.0.0.1', sndbuf: 4 << 20 });
const b = new NativeUdpSocket(addon, { family: 4, address: '127.0.0.1', rcvbuf: 4 << 20, gro: true });
const got: Buffer[] = [];
b.on('message', (m: Buffer) => got.push(Buffer.from(m)));
const sent = sizes.map((n, i) => Buffer.alloc(n, i & 0xff));
for (const p of sent) a.send(p, b.address().port, '127.0.0.1');
a.flush();
const digest = (xs: Buffer[]) => createHash('sha256').update(Buffer.concat(xs.map((x) => Buffer.concat([Buffer.from(String(x.length) + ':'), x])))).digest('hex');
const end = Date.now() + 5000;
const timer = setInterval(() => {
  if (got.length < sent.length && Date.now() < end) return;
  clearInterval(timer);
  console.log(JSON.stringify({
    sent: sent.length, received: got.length, same: digest(got) === digest(sent),
    sizes: got.map((g) => g.length).join(','), dropped: Object.fromEntries(a.dropped), gso: a.gso,
  }));
  a.close();
  b.close();
}, 20);
