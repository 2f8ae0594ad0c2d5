/**
 * The MetricsListen server: two Drivers on loopback, a forward rule on the
 * server side, and GET /metrics (read with a strict text-format 0.0.4
 * parser) and /healthz before and after the handshake and traffic.
 */
import { describe, it, afterAll } from 'vitest';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { parseConfig } from '../../src/config/parse.js';
import { formatIssue } from '../../src/config/issues.js';
import { serializeConfig } from '../../src/config/serialize.js';
import { clampPrivateKey, publicKey } from '../../src/crypto/x25519.js';
import { encodeKey } from '../../src/crypto/util.js';
import { Driver } from '../../src/node/driver.js';
import { Logger } from '../../src/node/log.js';
import { NatHost } from '../../src/node/nat-host.js';
import { StackNet, DEFAULTS, type NatRule } from '../../src/nat/index.js';
import { echoRequest } from '../../src/cli/demo.js';
import { driverSnapshot, health, renderMetrics, startMetricsServer, type MetricsServer, type MetricsSnapshot } from '../../src/node/metrics.js';

// --- a strict reader of the text exposition format 0.0.4 -------------------

interface Sample { labels: Record<string, string>; value: number }
interface Family { help: string; type: string; samples: Sample[] }

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

function parseValue(s: string, where: string): number {
  if (s === 'NaN') return NaN;
  if (s === '+Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  if (!/^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$/.test(s)) throw new Error(`${where}: value ${JSON.stringify(s)} is not a number`);
  return Number(s);
}

/** Label set `k="v",...` with only \\, \" and \n escapes; returns the labels and the rest of the line. */
function parseLabels(line: string, at: number, where: string): { labels: Record<string, string>; rest: string } {
  const labels: Record<string, string> = {};
  let i = at + 1;
  while (line[i] !== '}') {
    const m = /^([a-zA-Z_][a-zA-Z0-9_]*)="/.exec(line.slice(i));
    if (!m) throw new Error(`${where}: bad label at column ${i}`);
    const key = m[1]!;
    if (key in labels) throw new Error(`${where}: label ${key} twice`);
    i += m[0].length;
    let v = '';
    for (;;) {
      const c = line[i];
      if (c === undefined) throw new Error(`${where}: unterminated label value`);
      if (c === '"') { i++; break; }
      if (c === '\\') {
        const e = line[i + 1];
        if (e === '\\') v += '\\';
        else if (e === '"') v += '"';
        else if (e === 'n') v += '\n';
        else throw new Error(`${where}: bad escape \\${e}`);
        i += 2;
        continue;
      }
      v += c;
      i++;
    }
    labels[key] = v;
    if (line[i] === ',') i++;
    else if (line[i] !== '}') throw new Error(`${where}: expected , or } at column ${i}`);
  }
  return { labels, rest: line.slice(i + 1) };
}

function parsePrometheus(text: string): Map<string, Family> {
  assert.ok(text.endsWith('\n'), 'the exposition ends with a newline');
  const families = new Map<string, Family>();
  const seen = new Set<string>();
  let current: string | null = null;
  const lines = text.slice(0, -1).split('\n');
  lines.forEach((line, n) => {
    const where = `line ${n + 1} ${JSON.stringify(line)}`;
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (meta) {
      const [, kind, name, rest] = meta as unknown as [string, string, string, string];
      if (!NAME.test(name)) throw new Error(`${where}: bad metric name`);
      let f = families.get(name);
      if (kind === 'HELP') {
        if (f) throw new Error(`${where}: second HELP for ${name}`);
        if (/\\[^\\n]/.test(rest.replace(/\\\\/g, ''))) throw new Error(`${where}: bad escape in HELP`);
        families.set(name, { help: rest, type: '', samples: [] });
        current = name;
      } else {
        if (!f || current !== name) throw new Error(`${where}: TYPE without a HELP just before it`);
        if (f.type) throw new Error(`${where}: second TYPE for ${name}`);
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest)) throw new Error(`${where}: bad type ${rest}`);
        f.type = rest;
      }
      return;
    }
    if (line.startsWith('#') || line === '') throw new Error(`${where}: unexpected comment or blank line`);
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line);
    if (!m) throw new Error(`${where}: no metric name`);
    const name = m[1]!;
    const f = families.get(name);
    if (!f || !f.type || current !== name) throw new Error(`${where}: sample of ${name} not preceded by its HELP and TYPE`);
    let labels: Record<string, string> = {};
    let rest = line.slice(name.length);
    if (rest.startsWith('{')) ({ labels, rest } = parseLabels(line, name.length, where));
    const v = /^ (\S+)$/.exec(rest);
    if (!v) throw new Error(`${where}: expected " value" after the labels (no timestamp)`);
    const series = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seen.has(series)) throw new Error(`${where}: duplicate series`);
    seen.add(series);
    f.samples.push({ labels, value: parseValue(v[1]!, where) });
  });
  for (const [name, f] of families) assert.ok(f.type, `${name} has a TYPE`);
  return families;
}

