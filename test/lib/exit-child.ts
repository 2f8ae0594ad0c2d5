/**
 * Run by exit.test.ts in a child process: two tunnels, a connection, a
 * UDP round trip and a fetch between them, then close() on both. It never
 * calls process.exit: the process must end on its own, which it does only
 * if close() left no timer, socket or worker behind. Prints "closed" when
 * both close() calls have resolved.
 */
import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import { A_ADDR, startPair } from './pair.js';

const p = await startPair();
const echo = p.a.createServer((s) => s.pipe(s));
await once(echo.listen(7000), 'listening');
const sock = p.b.connect(7000, A_ADDR);
sock.end('x');
await once(sock, 'data');
const web = createHttpServer((_req, res) => res.end('ok'));
p.a.createServer((s) => web.emit('connection', s)).listen(80);
const res = await p.b.fetch(`http://${A_ADDR}/`);
if ((await res.text()) !== 'ok') throw new Error('fetch');
const u = p.a.createSocket('udp4');
u.bind(5300);
u.on('message', (m, r) => u.send(m, r.port, r.address));
const c = p.b.createSocket('udp4');
c.send('u', 5300, A_ADDR);
await once(c, 'message');
// Left open on purpose: close() must take care of them.
await p.close();
web.close();
process.stdout.write('closed\n');
