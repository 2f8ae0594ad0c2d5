// Issue 19 bug 4: a signal at any moment of a TUN-mode start-up leaves
// nothing behind. A full-tunnel `wgts up --tun` (policy rules, nft table,
// state file) is interrupted at each of its wg-quick steps, three ways: a
// SIGINT to the process alone (kill -INT PID), a SIGINT to its whole process
// group (Ctrl-C in a terminal: the `ip`/`nft` child being run gets it too),
// and the same SIGINT twice a few ms apart (npx and sudo forward the
// terminal's signal, so the process sees it twice). After each, the
// namespace must hold no wgts link, no policy rule, no nft table, no state
// file and no UAPI socket, and the output must say what happened.
import { beforeAll, it } from 'vitest';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { genKeyPair, interopSuite, Netns, sleep, waitFor, type WgKeyPair } from '../harness/netns.js';
import { WgtsProc, CLI, renderConf, uniqueWgtsName } from './wgts-proc.js';
import { SYSTEM_STATE_DIR } from '../../src/tun/state.js';

type How = 'process' | 'group' | 'twice';

interopSuite('a signal during TUN start-up leaves nothing behind', { timeout: 600_000, needs: ['nft'] }, () => {
  let ns: Netns;
  let kw: WgKeyPair;
  let kp: WgKeyPair;
  let steps = 0;

  const conf = (): string => renderConf({
    privateKey: kw.privateKey, listenPort: 51870, addresses: ['10.97.0.2/24', 'fd97::2/64'],
    peers: [{ publicKey: kp.publicKey, endpoint: '127.0.0.1:51871', allowedIps: ['0.0.0.0/0', '::/0'] }],
  });

  async function leftovers(name: string): Promise<string[]> {
    const found: string[] = [];
    const rules = (await ns.exec(['ip', '-4', 'rule', 'show'])).stdout + (await ns.exec(['ip', '-6', 'rule', 'show'])).stdout;
    if (/fwmark|suppress_prefixlength/.test(rules)) found.push(`policy rules:\n${rules}`);
    const tables = (await ns.exec(['nft', 'list', 'tables'])).stdout;
    if (tables.includes('wg-quick')) found.push(`nft tables: ${tables.trim()}`);
    if ((await ns.exec(['ip', 'link', 'show', 'dev', name])).code === 0) found.push(`link ${name}`);
    if (existsSync(`${SYSTEM_STATE_DIR}/${name}.state`)) found.push(`state file ${SYSTEM_STATE_DIR}/${name}.state`);
    if (existsSync(`/var/run/wireguard/${name}.sock`)) found.push(`UAPI socket of ${name}`);
    return found;
  }

  const marks = (out: string): number => out.split('\n').filter((l) => l.startsWith('[#] ')).length;

  /** Start wgts, send the signal once `atStep` wg-quick commands have been printed, return its output. */
  async function interrupted(atStep: number, how: How): Promise<{ name: string; out: string; code: number | null }> {
    const { file } = WgtsProc.writeConf(conf());
    const name = uniqueWgtsName();
    const p = ns.spawn([process.execPath, CLI, 'up', file, '--tun', '--interface', name], { label: `wgts ${name}` });
    // Before the first step: as soon as the TUN mode line shows (the device is being created).
    await waitFor(() => {
      if (!p.running) return true;
      const out = p.output();
      // A step the first run had may be skipped now (sysctl src_valid_mark is set once): up is the last point.
      return atStep === 0 ? /TUN mode/.test(out) : marks(out) >= atStep || out.includes('UAPI socket');
    }, 30_000, `step ${atStep} of the start-up`, { intervalMs: 2 }).catch((e) => { p.killSync(); throw e; });
    if (how === 'group') p.signal('SIGINT');
    else {
      try { process.kill(p.pid, 'SIGINT'); } catch { /* exited already */ }
      if (how === 'twice') {
        await sleep(5);
        try { process.kill(p.pid, 'SIGINT'); } catch { /* exited already */ }
      }
    }
    const exit = await Promise.race([p.exited, sleep(30_000).then(() => null)]);
    if (!exit) { p.killSync(); assert.fail(`wgts did not exit within 30 s of SIGINT at step ${atStep}\n${p.output()}`); }
    return { name, out: p.output(), code: exit.code };
  }

  beforeAll(async () => {
    ns = await Netns.create('sig');
    [kw, kp] = await Promise.all([genKeyPair(), genKeyPair()]);
  }, 15_000);

  it('a full-tunnel start-up runs its wg-quick steps (the points to interrupt)', { timeout: 30_000 }, async () => {
    const w = await WgtsProc.start(ns, conf(), { mode: '--tun' });
    steps = marks(w.output());
    assert.match(w.output(), /suppress_prefixlength 0/);
    assert.equal(await w.stop(), 0);
    assert.deepEqual(await leftovers(w.name), []);
    assert.ok(steps >= 10, `expected the full-tunnel steps, saw ${steps}:\n${w.output()}`);
  });

  for (const how of ['process', 'group', 'twice'] as const) {
    it(`SIGINT (${how}) at every step of the start-up leaves nothing and says so`, { timeout: 300_000 }, async () => {
      assert.ok(steps > 0, 'the first test counted the steps');
      for (let k = 0; k <= steps; k++) {
        const r = await interrupted(k, how);
        assert.deepEqual(await leftovers(r.name), [], `SIGINT (${how}) at step ${k} left these behind; output:\n${r.out}`);
        assert.match(r.out, /SIGINT/, `SIGINT (${how}) at step ${k}: the output does not say what stopped it:\n${r.out}`);
        assert.equal(r.code, 0, `SIGINT (${how}) at step ${k}: exit code ${r.code}\n${r.out}`);
      }
    });
  }

  it('cleans up', async () => {
    await ns.destroy();
  });
});
