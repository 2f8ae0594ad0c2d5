/**
 * tunAvailable() and the permission errors a user without CAP_NET_ADMIN
 * meets: the capability parse from /proc/self/status, and (when this test
 * runs as root) a child dropped to uid 65534 that tries openTun and
 * setSocketMark for real.
 */
import { it } from 'vitest';
import { skipUnlessPresent } from '../harness/interop.js';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { hasNetAdmin, tunAvailable } from '../../src/tun/index.js';

it('CAP_NET_ADMIN is bit 12 of CapEff', () => {
  const status = (capEff: string) => `Name:\tnode\nCapInh:\t0000000000000000\nCapPrm:\t${capEff}\nCapEff:\t${capEff}\nCapBnd:\t000001ffffffffff\n`;
  assert.equal(hasNetAdmin(status('000001ffffffffff')), true); // root
  assert.equal(hasNetAdmin(status('0000000000000000')), false); // ordinary user
  assert.equal(hasNetAdmin(status('0000000000001000')), true); // only cap_net_admin (setcap / AmbientCapabilities)
  assert.equal(hasNetAdmin(status('0000000000000800')), false); // cap_net_broadcast (bit 11) is not enough
  assert.equal(hasNetAdmin('no such line'), null);
});

const INDEX = fileURLToPath(new URL('../../src/tun/index.js', import.meta.url));
const asRoot = process.getuid?.() === 0 && tunAvailable().ok;

it('without CAP_NET_ADMIN: tunAvailable, openTun and setSocketMark each say why', { skip: skipUnlessPresent(!asRoot && 'needs root (to drop to uid 65534) and the built addon') }, () => {
  const script = `
    const m = await import(${JSON.stringify(INDEX)});
    const dgram = await import('node:dgram');
    const out = { available: m.tunAvailable() };
    try { await m.openTun('wgtsperm0'); out.open = 'opened'; } catch (e) { out.open = [e.code, e.message]; }
    const s = dgram.createSocket('udp4');
    await new Promise((r) => s.bind(0, '127.0.0.1', r));
    try { m.setSocketMark(s, 51820); out.mark = 'set'; } catch (e) { out.mark = [e.code, e.message]; }
    s.close();
    console.log(JSON.stringify(out));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { uid: 65534, gid: 65534, encoding: 'utf8', timeout: 10_000 });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { available: { ok: boolean; why?: string }; open: [string, string]; mark: [string, string] };
  assert.equal(out.available.ok, false);
  assert.match(out.available.why!, /lacks CAP_NET_ADMIN/);
  assert.equal(out.open[0], 'EPERM');
  assert.match(out.open[1], /creating TUN interface wgtsperm0 needs CAP_NET_ADMIN/);
  assert.equal(out.mark[0], 'EPERM');
  assert.match(out.mark[1], /cannot set fwmark 0xca6c on the UDP socket: needs CAP_NET_ADMIN/);
});
