/** Shared bits for the config tests: fixture access and the fixture's known keys. */
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// dist/test/config/x.js -> test/fixtures/config/
export const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/config/', import.meta.url));

export function fixture(name: string): string {
  return readFileSync(FIXTURES + name, 'utf8');
}

/** Keys written into the fixtures; generated with `wg genkey` / `wg pubkey`. */
export const KEYS = {
  serverPriv: 'AEwk7N+rI1Sc5CsYMiYCqQ1UvRhfjKJAi1EFpJaqQnk=',
  serverPub: 'eC9X54Lv7dbboY1AwQyiWuRO5Ryu9Y3ZGO5dsSodlWQ=',
  laptopPub: 'pW0b727iQWJ/RXu43XaN43jDS9hIvGJW1UE5gqR4UwE=',
  phonePriv: 'eMH7EdZ4x20Iq3dLheZ7e2CBuh7AoPPUEWBzVyRoxUo=',
  phonePub: 'QPwn/eZg3ufmg8qHEPkgnyIPGO/8XQCFC0rbi6UovSQ=',
  routerPub: 'IpYnkF3rNaNfQ5knO+xRuy5aZkmxj12CVZVsPOId6CU=',
  psk1: 'UDO+ZCFugm9FolTylbQ4GxtneN69jVmMSepnm+uGIFA=',
  psk2: 'cIvjL3tQIiR7zjfdb6G4v7a4Qkbbpdt1XYj24ev0UXc=',
  cliPriv: 'SHw35NW0YlyKFYWBYifipx3kb50QFjsHj89LLrQ+kEs=',
};

export const WG = '/usr/bin/wg';
export const WG_QUICK = '/usr/bin/wg-quick';
export const haveWg = existsSync(WG);
export const haveWgQuick = existsSync(WG_QUICK) && process.getuid?.() === 0;

/** `wg pubkey` on a base64 private key. */
export function wgPubkey(priv: string): string {
  const r = spawnSync(WG, ['pubkey'], { input: priv + '\n', encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`wg pubkey failed: ${r.stderr}`);
  return r.stdout.trim();
}

/** Deterministic PRNG (xorshift32) so a failing fuzz case can be replayed. */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x100000000;
  };
}
