import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { EtcdModule, InvalidOptionsError, type EtcdModuleOptions } from '../../lib/index.js';
import { resolveEtcdOptions } from '../../lib/options/etcd-options.resolver.js';

/** An environment with none of the ETCD_* variables, so the tests do not depend on the shell. */
const NO_ENV: NodeJS.ProcessEnv = {};

function invalid(options: unknown, env: NodeJS.ProcessEnv = NO_ENV): InvalidOptionsError {
  try {
    resolveEtcdOptions(options as EtcdModuleOptions, env);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidOptionsError);
    return err as InvalidOptionsError;
  }
  throw new Error(`expected ${JSON.stringify(options)} to be rejected`);
}

interface Case {
  title: string;
  options: unknown;
  option: string;
  /** Text the message must contain to show the value that was given. */
  shows: string;
  /** Text the message must contain to say what is allowed. */
  allowed: RegExp;
}

const buf = Buffer.from('pem');

const cases: Case[] = [
  {
    title: 'hosts that is not a URL',
    options: { hosts: 'http://not a host:2379' },
    option: 'hosts',
    shows: '"http://not a host:2379"',
    allowed: /URL/,
  },
  {
    title: 'hosts with a non-http scheme',
    options: { hosts: ['ftp://127.0.0.1:2379'] },
    option: 'hosts',
    shows: '"ftp://127.0.0.1:2379"',
    allowed: /http:\/\/ or https:\/\//,
  },
  {
    title: 'hosts with a path',
    options: { hosts: 'http://127.0.0.1:2379/v3' },
    option: 'hosts',
    shows: '"http://127.0.0.1:2379/v3"',
    allowed: /host and port only/,
  },
  {
    title: 'an empty hosts array',
    options: { hosts: [] },
    option: 'hosts',
    shows: 'an array of 0',
    allowed: /at least one URL/,
  },
  {
    title: 'an empty host string',
    options: { hosts: '' },
    option: 'hosts',
    shows: '""',
    allowed: /non-empty URL/,
  },
  {
    title: 'hosts of the wrong type',
    options: { hosts: 2379 },
    option: 'hosts',
    shows: '2379',
    allowed: /URL string or an array/,
  },
  {
    title: 'auth without a password',
    options: { auth: { username: 'root' } },
    option: 'auth.password',
    shows: 'undefined',
    allowed: /a string/,
  },
  {
    title: 'auth without a user name',
    options: { auth: { username: '', password: 'pw' } },
    option: 'auth.username',
    shows: '""',
    allowed: /non-empty string/,
  },
  {
    title: 'auth that is not an object',
    options: { auth: 'root:pw' },
    option: 'auth',
    shows: '"<string>"', // a string here may be 'user:password': never echoed
    allowed: /username, password/,
  },
  {
    title: 'a rootCertificate that is not a Buffer',
    options: { credentials: { rootCertificate: '-----BEGIN CERTIFICATE-----' } },
    option: 'credentials.rootCertificate',
    shows: '"-----BEGIN CERTIFICATE-----"',
    allowed: /Buffer/,
  },
  {
    title: 'a privateKey that is not a Buffer',
    options: { credentials: { rootCertificate: buf, privateKey: 'key', certChain: buf } },
    option: 'credentials.privateKey',
    shows: 'string',
    allowed: /Buffer/,
  },
  {
    title: 'a certChain without a privateKey',
    options: { credentials: { rootCertificate: buf, certChain: buf } },
    option: 'credentials.privateKey',
    shows: 'undefined',
    allowed: /both privateKey and certChain/,
  },
  {
    title: 'credentials that are not an object',
    options: { credentials: 'tls' },
    option: 'credentials',
    shows: '"tls"',
    allowed: /Buffers/,
  },
  {
    title: 'a namespace that is not a string',
    options: { namespace: 42 },
    option: 'namespace',
    shows: '42',
    allowed: /a string/,
  },
  {
    title: 'connectTimeout of 0',
    options: { connectTimeout: 0 },
    option: 'connectTimeout',
    shows: '0',
    allowed: /positive number/,
  },
  {
    title: 'a negative connectTimeout',
    options: { connectTimeout: -5 },
    option: 'connectTimeout',
    shows: '-5',
    allowed: /positive number/,
  },
  {
    title: 'config.prefix empty',
    options: { config: { prefix: '' } },
    option: 'config.prefix',
    shows: '""',
    allowed: /non-empty key prefix/,
  },
  {
    title: 'config that is not an object',
    options: { config: 'yes' },
    option: 'config',
    shows: '"yes"',
    allowed: /false or an object/,
  },
  {
    title: 'an empty config.snapshotFile',
    options: { config: { snapshotFile: '' } },
    option: 'config.snapshotFile',
    shows: '""',
    allowed: /file path/,
  },
  {
    title: 'config.shared that is not an array',
    options: { config: { shared: '/shared/' } },
    option: 'config.shared',
    shows: '"/shared/"',
    allowed: /array of key prefixes/,
  },
  {
    title: "config.shared naming the app's own prefix",
    options: { config: { shared: ['/config/'] } },
    option: 'config.shared[0]',
    shows: '"/config/"',
    allowed: /other than the app's own prefix/,
  },
  {
    title: 'a config.profiles name with a slash',
    options: { config: { profiles: ['canary/eu'] } },
    option: 'config.profiles',
    shows: '"canary/eu"',
    allowed: /profile names/,
  },
  {
    title: 'config.nestConfig that is not a boolean',
    options: { config: { nestConfig: 'yes' } },
    option: 'config.nestConfig',
    shows: '"yes"',
    allowed: /true or false/,
  },
  {
    title: 'registry.serviceName with a slash',
    options: { registry: { serviceName: 'orders/v2' } },
    option: 'registry.serviceName',
    shows: '"orders/v2"',
    allowed: /no "\/"/,
  },
  {
    title: 'registry without a serviceName',
    options: { registry: {} },
    option: 'registry.serviceName',
    shows: 'undefined',
    allowed: /non-empty name/,
  },
  {
    title: 'registry.instanceId with a slash',
    options: { registry: { serviceName: 'orders', instanceId: 'a/b' } },
    option: 'registry.instanceId',
    shows: '"a/b"',
    allowed: /no "\/"/,
  },
  {
    title: 'registry.ttl below 2',
    options: { registry: { serviceName: 'orders', ttl: 1 } },
    option: 'registry.ttl',
    shows: '1',
    allowed: />= 2/,
  },
  {
    title: 'a fractional registry.ttl',
    options: { registry: { serviceName: 'orders', ttl: 2.5 } },
    option: 'registry.ttl',
    shows: '2.5',
    allowed: /integer/,
  },
  {
    title: 'registry.port 0',
    options: { registry: { serviceName: 'orders', port: 0 } },
    option: 'registry.port',
    shows: '0',
    allowed: /1 to 65535/,
  },
  {
    title: 'registry.port above 65535',
    options: { registry: { serviceName: 'orders', port: 70000 } },
    option: 'registry.port',
    shows: '70000',
    allowed: /1 to 65535/,
  },
  {
    title: 'a negative registry.weight',
    options: { registry: { serviceName: 'orders', weight: -1 } },
    option: 'registry.weight',
    shows: '-1',
    allowed: />= 0/,
  },
  {
    title: 'registry.metadata as an array',
    options: { registry: { serviceName: 'orders', metadata: ['zone-a'] } },
    option: 'registry.metadata',
    shows: 'an array of 1',
    allowed: /plain object/,
  },
  {
    title: 'a registry.host with a slash',
    options: { registry: { serviceName: 'orders', host: 'http://web' } },
    option: 'registry.host',
    shows: '"http://web"',
    allowed: /a DNS name, an IPv4 address or an IPv6 address/,
  },
  {
    title: 'an empty registry.prefix',
    options: { registry: { serviceName: 'orders', prefix: '' } },
    option: 'registry.prefix',
    shows: '""',
    allowed: /non-empty key prefix/,
  },
  {
    title: 'registry.autoRegister that is not a boolean',
    options: { registry: { serviceName: 'orders', autoRegister: 'yes' } },
    option: 'registry.autoRegister',
    shows: '"yes"',
    allowed: /true or false/,
  },
  {
    title: 'a negative registry.drainDelay',
    options: { registry: { serviceName: 'orders', drainDelay: -5 } },
    option: 'registry.drainDelay',
    shows: '-5',
    allowed: /integer number of ms >= 0/,
  },
  {
    title: 'retry.maxDelay below retry.initialDelay',
    options: { retry: { initialDelay: 500, maxDelay: 100 } },
    option: 'retry.maxDelay',
    shows: '100',
    allowed: />= retry.initialDelay \(500\)/,
  },
  {
    title: 'a negative retry.initialDelay',
    options: { retry: { initialDelay: -1 } },
    option: 'retry.initialDelay',
    shows: '-1',
    allowed: /positive number/,
  },
  {
    title: 'autoSyncEndpoints that is neither a boolean nor an object',
    options: { autoSyncEndpoints: 'yes' },
    option: 'autoSyncEndpoints',
    shows: '"yes"',
    allowed: /true, false or an object/,
  },
  {
    title: 'autoSyncEndpoints.interval of 0',
    options: { autoSyncEndpoints: { interval: 0 } },
    option: 'autoSyncEndpoints.interval',
    shows: '0',
    allowed: /positive number/,
  },
  {
    title: 'watchStallTimeout of 0',
    options: { watchStallTimeout: 0 },
    option: 'watchStallTimeout',
    shows: '0',
    allowed: /positive number/,
  },
  {
    title: 'options that are not an object',
    options: 'http://127.0.0.1:2379',
    option: 'options',
    shows: '"http://127.0.0.1:2379"',
    allowed: /options object/,
  },
];

