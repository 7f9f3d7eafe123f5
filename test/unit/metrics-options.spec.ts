import { OptionalDependencyMissingError } from '../../lib/errors/optional-dependency-missing.error.js';
import { EtcdMetrics } from '../../lib/metrics/etcd-metrics.js';
import { resolveEtcdOptions } from '../../lib/options/etcd-options.resolver.js';
import { InvalidOptionsError } from '../../lib/index.js';

describe('metrics option', () => {
  it('is off by default; true means the default registry; a registry must look like one', () => {
    expect(resolveEtcdOptions({}, {}).metrics).toBe(false);
    expect(resolveEtcdOptions({ metrics: true }, {}).metrics).toEqual({});
    expect(() => resolveEtcdOptions({ metrics: { registry: {} as never } }, {})).toThrow(
      InvalidOptionsError,
    );
    expect(() => resolveEtcdOptions({ metrics: 'yes' as never }, {})).toThrow(/metrics/);
  });

  it('asking for metrics without prom-client installed names the package to install', async () => {
    const options = resolveEtcdOptions({ metrics: true }, {});
    const unused = {} as never;
    const missing = () => Promise.reject(new Error("Cannot find package 'prom-client'"));
    const created = EtcdMetrics.create(options, unused, unused, unused, unused, unused, missing);
    await expect(created).rejects.toThrow(OptionalDependencyMissingError);
    await expect(created).rejects.toThrow(/'metrics'.*prom-client.*npm install prom-client/);
  });
});
