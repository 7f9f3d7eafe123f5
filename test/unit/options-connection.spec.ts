import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { InvalidOptionsError, type EtcdModuleOptions } from '../../lib/index.js';
import { resolveEtcdOptions } from '../../lib/options/etcd-options.resolver.js';

const SECRET = 's3cr3t-P@ss';

function rejected(options: EtcdModuleOptions, env: NodeJS.ProcessEnv = {}): InvalidOptionsError {
  try {
    resolveEtcdOptions(options, env);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidOptionsError);
    return err as InvalidOptionsError;
  }
  throw new Error(`expected ${JSON.stringify(options)} to be rejected`);
}

describe('registry.host (the one address rule, lib/common/host-address.ts)', () => {
  it.each([['h:8080'], ['u@h'], ['h?q'], ['h/x'], ['http://web'], ['999.1.1.1'], ['[h]'], ['']])(
    'refuses %j naming the option, the value and what is allowed',
    host => {
      const err = rejected({ registry: { serviceName: 'orders', host } });
      expect(err.option).toBe('registry.host');
      expect(err.message).toContain(JSON.stringify(host));
      expect(err.message).toMatch(
        /a DNS name, an IPv4 address or an IPv6 address \(bare or in brackets\)/,
      );
    },
  );

  it.each([
    ['orders-1.internal', 'orders-1.internal'],
    ['10.0.0.5', '10.0.0.5'],
    ['::1', '::1'],
    ['[::1]', '::1'],
  ])('accepts %j and registers %j (IPv6 bare)', (host, registered) => {
    const resolved = resolveEtcdOptions({ registry: { serviceName: 'orders', host } }, {});
    expect(resolved.registry && resolved.registry.host).toBe(registered);
  });
});

describe('credentials in ETCD_HOSTS / hosts URLs (used, never echoed)', () => {
  const url = (host: string) => `https://app:${encodeURIComponent(SECRET)}@${host}:2379`;

  it('uses them as auth when no other user is set, and strips them from the hosts', () => {
    const resolved = resolveEtcdOptions(
      {},
      { ETCD_HOSTS: `${url('e1')},${url('e2')},https://e3:2379` },
    );
    expect(resolved.hosts).toEqual(['https://e1:2379', 'https://e2:2379', 'https://e3:2379']);
    expect(resolved.auth).toEqual({ username: 'app', password: SECRET });
    expect(inspect(resolved, { depth: 5, showHidden: true })).not.toContain(SECRET);
    expect(JSON.stringify(resolved)).not.toContain(SECRET);
  });

  it('refuses them next to ETCD_USERNAME / ETCD_PASSWORD, saying why, without the password', () => {
    const err = rejected({}, { ETCD_HOSTS: url('e1'), ETCD_USERNAME: 'u', ETCD_PASSWORD: 'p' });
    expect(err.option).toBe('hosts (from env ETCD_HOSTS)');
    expect(err.message).toMatch(/credentials in one place.*ETCD_USERNAME \/ ETCD_PASSWORD/);
    expect(err.message).toContain('https://app:***@e1:2379');
    expect(err.message).not.toContain(encodeURIComponent(SECRET));
    expect(err.message).not.toContain(SECRET);
  });

  it('refuses them next to the auth option', () => {
    const err = rejected({ hosts: url('e1'), auth: { username: 'u', password: 'p' } });
    expect(err.message).toMatch(/the auth option/);
    expect(err.message).not.toContain(encodeURIComponent(SECRET));
  });

  it.each([
    ['an invalid URL', `http://app:${SECRET}@bad host:2379`],
    ['a path', `http://app:${SECRET}@h:2379/v3`],
    ['a bad scheme', `ftp://app:${SECRET}@h:2379`],
    ['a user without password', 'http://app@h:2379'],
    ['a query', `http://app:${SECRET}@h:2379?x=1`],
  ])('never echoes the password of %s', (_label, host) => {
    const err = rejected({}, { ETCD_HOSTS: host });
    expect(err.message).not.toContain(SECRET);
    expect(err.message).not.toContain(encodeURIComponent(SECRET));
    expect(err.message).toContain('ETCD_HOSTS');
  });

  it('refuses different credentials in two URLs', () => {
    const err = rejected({ hosts: [url('e1'), 'https://other:pw2@e2:2379'] });
    expect(err.message).toMatch(/the same user and password in every URL/);
    expect(err.message).not.toContain('pw2');
  });

  it('never echoes a password given as a string auth', () => {
    const err = rejected({ auth: `root:${SECRET}` as unknown as EtcdModuleOptions['auth'] });
    expect(err.message).not.toContain(SECRET);
  });
});

