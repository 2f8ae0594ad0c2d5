/**
 * wireproxy's tunnel sections, spelled as wireproxy spells them so its
 * users' files run unchanged (the tunnels themselves live in src/proxy):
 *
 *   [TCPClientTunnel]  BindAddress, Target   local listener -> Target inside the tunnel
 *   [TCPServerTunnel]  ListenPort, Target    our tunnel Address(es):ListenPort -> Target on this host
 *   [UDPProxyTunnel]   BindAddress, Target, InactivityTimeout   local UDP <-> Target inside the tunnel
 *   [STDIOTunnel]      Target                this process's stdin/stdout <-> Target inside the tunnel
 *
 * A Target is host:port; a name is looked up when a connection is made
 * (inside the tunnel through DNS =, or on this host for TCPServerTunnel).
 */
import { parseEndpoint } from './addr.js';
import type { Issues } from './issues.js';
import { isLoopback, parseBind } from './proxy.js';
import type { KeyParsed, KeySpec, SectionInput, SectionSpec } from './schema.js';
import type { Endpoint } from './types.js';
import { fail, intRange, ok } from './values.js';

export type TunnelSectionConfig =
  | { kind: 'tcp-client'; bind: Endpoint; target: Endpoint }
  | { kind: 'tcp-server'; port: number; target: Endpoint }
  | { kind: 'udp'; bind: Endpoint; target: Endpoint; inactivityTimeout: number }
  | { kind: 'stdio'; target: Endpoint };

/** Seconds an idle [UDPProxyTunnel] client keeps its tunnel socket when InactivityTimeout is not given. */
export const UDP_INACTIVITY_DEFAULT_S = 60;

function parseTarget(v: string): KeyParsed<Endpoint> {
  const r = parseEndpoint(v);
  return r.ok ? ok(r.value) : fail(`${r.error} (Target is host:port, e.g. 10.0.0.2:22 or ssh.internal:22)`);
}

const targetKey: KeySpec<Endpoint> = { parse: parseTarget };
const bindKey: KeySpec<Endpoint> = { parse: parseBind };

type Kind = TunnelSectionConfig['kind'];

function need<T>(input: SectionInput, issues: Issues, section: string, key: string, example: string): T | undefined {
  const f = input.one<T>(key);
  if (!f && !input.refused(key)) issues.error(input.line, key, `[${section}] needs ${key} (${example})`);
  return f?.value;
}

function openWarning(input: SectionInput, issues: Issues, bind: Endpoint, what: string): void {
  if (isLoopback(bind.host)) return;
  issues.warn(input.one('BindAddress')?.line ?? input.line, 'BindAddress', `the ${what} on ${bind.host} takes connections from anyone who can reach that address and carries them into the tunnel; bind to 127.0.0.1 unless that is meant`);
}

function endpointText(e: Endpoint): string {
  return e.host.includes(':') ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`;
}

function tunnelSection(name: string, kind: Kind, keys: Record<string, KeySpec<any>>, build: (input: SectionInput, issues: Issues) => TunnelSectionConfig | undefined): SectionSpec<TunnelSectionConfig> {
  return {
    name,
    repeatable: kind !== 'stdio',
    keys,
    build,
    serialize(t: TunnelSectionConfig): [string, string][] {
      const out: [string, string][] = [];
      if ('bind' in t) out.push(['BindAddress', endpointText(t.bind)]);
      if (t.kind === 'tcp-server') out.push(['ListenPort', String(t.port)]);
      out.push(['Target', endpointText(t.target)]);
      if (t.kind === 'udp' && t.inactivityTimeout !== UDP_INACTIVITY_DEFAULT_S) out.push(['InactivityTimeout', String(t.inactivityTimeout)]);
      return out;
    },
  };
}

export const tcpClientTunnelSection = tunnelSection('TCPClientTunnel', 'tcp-client', { BindAddress: bindKey, Target: targetKey }, (input, issues) => {
  const bind = need<Endpoint>(input, issues, 'TCPClientTunnel', 'BindAddress', 'where it listens on this host, e.g. 127.0.0.1:2222');
  const target = need<Endpoint>(input, issues, 'TCPClientTunnel', 'Target', 'host:port inside the tunnel, e.g. 10.0.0.2:22');
  if (!bind || !target) return undefined;
  openWarning(input, issues, bind, 'TCP client tunnel');
  return { kind: 'tcp-client', bind, target };
});

export const tcpServerTunnelSection = tunnelSection('TCPServerTunnel', 'tcp-server', { ListenPort: { parse: intRange(1, 65535) }, Target: targetKey }, (input, issues) => {
  const port = need<number>(input, issues, 'TCPServerTunnel', 'ListenPort', 'the port on our tunnel Address, e.g. 8080');
  const target = need<Endpoint>(input, issues, 'TCPServerTunnel', 'Target', 'host:port on this host, e.g. localhost:8080');
  if (port === undefined || !target) return undefined;
  return { kind: 'tcp-server', port, target };
});

export const udpProxyTunnelSection = tunnelSection(
  'UDPProxyTunnel',
  'udp',
  { BindAddress: bindKey, Target: targetKey, InactivityTimeout: { parse: intRange(0, 86400) } },
  (input, issues) => {
    const bind = need<Endpoint>(input, issues, 'UDPProxyTunnel', 'BindAddress', 'where it listens on this host, e.g. 127.0.0.1:5353');
    const target = need<Endpoint>(input, issues, 'UDPProxyTunnel', 'Target', 'host:port inside the tunnel, e.g. 10.0.0.1:53');
    if (!bind || !target) return undefined;
    openWarning(input, issues, bind, 'UDP proxy tunnel');
    return { kind: 'udp', bind, target, inactivityTimeout: input.one<number>('InactivityTimeout')?.value ?? UDP_INACTIVITY_DEFAULT_S };
  },
);

export const stdioTunnelSection = tunnelSection('STDIOTunnel', 'stdio', { Target: targetKey }, (input, issues) => {
  const target = need<Endpoint>(input, issues, 'STDIOTunnel', 'Target', 'host:port inside the tunnel, e.g. ssh.internal:22');
  return target ? { kind: 'stdio', target } : undefined;
});

export const TUNNEL_SECTIONS = ['TCPClientTunnel', 'TCPServerTunnel', 'UDPProxyTunnel', 'STDIOTunnel'] as const;

/** The tunnel sections of a config, in the order above. */
export function tunnelsOf(cfg: { extensions: Record<string, unknown[]> }): TunnelSectionConfig[] {
  return TUNNEL_SECTIONS.flatMap((n) => (cfg.extensions[n] ?? []) as TunnelSectionConfig[]);
}
