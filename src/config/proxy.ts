/**
 * The proxy sections, spelled as wireproxy spells them so its users' files
 * run unchanged: [Socks5] and [http], each with BindAddress, Username and
 * Password. The proxies themselves live in src/proxy.
 *
 *   BindAddress = ip:port | [v6]:port    (default 127.0.0.1 when only a port: ":1080")
 *   Username / Password                  both or neither; Password is a secret
 *   -> ProxyConfig, with a warning when a non-loopback address has no credentials
 */
import { canonicalIp, splitHostPort } from './addr.js';
import type { Issues } from './issues.js';
import type { KeyParsed, SectionInput, SectionSpec } from './schema.js';
import { fail, ok } from './values.js';

export type ProxyKind = 'socks5' | 'http';

export interface ProxyConfig {
  kind: ProxyKind;
  bind: { host: string; port: number };
  /** Both set, or neither (no authentication). */
  username?: string;
  password?: string;
}

/** BindAddress: an address of this host and a port; ":port" and "localhost:port" mean 127.0.0.1. */
export function parseBind(v: string): KeyParsed<{ host: string; port: number }> {
  const s = v.startsWith(':') ? `127.0.0.1${v}` : v.toLowerCase().startsWith('localhost:') ? `127.0.0.1${v.slice('localhost'.length)}` : v;
  const split = splitHostPort(s, {
    noPort: 'missing port; use ADDRESS:PORT such as 127.0.0.1:1080',
    noHost: 'missing address before ":"',
    unbracketedV6: 'an IPv6 address needs brackets: [addr]:port',
  });
  if (!split.ok) return split;
  const ip = canonicalIp(split.value.host);
  if (!ip) return fail('the address must be an IP address of this host, such as 127.0.0.1 (names are not looked up)');
  const port = /^[0-9]{1,5}$/.test(split.value.port) ? Number(split.value.port) : NaN;
  if (!(port >= 0 && port <= 65535)) return fail('port must be an integer 1-65535 (0: any free port, shown by wgts show)');
  return ok({ host: ip.ip, port });
}

function parseText(what: string): (v: string) => KeyParsed<string> {
  return (v) => (v.length === 0 ? fail(`${what} is empty`) : v.length > 255 ? fail(`${what} is longer than 255 bytes (the SOCKS5 limit, RFC 1929)`) : ok(v));
}

export function isLoopback(host: string): boolean {
  return host === '::1' || host.startsWith('127.');
}

function proxySection(kind: ProxyKind, name: string, what: string): SectionSpec<ProxyConfig> {
  return {
    name,
    repeatable: true,
    keys: {
      BindAddress: { parse: parseBind },
      Username: { parse: parseText('Username') },
      Password: { parse: parseText('Password'), secret: true },
    },
    build(input: SectionInput, issues: Issues): ProxyConfig | undefined {
      const bind = input.one<{ host: string; port: number }>('BindAddress');
      const user = input.one<string>('Username');
      const pass = input.one<string>('Password');
      if (!bind) {
        if (!input.refused('BindAddress')) issues.error(input.line, 'BindAddress', `[${name}] needs BindAddress = ADDRESS:PORT (where the ${what} listens, e.g. 127.0.0.1:${kind === 'socks5' ? 1080 : 8080})`);
        return undefined;
      }
      if ((user === undefined) !== (pass === undefined) && !input.refused('Username') && !input.refused('Password')) {
        issues.error(user?.line ?? pass?.line ?? input.line, user ? 'Password' : 'Username', `[${name}] needs both Username and Password, or neither`);
        return undefined;
      }
      if (!user && !isLoopback(bind.value.host)) {
        issues.warn(bind.line, 'BindAddress', `the ${what} on ${bind.value.host} has no Username/Password: anyone who can reach that address can use it to open connections into the tunnel (an open proxy); add credentials or bind to 127.0.0.1`);
      }
      return { kind, bind: bind.value, ...(user && pass ? { username: user.value, password: pass.value } : {}) };
    },
    serialize(p: ProxyConfig): [string, string][] {
      const host = p.bind.host.includes(':') ? `[${p.bind.host}]` : p.bind.host;
      return [['BindAddress', `${host}:${p.bind.port}`], ...(p.username ? ([['Username', p.username], ['Password', p.password!]] as [string, string][]) : [])];
    },
  };
}

export const socks5Section = proxySection('socks5', 'Socks5', 'SOCKS5 proxy');
export const httpProxySection = proxySection('http', 'http', 'HTTP proxy');

/** The proxies a config asks for, in file order by kind. */
export function proxiesOf(cfg: { extensions: Record<string, unknown[]> }): ProxyConfig[] {
  return [...(cfg.extensions['Socks5'] ?? []), ...(cfg.extensions['http'] ?? [])] as ProxyConfig[];
}
