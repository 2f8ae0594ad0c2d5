/**
 * A fixed, deterministic netstack workload for load-independent cost
 * measurements (instructions under callgrind, allocations, GC counts): two
 * Stacks joined in memory on a fake clock (0.5 ms one way, tunnel MTU 1420),
 * a warm-up transfer, then one one-way transfer of MB MiB on a new
 * connection. Prints fake time, packets and wall time as JSON.
 *
 *   node scripts/stack-workload.mjs DIST WARM_MB MB [RATE_MBIT DELAY_MS]
 *   instructions per MB: run under
 *     valgrind --tool=callgrind --callgrind-out-file=/dev/null node --single-threaded
 *   with MB = 0 and MB = 16 (same WARM_MB) and divide the difference by 16.
 *
 * Connection churn instead of bulk (what a forwarded web request costs the
 * stack): WARM_MB = "conns", then WARM and N connections, CONC at a time,
 * each a 78-byte request answered by a 612-byte page and a close:
 *   node scripts/stack-workload.mjs DIST conns WARM N [CONC]
 *   instructions per connection: N = 0 and N = 2000 under callgrind, the
 *   difference divided by 2000.
 *
 * DIST is a built dist/ directory (of this or another checkout, to compare
 * commits). Optional hooks: globalThis.__startHeap/__stopHeap (an --import
 * module may set them) wrap the measured transfer.
 */
// usage: node work.mjs DIST_ROOT MB [rateMbit] [delayMs]
import { pathToFileURL } from 'node:url';
const [root, warmArg, mb, rateArg, delayArg] = process.argv.slice(2);
const { Stack } = await import(pathToFileURL(root + '/src/netstack/stack.js').href);
const SIZE = Number(mb) << 20;
const conns = warmArg === 'conns'; // then mb, rateArg, delayArg are WARM, N, CONC
const rate = !conns && rateArg ? Number(rateArg) * 1e6 / 8 / 1000 : 0; // bytes/ms, 0 = none
const delay = !conns && delayArg ? Number(delayArg) : 0.5;
const queue = Math.max(64 * 1024, rate * delay * 2);
let seed = 1;
const random = (n) => { const b = new Uint8Array(n); for (let i = 0; i < n; i++) b[i] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24; return b; };
const a = new Stack({ addresses: [{ ip: '10.0.0.1', cidr: 24 }], mtu: 1420, random });
const b = new Stack({ addresses: [{ ip: '10.0.0.2', cidr: 24 }], mtu: 1420, random });
let now = 0, woken = false;
a.onWake = () => (woken = true); b.onWake = () => (woken = true);
const q = []; // [at, to, pkt] sorted by at (FIFO per direction; same delay so push order == time order per dir)
const qa = [], qb = []; let freeAB = 0, freeBA = 0; let drops = 0, pkts = 0;
function send(from, p) {
  pkts++;
  let dep = now;
  if (rate) {
    const f = from === 'a' ? freeAB : freeBA;
    const start = Math.max(now, f);
    if ((start - now) * rate + p.length > queue) { drops++; return; }
    dep = start + p.length / rate;
    if (from === 'a') freeAB = dep; else freeBA = dep;
  }
  (from === 'a' ? qb : qa).push([dep + delay, p]);
}
function step() {
  let moved = false;
  for (const p of a.poll(now)) (moved = true, send('a', p));
  for (const p of b.poll(now)) (moved = true, send('b', p));
  for (const [qq, s] of [[qa, a], [qb, b]]) { let i = 0; while (i < qq.length && qq[i][0] <= now) { s.input(qq[i][1], now); i++; moved = true; } if (i) qq.splice(0, i); }
  return moved;
}
async function transfer(port, size) {
let server = null;
b.tcp.listen(port, (s) => (server = s));
const client = a.tcp.connect({ host: '10.0.0.2', port });
let got = 0, ended = false;
await run(() => server !== null);
server.on('data', (x) => (got += x.length)); server.on('end', () => (ended = true));
const chunk = Buffer.alloc(65536, 7);
let sent = 0;
const pump = () => { while (sent < size) { sent += chunk.length; if (!client.write(chunk)) return void client.once('drain', pump); } client.end(); };
pump();
const t0 = now, w0 = performance.now(), p0 = pkts;
await run(() => ended);
return { got, fakeMs: +(now - t0).toFixed(1), pkts: pkts - p0, wallMs: Math.round(performance.now() - w0) };
}
async function run(done) {
  while (!done()) {
    await tick();
    if (step()) continue;
    await tick();
    if (step() || done()) continue;
    const next = Math.min(qa[0]?.[0] ?? Infinity, qb[0]?.[0] ?? Infinity, a.nextDeadline(), b.nextDeadline());
    if (next === Infinity) throw new Error('stuck');
    now = Math.max(now, next);
  }
}
const tick = () => new Promise((r) => setImmediate(r));
/** n request/response connections, conc at a time, to a server on port that answers and closes. */
async function churn(port, n, conc) {
  const req = Buffer.alloc(78, 71);
  const page = Buffer.alloc(612 + 64, 120);
  b.tcp.listen(port, (s) => {
    s.once('data', () => s.end(page));
    s.on('end', () => { if (!s.writableEnded) s.end(); });
  });
  let started = 0, done = 0, bytes = 0;
  const one = () => {
    started++;
    const c = a.tcp.connect({ host: '10.0.0.2', port, noDelay: true });
    c.write(req);
    c.on('data', (x) => (bytes += x.length));
    c.on('end', () => c.end());
    c.on('close', () => { done++; if (started < n) one(); });
  };
  for (let i = 0; i < Math.min(conc, n); i++) one();
  const t0 = now, p0 = pkts;
  await run(() => done === n);
  return { conns: n, bytes, fakeMs: +(now - t0).toFixed(1), pkts: pkts - p0 };
}
if (conns) {
  const [warmN, n, conc] = [Number(mb), Number(rateArg ?? 0), Number(delayArg ?? 32)];
  const w = await churn(81, warmN, conc);
  if (globalThis.__startHeap) await globalThis.__startHeap();
  const r = n > 0 ? await churn(82, n, conc) : null;
  if (globalThis.__stopHeap) await globalThis.__stopHeap(process.env.HEAPOUT);
  console.log(JSON.stringify({ warm: w, r, drops }));
  process.exit(0);
}
const warm = Number(warmArg) > 0 ? await transfer(79, Number(warmArg) << 20) : null;
if (globalThis.__startHeap) await globalThis.__startHeap();
const r = SIZE > 0 ? await transfer(80, SIZE) : null;
if (globalThis.__stopHeap) await globalThis.__stopHeap(process.env.HEAPOUT);
console.log(JSON.stringify({ mb: Number(mb), warm, r, drops }));
process.exit(0);
