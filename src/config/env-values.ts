/**
 * wireproxy's environment values: in the keys wireproxy reads as strings
 * (listed below, by section), a value `$NAME` is the environment variable
 * NAME and `$$text` is the literal `$text`. The parser does no IO: the
 * variable is asked for through ParseOptions.secrets (kind 'env'), which
 * loadConfigFile answers from the environment, as for PrivateKeyEnv.
 *
 *   "Target = $DB" -> envValue() -> secrets({ kind: 'env', ref: 'DB' }) -> "10.0.0.5:5432" -> the key's parser
 *   "Password = $$x" -> "$x"       unset / empty / no loader -> file:line error naming the variable
 *
 * Other keys (ListenPort, MTU, PersistentKeepalive, PresharedKey, the
 * wg-quick hooks, wgts's own sections) keep a leading `$` as written, as
 * wireproxy does for the numeric keys and as the hooks' shell expects.
 */
import { show, type Issues } from './issues.js';
import { trimAscii } from './lexer.js';
import type { ParseOptions } from './types.js';

const TUNNEL_KEYS = ['BindAddress', 'Target', 'Username', 'Password'];
const ENV_KEYS: Readonly<Record<string, readonly string[]>> = {
  Interface: ['PrivateKey', 'Address', 'DNS', 'CheckAlive'],
  Peer: ['PublicKey', 'Endpoint', 'AllowedIPs'],
  Socks5: TUNNEL_KEYS,
  http: TUNNEL_KEYS,
  TCPClientTunnel: TUNNEL_KEYS,
  TCPServerTunnel: TUNNEL_KEYS,
  UDPProxyTunnel: TUNNEL_KEYS,
  STDIOTunnel: TUNNEL_KEYS,
};

const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `$NAME`: a reference to a variable (not a secret itself). */
export function isEnvRef(value: string): boolean {
  return value.startsWith('$') && VAR_NAME.test(value.slice(1));
}

/** Does this key of this section take `$NAME` values? */
export function takesEnv(section: string, key: string): boolean {
  return ENV_KEYS[section]?.includes(key) ?? false;
}

/**
 * The value a `$`-value stands for, or undefined after reporting why there
 * is none. `secret`: the variable's text is scrubbed from every message.
 */
export function envValue(value: string, key: string, line: number, opts: ParseOptions, issues: Issues, secret: boolean): string | undefined {
  if (value.startsWith('$$')) return value.slice(1);
  const name = value.slice(1);
  const head = `${key} = ${show(value)}`;
  if (!VAR_NAME.test(name)) {
    issues.error(line, key, `${head}: after "$" comes an environment variable name (letters, digits, _), or write "$$" for a literal "$"`);
    return undefined;
  }
  const got = opts.secrets?.({ key, kind: 'env', ref: name, line });
  if (!got) {
    issues.error(line, key, `${head}: environment variables are read only when the config is loaded from its file (wgts up); here give the value itself`);
    return undefined;
  }
  if (!got.ok) {
    issues.error(line, key, `${head}: ${got.error}`);
    return undefined;
  }
  if (secret) {
    issues.addSecret(got.text);
    issues.addSecret(trimAscii(got.text));
  }
  return trimAscii(got.text);
}
