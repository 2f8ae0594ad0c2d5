/**
 * Fuzzes the UAPI: parseSet and UapiConnection on random and mutated request
 * streams, and checks that memory stays bounded on endless input.
 *
 *   valid get/set streams + corpus -> byte/token mutations -> the stream fed to
 *   one UapiConnection whole and to another in random chunks (EOF after)
 *   -> properties: nothing throws; both give the same responses, the same
 *   applied requests and the same closed state; every response is
 *   `errno=N\n\n` with a known N or a get dump; the line buffer never holds
 *   more than UAPI_MAX_LINE bytes; no diagnostic or parse reason shows key
 *   material. Then 10 MB inputs (one endless line, endless operations, endless
 *   valid lines) close the connection with an errno while buffering stays
 *   capped, also through a real UNIX socket server.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSet } from '../../src/uapi/set.js';
import { UapiConnection, UAPI_DEFAULT_MAX_REQUEST, UAPI_MAX_LINE } from '../../src/uapi/connection.js';
import { startUapiServer } from '../../src/uapi/server.js';
import { InMemoryTestBackend } from '../uapi/fake-backend.js';
import { describeReport, Rng, runFuzz } from './harness.js';

const KNOWN_ERRNOS = new Set([0, -5, -12, -22, -55, -71, -98]);
const r0 = new Rng(0xa91);
const hexKey = (): string => Buffer.from(r0.bytes(32)).toString('hex');
const PRIV = hexKey();
const PSK = hexKey();
const PUB1 = hexKey();
const PUB2 = hexKey();

const SEEDS = [
  'get=1\n\n',
  `set=1\nprivate_key=${PRIV}\nlisten_port=51820\nfwmark=0\nreplace_peers=true\n\n`,
  `set=1\npublic_key=${PUB1}\npreshared_key=${PSK}\nendpoint=192.0.2.1:51820\npersistent_keepalive_interval=25\nreplace_allowed_ips=true\nallowed_ip=10.0.0.0/24\nallowed_ip=fd00::/64\nprotocol_version=1\n\n`,
  `set=1\npublic_key=${PUB2}\nendpoint=[2001:db8::1]:1\nupdate_only=true\npublic_key=${PUB1}\nremove=true\n\nget=1\n\n`,
  `set=1\nprivate_key=${PRIV}\r\npublic_key=${PUB1}\r\nallowed_ip=0.0.0.0/0\r\n\r\nget=1\n\n`,
  `set=1\nlisten_port=1\n`,
  'set=1\n\nset=1\n\nget=1\n\n',
].map((s) => new Uint8Array(Buffer.from(s)));

const DICTIONARY = [
  '\n', '\r\n', '\n\n', '=', 'get=1\n', 'set=1\n', 'private_key=', 'public_key=', 'preshared_key=', 'endpoint=',
  'allowed_ip=', 'listen_port=', 'fwmark=', 'replace_peers=true', 'replace_allowed_ips=true', 'remove=true',
  'update_only=true', 'persistent_keepalive_interval=', 'protocol_version=1', PUB1, '00'.repeat(32), '[::1]:0',
  '1.2.3.4:65536', '/129', '/33', '%eth0', '4294967296', '-1', '0x10', '\0', '\u00e9',
];

/** Secret values given in a request: hex after private_key= or preshared_key=. */
/**
 * Values of whole private_key= / preshared_key= lines, each with the input's
 * other text (the input with every secret value cut out): a window of a secret
 * that also occurs there, e.g. inside an unknown key name that a reason may
 * quote (the kept corpus cases), is not a leak.
 */
function secretsIn(text: string): { values: string[]; rest: string } {
  const values: string[] = [];
  let rest = '';
  let at = 0;
  for (const m of text.matchAll(/^((?:private_key|preshared_key)=)([0-9a-fA-F]{16,})/gm)) {
    values.push(m[2]!);
    // Cut out this occurrence only: the same text elsewhere (a key name) stays.
    const start = m.index! + m[1]!.length;
    rest += text.slice(at, start) + '\n';
    at = start + m[2]!.length;
  }
  return { values, rest: rest + text.slice(at) };
}