describe('resolveEtcdOptions: validation', () => {
  it.each(cases)('rejects $title', ({ options, option, shows, allowed }) => {
    const err = invalid(options);
    expect(err.name).toBe('InvalidOptionsError');
    expect(err.option).toBe(option);
    expect(err.allowed).toMatch(allowed);
    expect(err.message).toContain(`"${option}"`);
    expect(err.message).toContain(shows);
    expect(err.message).toContain(err.allowed);
  });

  it('never echoes a password given with the wrong type', () => {
    const err = invalid({ auth: { username: 'root', password: 123456789 } });
    expect(err.option).toBe('auth.password');
    expect(err.message).not.toContain('123456789');
  });

  it('accepts the boundaries of every range', () => {
    const resolved = resolveEtcdOptions(
      {
        hosts: ['127.0.0.1:2379', 'https://etcd-2:2380'],
        connectTimeout: 1,
        registry: { serviceName: 'a.b_c-d', port: 65535, weight: 0, ttl: 2, host: '10.0.0.1' },
        retry: { initialDelay: 100, maxDelay: 100 },
      },
      NO_ENV,
    );
    expect(resolved.hosts).toEqual(['http://127.0.0.1:2379', 'https://etcd-2:2380']);
    expect(resolved.registry).toMatchObject({ port: 65535, weight: 0, ttl: 2 });
    expect(resolved.retry).toEqual({ initialDelay: 100, maxDelay: 100 });
  });
});

