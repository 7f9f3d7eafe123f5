import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import { InvalidOptionsError } from '../errors/invalid-options.error.js';
import type { EtcdModuleOptions } from './etcd-module-options.interface.js';
import type { ResolvedEtcdOptions } from './resolved-etcd-options.interface.js';

/*
 * How the module reaches etcd: `hosts` (env ETCD_HOSTS), `auth` (env ETCD_USERNAME / ETCD_PASSWORD,
 * or credentials in the hosts' URLs) and TLS `credentials` (env ETCD_CA_FILE / ETCD_CERT_FILE /
 * ETCD_KEY_FILE). No error and no resolved value ever holds a password in a form that prints.
 */

const DEFAULT_HOST = 'http://127.0.0.1:2379';

/** The connection part of {@link ResolvedEtcdOptions}. @internal */
export type ResolvedConnectionOptions = Pick<ResolvedEtcdOptions, 'hosts' | 'auth' | 'credentials'>;

/**
 * Resolves `hosts`, `auth` and `credentials` with their environment defaults.
 *
 * Credentials in a host URL (`https://user:pass@etcd-1:2379`) are used as `auth` when neither the
 * `auth` option nor ETCD_USERNAME / ETCD_PASSWORD is set; every URL that carries some must carry the
 * same; they are removed from the hosts. With `auth` set as well they are refused (two sources of
 * truth), and the message never shows the password.
 * @internal
 */
export function resolveConnectionOptions(
  options: EtcdModuleOptions,
  env: NodeJS.ProcessEnv,
): ResolvedConnectionOptions {
  const { hosts, option, urlAuth } = resolveHosts(options.hosts, env);
  let auth = resolveAuth(options.auth, env);
  if (urlAuth) {
    if (auth) {
      throw new InvalidOptionsError(
        option,
        urlAuth.shown,
        `credentials in one place: the URL carries a user, and so does ${
          options.auth === undefined ? 'ETCD_USERNAME / ETCD_PASSWORD' : 'the auth option'
        }; remove one of them`,
      );
    }
    auth = hiddenPassword(urlAuth.username, urlAuth.password);
  }
  return { hosts, auth, credentials: resolveCredentials(options.credentials, env) };
}

/**
 * A host as it may be shown: the password of a `user:pass@` part replaced by `***` (also in a
 * string that is not a valid URL).
 * @internal
 */
export function redactHost(host: string): string {
  const at = host.lastIndexOf('@');
  if (at < 0) return host;
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(host)?.[0] ?? '';
  const userInfo = host.slice(scheme.length, at);
  const colon = userInfo.indexOf(':');
  if (colon < 0) return host;
  return `${scheme}${userInfo.slice(0, colon)}:***${host.slice(at)}`;
}

interface UrlAuth {
  username: string;
  password: string;
  /** The first URL that carried them, password hidden. */
  shown: string;
}

