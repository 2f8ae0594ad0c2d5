// UapiConnection: framing of requests on one stream (wireguard-go IpcHandle),
// chunking at every byte offset, pipelining, errors, and bounded buffering.
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { UapiConnection, serializeGet, UAPI_MAX_LINE, type UapiBackend } from '../../src/uapi/protocol.js';
import { InMemoryTestBackend } from './fake-backend.js';

const K1 = 'a1'.repeat(32);
const K2 = 'b2'.repeat(32);
const SET = `set=1\nlisten_port=51820\npublic_key=${K1}\nallowed_ip=10.0.0.2/32\nendpoint=127.0.0.1:51821\n\n`;
const GET = 'get=1\n\n';

function feedAll(conn: UapiConnection, parts: Array<string | Buffer>): string[] {
  const out: string[] = [];
  for (const p of parts) out.push(...conn.feed(p));
  return out;
}

test('get on a fresh device', () => {
  const b = new InMemoryTestBackend();
  const c = new UapiConnection(b);
  assert.deepEqual(c.feed(GET), ['errno=0\n\n']);
  assert.equal(c.closed, false);
});

test('set then get on one connection, in one chunk', () => {
  const b = new InMemoryTestBackend();
  const c = new UapiConnection(b);
  const out = c.feed(SET + GET);
  assert.equal(out.length, 2);
  assert.equal(out[0], 'errno=0\n\n');
  assert.equal(b.requests.length, 1);
  assert.equal(b.state.listenPort, 51820);
  assert.match(out[1]!, /^listen_port=51820\npublic_key=a1a1/);
  assert.ok(out[1]!.includes('\nendpoint=127.0.0.1:51821\n'));
  assert.ok(out[1]!.endsWith('\nallowed_ip=10.0.0.2/32\nerrno=0\n\n'));
  assert.equal(c.closed, false);
});

test('every split point of a two-request stream gives the same result', () => {
  const stream = Buffer.from(SET + GET + `set=1\npublic_key=${K2}\nallowed_ip=10.0.0.2/32\n\n` + GET);
  const ref = new InMemoryTestBackend();
  const want = new UapiConnection(ref).feed(stream);
  assert.equal(want.length, 4);
  for (let cut = 0; cut <= stream.length; cut++) {
    const b = new InMemoryTestBackend();
    const got = feedAll(new UapiConnection(b), [stream.subarray(0, cut), stream.subarray(cut)]);
    assert.deepEqual(got, want, `split at ${cut}`);
    assert.deepEqual(b.state, ref.state, `state after split at ${cut}`);
  }
  // And one byte at a time.
  const b = new InMemoryTestBackend();
  const parts: Buffer[] = [];
  for (let i = 0; i < stream.length; i++) parts.push(stream.subarray(i, i + 1));
  assert.deepEqual(feedAll(new UapiConnection(b), parts), want);
  // The allowed IP moved from K1 to K2, as wireguard-go's trie does.
  assert.deepEqual(
    b.state.peers.map((p) => [Buffer.from(p.publicKey).toString('hex'), p.allowedIps.length]),
    [
      [K1, 0],
      [K2, 1],
    ],
  );
});

test('a multi-byte UTF-8 character split across chunks does not corrupt a line', () => {
  const b = new InMemoryTestBackend();
  const c = new UapiConnection(b);
  const bytes = Buffer.from('set=1\nbogus_é=1\n\n');
  const at = bytes.indexOf(0xc3) + 1; // inside the é
  const out = feedAll(c, [bytes.subarray(0, at), bytes.subarray(at)]);
  assert.deepEqual(out, ['errno=-22\n\n']);
});

test('unknown operation: no response, connection closed (wireguard-go hangs up)', () => {
  for (const op of ['GET=1\n\n', 'get=2\n\n', 'set=1 \n', '\n', 'hello world\n', 'get=1x']) {
    const b = new InMemoryTestBackend();
    const c = new UapiConnection(b);
    const out = c.feed(op);
    assert.deepEqual(out, [], JSON.stringify(op));
    assert.equal(c.closed, true, JSON.stringify(op));
    assert.deepEqual(c.feed(GET), [], 'nothing after close');
  }
});

test('get=1 followed by something other than a newline is -EINVAL, and the stream goes on', () => {
  const b = new InMemoryTestBackend();
  const c = new UapiConnection(b);
  assert.deepEqual(c.feed('get=1\nXget=1\n\n'), ['errno=-22\n\n', 'errno=0\n\n']);
  assert.equal(c.closed, false);
});

