// Debugging aid, not a test: node dist/test/netstack/debug-trace.js <loss> <bytes> [uni]
// runs a transfer on the fake-clock link and prints the packets around long gaps (tcpdump style).
import { Sim, writeAll, digestOf } from './link.js';
import { describe } from './helpers.js';
import type { TcpSocket } from '../../src/netstack/tcp-socket.js';
const loss = Number(process.argv[2] ?? 0);
const size = Number(process.argv[3] ?? 4e6);
const bidir = process.argv[4] !== 'uni';
const sim = new Sim({}, {}, { delay: loss ? 5 : 1, loss }, { delay: loss ? 5 : 1, loss }, 3);
sim.trace = true;
let server: TcpSocket | null = null;
sim.b.tcp.listen(80, (s) => (server = s));
const client = sim.a.tcp.connect({ host: '10.0.0.2', port: 80 });
await sim.run(() => server !== null);
const up = digestOf(server!);
const down = digestOf(client);
let n = 0;
up.done.then(() => n++);
down.done.then(() => n++);
void writeAll(client, size, 1);
if (bidir) void writeAll(server!, size, 2);
else server!.end();
try {
  await sim.run(() => n === 2, 200_000);
} catch (e) {
  console.log(String(e));
}
let last = 0;
const L = sim.log;
for (let i = 0; i < L.length; i++) {
  if (L[i]!.t - last > 150 || process.env.ALL) {
    for (let j = Math.max(0, i - Number(process.env.CTX ?? 8)); j <= Math.min(L.length - 1, i + 3); j++) console.log(L[j]!.t.toFixed(1), L[j]!.from, describe(L[j]!.pkt));
    console.log('----');
  }
  last = L[i]!.t;
}
for (const c of [...sim.a.tcp.connections(), ...sim.b.tcp.connections()]) console.log(c.state, c.snd.una, c.snd.nxt, c.snd.max, c.snd.wnd, c.snd.cc.cwnd, c.snd.recovery, c.rcvNxt, c.rcvWnd, c.snd.buf.length, c.snd.rtxAt, c.snd.persistAt);
console.log(sim.now, up.bytes(), down.bytes());
