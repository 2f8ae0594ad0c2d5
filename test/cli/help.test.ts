// Issue 10, "every command has --help": each command in the COMMANDS table
// answers `--help` with usage text and exit 0, and every flag that text
// mentions is accepted by the command's own argument handling.
//
//   `wgts help` (lists COMMANDS) -> per command: `wgts CMD --help`
//   -> flags in the text (--[a-z-]+) -> a probe that makes the command parse
//   the flag and then stop on something else (a missing file, a missing
//   interface, --help after the flag, or parseInitArgs) -> no "unknown
//   option" error. A made-up flag through the same probe must be refused,
//   so a probe that ignores its flags cannot pass by accident.
//
// The command list comes from `wgts help`, which prints the COMMANDS table:
// importing main.js would run the CLI inside the test process.
import { describe, it } from 'vitest';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseInitArgs } from '../../src/cli/init.js';
import { parseConformanceArgs } from '../../src/cli/conformance.js';

const CLI = resolve('dist/src/cli/main.js');
const REJECTED = /unknown option|unknown argument|unexpected argument|unrecognized|invalid option/i;

interface Run { code: number | null; stdout: string; stderr: string }

function wgts(argv: string[]): Run {
  const r = spawnSync(process.execPath, [CLI, ...argv], {
    encoding: 'utf8',
    timeout: 15_000,
    input: '',
    // Keep `show` away from other users' sockets: a fresh per-user dir.
    env: { ...process.env, XDG_RUNTIME_DIR: scratch },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const scratch = mkdtempSync(join(tmpdir(), 'wgts-help-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));
const missingConf = join(scratch, 'absent', 'wgtsprobe.conf');

/** Names of the commands in COMMANDS, as `wgts help` lists them. */
function commandNames(): string[] {
  const r = wgts(['help']);
  assert.equal(r.code, 0, r.stderr);
  const names = [...r.stdout.matchAll(/^ {2}([a-z][a-z0-9-]*):/gm)].map((m) => m[1]!);
  assert.ok(names.length >= 5, `wgts help lists the commands:\n${r.stdout}`);
  return names;
}

/** Flags a help text mentions, without --help itself (run by every case). */
function flagsIn(text: string): string[] {
  const all = [...text.matchAll(/(?<![\w-])--[a-z][a-z-]*/g)].map((m) => m[0].replace(/-+$/, ''));
  return [...new Set(all)].filter((f) => f !== '--help');
}

/** Whether the help text shows `flag` followed by a value placeholder (NAME, FILE, HOST[:PORT], a|b|c, ...). */
function takesValue(text: string, flag: string): boolean {
  const esc = flag.replace(/[-]/g, '\\-');
  return new RegExp(`${esc}(?![a-z-])[ =](?:[A-Z][A-Za-z0-9._:/\\[\\]|-]*|[a-z]+(?:\\|[a-z]+)+)`).test(text);
}

/** A value the command takes for `flag` without complaint at parse time. */
function sampleValue(flag: string): string {
  const values: Record<string, string> = {
    '--log-level': 'info',
    '--interface': 'wgtsprobe',
    '--png': join(scratch, 'out.png'),
    '--svg': join(scratch, 'out.svg'),
    '--forward': 'tcp/8080',
    '--expose': 'tcp:10.0.0.2:8080=127.0.0.1:8080',
  };
  return values[flag] ?? 'x';
}

/**
 * How each command is made to parse a flag without doing anything: the argv
 * to run, and what the result must show so we know parsing got past the flag.
 * Commands whose help mentions no flag need no probe.
 */
type Probe = (flagArgs: string[]) => { check(r: Run): void; argv?: string[]; parseOnly?: () => string | undefined };

const PROBES: Record<string, Probe> = {
  // up parses every argument before it reads the file: a missing file is the first complaint.
  up: (f) => ({
    argv: ['up', missingConf, ...f],
    check: (r) => {
      assert.equal(r.code, 1);
      assert.match(r.stderr, /refused; nothing was started/, r.stderr);
    },
  }),
  // qr: the same, it stops at reading FILE (and writes nothing).
  qr: (f) => ({
    argv: ['qr', missingConf, ...f],
    check: (r) => {
      assert.equal(r.code, 1);
      assert.match(r.stderr, /wgtsprobe\.conf/, r.stderr);
    },
  }),
  // demo parses left to right; --help after the flag prints usage instead of running the demo.
  demo: (f) => ({
    argv: ['demo', ...f, '--help'],
    check: (r) => {
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^Usage: wgts demo/);
    },
  }),
  // show NAME FLAG: one name plus a recognised flag gets as far as looking NAME up.
  show: (f) => ({
    argv: ['show', 'wgtsprobe0', ...f],
    check: (r) => {
      assert.equal(r.code, 1);
      assert.match(r.stderr, /no interface named wgtsprobe0/, r.stderr);
    },
  }),
  // conformance exports its syntax parser: parse only, no packet is sent.
  conformance: (f) => ({
    parseOnly: () => {
      const p = parseConformanceArgs(['198.18.0.1:51820', ...f]);
      return p.ok ? undefined : p.error;
    },
    check: () => {},
  }),
  // init exports its parser: parse only, nothing is written.
  init: (f) => ({
    parseOnly: () => {
      const p = parseInitArgs(f);
      return p.ok ? undefined : p.error;
    },
    check: () => {},
  }),
};

/** Commands that treat an unknown flag as something else rather than refusing it. */
const NO_UNKNOWN_CHECK = new Set([
  'show', // `wgts show --bogus` looks for an interface named "--bogus"
]);

const names = commandNames();

describe('wgts CMD --help', () => {
  it('wgts help lists the commands wired in main.ts', () => {
    for (const n of ['up', 'down', 'show', 'set', 'init', 'qr', 'genkey', 'genpsk', 'pubkey', 'help']) {
      assert.ok(names.includes(n), `${n} is listed`);
    }
  });

  it('every flag in a `wgts help` summary is in that command\'s own --help', () => {
    const r = wgts(['help']);
    for (const m of r.stdout.matchAll(/^ {2}([a-z][a-z0-9-]*): (.*)$/gm)) {
      const own = flagsIn(wgts([m[1]!, '--help']).stdout);
      for (const f of flagsIn(m[2]!)) assert.ok(own.includes(f), `${m[1]}: summary mentions ${f}, its --help does not`);
    }
  });

  for (const name of names) {
    describe(name, () => {
      const help = wgts([name, '--help']);

      it('--help exits 0 with usage text on stdout', () => {
        assert.equal(help.code, 0, help.stderr);
        assert.match(help.stdout, /Usage: wgts/);
        assert.ok(help.stdout.trim().length > 'Usage: wgts'.length);
      });

      // `wgts help` prints the other commands' summaries: their flags are checked elsewhere.
      const flags = name === 'help' ? [] : flagsIn(help.stdout);
      if (flags.length === 0) return;
      const probe = PROBES[name];

      it(`has a probe for its flags (${flags.join(' ')})`, () => {
        assert.ok(probe, `add a probe for ${name} to test/cli/help.test.ts`);
      });
      if (!probe) return;

      for (const flag of flags) {
        const args = takesValue(help.stdout, flag) ? [flag, sampleValue(flag)] : [flag];
        it(`accepts ${args.join(' ')}`, () => {
          const p = probe(args);
          if (p.parseOnly) {
            const error = p.parseOnly();
            assert.equal(error, undefined, `${name} refuses ${args.join(' ')}: ${error}`);
            return;
          }
          const r = wgts(p.argv!);
          assert.doesNotMatch(r.stderr + r.stdout, REJECTED, `${name} refuses ${args.join(' ')}`);
          p.check(r);
        });
      }

      if (!NO_UNKNOWN_CHECK.has(name)) {
        it('refuses a made-up flag through the same probe', () => {
          const p = probe(['--wgts-no-such-flag']);
          if (p.parseOnly) {
            assert.match(p.parseOnly() ?? '', REJECTED);
            return;
          }
          const r = wgts(p.argv!);
          assert.equal(r.code, 1);
          assert.match(r.stderr, REJECTED, r.stderr);
        });
      }
    });
  }
});