function resolveHosts(
  value: unknown,
  env: NodeJS.ProcessEnv,
): { hosts: string[]; option: string; urlAuth?: UrlAuth } {
  let list: unknown[];
  let option = 'hosts';
  if (value === undefined) {
    const fromEnv = env.ETCD_HOSTS?.trim();
    if (!fromEnv) return { hosts: [DEFAULT_HOST], option };
    option = 'hosts (from env ETCD_HOSTS)';
    list = fromEnv.split(',').map(h => h.trim());
  } else if (typeof value === 'string') {
    list = [value];
  } else if (Array.isArray(value)) {
    list = value;
  } else {
    throw new InvalidOptionsError(
      'hosts',
      typeof value === 'object' && value !== null ? `<${typeof value}>` : value,
      "a URL string or an array of URLs like 'http://127.0.0.1:2379'",
    );
  }
  if (list.length === 0) {
    throw new InvalidOptionsError(option, value, "at least one URL like 'http://127.0.0.1:2379'");
  }
  let urlAuth: UrlAuth | undefined;
  const hosts = list.map(host => {
    if (typeof host !== 'string' || host.length === 0) {
      throw new InvalidOptionsError(
        option,
        host,
        "non-empty URL strings like 'http://127.0.0.1:2379'",
      );
    }
    const shown = redactHost(host);
    const withScheme = /^[a-z]+:\/\//i.test(host) ? host : `http://${host}`;
    let url: URL;
    try {
      url = new URL(withScheme);
    } catch {
      throw new InvalidOptionsError(option, shown, "a URL like 'http://127.0.0.1:2379'");
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new InvalidOptionsError(option, shown, 'an http:// or https:// URL');
    }
    if (!url.hostname || (url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) {
      throw new InvalidOptionsError(
        option,
        shown,
        "a URL with a host and port only, like 'http://127.0.0.1:2379'",
      );
    }
    if (url.username || url.password) {
      const found = urlCredentials(url, option, shown);
      if (urlAuth && (urlAuth.username !== found.username || urlAuth.password !== found.password)) {
        throw new InvalidOptionsError(
          option,
          shown,
          'the same user and password in every URL that carries one (or none in the URLs: use ETCD_USERNAME / ETCD_PASSWORD)',
        );
      }
      urlAuth ??= found;
    }
    const port = url.port || '2379';
    return `${url.protocol}//${url.hostname}:${port}`;
  });
  return { hosts, option, urlAuth };
}

function urlCredentials(url: URL, option: string, shown: string): UrlAuth {
  if (!url.username || !url.password) {
    throw new InvalidOptionsError(
      option,
      shown,
      "both a user and a password in the URL ('https://user:password@host:2379'), or neither",
    );
  }
  try {
    return {
      username: decodeURIComponent(url.username),
      password: decodeURIComponent(url.password),
      shown,
    };
  } catch {
    throw new InvalidOptionsError(
      option,
      shown,
      'a user and password percent-encoded as in any URL (e.g. %40 for "@")',
    );
  }
}

function resolveAuth(
  value: EtcdModuleOptions['auth'] | undefined,
  env: NodeJS.ProcessEnv,
): ResolvedEtcdOptions['auth'] {
  if (value === undefined) {
    const username = env.ETCD_USERNAME;
    const password = env.ETCD_PASSWORD;
    if (username && password !== undefined) return hiddenPassword(username, password);
    if (password && !username) {
      throw new InvalidOptionsError(
        'auth.username (from env ETCD_USERNAME)',
        username,
        'a user name when ETCD_PASSWORD is set',
      );
    }
    return undefined;
  }
  if (value === null || typeof value !== 'object') {
    throw new InvalidOptionsError(
      'auth',
      typeof value === 'string' ? '<string>' : value,
      'an object { username, password }',
    );
  }
  if (typeof value.username !== 'string' || value.username.length === 0) {
    throw new InvalidOptionsError('auth.username', value.username, 'a non-empty string');
  }
  if (typeof value.password !== 'string') {
    // never echo anything that might be a secret
    throw new InvalidOptionsError('auth.password', `<${typeof value.password}>`, 'a string');
  }
  return hiddenPassword(value.username, value.password);
}

/**
 * The resolved credentials, with the password kept out of `inspect()` (even with `showHidden`),
 * `console.log` and `JSON.stringify` of every object that holds the resolved options.
 */
function hiddenPassword(
  username: string,
  password: string,
): { username: string; password: string } {
  const auth = { username, password };
  const redacted = () => ({ username, password: '[hidden]' });
  Object.defineProperty(auth, inspect.custom, { value: redacted, enumerable: false });
  Object.defineProperty(auth, 'toJSON', { value: redacted, enumerable: false });
  return auth;
}

/** The TLS files of the environment, in the order of `credentials`' fields. */
const TLS_FILES = [
  ['rootCertificate', 'ETCD_CA_FILE', 'CERTIFICATE'],
  ['certChain', 'ETCD_CERT_FILE', 'CERTIFICATE'],
  ['privateKey', 'ETCD_KEY_FILE', 'PRIVATE KEY'],
] as const;

function resolveCredentials(
  value: EtcdModuleOptions['credentials'],
  env: NodeJS.ProcessEnv,
): ResolvedEtcdOptions['credentials'] {
  if (value === undefined) return credentialsFromFiles(env);
  if (value === null || typeof value !== 'object') {
    throw new InvalidOptionsError(
      'credentials',
      value,
      'an object { rootCertificate, privateKey?, certChain? } of Buffers',
    );
  }
  if (!Buffer.isBuffer(value.rootCertificate)) {
    throw new InvalidOptionsError(
      'credentials.rootCertificate',
      value.rootCertificate,
      'a Buffer holding a PEM CA certificate',
    );
  }
  for (const field of ['privateKey', 'certChain'] as const) {
    if (value[field] !== undefined && !Buffer.isBuffer(value[field])) {
      throw new InvalidOptionsError(
        `credentials.${field}`,
        `<${typeof value[field]}>`,
        'a Buffer holding PEM data',
      );
    }
  }
  if ((value.privateKey === undefined) !== (value.certChain === undefined)) {
    throw new InvalidOptionsError(
      value.privateKey === undefined ? 'credentials.privateKey' : 'credentials.certChain',
      undefined,
      'both privateKey and certChain for a client certificate, or neither',
    );
  }
  return {
    rootCertificate: value.rootCertificate,
    privateKey: value.privateKey,
    certChain: value.certChain,
  };
}

/**
 * `credentials` from ETCD_CA_FILE / ETCD_CERT_FILE / ETCD_KEY_FILE (read now, at resolve time: a
 * file that cannot be read fails the boot with an error naming it; a rotated certificate is taken
 * at the next start).
 */
function credentialsFromFiles(env: NodeJS.ProcessEnv): ResolvedEtcdOptions['credentials'] {
  const paths = TLS_FILES.map(([, name]) => env[name]?.trim() || undefined);
  if (paths.every(path => path === undefined)) return undefined;
  const [caFile, certFile, keyFile] = paths;
  if (caFile === undefined) {
    throw new InvalidOptionsError(
      'credentials.rootCertificate (from env ETCD_CA_FILE)',
      undefined,
      'ETCD_CA_FILE (the CA that signed the etcd server certificate) whenever ETCD_CERT_FILE / ETCD_KEY_FILE are set',
    );
  }
  if ((certFile === undefined) !== (keyFile === undefined)) {
    const missing = certFile === undefined ? 'ETCD_CERT_FILE' : 'ETCD_KEY_FILE';
    throw new InvalidOptionsError(
      `${certFile === undefined ? 'credentials.certChain' : 'credentials.privateKey'} (from env ${missing})`,
      undefined,
      'both ETCD_CERT_FILE and ETCD_KEY_FILE for a client certificate, or neither',
    );
  }
  const [rootCertificate, certChain, privateKey] = TLS_FILES.map(([field, name, pem], index) => {
    const path = paths[index];
    return path === undefined ? undefined : readPem(`credentials.${field}`, name, path, pem);
  });
  return { rootCertificate: rootCertificate!, certChain, privateKey };
}

function readPem(field: string, name: string, path: string, pem: string): Buffer {
  const option = `${field} (from env ${name})`;
  let content: Buffer;
  try {
    content = readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new InvalidOptionsError(
      option,
      path,
      `a readable PEM file (reading it failed: ${code === 'ENOENT' ? 'no such file' : code})`,
    );
  }
  // a private key file's content is never shown, only whether it looks like PEM
  if (!content.includes(`-----BEGIN `) || !content.includes(pem)) {
    throw new InvalidOptionsError(option, path, `a PEM file holding a ${pem.toLowerCase()}`);
  }
  return content;
}