describe('TLS files from the environment (ETCD_CA_FILE / CERT_FILE / KEY_FILE)', () => {
  let dir: string;
  const pem = (kind: string) => `-----BEGIN ${kind}-----\nAAAA\n-----END ${kind}-----\n`;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nest-etcd-tls-env-'));
    await writeFile(join(dir, 'ca.crt'), pem('CERTIFICATE'));
    await writeFile(join(dir, 'client.crt'), pem('CERTIFICATE'));
    await writeFile(join(dir, 'client.key'), pem('PRIVATE KEY'));
    await writeFile(join(dir, 'not-pem.txt'), 'hello');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads ETCD_CA_FILE, ETCD_CERT_FILE and ETCD_KEY_FILE at resolve time', () => {
    const resolved = resolveEtcdOptions(
      {},
      {
        ETCD_CA_FILE: join(dir, 'ca.crt'),
        ETCD_CERT_FILE: join(dir, 'client.crt'),
        ETCD_KEY_FILE: join(dir, 'client.key'),
      },
    );
    expect(resolved.credentials?.rootCertificate.toString()).toBe(pem('CERTIFICATE'));
    expect(resolved.credentials?.certChain?.toString()).toBe(pem('CERTIFICATE'));
    expect(resolved.credentials?.privateKey?.toString()).toBe(pem('PRIVATE KEY'));
  });

  it('takes ETCD_CA_FILE alone (server TLS without a client certificate)', () => {
    const resolved = resolveEtcdOptions({}, { ETCD_CA_FILE: join(dir, 'ca.crt') });
    expect(resolved.credentials?.privateKey).toBeUndefined();
    expect(resolved.credentials?.rootCertificate).toBeInstanceOf(Buffer);
  });

  it('lets the credentials option win over the files', () => {
    const rootCertificate = Buffer.from('from code');
    const resolved = resolveEtcdOptions(
      { credentials: { rootCertificate } },
      { ETCD_CA_FILE: join(dir, 'missing.crt') },
    );
    expect(resolved.credentials?.rootCertificate).toBe(rootCertificate);
  });

  it('names the file that cannot be read', () => {
    const missing = join(dir, 'missing.crt');
    const err = rejected({}, { ETCD_CA_FILE: missing });
    expect(err.option).toBe('credentials.rootCertificate (from env ETCD_CA_FILE)');
    expect(err.message).toContain(missing);
    expect(err.message).toMatch(/no such file/);
  });

  it('names a key file that holds no PEM key, without showing its content', () => {
    const err = rejected(
      {},
      {
        ETCD_CA_FILE: join(dir, 'ca.crt'),
        ETCD_CERT_FILE: join(dir, 'client.crt'),
        ETCD_KEY_FILE: join(dir, 'not-pem.txt'),
      },
    );
    expect(err.option).toBe('credentials.privateKey (from env ETCD_KEY_FILE)');
    expect(err.message).toContain('not-pem.txt');
    expect(err.message).not.toContain('hello');
  });

  it('asks for both ETCD_CERT_FILE and ETCD_KEY_FILE, and for ETCD_CA_FILE with them', () => {
    expect(
      rejected({}, { ETCD_CA_FILE: join(dir, 'ca.crt'), ETCD_CERT_FILE: join(dir, 'client.crt') })
        .message,
    ).toMatch(/ETCD_KEY_FILE/);
    expect(
      rejected(
        {},
        { ETCD_CERT_FILE: join(dir, 'client.crt'), ETCD_KEY_FILE: join(dir, 'client.key') },
      ).message,
    ).toMatch(/ETCD_CA_FILE/);
  });
});