function leaks(message: string, secrets: { values: string[]; rest: string }): boolean {
  for (const s of secrets.values) {
    for (let i = 0; i + 16 <= s.length; i++) {
      const w = s.slice(i, i + 16);
      if (message.includes(w) && !secrets.rest.includes(w)) return true;
    }
  }
  return false;
}

/** White-box: the bytes a connection holds for its current line. */
function buffered(c: UapiConnection): number {
  return (c as unknown as { pendingLen: number }).pendingLen;
}

const GET_RESPONSE = /^(?:[a-z_]+=[^\n]*\n)*errno=0\n\n$/;

function normal(x: unknown): string {
  return JSON.stringify(x, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v));
}

function runStream(bytes: Uint8Array, chunks: number[], maxRequestBytes: number) {
  const backend = new InMemoryTestBackend();
  const events: string[] = [];
  const c = new UapiConnection(backend, { maxRequestBytes, onEvent: (m) => events.push(m) });
  const responses: string[] = [];
  let at = 0;
  for (const n of [...chunks, bytes.length]) {
    const end = Math.min(bytes.length, at + n);
    if (end > at) {
      responses.push(...c.feed(bytes.subarray(at, end)));
      assert.ok(buffered(c) <= UAPI_MAX_LINE, `line buffer ${buffered(c)} > ${UAPI_MAX_LINE}`);
    }
    at = end;
    if (at >= bytes.length) break;
  }
  if (!c.closed) responses.push(...c.end());
  return { responses, requests: normal(backend.requests), closed: c.closed, events };
}

test('fuzz: UAPI connection and set parser', (t) => {
  const rep = runFuzz({
    name: 'uapi',
    seeds: SEEDS,
    iterations: 15_000,
    maxLen: 8192,
    dictionary: DICTIONARY,
    check: (bytes, r) => {
      const text = Buffer.from(bytes).toString('utf8');
      const secrets = secretsIn(Buffer.from(bytes).toString('latin1'));
      // parseSet on the body after the first set=1 line (or on the whole input).
      const body = text.startsWith('set=1\n') ? text.slice(6) : text;
      const p = parseSet(body);
      if (!p.ok) {
        assert.ok(KNOWN_ERRNOS.has(p.errno), `errno ${p.errno}`);
        assert.ok(!leaks(p.reason, secrets), `reason shows a key: ${p.reason}`);
      }
      // The same stream whole and in random chunks: same result.
      const cap = r.chance(0.3) ? 256 : UAPI_DEFAULT_MAX_REQUEST;
      const whole = runStream(bytes, [], cap);
      const chunks = Array.from({ length: r.int(12) }, () => (r.chance(0.3) ? 1 : 1 + r.int(64)));
      const split = runStream(bytes, chunks, cap);
      assert.deepEqual(split.responses, whole.responses, 'chunking changes nothing');
      assert.equal(split.requests, whole.requests);
      assert.equal(split.closed, whole.closed);
      for (const resp of whole.responses) {
        const m = /^errno=(-?\d+)\n\n$/.exec(resp);
        if (m) assert.ok(KNOWN_ERRNOS.has(Number(m[1])), `errno ${m[1]}`);
        else assert.match(resp, GET_RESPONSE);
      }
      for (const e of [...whole.events, ...split.events]) assert.ok(!leaks(e, secrets), `diagnostic shows a key: ${e}`);
      const codes = whole.responses.map((x) => (x.startsWith('errno=') ? x.slice(6, -2) : 'get'));
      const last = codes.at(-1) ?? 'none';
      return `parseSet:${p.ok ? 'ok' : p.errno}|last:${last}|${whole.closed ? 'closed' : 'open'}`;
    },
  });
  const keys = [...rep.outcomes.keys()];
  for (const want of ['last:0', 'last:-22', 'last:-71', 'last:get', 'last:-12']) {
    assert.ok(keys.some((k) => k.includes(want)), `outcome ${want} reached (${keys.join(', ')})`);
  }
  console.log(describeReport('uapi', rep).slice(0, 600));
});

