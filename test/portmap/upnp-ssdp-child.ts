/**
 * Child process for the SSDP discovery test; runs inside a namespace the
 * test created (only `lo`): the IGD over HTTP on 127.0.0.1 (ephemeral port)
 * and the SSDP responder on UDP 1900, joined to 239.255.255.250 on lo.
 * argv[2], when given, is the external address GetExternalIPAddress reports.
 * Prints "READY <http port>" on stdout, one "ssdp ..." line per search on
 * stderr, and serves until killed.
 */
import { createSocket } from 'node:dgram';
import { createServer, type AddressInfo } from 'node:net';
import { handleSsdp } from '../../src/portmap/upnp/ssdp.js';
import { serveHttpConnection } from '../../src/portmap/upnp/http.js';
import { createIgdHandler, igdLocation } from '../../src/portmap/upnp/igd.js';
import { makeCtx } from './upnp-helpers.js';

const UUID = '0e8d4c7a-51b2-4f0e-a9d3-6c2b1e0f9a77';
const t = makeCtx();
if (process.argv[2]) t.ctx.externalAddress = process.argv[2];
const started = performance.now();
let handler: ReturnType<typeof createIgdHandler> | null = null;
const http = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (sock) => serveHttpConnection(sock, handler!));
http.listen(0, '127.0.0.1', () => {
  const base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  handler = createIgdHandler({ ctx: () => t.ctx, uuid: UUID, baseUrl: base, now: () => performance.now() - started, onChange: () => {} });
  const udp = createSocket({ type: 'udp4', reuseAddr: true });
  udp.on('message', (msg, rinfo) => {
    const replies = handleSsdp(msg, rinfo, { location: igdLocation(base), uuid: UUID });
    const st = /\r\nST: *([^\r]*)/i.exec(msg.toString('latin1'))?.[1] ?? '?';
    process.stderr.write(`ssdp ${rinfo.address}:${rinfo.port} ST=${st} -> ${replies.length}\n`);
    for (const r of replies) udp.send(r, rinfo.port, rinfo.address);
  });
  udp.bind(1900, () => {
    udp.addMembership('239.255.255.250', '127.0.0.1');
    process.stdout.write(`READY ${(http.address() as AddressInfo).port}\n`);
  });
});