describe('resolveEtcdOptions: defaults', () => {
  it('uses http://127.0.0.1:2379, no auth, /config/ and /services/ when nothing is given', () => {
    const resolved = resolveEtcdOptions(undefined, NO_ENV);
    expect(resolved.hosts).toEqual(['http://127.0.0.1:2379']);
    expect(resolved.auth).toBeUndefined();
    expect(resolved.namespace).toBe('');
    expect(resolved.connectTimeout).toBe(5000);
    expect(resolved.config).toMatchObject({ prefix: '/config/' });
    expect(resolved.registry).toBe(false);
    expect(resolved.registryPrefix).toBe('/services/');
    // Watches resume with client-go's reflector backoff; the member list is followed every 30 s.
    expect(resolved.watchRetry).toEqual({ initialDelay: 800, maxDelay: 30_000 });
    expect(resolved.autoSyncEndpoints).toEqual({ interval: 30_000 });
  });

  it('a retry option also sets the watch backoff; autoSyncEndpoints can be turned off or timed', () => {
    const retry = { initialDelay: 50, maxDelay: 500 };
    expect(resolveEtcdOptions({ retry }, NO_ENV).watchRetry).toEqual(retry);
    expect(resolveEtcdOptions({ autoSyncEndpoints: false }, NO_ENV).autoSyncEndpoints).toBe(false);
    expect(
      resolveEtcdOptions({ autoSyncEndpoints: { interval: 500 } }, NO_ENV).autoSyncEndpoints,
    ).toEqual({ interval: 500 });
  });

  it('reads ETCD_HOSTS as a comma separated list', () => {
    const resolved = resolveEtcdOptions(
      {},
      { ETCD_HOSTS: 'http://10.0.0.1:2379, http://10.0.0.2:2379 ,https://10.0.0.3:2379' },
    );
    expect(resolved.hosts).toEqual([
      'http://10.0.0.1:2379',
      'http://10.0.0.2:2379',
      'https://10.0.0.3:2379',
    ]);
  });

  it('prefers the hosts option over ETCD_HOSTS', () => {
    const resolved = resolveEtcdOptions(
      { hosts: 'http://127.0.0.1:1234' },
      { ETCD_HOSTS: 'http://10.0.0.1:2379' },
    );
    expect(resolved.hosts).toEqual(['http://127.0.0.1:1234']);
  });

  it('names ETCD_HOSTS when a host from the environment is bad', () => {
    const err = invalid({}, { ETCD_HOSTS: 'http://10.0.0.1:2379,ftp://10.0.0.2' });
    expect(err.option).toBe('hosts (from env ETCD_HOSTS)');
    expect(err.message).toContain('ETCD_HOSTS');
    expect(err.message).toContain('"ftp://10.0.0.2"');
  });

  it('reads ETCD_USERNAME and ETCD_PASSWORD', () => {
    const resolved = resolveEtcdOptions({}, { ETCD_USERNAME: 'app', ETCD_PASSWORD: 's3cret' });
    expect(resolved.auth).toEqual({ username: 'app', password: 's3cret' });
  });

  it('prefers the auth option over the environment', () => {
    const resolved = resolveEtcdOptions(
      { auth: { username: 'root', password: 'pw' } },
      { ETCD_USERNAME: 'app', ETCD_PASSWORD: 's3cret' },
    );
    expect(resolved.auth).toEqual({ username: 'root', password: 'pw' });
  });

  it('rejects ETCD_PASSWORD without ETCD_USERNAME, without echoing the password', () => {
    const err = invalid({}, { ETCD_PASSWORD: 's3cret' });
    expect(err.option).toContain('ETCD_USERNAME');
    expect(err.message).not.toContain('s3cret');
  });

  it('ignores ETCD_USERNAME alone', () => {
    expect(resolveEtcdOptions({}, { ETCD_USERNAME: 'app' }).auth).toBeUndefined();
  });

  it('completes the config and registry prefixes with a trailing slash', () => {
    const resolved = resolveEtcdOptions(
      { config: { prefix: '/cfg' }, registry: { serviceName: 'orders', prefix: '/svc' } },
      NO_ENV,
    );
    expect(resolved.config).toMatchObject({ prefix: '/cfg/' });
    expect(resolved.registry).toMatchObject({ ttl: 10, weight: 1, drainDelay: 0 });
    expect(resolved.registryPrefix).toBe('/svc/');
  });

  it('config layers: shared prefixes completed, profiles from the option or ETCD_CONFIG_PROFILES', () => {
    expect(resolveEtcdOptions({}, NO_ENV).config).toMatchObject({
      shared: [],
      profiles: [],
      nestConfig: false,
    });
    expect(
      resolveEtcdOptions({ config: { shared: ['/shared'], profiles: ['canary'] } }, NO_ENV).config,
    ).toMatchObject({ shared: ['/shared/'], profiles: ['canary'] });
    expect(
      resolveEtcdOptions({}, { ETCD_CONFIG_PROFILES: ' canary, eu ,canary' }).config,
    ).toMatchObject({ profiles: ['canary', 'eu'] });
    // The option wins over the environment.
    expect(
      resolveEtcdOptions({ config: { profiles: [] } }, { ETCD_CONFIG_PROFILES: 'canary' }).config,
    ).toMatchObject({ profiles: [] });
    expect(() => resolveEtcdOptions({}, { ETCD_CONFIG_PROFILES: 'can@ry' })).toThrow(
      /config\.profiles \(from env ETCD_CONFIG_PROFILES\)/,
    );
  });
});

describe('EtcdModule.forRoot with invalid options', () => {
  it('fails compile() with the same InvalidOptionsError, before any connection is tried', async () => {
    @Module({ imports: [EtcdModule.forRoot({ registry: { serviceName: 'orders', ttl: 1 } })] })
    class AppModule {}
    const compiled = Test.createTestingModule({ imports: [AppModule] }).compile();
    await expect(compiled).rejects.toBeInstanceOf(InvalidOptionsError);
    await expect(compiled).rejects.toThrow(/"registry\.ttl": got 1; expected .*>= 2/);
  });

  it('fails compile() for a bad option returned by forRootAsync', async () => {
    @Module({
      imports: [EtcdModule.forRootAsync({ useFactory: () => ({ connectTimeout: -1 }) })],
    })
    class AppModule {}
    const compiled = Test.createTestingModule({ imports: [AppModule] }).compile();
    await expect(compiled).rejects.toThrow(InvalidOptionsError);
    await expect(compiled).rejects.toThrow(/"connectTimeout": got -1/);
  });
});
