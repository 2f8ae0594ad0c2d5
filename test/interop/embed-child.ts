/**
 * The library in a process with no capabilities (run by
 * embed-netns.test.ts as uid 65534 in the client namespace): starts a
 * Tunnel from the config file in argv[2] (with its [Socks5] proxies), then
 * on its own: lookup by name (search domain), fetch a page by name,
 * connect to the UDP/TCP echoes, a createSocket round trip, and prints one
 * JSON line of results. It keeps the proxies up until stdin ends, then
 * close()s and must exit by itself (no process.exit).
 */
import { once } from 'node:events';
import { Tunnel } from '../../src/lib/index.js';

const SRV = '10.88.0.1';
const tunnel = await Tunnel.start(process.argv[2]!, { logLevel: 'warn' });
const out: Record<string, unknown> = { uid: process.getuid?.() };
try {
  out.lookup = await tunnel.lookup('home');
  const res = await tunnel.fetch('http://home.internal/index.html');
  out.fetch = { status: res.status, body: await res.text() };
  const s = tunnel.connect(7000, 'home.internal');
  await once(s, 'connect');
  s.end('tcp echo');
  let echoed = '';
  for await (const d of s) echoed += (d as Buffer).toString();
  out.connect = echoed;
  const u = tunnel.createSocket('udp4');
  u.send('udp echo', 7001, SRV);
  const [msg] = (await once(u, 'message')) as [Buffer];
  out.udp = msg.toString();
  u.close();
  const server = tunnel.createServer((c) => c.end('served by the library'));
  await once(server.listen(9000), 'listening');
  out.listening = 9000;
} catch (e) {
  out.error = String(e);
}
process.stdout.write(JSON.stringify(out) + '\n');
process.stdin.resume();
await once(process.stdin, 'end');
await tunnel.close();
process.stdin.pause();