const TEN_MB = 10 << 20;

/** Feed `total` bytes of `chunk` (after `head`), checking the buffer cap after every chunk. */
function flood(head: string, chunk: Buffer, total = TEN_MB) {
  const backend = new InMemoryTestBackend();
  const c = new UapiConnection(backend);
  const out = [...c.feed(head)];
  let fed = 0;
  let maxBuffered = 0;
  while (fed < total) {
    out.push(...c.feed(chunk));
    fed += chunk.length;
    maxBuffered = Math.max(maxBuffered, buffered(c));
    if (c.closed) break;
  }
  const afterClose = c.feed(chunk); // further input is ignored
  return { out, fed, maxBuffered, closed: c.closed, afterClose, backend };
}

test('UAPI: a 10 MB line, 10 MB of operations and 10 MB of valid lines all close the connection with bounded buffering', () => {
  const line = flood(`set=1\nprivate_key=`, Buffer.alloc(64 * 1024, 0x61));
  assert.deepEqual(line.out, ['errno=-5\n\n'], 'a line past 64 KiB is -EIO');
  assert.ok(line.closed && line.afterClose.length === 0);
  assert.ok(line.maxBuffered <= UAPI_MAX_LINE, `buffered ${line.maxBuffered}`);
  assert.ok(line.fed <= 2 * 64 * 1024, `closed after ${line.fed} bytes, not 10 MB`);

  const ops = flood('', Buffer.alloc(64 * 1024, 0x73));
  assert.deepEqual(ops.out, [], 'an unknown operation is not answered (as wireguard-go)');
  assert.ok(ops.closed && ops.fed === 64 * 1024 && ops.maxBuffered <= 6);

  const lines = Buffer.from(`public_key=${PUB1}\nallowed_ip=10.0.0.0/8\n`.repeat(1024));
  const many = flood('set=1\n', lines);
  assert.deepEqual(many.out, ['errno=-12\n\n'], 'a request past the cap is -ENOMEM');
  assert.ok(many.closed && many.fed <= UAPI_DEFAULT_MAX_REQUEST + lines.length, `closed after ${many.fed} bytes`);
  assert.equal(many.backend.requests.length, 0, 'nothing applied');
});

test('UAPI server: a client streaming a 10 MB line gets errno=-5 and is hung up on', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wgts-fuzz-uapi-'));
  const backend = new InMemoryTestBackend();
  const server = await startUapiServer('fuzz0', backend, { dir });
  try {
    const reply = await new Promise<{ text: string; sent: number }>((resolve, reject) => {
      const sock = connect({ path: server.path });
      const got: Buffer[] = [];
      let sent = 0;
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      let ended = false;
      const pump = (): void => {
        while (!ended && sent < TEN_MB) {
          sent += chunk.length;
          if (!sock.write(chunk)) { sock.once('drain', pump); return; }
        }
      };
      sock.on('connect', () => { sock.write('set=1\nprivate_key='); pump(); });
      sock.on('data', (b) => got.push(b));
      sock.on('error', (e: NodeJS.ErrnoException) => {
        // The server hangs up while we are still writing: EPIPE/ECONNRESET are the expected end.
        if (e.code !== 'EPIPE' && e.code !== 'ECONNRESET') reject(e);
      });
      sock.on('close', () => { ended = true; resolve({ text: Buffer.concat(got).toString(), sent }); });
      setTimeout(() => { sock.destroy(); reject(new Error('server kept the connection open')); }, 10_000).unref();
    });
    assert.equal(reply.text, 'errno=-5\n\n');
    assert.ok(reply.sent < TEN_MB, `the server hung up after ${reply.sent} bytes`);
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
