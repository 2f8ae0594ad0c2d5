/**
 * Resource caps in [Interface]: MaxStagedPackets, MaxTimeWait and
 * MaxReassemblyBuffers. Config text -> parseConfig (value checks, exact
 * `file:line: message` errors) -> Driver (the caps reach the Device and the
 * Stack: staged packets, TIME-WAIT config, fragment table all bounded).
 */
import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { formatIssue, parseConfig } from '../../src/config/index.js';
import type { WgConfig } from '../../src/config/types.js';
import { Driver } from '../../src/node/driver.js';
import { Logger } from '../../src/node/log.js';
import { writeIpv4Header } from '../../src/netstack/ipv4.js';
import { KEYS } from '../config/helpers.js';

const IFACE = `[Interface]\nPrivateKey = ${KEYS.serverPriv}\nAddress = 10.88.0.1/24`; // lines 1-3
const PEER = `[Peer]\nPublicKey = ${KEYS.laptopPub}\nAllowedIPs = 10.88.0.2/32\nEndpoint = 127.0.0.1:9`;

/** Interface lines 1-3, then `iface` lines from line 4, then a peer. */
function conf(iface: string[]): string {
  return [IFACE, ...iface, PEER].join('\n');
}

function parsed(text: string): WgConfig {
  const r = parseConfig('wg0.conf', text);
  assert.ok(r.ok, r.ok ? '' : r.errors.map(formatIssue).join('\n'));
  return r.config;
}

function errors(text: string): string[] {
  const r = parseConfig('wg0.conf', text);
  assert.equal(r.ok, false, `expected errors for:\n${text}`);
  return r.ok ? [] : r.errors.map(formatIssue);
}

const quiet = new Logger('caps', 'error', () => {});

async function withDriver(cfg: WgConfig, fn: (d: Driver) => void | Promise<void>): Promise<void> {
  const d = new Driver({ config: cfg, log: quiet, listenPort: 0, bindAddress: '127.0.0.1' });
  await d.start();
  try {
    await fn(d);
  } finally {
    await d.stop();
  }
}

/** An inner UDP packet 10.88.0.1 -> 10.88.0.2 (routed to the peer). */
function innerToPeer(): Uint8Array {
  const p = new Uint8Array(36);
  p[22] = 0; p[23] = 9; p[25] = 16;
  writeIpv4Header(p, { src: Uint8Array.of(10, 88, 0, 1), dst: Uint8Array.of(10, 88, 0, 2), proto: 17 });
  return p;
}

/** The first fragment (MF set, 8 data bytes) of IPv4 datagram `id`, 10.88.0.2 -> 10.88.0.1. */
function firstFragment(id: number): Uint8Array {
  const p = new Uint8Array(28);
  writeIpv4Header(p, { src: Uint8Array.of(10, 88, 0, 2), dst: Uint8Array.of(10, 88, 0, 1), proto: 17, id, mf: true });
  return p;
}

const KEYS_UNDER_TEST: { key: string; range: string; good: string; value: number }[] = [
  { key: 'MaxStagedPackets', range: '1-65535', good: '7', value: 7 },
  { key: 'MaxTimeWait', range: '1-1048576', good: '300', value: 300 },
  { key: 'MaxReassemblyBuffers', range: '0-65535', good: '0', value: 0 },
];

const FIELD: Record<string, 'maxStagedPackets' | 'maxTimeWait' | 'maxReassemblyBuffers'> = {
  MaxStagedPackets: 'maxStagedPackets',
  MaxTimeWait: 'maxTimeWait',
  MaxReassemblyBuffers: 'maxReassemblyBuffers',
};

describe('resource caps in [Interface]', () => {
  for (const k of KEYS_UNDER_TEST) {
    it(`${k.key}: parses, and rejects bad values with the parser's message`, () => {
      assert.equal(parsed(conf([`${k.key} = ${k.good}`])).iface[FIELD[k.key]!], k.value);
      assert.equal(parsed(conf([])).iface[FIELD[k.key]!], undefined);
      const [lo, hi] = k.range.split('-').map(Number) as [number, number];
      for (const bad of [String(hi + 1), 'lots', '-1', '1.5', ...(lo > 0 ? [String(lo - 1)] : [])]) {
        assert.deepEqual(errors(conf([`${k.key} = ${bad}`])), [`wg0.conf:4: ${k.key} = ${bad}: must be an integer ${k.range}`]);
      }
      assert.deepEqual(errors(conf([`${k.key} =`])), [`wg0.conf:4: ${k.key} = "": must be an integer ${k.range}`]);
      assert.deepEqual(
        errors(conf([`${k.key} = ${k.good}`, `${k.key} = ${k.good}`])),
        [`wg0.conf:5: ${k.key} is given again (first at line 4); it may appear only once`],
      );
      // Bounds are inclusive.
      assert.equal(parsed(conf([`${k.key} = ${lo}`])).iface[FIELD[k.key]!], lo);
      assert.equal(parsed(conf([`${k.key} = ${hi}`])).iface[FIELD[k.key]!], hi);
    });
  }

  it('a cap in [Peer] is refused as an [Interface] key', () => {
    assert.deepEqual(errors(`${IFACE}\n${PEER}\nMaxTimeWait = 5`), ['wg0.conf:8: MaxTimeWait belongs in [Interface], not in [Peer]']);
  });

  it('MaxStagedPackets reaches the Device: packets past the cap are dropped as staged-overflow', async () => {
    for (const [cap, sent, dropped] of [[3, 10, 7], [undefined, 130, 2]] as const) {
      const cfg = parsed(conf(cap === undefined ? [] : [`MaxStagedPackets = ${cap}`]));
      await withDriver(cfg, (d) => {
        // No session yet (the peer at 127.0.0.1:9 never answers): every packet is staged.
        for (let i = 0; i < sent; i++) d.device.send(innerToPeer(), performance.now());
        assert.equal(d.device.drops.get('staged-overflow') ?? 0, dropped, `cap ${cap ?? 'default'}`);
      });
    }
  });

  it('MaxTimeWait reaches the userspace TCP stack (default 4096)', async () => {
    await withDriver(parsed(conf(['MaxTimeWait = 300'])), (d) => assert.equal(d.stack!.tcp.cfg.maxTimeWait, 300));
    await withDriver(parsed(conf([])), (d) => assert.equal(d.stack!.tcp.cfg.maxTimeWait, 4096));
  });

  it('MaxReassemblyBuffers reaches the stack: datagrams past the cap are dropped as reassembly-table-full', async () => {
    for (const [cap, sent, dropped] of [[0, 5, 5], [4, 10, 6], [undefined, 70, 6]] as const) {
      const cfg = parsed(conf(cap === undefined ? [] : [`MaxReassemblyBuffers = ${cap}`]));
      await withDriver(cfg, (d) => {
        const t = performance.now();
        for (let id = 1; id <= sent; id++) d.stack!.input(firstFragment(id), t);
        assert.equal(d.stack!.drops.get('reassembly-table-full') ?? 0, dropped, `cap ${cap ?? 'default'}`);
      });
    }
  });
});
