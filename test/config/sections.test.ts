/**
 * The section table is open: a caller-supplied SectionSpec (here a toy
 * [Toy] section) is parsed, built, validated and serialized without
 * touching the parser.
 */
import { test } from 'vitest';
import assert from 'node:assert/strict';
import { formatIssue, parseConfig, SECTIONS, serializeConfig, type SectionSpec } from '../../src/config/index.js';
import { parseEndpoint } from '../../src/config/addr.js';
import { KEYS } from './helpers.js';

interface Toy {
  listen: { host: string; port: number };
  proto: string;
}

const forward: SectionSpec<Toy> = {
  name: 'Toy',
  repeatable: true,
  keys: {
    Listen: {
      parse: (v) => {
        const r = parseEndpoint(v);
        return r.ok ? { ok: true, value: r.value } : { ok: false, error: r.error };
      },
    },
    Proto: { parse: (v) => (v === 'tcp' || v === 'udp' ? { ok: true, value: v } : { ok: false, error: 'must be tcp or udp' }) },
  },
  build(input, issues) {
    const listen = input.one<Toy['listen']>('Listen');
    if (!listen) {
      if (!input.refused('Listen')) issues.error(input.line, 'Listen', '[Toy] has no Listen');
      return undefined;
    }
    return { listen: listen.value, proto: input.one<string>('Proto')?.value ?? 'tcp' };
  },
  validate(items, cfg, issues) {
    if (items.length > 0 && cfg.peers.length === 0) issues.error(items[0]!.input.line, undefined, '[Toy] needs a [Peer]');
  },
  serialize: (f) => [
    ['Listen', `${f.listen.host}:${f.listen.port}`],
    ['Proto', f.proto],
  ],
};

const TABLE = [...SECTIONS, forward];
const BASE = `[Interface]\nPrivateKey = ${KEYS.serverPriv}\n[Peer]\nPublicKey = ${KEYS.laptopPub}\n`;

test('an added section is parsed into extensions and serialized back', () => {
  const text = `${BASE}[toy]\nlisten = 127.0.0.1:8080\n[Toy]\nListen = 127.0.0.1:53\nProto = udp\n`;
  const r = parseConfig('wg0.conf', text, {}, TABLE);
  assert.ok(r.ok, r.ok ? '' : r.errors.map(formatIssue).join('\n'));
  assert.deepEqual(r.config.extensions, {
    Forward: [],
    Expose: [],
    PortMapping: [],
    Socks5: [],
    http: [],
    TCPClientTunnel: [],
    TCPServerTunnel: [],
    UDPProxyTunnel: [],
    STDIOTunnel: [],
    Toy: [
      { listen: { host: '127.0.0.1', port: 8080 }, proto: 'tcp' },
      { listen: { host: '127.0.0.1', port: 53 }, proto: 'udp' },
    ],
  });
  const out = serializeConfig(r.config, {}, TABLE);
  assert.ok(out.endsWith('[Toy]\nListen = 127.0.0.1:8080\nProto = tcp\n\n[Toy]\nListen = 127.0.0.1:53\nProto = udp\n'), out);
  const again = parseConfig('wg0.conf', out, {}, TABLE);
  assert.ok(again.ok);
  assert.deepEqual(again.config.extensions, r.config.extensions);
});

test('an added section gets the same error reporting', () => {
  const text = `${BASE}[Toy]\nListen = nowhere\nProt = udp\n[Toy]\nProto = sctp\n`;
  const r = parseConfig('wg0.conf', text, {}, TABLE);
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.deepEqual(r.errors.map(formatIssue), [
    'wg0.conf:6: Listen = nowhere: missing port; use host:port, 1.2.3.4:port or [ipv6]:port',
    'wg0.conf:7: unknown key "Prot" in [Toy] (did you mean Proto?)',
    'wg0.conf:9: Proto = sctp: must be tcp or udp',
    'wg0.conf:8: [Toy] has no Listen',
  ]);
});

test('validate hooks see the whole config', () => {
  const text = `[Interface]\nPrivateKey = ${KEYS.serverPriv}\n[Toy]\nListen = 127.0.0.1:1\n`;
  const r = parseConfig('wg0.conf', text, {}, TABLE);
  assert.equal(r.ok, false);
  if (!r.ok) assert.deepEqual(r.errors.map(formatIssue), ['wg0.conf:3: [Toy] needs a [Peer]']);
});

test('without the added section, [Toy] is an unknown section', () => {
  const r = parseConfig('wg0.conf', `${BASE}[Toy]\nListen = 127.0.0.1:1\n`);
  assert.equal(r.ok, false);
  if (!r.ok) assert.deepEqual(r.errors.map(formatIssue), ['wg0.conf:5: unknown section [Toy] (known sections: [Interface], [Peer], [Forward], [Expose], [PortMapping], [Socks5], [http], [TCPClientTunnel], [TCPServerTunnel], [UDPProxyTunnel], [STDIOTunnel])']);
});