function value(fams: Map<string, Family>, name: string, match: Record<string, string>): number | undefined {
  const f = fams.get(name);
  assert.ok(f, `family ${name} present`);
  const s = f.samples.filter((x) => Object.entries(match).every(([k, v]) => x.labels[k] === v));
  assert.ok(s.length <= 1, `at most one ${name} series matches ${JSON.stringify(match)}`);
  return s[0]?.value;
}

// --- helpers --------------------------------------------------------------

function conf(name: string, text: string) {
  const r = parseConfig(`${name}.conf`, text);
  if (!r.ok) throw new Error(r.errors.map(formatIssue).join('; '));
  return r.config;
}

async function until(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timeout: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function get(m: MetricsServer, path: string, method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  const r = await fetch(`http://127.0.0.1:${m.address.port}${path}`, { method });
  return { status: r.status, type: r.headers.get('content-type') ?? '', body: await r.text() };
}

/** One TCP round trip through the forward: send `msg`, read until as many bytes came back. */
function roundTrip(port: number, msg: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port }, () => s.write(msg));
    let got = '';
    s.on('data', (d) => { got += d.toString(); if (got.length >= msg.length) { s.end(); resolve(got); } });
    s.on('error', reject);
    setTimeout(() => { s.destroy(); reject(new Error('round trip timed out')); }, 8000).unref();
  });
}

// --- tests ----------------------------------------------------------------