test('a rejected set answers with its errno, applies nothing, and closes', () => {
  const b = new InMemoryTestBackend();
  const c = new UapiConnection(b);
  const out = c.feed(`set=1\nlisten_port=1\npublic_key=${K1}\nallowed_ip=10.0.0.300/32\nendpoint=1.2.3.4:5\n\n${GET}`);
  assert.deepEqual(out, ['errno=-22\n\n']);
  assert.equal(c.closed, true);
  assert.equal(b.requests.length, 0);
  assert.equal(b.state.listenPort, 0);
  const c2 = new UapiConnection(b);
  assert.deepEqual(c2.feed('set=1\nno_equals_sign\n\n'), ['errno=-71\n\n']);
});

test("the backend's errno is written negative, like wireguard-go; a throwing backend gives -55", () => {
  const base = new InMemoryTestBackend();
  base.busyPorts.add(51820);
  assert.deepEqual(new UapiConnection(base).feed('set=1\nlisten_port=51820\n\n'), ['errno=-98\n\n']);
  const positive: UapiBackend = { view: () => base.view(), apply: () => ({ errno: 22 }) };
  assert.deepEqual(new UapiConnection(positive).feed('set=1\n\n'), ['errno=-22\n\n']);
  const throwing: UapiBackend = {
    view: () => {
      throw new Error('boom');
    },
    apply: () => {
      throw new Error('boom');
    },
  };
  const c = new UapiConnection(throwing);
  assert.deepEqual(c.feed('set=1\n\n' + GET), ['errno=-55\n\n', 'errno=-55\n\n']);
  assert.equal(c.closed, false);
});

test('end(): a set cut short by EOF is still applied (wireguard-go scans to EOF); a partial get is not answered', () => {
  const b = new InMemoryTestBackend();
  const c = new UapiConnection(b);
  assert.deepEqual(c.feed('set=1\nlisten_port=5\nfwmark=9'), []);
  assert.deepEqual(c.end(), ['errno=0\n\n']);
  assert.equal(b.state.listenPort, 5);
  assert.equal(b.state.fwmark, 9);
  assert.equal(c.closed, true);

  const c2 = new UapiConnection(b);
  c2.feed('set=1\nlisten_port=oops');
  assert.deepEqual(c2.end(), ['errno=-22\n\n']);

  const c3 = new UapiConnection(b);
  assert.deepEqual(c3.feed('get=1\n'), []);
  assert.deepEqual(c3.end(), []);
  assert.equal(c3.closed, true);
});

test('an endless set line is cut off at 64 KiB with -EIO (bufio.Scanner limit)', () => {
  const b = new InMemoryTestBackend();
  const events: string[] = [];
  const c = new UapiConnection(b, { onEvent: (m) => events.push(m) });
  assert.deepEqual(c.feed('set=1\nlisten_port=1\nfoo='), []);
  const chunk = Buffer.alloc(16 * 1024, 0x61);
  const out: string[] = [];
  let fed = 0;
  while (!c.closed && fed < 10 << 20) {
    out.push(...c.feed(chunk));
    fed += chunk.length;
  }
  assert.deepEqual(out, ['errno=-5\n\n']);
  assert.ok(fed <= UAPI_MAX_LINE + chunk.length, `closed after ${fed} bytes`);
  assert.equal(b.requests.length, 0);
  assert.ok(events.some((e) => e.includes('line too long')));

  // A line of exactly the limit is still accepted (and then rejected only as an unknown key).
  const c2 = new UapiConnection(b);
  const name = 'k'.repeat(UAPI_MAX_LINE - 2);
  assert.deepEqual(c2.feed(`set=1\n${name}=1\n\n`), ['errno=-22\n\n']);
});

test('an endless operation line is refused after a few bytes', () => {
  const c = new UapiConnection(new InMemoryTestBackend());
  assert.deepEqual(c.feed(Buffer.alloc(1 << 20, 0x67)), []);
  assert.equal(c.closed, true);
});

test('a set request larger than maxRequestBytes gets -ENOMEM and closes', () => {
  const b = new InMemoryTestBackend();
  const c = new UapiConnection(b, { maxRequestBytes: 4096 });
  const out: string[] = [];
  out.push(...c.feed('set=1\n'));
  for (let i = 0; i < 1000 && !c.closed; i++) out.push(...c.feed(`public_key=${K1}\nallowed_ip=10.0.${i % 256}.0/24\n`));
  assert.deepEqual(out, ['errno=-12\n\n']);
  assert.equal(b.requests.length, 0);
  // Under the cap the same kind of request is fine.
  const c2 = new UapiConnection(b, { maxRequestBytes: 4096 });
  assert.deepEqual(c2.feed(`set=1\npublic_key=${K1}\nallowed_ip=10.0.0.0/24\n\n`), ['errno=0\n\n']);
});

test('get output on the connection is serializeGet of the current view', () => {
  const b = new InMemoryTestBackend();
  const c = new UapiConnection(b);
  c.feed(SET);
  const [resp] = c.feed(GET);
  assert.equal(resp, serializeGet(b.state));
});
