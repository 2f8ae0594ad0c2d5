/**
 * The metrics endpoint against hostile clients on loopback (all of 127/8 is
 * local, so each kind comes from its own address): a slowloris sending a
 * header byte at a time, a flood of silent (half-open) connections, and
 * oversized headers. Each is held to its cap, a scraper from another
 * address is served meanwhile, and once the timeouts pass no connection is
 * left open.
 */
import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { request } from 'node:http';
import { startMetricsServer, type MetricsSnapshot } from '../../src/node/metrics.js';
import { sleep, waitFor } from '../harness/wait.js';

const SNAPSHOT: MetricsSnapshot = { interface: 'wg0', peers: [], drops: new Map(), sendErrors: 0, units: [] } as unknown as MetricsSnapshot;

interface Client { sock: Socket; closed: boolean; data: string }

function open(port: number, localAddress: string): Promise<Client> {
  return new Promise((resolve) => {
    const c: Client = { sock: connect({ port, host: '127.0.0.1', localAddress }), closed: false, data: '' };
    c.sock.on('data', (d) => { c.data += d.toString('latin1'); });
    c.sock.on('error', () => { /* reset by the server: counted as closed */ });
    c.sock.on('close', () => { c.closed = true; });
    c.sock.once('connect', () => resolve(c));
    c.sock.once('error', () => resolve(c));
  });
}

function scrape(port: number, localAddress: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/metrics', localAddress, agent: false, timeout: 3000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error('scrape timed out')));
    req.on('error', reject);
    req.end();
  });
}

describe('metrics endpoint: hostile clients', { timeout: 30_000 }, () => {
  it('slowloris, silent connections and oversized headers each stay within the caps; a scraper is served meanwhile; nothing stays open after', async (t) => {
    let snapshots = 0;
    const m = await startMetricsServer({ host: '127.0.0.1', port: 0 }, () => { snapshots++; return SNAPSHOT; });
    const port = m.address.port;
    const clients: Client[] = [];
    let drip: NodeJS.Timeout | null = null;
    try {
      // A slowloris: 50 connections from one address, each a header byte every 200 ms.
      const slow = await Promise.all(Array.from({ length: 50 }, () => open(port, '127.0.0.21')));
      for (const c of slow) if (!c.closed) c.sock.write('GET /metrics HTTP/1.1\r\nHost: x\r\n');
      drip = setInterval(() => { for (const c of slow) if (!c.closed) c.sock.write('X'); }, 200);
      // Half-open: 200 connections from another address that never send a byte.
      const silent = await Promise.all(Array.from({ length: 200 }, () => open(port, '127.0.0.22')));
      // Oversized headers: 64 KiB of one header.
      const big = await open(port, '127.0.0.23');
      big.sock.write(`GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(65536)}\r\n\r\n`);
      clients.push(...slow, ...silent, big);
      await sleep(300);
      const held = (cs: Client[]): number => cs.filter((c) => !c.closed).length;
      console.log(`held after 300 ms: slowloris ${held(slow)}/50, silent ${held(silent)}/200; server connections ${m.connections()}`);
      assert.ok(m.connections() <= 8 + 8 + 1, `the server holds ${m.connections()} connections`);
      // The client side sees the refused ones closed as the server works through its accept queue.
      await waitFor(() => held(slow) <= 8 && held(silent) <= 8, 3000, 'connections over the per-address cap to be closed');
      assert.ok(m.connections() <= 8 + 8 + 1, `the server holds ${m.connections()} connections`);
      await waitFor(() => big.closed, 3000, 'the oversized request to be answered and closed');
      assert.match(big.data, /^HTTP\/1\.1 431 /, 'oversized headers get 431');
      // A scraper from its own address is served while all this is held.
      assert.equal(await scrape(port, '127.0.0.24'), 200);
      assert.equal(snapshots, 1, 'only the scraper reached the handler');
      // The header timeout cuts the slowloris and the silent ones off.
      const t0 = performance.now();
      await waitFor(() => m.connections() === 0 && held(slow) === 0 && held(silent) === 0, 12_000, 'every hostile connection to be closed');
      console.log(`all hostile connections closed by the server ${(performance.now() - t0).toFixed(0)} ms after the scrape`);
      assert.equal(await scrape(port, '127.0.0.21'), 200, 'the slowloris address may scrape once its connections are gone');
    } finally {
      if (drip) clearInterval(drip);
      for (const c of clients) c.sock.destroy();
      await m.close();
    }
  });
});
