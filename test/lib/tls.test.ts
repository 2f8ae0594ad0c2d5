/**
 * TLS through the tunnel: node:https served on one library tunnel, reached
 * from the other through httpsAgent() with the server's self-signed
 * certificate (made by openssl for this run) as the only trusted CA, so the
 * handshake and the name check are real.
 */
import { afterAll, beforeAll, it } from 'vitest';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, get } from 'node:https';
import { once } from 'node:events';
import { skipUnlessPresent } from '../harness/interop.js';
import { A_ADDR, startPair, type Pair } from './pair.js';

const haveOpenssl = spawnSync('openssl', ['version']).status === 0;
const skip = skipUnlessPresent(!haveOpenssl && 'openssl is not installed');

let p: Pair | undefined;
let dir = '';
beforeAll(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'wgts-tls-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=web.internal', '-addext', `subjectAltName=IP:${A_ADDR}`], { stdio: 'ignore' });
  p = await startPair();
});
afterAll(async () => {
  await p?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

it('httpsAgent: a verified TLS request to node:https on the tunnel', { skip, timeout: 60_000 }, async () => {
  const ca = readFileSync(join(dir, 'cert.pem'));
  const web = createServer({ key: readFileSync(join(dir, 'key.pem')), cert: ca }, (req, res) => res.end(`tls ${req.url}`));
  const server = p!.a.createServer((s) => web.emit('connection', s));
  await once(server.listen(443), 'listening');
  const body = await new Promise<string>((resolve, reject) => {
    get({ host: A_ADDR, path: '/secret', agent: p!.b.httpsAgent({ ca }) }, (r) => {
      let s = '';
      r.on('data', (d: Buffer) => (s += d.toString()));
      r.on('end', () => resolve(s));
    }).on('error', reject);
  });
  assert.equal(body, 'tls /secret');
  // Without the CA the same request is refused by certificate verification.
  const err = await new Promise<NodeJS.ErrnoException>((resolve) => {
    get({ host: A_ADDR, path: '/', agent: p!.b.httpsAgent() }, () => resolve(new Error('no error'))).on('error', resolve);
  });
  assert.match(String(err.code), /SELF_SIGNED|UNABLE_TO_VERIFY|CERT/);
  web.close();
});

it('fetch over https: a verified request with the CA given as tls.ca, refused without it', { skip, timeout: 60_000 }, async () => {
  const ca = readFileSync(join(dir, 'cert.pem'));
  const web = createServer({ key: readFileSync(join(dir, 'key.pem')), cert: ca }, (req, res) => res.end(`fetched ${req.url} over ${(req.socket as { encrypted?: boolean }).encrypted ? 'tls' : 'plain'}`));
  const server = p!.a.createServer((s) => web.emit('connection', s));
  await once(server.listen(8443), 'listening');
  const res = await p!.b.fetch(`https://${A_ADDR}:8443/f`, { tls: { ca } });
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'fetched /f over tls');
  await assert.rejects(p!.b.fetch(`https://${A_ADDR}:8443/f`), (e: Error & { cause?: { code?: string } }) => /SELF_SIGNED|UNABLE_TO_VERIFY|CERT/.test(String(e.cause?.code)));
  server.close();
  web.close();
});
