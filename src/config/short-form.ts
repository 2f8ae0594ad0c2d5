/**
 * The command-line short form of [Forward] / [Expose]:
 *
 *   --forward PROTO:LISTEN=TARGET[,Key=Value...]
 *   --forward tcp:0.0.0.0:8080=10.0.0.2:8080
 *   --forward tcp,udp:[::]:6000-6010=10.0.0.2:6000-6010,Source=client
 *   --expose  tcp:10.0.0.2:8080=127.0.0.1:8080,ProxyProtocol=v2
 *
 * PROTO is tcp, udp or tcp,udp (also tcp+udp); LISTEN and TARGET are
 * written as in the config file; options are the section's other keys
 * (any case). Each piece goes through the section's own key parser and
 * rule builder (forward.ts), so a short-form rule equals the
 * rule of the same section and errors read the same, prefixed with the
 * argument instead of file:line. shortFormText() (src/nat/rule.ts) prints a rule
 * back in this form with every option spelled out.
 */
import { buildRule, checkRules, keysFor, type CheckedRule, type RuleReport } from './forward.js';
import { show } from './issues.js';
import { keyId, SectionInput, type Field } from './schema.js';
import { closest } from './suggest.js';
import type { WgConfig } from './types.js';
import { formatHostPorts, headText, type NatKind, type NatRule } from '../nat/rule.js';

export type ShortFormResult = { ok: true; rule: NatRule; warnings: string[] } | { ok: false; errors: string[]; warnings: string[] };

const POSITIONAL = ['Protocol', 'Listen', 'Target'];

export function shortFormUsage(kind: NatKind): string {
  return kind === 'forward'
    ? '--forward PROTO:LISTEN=TARGET[,Key=Value...], e.g. --forward tcp:0.0.0.0:8080=10.0.0.2:8080'
    : '--expose PROTO:LISTEN=TARGET[,Key=Value...], e.g. --expose tcp:10.0.0.2:8080=127.0.0.1:8080';
}

/** Parses one --forward / --expose value. Never throws. */
export function parseShortForm(kind: NatKind, arg: string): ShortFormResult {
  const head = `--${kind} ${show(arg)}`;
  const errors: string[] = [];
  const warnings: string[] = [];
  const colon = arg.indexOf(':');
  const eq = arg.indexOf('=');
  if (colon < 0 || eq < colon) {
    return { ok: false, errors: [`${head}: expected ${shortFormUsage(kind)}`], warnings };
  }
  const [target = '', ...opts] = arg.slice(eq + 1).split(',');
  const pieces: [string, string][] = [
    ['Protocol', arg.slice(0, colon)],
    ['Listen', arg.slice(colon + 1, eq)],
    ['Target', target],
  ];
  const keys = keysFor(kind);
  const optionNames = Object.keys(keys).filter((k) => !POSITIONAL.includes(k));
  for (const o of opts) {
    const oeq = o.indexOf('=');
    const name = oeq < 0 ? o : o.slice(0, oeq);
    const canon = optionNames.find((k) => keyId(k) === keyId(name));
    if (oeq < 0 || canon === undefined) {
      if (oeq < 0) errors.push(`${head}: option ${show(o)} needs a value: Key=Value`);
      else if (POSITIONAL.some((k) => keyId(k) === keyId(name))) errors.push(`${head}: ${name} is given by position (PROTO:LISTEN=TARGET), not as an option`);
      else {
        const near = closest(name, optionNames);
        const other = kind === 'expose' && keyId(name) === 'source' ? 'Source is for --forward only' : undefined;
        errors.push(`${head}: unknown option ${show(name)} (${other ?? (near ? `did you mean ${near}?` : `options: ${optionNames.join(', ')}`)})`);
      }
      continue;
    }
    if (pieces.some(([k]) => k === canon)) {
      errors.push(`${head}: ${canon} is given twice`);
      continue;
    }
    pieces.push([canon, o.slice(oeq + 1)]);
  }
  const fields = new Map<string, Field<unknown>[]>();
  const failed = new Set<string>();
  for (const [key, value] of pieces) {
    const r = keys[key]!.parse(value);
    if (!r.ok) {
      errors.push(`${head}: ${key} = ${show(value)}: ${r.error}`);
      failed.add(key);
      continue;
    }
    for (const n of r.notes ?? []) warnings.push(`${head}: ${n}`);
    fields.set(key, [{ value: r.value, line: 0 }]);
  }
  const report: RuleReport = {
    error: (_k, m) => errors.push(`${head}: ${m}`),
    warn: (_k, m) => warnings.push(`${head}: ${m}`),
  };
  const rule = buildRule(kind, new SectionInput(0, fields, failed), report);
  if (errors.length > 0 || !rule) return { ok: false, errors, warnings };
  return { ok: true, rule, warnings };
}

/**
 * The config-level checks for command-line rules: against the interface,
 * each other, and the rules of the same kind already in the file (which
 * were checked by the parser and are not reported again).
 */
export function checkShortFormRules(
  kind: NatKind,
  items: readonly { rule: NatRule; arg: string }[],
  cfg: Pick<WgConfig, 'iface' | 'peers' | 'extensions'>,
): { errors: string[]; warnings: string[] } {
  const errors: string[] = [];
  const warnings: string[] = [];
  const silent: RuleReport = { error: () => {}, warn: () => {} };
  const section = kind === 'forward' ? 'Forward' : 'Expose';
  const fromFile = (cfg.extensions[section] ?? []) as NatRule[];
  const checked: CheckedRule[] = [
    ...fromFile.map((rule) => ({ rule, report: silent, label: `the [${section}] with Listen = ${formatHostPorts(rule.listen, rule.ports)}` })),
    ...items.map(({ rule, arg }) => {
      const head = `--${kind} ${show(arg)}`;
      return {
        rule,
        label: `--${kind} ${headText(rule)}`,
        report: { error: (_k: string | undefined, m: string) => errors.push(`${head}: ${m}`), warn: (_k: string | undefined, m: string) => warnings.push(`${head}: ${m}`) },
      };
    }),
  ];
  checkRules(kind, checked, cfg);
  return { errors, warnings };
}
