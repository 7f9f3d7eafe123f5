import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { resolveEtcdOptions } from '../support/internals.js';
import {
  EtcdConfigService,
  EtcdRegistryService,
  InvalidOptionsError,
  type EtcdModuleOptions,
} from '../../lib/index.js';
import { waitFor } from '../support/index.js';
import { FAST_TIMINGS, bootApp, useChaosSuite } from '../support/chaos-helpers.js';

/**
 * Hostile values in etcd (config and registry) and invalid module options: nothing crashes, each bad
 * value gives one clear log line, and the state stays consistent.
 */

const MiB = 1024 * 1024;

describe('chaos: bad input', () => {
  const suite = useChaosSuite();
  const { logs } = suite;
  let config: EtcdConfigService;
  let registry: EtcdRegistryService;

  /** Warning lines that name `needle`. */
  const warningsAbout = (needle: string) =>
    logs.lines.filter(l => l.level === 'warn' && l.message.includes(needle));

  beforeAll(async () => {
    const app = await bootApp({ hosts: suite.etcd.endpoint, ...FAST_TIMINGS });
    suite.apps.push(app);
    config = app.get(EtcdConfigService);
    registry = app.get(EtcdRegistryService);
  });

  describe('config values', () => {
    it.each([
      ['random bytes', 'bad/random', Buffer.concat([randomBytes(64), Buffer.from([0xff, 0xfe])])],
      ['invalid UTF-8', 'bad/utf8', Buffer.from([0x61, 0xc3, 0x28, 0x62])],
    ])('%s: rejected with one warning, the last good value stays', async (_name, key, bytes) => {
      await suite.raw.put(`/config/${key}`).value('good');
      await waitFor(() => config.get(key) === 'good');
      logs.clear();
      await suite.raw.put(`/config/${key}`).value(bytes);
      await suite.raw.put('/config/bad/marker').value(key);
      await waitFor(() => config.get('bad/marker') === key);
      expect(config.get(key)).toBe('good');
      expect(warningsAbout(`"${key}"`)).toHaveLength(1);
      expect(warningsAbout(`"${key}"`)[0]!.message).toMatch(/UTF-8/);
      // fixing the value is accepted again
      await suite.raw.put(`/config/${key}`).value('fixed');
      await waitFor(() => config.get(key) === 'fixed');
    });

    it('1 MiB value: accepted whole, nothing else disturbed', async () => {
      const big = 'x'.repeat(MiB);
      await suite.raw.put('/config/bad/big').value(big);
      await waitFor(() => (config.get<string>('bad/big') ?? '').length === MiB);
      expect(config.get('bad/big')).toBe(big);
      await suite.raw.put('/config/bad/after-big').value('ok');
      await waitFor(() => config.get('bad/after-big') === 'ok');
    });

    it('100k levels of nested JSON: no crash, the watch keeps working', async () => {
      const depth = 100_000;
      const deep = '['.repeat(depth) + ']'.repeat(depth);
      await suite.raw.put('/config/bad/deep').value(deep);
      await waitFor(() => config.get('bad/deep') !== undefined);
      const value = config.get('bad/deep');
      // either parsed (arrays) or kept as the raw string: never an exception out of the watch
      expect(Array.isArray(value) || value === deep).toBe(true);
      expect(() => config.getAll()).not.toThrow();
      await suite.raw.put('/config/bad/after-deep').value('ok');
      await waitFor(() => config.get('bad/after-deep') === 'ok');
    });

    it('a value failing the schema: one warning naming key and revision, last good value kept', async () => {
      await suite.raw.put('/config/bad/port').value('8080');
      await waitFor(() => config.get('bad/port') === 8080);
      const schema = {
        parse(value: unknown): number {
          if (typeof value !== 'number' || !Number.isInteger(value))
            throw new Error('expected an integer');
          return value;
        },
      };
      const port = config.getConfigValue<number>('bad/port', { schema, default: 1 });
      expect(port.value).toBe(8080);
      logs.clear();
      await suite.raw.put('/config/bad/port').value('"eighty"');
      await waitFor(() => config.get('bad/port') === 'eighty');
      expect(port.value).toBe(8080);
      const lines = warningsAbout('"bad/port"');
      expect(lines).toHaveLength(1);
      expect(lines[0]!.message).toMatch(/revision \d+/);
      expect(lines[0]!.message).toMatch(/expected an integer/);
      await suite.raw.put('/config/bad/port').value('9090');
      await waitFor(() => port.value === 9090);
    });
  });

  describe('registry values', () => {
    const bad: Record<string, string | Buffer> = {
      'not-json': 'hello {',
      'no-host-port': '{"name":"x"}',
      'host-number': '{"host":5,"port":80}',
      'port-string': '{"host":"h","port":"abc"}',
      'port-range': '{"host":"h","port":70000}',
      'negative-weight': '{"host":"h","port":80,"weight":-1}',
      'metadata-array': '{"host":"h","port":80,"metadata":[1]}',
      'not-utf8': Buffer.from([0x7b, 0xff, 0x7d]),
      'a/b': '{"host":"h","port":80}', // extra path segment
    };
    const good: Record<string, string> = {
      good: '{"host":"10.0.0.1","port":80}',
      huge: JSON.stringify({ host: '10.0.0.2', port: 81, metadata: { blob: 'm'.repeat(MiB) } }),
      'odd id-ü%$#:@': '{"host":"10.0.0.3","port":82}',
    };
    const write = async (service: string) => {
      for (const [id, value] of Object.entries({ ...bad, ...good })) {
        await suite.raw.put(`/services/${service}/${id}`).value(value);
      }
    };
    const expectedIds = Object.keys(good).sort();

    it.each([
      ['listed at first read', 'bad-list', true],
      ['arriving through the watch', 'bad-watch', false],
    ])('%s: bad ones skipped with one warning each', async (_name, service, before) => {
      logs.clear();
      if (before) await write(service);
      const first = await registry.getInstances(service);
      if (!before) {
        expect(first).toEqual([]);
        await write(service);
      }
      await waitFor(
        async () =>
          (await registry.getInstances(service))
            .map(i => i.instanceId)
            .sort()
            .join('|') === expectedIds.join('|'),
        { message: `instances of ${service}` },
      );
      const list = await registry.getInstances(service);
      expect(list.find(i => i.instanceId === 'huge')?.metadata.blob).toHaveLength(MiB);
      expect(list.find(i => i.instanceId === 'good')).toMatchObject({
        serviceName: service,
        host: '10.0.0.1',
        port: 80,
        weight: 1,
        metadata: {},
      });
      for (const id of Object.keys(bad)) {
        expect(warningsAbout(`/services/${service}/${id} `)).toHaveLength(1);
      }
      // the list keeps working: a bad key fixed and a good one removed
      await suite.raw.put(`/services/${service}/not-json`).value('{"host":"10.0.0.9","port":90}');
      await suite.raw.delete().key(`/services/${service}/good`);
      await waitFor(async () => {
        const ids = (await registry.getInstances(service)).map(i => i.instanceId);
        return ids.includes('not-json') && !ids.includes('good');
      });
    });
  });

  describe('options', () => {
    const rows: Array<[string, EtcdModuleOptions]> = [
      ['hosts', { hosts: 42 as unknown as string }],
      ['hosts', { hosts: [] }],
      ['hosts', { hosts: 'ftp://127.0.0.1:2379' }],
      ['hosts', { hosts: 'http://127.0.0.1:2379/path' }],
      ['auth', { auth: 'root:pw' as unknown as { username: string; password: string } }],
      ['auth.username', { auth: { username: '', password: 'pw' } }],
      ['auth.password', { auth: { username: 'u', password: 5 as unknown as string } }],
      [
        'credentials.rootCertificate',
        { credentials: { rootCertificate: 'pem' as unknown as Buffer } },
      ],
      [
        'credentials.certChain',
        { credentials: { rootCertificate: Buffer.from('x'), privateKey: Buffer.from('k') } },
      ],
      ['namespace', { namespace: 5 as unknown as string }],
      ['connectTimeout', { connectTimeout: -1 }],
      ['config', { config: 'yes' as unknown as false }],
      ['config.prefix', { config: { prefix: '' } }],
      ['config.snapshotFile', { config: { snapshotFile: '' } }],
      ['config.snapshotDebounce', { config: { snapshotDebounce: -5 } }],
      ['registry', { registry: 'orders' as unknown as false }],
      ['registry.serviceName', { registry: { serviceName: 'a/b' } }],
      ['registry.instanceId', { registry: { serviceName: 'a', instanceId: 'x/y' } }],
      ['registry.host', { registry: { serviceName: 'a', host: 'a b' } }],
      ['registry.port', { registry: { serviceName: 'a', port: 70000 } }],
      [
        'registry.metadata',
        { registry: { serviceName: 'a', metadata: [] as unknown as Record<string, unknown> } },
      ],
      ['registry.weight', { registry: { serviceName: 'a', weight: -1 } }],
      ['registry.ttl', { registry: { serviceName: 'a', ttl: 1 } }],
      [
        'registry.autoRegister',
        { registry: { serviceName: 'a', autoRegister: 'no' as unknown as boolean } },
      ],
      ['registry.prefix', { registry: { serviceName: 'a', prefix: '' } }],
      ['retry', { retry: 5 as unknown as EtcdModuleOptions['retry'] }],
      ['retry.initialDelay', { retry: { initialDelay: 0 } }],
      ['retry.maxDelay', { retry: { initialDelay: 500, maxDelay: 100 } }],
      ['watchStallTimeout', { watchStallTimeout: 0 }],
      ['keepaliveInterval', { keepaliveInterval: Number.NaN }],
      ['keepaliveTimeout', { keepaliveTimeout: Infinity }],
    ];

    it.each(rows)('%s: InvalidOptionsError naming it', (option, options) => {
      let error: unknown;
      try {
        resolveEtcdOptions(options, {});
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(InvalidOptionsError);
      expect((error as InvalidOptionsError).option).toBe(option);
      expect((error as Error).message).toContain(`"${option}"`);
    });

    it('env ETCD_PASSWORD without ETCD_USERNAME is refused, naming the variable', () => {
      expect(() => resolveEtcdOptions({}, { ETCD_PASSWORD: 'pw' })).toThrow(/ETCD_USERNAME/);
    });

    it('surfaces at boot, before anything connects', async () => {
      await expect(
        bootApp({ hosts: suite.etcd.endpoint, registry: { serviceName: 'a', ttl: 0 } }),
      ).rejects.toThrow(InvalidOptionsError);
    });
  });
});