describe('metrics server on loopback', { timeout: 30_000 }, () => {
  const closers: Array<() => Promise<void>> = [];
  afterAll(async () => { for (const c of closers.reverse()) await c(); });

  it('serves /metrics and /healthz from two live drivers', async () => {
    const a = clampPrivateKey(randomBytes(32));
    const b = clampPrivateKey(randomBytes(32));
    const log = new Logger('t', 'error', () => {});
    const server = new Driver({
      config: conf('srv', `[Interface]\nPrivateKey = ${encodeKey(a)}\nListenPort = 0\nAddress = 10.56.0.1/24\n\n[Peer]\nPublicKey = ${encodeKey(publicKey(b))}\nAllowedIPs = 10.56.0.2/32\n`),
      log, bindAddress: '127.0.0.1',
    });
    closers.push(() => server.stop());
    await server.start();

    // A forward on the server (public 127.0.0.1:ephemeral -> 10.56.0.2:7000 in the tunnel).
    const nat = new NatHost(server, log);
    closers.push(() => nat.close());
    const rule: NatRule = { ...DEFAULTS, kind: 'forward', protocols: ['tcp'], ports: 1, listen: { host: '127.0.0.1', port: 0 }, target: { host: '10.56.0.2', port: 7000 } };
    assert.deepEqual((await nat.apply({ forward: [rule], expose: [] })).failed, []);

    const metrics = await startMetricsServer({ host: '127.0.0.1', port: 0 }, () => driverSnapshot('srv', server, nat));
    closers.push(() => metrics.close());
    assert.equal(metrics.address.host, '127.0.0.1');
    assert.ok(metrics.address.port > 0);

    // Before any handshake: unhealthy, and the handshake time is 0.
    const h0 = await get(metrics, '/healthz');
    assert.equal(h0.status, 503);
    assert.match(h0.body, /^no handshake yet with any of 1 peer\(s\)\n$/);
    const m0 = await get(metrics, '/metrics');
    assert.equal(m0.status, 200);
    assert.equal(m0.type, 'text/plain; version=0.0.4; charset=utf-8');
    const f0 = parsePrometheus(m0.body);
    const clientKey = { interface: 'srv', public_key: encodeKey(publicKey(b)) };
    assert.equal(value(f0, 'wgts_peer_last_handshake_seconds', clientKey), 0);
    assert.equal(value(f0, 'wgts_peer_handshake_age_seconds', clientKey), undefined);
    assert.equal(value(f0, 'wgts_peer_receive_bytes_total', clientKey), 0);
    assert.equal(f0.get('wgts_peer_receive_bytes_total')!.type, 'counter');
    assert.equal(f0.get('wgts_forward_active')!.type, 'gauge');
    const fwd = { interface: 'srv', kind: 'forward', protocol: 'tcp' };
    assert.equal(value(f0, 'wgts_forward_connections_total', fwd), 0);
    const target = { ...fwd, target: '10.56.0.2:7000' };
    assert.equal(value(f0, 'wgts_forward_target_up', target), 0, 'the peer behind the target has no handshake yet');
    assert.ok(!m0.body.includes(encodeKey(a)) && !m0.body.includes(encodeKey(b)), 'no private key in /metrics');

    // The client comes up; its keepalive makes the handshake.
    const delivered: Uint8Array[] = [];
    const client = new Driver({
      config: conf('cli', `[Interface]\nPrivateKey = ${encodeKey(b)}\nAddress = 10.56.0.2/24\n\n[Peer]\nPublicKey = ${encodeKey(publicKey(a))}\nEndpoint = 127.0.0.1:${server.bind.port}\nAllowedIPs = 10.56.0.1/32\nPersistentKeepalive = 25\n`),
      log, bindAddress: '127.0.0.1', onDeliver: (p) => delivered.push(p),
    });
    closers.push(() => client.stop());
    await client.start();
    // An echo service at 10.56.0.2:7000 inside the client's userspace stack: the forward's target.
    const tunnel = new StackNet(client.stack!);
    const listener = await tunnel.listenTcp({ host: '10.56.0.2', port: 7000 }, (s) => { s.pipe(s); s.resume(); });
    closers.push(async () => listener.close());

    await until(async () => (await get(metrics, '/healthz')).status === 200, 8000, 'healthy after the handshake');
    assert.equal((await get(metrics, '/healthz')).body, 'ok\n');
    const f1 = parsePrometheus((await get(metrics, '/metrics')).body);
    const last = value(f1, 'wgts_peer_last_handshake_seconds', clientKey)!;
    assert.ok(Math.abs(last - Date.now() / 1000) < 30, `last handshake ${last} is about now`);
    const age = value(f1, 'wgts_peer_handshake_age_seconds', clientKey)!;
    assert.ok(age >= 0 && age < 30, `handshake age ${age}`);
    const rx1 = value(f1, 'wgts_peer_receive_bytes_total', clientKey)!;
    const tx1 = value(f1, 'wgts_peer_transmit_bytes_total', clientKey)!;

    // One ICMP echo through the tunnel: the server's stack answers it.
    const ping = echoRequest('10.56.0.2', '10.56.0.1', 0x4d31, 1);
    client.sendInner(ping);
    await until(() => delivered.some((p) => p[9] === 1 && p[20] === 0), 5000, 'echo reply at the client');
    const f2 = parsePrometheus((await get(metrics, '/metrics')).body);
    const rx2 = value(f2, 'wgts_peer_receive_bytes_total', clientKey)!;
    const tx2 = value(f2, 'wgts_peer_transmit_bytes_total', clientKey)!;
    assert.ok(rx2 >= rx1 + ping.length, `receive bytes rose by the echo request: ${rx1} -> ${rx2}`);
    assert.ok(tx2 >= tx1 + ping.length, `transmit bytes rose by the echo reply: ${tx1} -> ${tx2}`);

    // One TCP connection through the forward: its counters and bytes rise.
    const lport = nat.stats()[0]!.listeners[0]!.port;
    assert.equal(await roundTrip(lport, 'hello metrics'), 'hello metrics');
    await until(() => nat.stats()[0]!.bytesFromTarget >= 13, 5000, 'forward byte counters');
    const f3 = parsePrometheus((await get(metrics, '/metrics')).body);
    assert.equal(value(f3, 'wgts_forward_connections_total', fwd), 1);
    assert.equal(value(f3, 'wgts_forward_bytes_total', { ...fwd, direction: 'to_target' }), 13);
    assert.equal(value(f3, 'wgts_forward_bytes_total', { ...fwd, direction: 'from_target' }), 13);
    assert.ok(value(f3, 'wgts_peer_receive_bytes_total', clientKey)! > rx2, 'tunnel bytes rose with the forwarded connection');
    assert.equal(value(f3, 'wgts_forward_target_connections_total', target), 1);
    await until(async () => value(parsePrometheus((await get(metrics, '/metrics')).body), 'wgts_forward_target_up', target) === 1, 5000, 'target up once its peer handshook');
    const rules = f3.get('wgts_forward_active')!.samples.map((s) => s.labels['rule']);
    assert.deepEqual(rules, [nat.stats()[0]!.rule]);

    // Anything else is 404; HEAD works and carries no body.
    assert.equal((await get(metrics, '/')).status, 404);
    assert.equal((await get(metrics, '/metrics/extra')).status, 404);
    assert.equal((await get(metrics, '/metrics', 'POST')).status, 404);
    const head = await get(metrics, '/healthz', 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
  });

  it('refuses to start on a port in use (the error reaches the caller)', async () => {
    const m = await startMetricsServer({ host: '127.0.0.1', port: 0 }, () => { throw new Error('unused'); });
    closers.push(() => m.close());
    await assert.rejects(startMetricsServer({ host: '127.0.0.1', port: m.address.port }, () => { throw new Error('unused'); }), { code: 'EADDRINUSE' });
    // A source that throws becomes a 500, not a crash.
    const r = await get(m, '/metrics');
    assert.equal(r.status, 500);
    assert.match(r.body, /^cannot read counters: unused\n$/);
  });
});

describe('metrics rendering and health', () => {
  const snap = (over: Partial<MetricsSnapshot>): MetricsSnapshot => ({ interface: 'wg0', peers: [], drops: {}, sendErrors: {}, units: [], ...over });

  it('escapes label values so they read back exactly', () => {
    const weird = 'a"b\\c\nd}e,f=g';
    const text = renderMetrics(snap({ interface: weird, drops: { replay: 3, 'bad-mac1': 2 } }));
    const f = parsePrometheus(text);
    assert.equal(value(f, 'wgts_drops_total', { interface: weird, reason: 'replay' }), 3);
    assert.equal(value(f, 'wgts_drops_total', { interface: weird, reason: 'bad-mac1' }), 2);
  });

  it('is unhealthy with no peers, and when the youngest handshake is 180 s old or more', () => {
    const peer = (handshakeAge: number | null) => ({ publicKey: 'k', rxBytes: 0, txBytes: 0, lastHandshakeUnix: handshakeAge === null ? null : 1, handshakeAge });
    assert.deepEqual(health(snap({})), { ok: false, message: 'no peers configured' });
    assert.deepEqual(health(snap({ peers: [peer(180)] })), { ok: false, message: 'latest handshake was 180 s ago (limit 180 s)' });
    assert.deepEqual(health(snap({ peers: [peer(null), peer(179.9), peer(500)] })), { ok: true, message: 'ok' });
  });
});

describe('MetricsListen in the config', () => {
  const key = encodeKey(clampPrivateKey(randomBytes(32)));
  const file = (v: string) => `[Interface]\nPrivateKey = ${key}\nMetricsListen = ${v}\n`;

  it('accepts IPv4:port and [IPv6]:port, and prints them back', () => {
    const c4 = conf('wg0', file('127.0.0.1:0'));
    assert.deepEqual(c4.iface.metricsListen, { host: '127.0.0.1', port: 0 });
    const c6 = conf('wg0', file('[0:0::1]:9586'));
    assert.deepEqual(c6.iface.metricsListen, { host: '::1', port: 9586 });
    assert.match(serializeConfig(c6), /^MetricsListen = \[::1\]:9586$/m);
    assert.equal(conf('wg0', serializeConfig(c6)).iface.metricsListen?.port, 9586);
    assert.equal(conf('wg0', `[Interface]\nPrivateKey = ${key}\n`).iface.metricsListen, undefined, 'off by default');
  });

  for (const bad of ['nope', '127.0.0.1', 'localhost:9586', '::1:9586', '[127.0.0.1]:80', '1.2.3.4:65536', '[::1]:x']) {
    it(`refuses MetricsListen = ${bad} with file:line`, () => {
      const r = parseConfig('wg0.conf', file(bad));
      assert.equal(r.ok, false);
      if (r.ok) return;
      assert.equal(r.errors.length, 1);
      assert.match(formatIssue(r.errors[0]!), /^wg0\.conf:3: MetricsListen = .*: .*(IPv4:port or \[IPv6\]:port|0-65535)/);
    });
  }
});
