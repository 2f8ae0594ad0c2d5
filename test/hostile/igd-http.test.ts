/**
 * Hostile clients on the UPnP IGD's HTTP port (issue 17): a real `wgts up
 * --userspace` with [PortMapping] serves the IGD on its tunnel address;
 * clients are library tunnels in this process, each a peer of its own
 * address (the port is reachable only through the tunnel).
 *
 *   phase 1, two attackers: slowloris (a header byte every 200 ms), silent
 *     connections past the per-source cap, a 64 KiB header, a 10 MB
 *     Content-Length, malformed SOAP (garbage, deep nesting, an unknown
 *     action, a truncated envelope); a third peer's description fetch is
 *     served meanwhile
 *   phase 2, four attackers hold MAX_HTTP_CONNECTIONS: one more is refused
 *     and counted as busy
 *   after HTTP_IDLE_MS every connection is cut: nothing open, the counters
 *     (UAPI stats upnp_http.*) say what happened, RSS stayed bounded, wgts
 *     still runs and serves.
 */
import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeKey } from '../../src/crypto/util.js';
import { Tunnel, type TunnelSocket } from '../../src/lib/index.js';
import { HTTP_IDLE_MS, MAX_HTTP_CONNECTIONS, MAX_HTTP_PER_SOURCE } from '../../src/node/portmap-host.js';
import { trackPath, waitFor } from '../harness/netns.js';
import { newKeys, RssSampler, startWgtsConf, uapiStats, type Keys } from './helpers.js';
import { RSS_CEILING_MB } from './soak.js';

const SERVER = '10.81.0.1';
const HTTP_PORT = 5000;
const CLIENTS = 6; // index 0: the legitimate peer; 1..5 attackers

interface Conn { sock: TunnelSocket; closed: boolean; data: string }

function open(t: Tunnel): Promise<Conn> {
  return new Promise((resolve) => {
    const c: Conn = { sock: t.connect(HTTP_PORT, SERVER), closed: false, data: '' };
    c.sock.on('data', (d: Buffer) => { c.data += d.toString('latin1'); });
    c.sock.on('error', () => { /* reset by the server: counted as closed */ });
    c.sock.on('close', () => { c.closed = true; resolve(c); });
    c.sock.once('connect', () => resolve(c));
  });
}

const soap = (action: string, body: string) => [
  'POST /ctl/IPConn HTTP/1.1', `Host: ${SERVER}:${HTTP_PORT}`, 'Content-Type: text/xml; charset="utf-8"',
  `SOAPAction: "urn:schemas-upnp-org:service:WANIPConnection:2#${action}"`, `Content-Length: ${Buffer.byteLength(body)}`, '', body,
].join('\r\n');

/** One whole request on a fresh connection; resolves with the response once the server closes. */
async function exchange(t: Tunnel, request: string): Promise<string> {
  const c = await open(t);
  if (!c.closed) c.sock.write(request);
  await waitFor(() => c.closed, 15_000, 'the IGD to answer and close');
  return c.data;
}

