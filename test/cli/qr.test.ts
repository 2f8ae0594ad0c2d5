/**
 * `wgts qr`: what goes into the code (only keys the phone apps accept; the
 * file byte for byte when it has nothing else), and that the PNG and the
 * terminal rendering decode back to that text with an independent decoder
 * (jsqr; PNG read with pngjs). The terminal output must not show key text.
 */
import { describe, it, afterAll } from 'vitest';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import jsqrModule from 'jsqr';
import { PNG } from 'pngjs';
import { encodeKey } from '../../src/crypto/util.js';
import { clampPrivateKey, publicKey } from '../../src/crypto/x25519.js';
import { parseConfig } from '../../src/config/parse.js';
import { runInit } from '../../src/cli/init.js';
import { QR_HELP, phoneText, renderQr, runQr } from '../../src/cli/qr.js';

// jsqr is a CommonJS bundle whose types declare an ES default export.
type Decode = typeof jsqrModule.default;
const jsQR: Decode = typeof jsqrModule === 'function' ? (jsqrModule as unknown as Decode) : jsqrModule.default;

const CLI = resolve('dist/src/cli/main.js');
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'wgts-qr-'));
  dirs.push(d);
  return d;
}

function key(): { priv: string; pub: string } {
  const k = clampPrivateKey(randomBytes(32));
  return { priv: encodeKey(k), pub: encodeKey(publicKey(k)) };
}

async function qr(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runQr(argv, (s) => (out += s), (s) => (err += s));
  return { code, out, err };
}

/** A VPS/home pair and a phone client, made by `wgts init`. */
async function setup(): Promise<string> {
  const d = tmp();
  const sink = (): void => undefined;
  assert.equal(await runInit(['--endpoint', 'vps.example.net', '--forward', 'tcp/8080', '--dir', d], sink, sink), 0);
  assert.equal(await runInit(['--peer', 'phone', '--config', join(d, 'vps.conf')], sink, sink), 0);
  return d;
}

function decodePng(png: Uint8Array): string | undefined {
  const img = PNG.sync.read(Buffer.from(png));
  return jsQR(new Uint8ClampedArray(img.data), img.width, img.height)?.data;
}

/**
 * Turns half-block terminal output back into pixels: each character is two
 * modules (upper, lower); a half is dark when its glyph half is drawn in a
 * black foreground, or left empty over a black background.
 */
function terminalToRgba(text: string): { data: Uint8ClampedArray; width: number; height: number } {
  const rows: boolean[][] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    let fg = 'default';
    let bg = 'default';
    const top: boolean[] = [];
    const bottom: boolean[] = [];
    for (let i = 0; i < line.length; ) {
      if (line[i] === '\x1b') {
        const m = /^\x1b\[([0-9;]*)m/.exec(line.slice(i))!;
        for (const c of m[1]!.split(';')) {
          if (c === '0' || c === '') { fg = 'default'; bg = 'default'; }
          else if (c === '30') fg = 'black';
          else if (c === '37') fg = 'white';
          else if (c === '40') bg = 'black';
          else if (c === '47') bg = 'white';
        }
        i += m[0].length;
        continue;
      }
      const ch = line[i++]!;
      const up = ch === '▀' || ch === '█';
      const down = ch === '▄' || ch === '█';
      top.push(up ? fg === 'black' : bg === 'black');
      bottom.push(down ? fg === 'black' : bg === 'black');
    }
    rows.push(top, bottom);
  }
  const margin = 4;
  const scale = 4;
  const w = Math.max(...rows.map((r) => r.length)) + 2 * margin;
  const h = rows.length + 2 * margin;
  const data = new Uint8ClampedArray(w * h * scale * scale * 4).fill(255);
  rows.forEach((r, y) =>
    r.forEach((dark, x) => {
      if (!dark) return;
      for (let dy = 0; dy < scale; dy++) {
        for (let dx = 0; dx < scale; dx++) {
          const o = (((y + margin) * scale + dy) * w * scale + (x + margin) * scale + dx) * 4;
          data[o] = data[o + 1] = data[o + 2] = 0;
        }
      }
    }),
  );
  return { data, width: w * scale, height: h * scale };
}