describe('hostile: clients on the IGD HTTP port', { timeout: 120_000 }, () => {
  it('slowloris, silent floods, oversized headers and bodies and malformed SOAP hold the caps, are counted, and others are served', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'wgts-igd-'));
    trackPath(dir);
    const sk = newKeys();
    const ck: Keys[] = Array.from({ length: CLIENTS }, () => newKeys());
    const addr = (i: number) => `10.81.0.${i + 2}`;
    const server = await startWgtsConf(dir, `igdh${process.pid.toString(36)}`.slice(0, 15), [
      '[Interface]', `PrivateKey = ${encodeKey(sk.priv)}`, 'ListenPort = 0', `Address = ${SERVER}/24`, '',
      ...ck.flatMap((k, i) => ['[Peer]', `PublicKey = ${encodeKey(k.pub)}`, `AllowedIPs = ${addr(i)}/32`, '']),
      '[PortMapping]', 'Protocols = upnp', 'ExternalAddress = 192.0.3.7', 'ListenAddress = 127.0.0.1', `UpnpHttpPort = ${HTTP_PORT}`, '',
    ].join('\n'));
    const rss = new RssSampler(server.proc.pid, 200);
    const tunnels: Tunnel[] = [];
    const conns: Conn[] = [];
    let drip: NodeJS.Timeout | null = null;
    try {
      for (let i = 0; i < CLIENTS; i++) {
        tunnels.push(await Tunnel.start([
          '[Interface]', `PrivateKey = ${encodeKey(ck[i]!.priv)}`, `Address = ${addr(i)}/24`, '',
          '[Peer]', `PublicKey = ${encodeKey(sk.pub)}`, `Endpoint = 127.0.0.1:${server.port}`, `AllowedIPs = ${SERVER}/32`, 'PersistentKeepalive = 25', '',
        ].join('\n'), { name: `igdc${i}`, listenAddress: '127.0.0.1' }));
      }
      const [legit, a1, a2, ...rest] = tunnels as [Tunnel, Tunnel, Tunnel, ...Tunnel[]];
      const description = async () => {
        const r = await legit.fetch(`http://${SERVER}:${HTTP_PORT}/rootDesc.xml`);
        return { status: r.status, body: await r.text() };
      };
      assert.match((await description()).body, /InternetGatewayDevice/, 'the IGD serves before the attack');
      const stats = () => uapiStats(server.socketPath);

      // ---- phase 1: two attackers ----
      // a1: slowloris on every connection it may hold, then 12 more that the per-source cap refuses.
      const slow = await Promise.all(Array.from({ length: MAX_HTTP_PER_SOURCE }, () => open(a1)));
      for (const c of slow) c.sock.write('GET /rootDesc.xml HTTP/1.1\r\nHost: x\r\n');
      drip = setInterval(() => { for (const c of slow) if (!c.closed) c.sock.write('X'); }, 200);
      const extra = await Promise.all(Array.from({ length: 12 }, () => open(a1)));
      conns.push(...slow, ...extra);
      await waitFor(() => extra.every((c) => c.closed), 10_000, 'the per-source cap to refuse the extra connections');
      // a2: oversized header, oversized body, malformed SOAP: each answered with an error, never a crash.
      const bigHeader = await exchange(a2, `GET /rootDesc.xml HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(65536)}\r\n\r\n`);
      assert.match(bigHeader, /^HTTP\/1\.1 431 /, bigHeader.slice(0, 80));
      const bigBody = await exchange(a2, `POST /ctl/IPConn HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n${'<'.repeat(4096)}`);
      assert.match(bigBody, /^HTTP\/1\.1 413 /, bigBody.slice(0, 80));
      const malformed = [
        soap('AddPortMapping', '\x00\xff<<<>>>garbage'),
        soap('AddPortMapping', `<s:Envelope>${'<a>'.repeat(500)}${'</a>'.repeat(500)}</s:Envelope>`),
        soap('NoSuchAction', '<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><u:NoSuchAction xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:2"/></s:Body></s:Envelope>'),
        soap('AddPortMapping', '<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><u:AddPortMapping'),
        'POST /ctl/IPConn HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n',
        'BREW /pot HTCPCP/1.0\r\n\r\n',
      ];
      for (const req of malformed) {
        const res = await exchange(a2, req);
        assert.match(res, /^HTTP\/1\.1 (4\d\d|5\d\d) /, `an error status for ${JSON.stringify(req.slice(0, 60))}: ${res.slice(0, 120)}`);
        assert.doesNotMatch(res, /NewExternalPort|200 OK/, 'no mapping made from malformed SOAP');
      }
      // Meanwhile the third peer is served.
      const during = await description();
      assert.equal(during.status, 200, 'a legitimate client is served while the attackers hold their connections');
      let s = await stats();
      console.log(`phase 1 stats: ${JSON.stringify(Object.fromEntries([...s].filter(([k]) => k.startsWith('upnp_http.'))))}`);
      assert.ok((s.get('upnp_http.open') ?? 0) <= MAX_HTTP_PER_SOURCE + 1, `open ${s.get('upnp_http.open')}`);
      assert.ok((s.get('upnp_http.refused_per_source') ?? 0) >= 12, 'refusals past the per-source cap are counted');
      assert.equal(s.get('upnp_http.rejected_431'), 1);
      assert.equal(s.get('upnp_http.rejected_413'), 1);
      assert.ok([...s].some(([k, n]) => /^upnp_http\.(rejected|error)_[45]\d\d$/.test(k) && k !== 'upnp_http.rejected_431' && k !== 'upnp_http.rejected_413' && n > 0), 'malformed requests are counted');

      // ---- phase 2: four attackers fill the global cap; one more connection is refused as busy ----
      clearInterval(drip);
      drip = null;
      for (const c of slow) c.sock.destroy();
      await waitFor(async () => (await stats()).get('upnp_http.open') === 0, HTTP_IDLE_MS + 5000, 'the slowloris connections to close');
      const holders = [a1, a2, ...rest.slice(0, 2)];
      assert.equal(holders.length * MAX_HTTP_PER_SOURCE, MAX_HTTP_CONNECTIONS);
      const before = await stats();
      const held = await Promise.all(holders.flatMap((h) => Array.from({ length: MAX_HTTP_PER_SOURCE }, () => open(h))));
      conns.push(...held);
      const late = await open(rest[2]!);
      conns.push(late);
      await waitFor(() => late.closed, 10_000, 'the connection past the global cap to be refused');
      s = await stats();
      assert.ok((s.get('upnp_http.open') ?? 0) <= MAX_HTTP_CONNECTIONS, `open ${s.get('upnp_http.open')} over ${MAX_HTTP_CONNECTIONS}`);
      assert.ok((s.get('upnp_http.refused_busy') ?? 0) > (before.get('upnp_http.refused_busy') ?? 0), 'the refusal is counted as busy');

      // ---- after: every connection is cut by the idle timeout; nothing is left open ----
      await waitFor(async () => (await stats()).get('upnp_http.open') === 0, HTTP_IDLE_MS + 15_000, 'every IGD connection to be cut');
      s = await stats();
      assert.ok((s.get('upnp_http.timed_out') ?? 0) >= MAX_HTTP_CONNECTIONS, `timed_out ${s.get('upnp_http.timed_out')}`);
      await waitFor(() => conns.every((c) => c.closed), 10_000, 'the clients to see their connections closed');
      assert.equal((await description()).status, 200, 'served again afterwards');
      assert.ok(server.proc.running, 'wgts still runs');
      const r = rss.stop();
      console.log(`wgts RSS ${r.startMb.toFixed(1)} MB at start, peak ${r.peakMb.toFixed(1)} MB; ${JSON.stringify(Object.fromEntries([...s].filter(([k]) => k.startsWith('upnp_http.'))))}`);
      assert.ok(r.peakMb <= RSS_CEILING_MB, `RSS peaked at ${r.peakMb.toFixed(1)} MB`);
    } finally {
      if (drip) clearInterval(drip);
      rss.stop();
      for (const c of conns) c.sock.destroy();
      await Promise.all(tunnels.map((x) => x.close()));
      await server.proc.stop(5000);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