describe('wgts qr: what goes into the code', () => {
  it('a phone config made by wgts init goes in byte for byte', async () => {
    const d = await setup();
    const text = readFileSync(join(d, 'phone.conf'), 'utf8');
    const r = phoneText('phone.conf', text);
    assert.ok(r.ok);
    assert.equal(r.value.text, text);
    assert.deepEqual(r.value.omitted, []);
  });

  it('leaves out [Forward]/[Expose] and wg-quick-only keys, naming them (not their values)', () => {
    const k = key();
    const p = key();
    const text = [
      '[Interface]',
      `PrivateKey = ${k.priv}`,
      'Address = 10.0.0.2/24',
      'Table = off',
      'PostUp = echo secret-command',
      'DNS = 1.1.1.1',
      '',
      '[Peer]',
      `PublicKey = ${p.pub}`,
      'AllowedIPs = 10.0.0.1/32',
      'Endpoint = 192.0.2.1:51820',
      '',
      '[Expose]',
      'Protocol = tcp',
      'Listen = 10.0.0.2:8080',
      'Target = 127.0.0.1:8080',
      '',
    ].join('\n');
    const r = phoneText('home.conf', text);
    assert.ok(r.ok);
    assert.deepEqual(r.value.omitted, ['Table (line 4)', 'PostUp (line 5)', '[Expose] (line 13)']);
    assert.ok(!r.value.omitted.join().includes('secret-command'));
    const lines = r.value.text.split('\n');
    assert.ok(!lines.some((l) => /Table|PostUp|Expose|Listen|Target|Protocol/.test(l)), r.value.text);
    const again = parseConfig('home.conf', r.value.text);
    assert.ok(again.ok);
    const orig = parseConfig('home.conf', text);
    assert.ok(orig.ok);
    assert.deepEqual(again.config.iface.privateKey, orig.config.iface.privateKey);
    assert.deepEqual(again.config.iface.addresses, orig.config.iface.addresses);
    assert.deepEqual(again.config.iface.dns, orig.config.iface.dns);
    assert.deepEqual(again.config.peers.map((x) => ({ ...x, line: 0 })), orig.config.peers.map((x) => ({ ...x, line: 0 })));
  });

  it('refuses a config that does not parse, without echoing its values', async () => {
    const d = tmp();
    const f = join(d, 'broken.conf');
    writeFileSync(f, '[Interface]\nPrivateKey = c2VjcmV0LXZhbHVlLXRoYXQtaXMtbm90LWEta2V5Cg==\n');
    const r = await qr([f]);
    assert.equal(r.code, 1);
    assert.match(r.err, /does not parse/);
    assert.ok(!r.err.includes('c2VjcmV0'));
    assert.equal(r.out, '');
  });
});

describe('wgts qr: rendering', () => {
  it('the PNG file decodes (jsqr) to the config byte for byte, mode 0600, no overwrite', async () => {
    const d = await setup();
    const conf = join(d, 'phone.conf');
    const png = join(d, 'phone.png');
    const r = await qr([conf, '--png', png]);
    assert.equal(r.code, 0, r.err);
    assert.equal(statSync(png).mode & 0o777, 0o600);
    assert.equal(decodePng(readFileSync(png)), readFileSync(conf, 'utf8'));
    const again = await qr([conf, '--png', png]);
    assert.equal(again.code, 1);
    assert.match(again.err, /already exists/);
    assert.equal((await qr([conf, '--png', png, '--force'])).code, 0);
  });

  it('a config with [Forward] sections decodes to the stripped text', async () => {
    const d = await setup();
    const vps = readFileSync(join(d, 'vps.conf'), 'utf8');
    const expected = phoneText('vps.conf', vps);
    assert.ok(expected.ok);
    assert.ok(expected.value.omitted.some((o) => o.startsWith('[Forward]')));
    assert.equal(decodePng(await renderQr(expected.value.text, 'png')), expected.value.text);
    const r = await qr([join(d, 'vps.conf'), '--svg', join(d, 'vps.svg')]);
    assert.equal(r.code, 0);
    assert.match(r.err, /left out of the QR code.*\[Forward\] \(line \d+\)/);
    assert.match(readFileSync(join(d, 'vps.svg'), 'utf8'), /^<svg /);
  });

  it('terminal output decodes to the config and shows no key text', async () => {
    const d = await setup();
    const conf = join(d, 'phone.conf');
    const text = readFileSync(conf, 'utf8');
    const r = await qr([conf]);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.err, '');
    assert.ok(r.out.length > 0);
    assert.match(r.out, /[▀▄█]/);
    const priv = /PrivateKey = (\S+)/.exec(text)![1]!;
    assert.ok(!r.out.includes(priv));
    assert.ok(!/[A-Za-z0-9+/]{16}/.test(r.out), 'no base64-looking text at all');
    const img = terminalToRgba(r.out);
    assert.equal(jsQR(img.data, img.width, img.height)?.data, text);
  });

  it('via the CLI: help lists the flags; bad usage fails; a missing file is named', () => {
    for (const f of QR_HELP.match(/--[a-z]+/g)!) assert.ok(['--png', '--svg', '--force'].includes(f), f);
    const h = spawnSync(process.execPath, [CLI, 'qr', '--help'], { encoding: 'utf8' });
    assert.equal(h.status, 0);
    assert.equal(h.stdout, QR_HELP);
    const m = spawnSync(process.execPath, [CLI, 'qr', '/nonexistent/x.conf'], { encoding: 'utf8' });
    assert.equal(m.status, 1);
    assert.match(m.stderr, /cannot read \/nonexistent\/x\.conf: ENOENT/);
    const both = spawnSync(process.execPath, [CLI, 'qr', 'a.conf', '--png', 'a.png', '--svg', 'a.svg'], { encoding: 'utf8' });
    assert.equal(both.status, 1);
    assert.ok(!existsSync('a.png') && !existsSync('a.svg'));
  });
});
