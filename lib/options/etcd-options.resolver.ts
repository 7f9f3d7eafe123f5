import { isServiceName } from '../common/names.js';
import { InvalidOptionsError } from '../errors/invalid-options.error.js';
import { resolveConnectionOptions } from './connection-options.resolver.js';
import type { EtcdModuleOptions } from './etcd-module-options.interface.js';
import { rejectUnknownKeys } from './known-option-keys.js';
import { resolveDiscoveryOptions, resolveRegistry } from './registry-options.resolver.js';
import type { ResolvedEtcdOptions } from './resolved-etcd-options.interface.js';

/*
 * Option resolution: defaults (including the environment) and validation of EtcdModuleOptions.
 *
 * To add an option:
 * 1. declare it, with TSDoc and `@default`, in etcd-module-options.interface.ts;
 * 2. add its key to KNOWN_OPTION_KEYS (known-option-keys.ts, under its level; a new nested object gets a new
 *    level), or it is rejected as a typo (test/unit/options-unknown-keys.spec.ts checks that every
 *    key declared in the interfaces is listed);
 * 3. add its resolved form to ResolvedEtcdOptions (resolved-etcd-options.interface.ts);
 * 4. validate it and apply its default in resolveEtcdOptions() (or the resolveX() of its group; the
 *    registry and discovery groups in registry-options.resolver.ts),
 *    throwing InvalidOptionsError(option path, given value, what is allowed) on a bad value;
 * 5. add a case to test/unit/options.spec.ts.
 */

/** Watch resumes without a `retry` option: client-go's reflector (800 ms doubling to 30 s). */
const DEFAULT_WATCH_RETRY = { initialDelay: 800, maxDelay: 30_000 };

/** Member-list sync interval (clientv3's AutoSyncInterval as commonly set). */
const DEFAULT_AUTO_SYNC_INTERVAL_MS = 30_000;

/**
 * Applies defaults (including the `ETCD_HOSTS`, `ETCD_USERNAME`, `ETCD_PASSWORD`, `ETCD_CA_FILE`,
 * `ETCD_CERT_FILE`, `ETCD_KEY_FILE` environment variables: connection-options.resolver.ts)
 * and validates every option, throwing {@link InvalidOptionsError} on the first bad one.
 * @internal
 */
export function resolveEtcdOptions(
  raw: EtcdModuleOptions | undefined,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedEtcdOptions {
  if (raw !== undefined && (raw === null || typeof raw !== 'object')) {
    throw new InvalidOptionsError('options', raw, 'an options object');
  }
  const options: EtcdModuleOptions = raw ?? {};
  rejectUnknownKeys(options);

  const { hosts, auth, credentials } = resolveConnectionOptions(options, env);
  const namespace = optionalString('namespace', options.namespace) ?? '';
  const connectTimeout = positiveNumber('connectTimeout', options.connectTimeout, 5000);

  const config = resolveConfig(options.config, env);
  const registryPrefix =
    options.registry &&
    typeof options.registry === 'object' &&
    options.registry.prefix !== undefined
      ? prefixString('registry.prefix', options.registry.prefix)
      : '/services/';
  const registry = resolveRegistry(options.registry);

  if (
    options.retry !== undefined &&
    (options.retry === null || typeof options.retry !== 'object')
  ) {
    throw new InvalidOptionsError('retry', options.retry, 'an object { initialDelay?, maxDelay? }');
  }
  const initialDelay = positiveNumber('retry.initialDelay', options.retry?.initialDelay, 100);
  const maxDelay = positiveNumber('retry.maxDelay', options.retry?.maxDelay, 3000);
  if (maxDelay < initialDelay) {
    throw new InvalidOptionsError(
      'retry.maxDelay',
      maxDelay,
      `a number >= retry.initialDelay (${initialDelay})`,
    );
  }

  return {
    hosts,
    auth,
    credentials,
    namespace,
    connectTimeout,
    config,
    registry,
    registryPrefix,
    discovery: resolveDiscoveryOptions(options, env),
    retry: { initialDelay, maxDelay },
    watchRetry: options.retry !== undefined ? { initialDelay, maxDelay } : DEFAULT_WATCH_RETRY,
    autoSyncEndpoints: resolveAutoSync(options.autoSyncEndpoints),
    watchStallTimeout: positiveNumber('watchStallTimeout', options.watchStallTimeout, 60_000),
    keepaliveInterval: positiveNumber('keepaliveInterval', options.keepaliveInterval, 10_000),
    keepaliveTimeout: positiveNumber('keepaliveTimeout', options.keepaliveTimeout, 5_000),
    metrics: resolveMetrics(options.metrics),
  };
}

function resolveAutoSync(value: unknown): ResolvedEtcdOptions['autoSyncEndpoints'] {
  if (value === undefined || value === true) return { interval: DEFAULT_AUTO_SYNC_INTERVAL_MS };
  if (value === false) return false;
  if (value === null || typeof value !== 'object') {
    throw new InvalidOptionsError(
      'autoSyncEndpoints',
      value,
      'true, false or an object { interval?: number }',
    );
  }
  const interval = (value as { interval?: unknown }).interval;
  return {
    interval: positiveNumber('autoSyncEndpoints.interval', interval, DEFAULT_AUTO_SYNC_INTERVAL_MS),
  };
}

function resolveConfig(
  value: EtcdModuleOptions['config'],
  env: NodeJS.ProcessEnv,
): ResolvedEtcdOptions['config'] {
  if (value === false) return false;
  if (value !== undefined && (value === null || typeof value !== 'object')) {
    throw new InvalidOptionsError('config', value, 'false or an object { prefix?, snapshotFile? }');
  }
  const options = value ?? {};
  const prefix =
    options.prefix === undefined ? '/config/' : prefixString('config.prefix', options.prefix);
  const snapshotFile = optionalString('config.snapshotFile', options.snapshotFile);
  if (snapshotFile === '') {
    throw new InvalidOptionsError('config.snapshotFile', snapshotFile, 'a file path');
  }
  const snapshotDebounce = nonNegativeNumber(
    'config.snapshotDebounce',
    options.snapshotDebounce,
    1000,
  );
  const shared = resolveShared(options.shared, prefix);
  const profiles = resolveProfiles(options.profiles, env);
  const nestConfig = options.nestConfig ?? false;
  if (typeof nestConfig !== 'boolean') {
    throw new InvalidOptionsError('config.nestConfig', nestConfig, 'true or false');
  }
  const report = options.report ?? true;
  if (typeof report !== 'boolean') {
    throw new InvalidOptionsError('config.report', report, 'true or false');
  }
  const reportPrefix =
    options.reportPrefix === undefined
      ? '/config-status/'
      : prefixString('config.reportPrefix', options.reportPrefix);
  const maxValueBytes = options.maxValueBytes ?? 1024 * 1024;
  if (typeof maxValueBytes !== 'number' || !Number.isInteger(maxValueBytes) || maxValueBytes < 1) {
    throw new InvalidOptionsError(
      'config.maxValueBytes',
      maxValueBytes,
      'a positive whole number of bytes',
    );
  }
  return {
    prefix,
    snapshotFile,
    snapshotDebounce,
    shared,
    profiles,
    nestConfig,
    report,
    reportPrefix,
    maxValueBytes,
  };
}

function resolveShared(value: unknown, prefix: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    throw new InvalidOptionsError(
      'config.shared',
      value,
      "an array of key prefixes like ['/config/shared/']",
    );
  }
  const shared = value.map((item, index) => prefixString(`config.shared[${index}]`, item));
  for (const [index, item] of shared.entries()) {
    if (item === prefix) {
      throw new InvalidOptionsError(
        `config.shared[${index}]`,
        item,
        `a prefix other than the app's own prefix "${prefix}"`,
      );
    }
    if (shared.indexOf(item) !== index) {
      throw new InvalidOptionsError(`config.shared[${index}]`, item, 'prefixes listed once');
    }
  }
  return shared;
}

function resolveProfiles(value: unknown, env: NodeJS.ProcessEnv): string[] {
  let list: unknown[];
  let option = 'config.profiles';
  if (value === undefined) {
    const fromEnv = env.ETCD_CONFIG_PROFILES?.trim();
    if (!fromEnv) return [];
    option = 'config.profiles (from env ETCD_CONFIG_PROFILES)';
    list = fromEnv
      .split(',')
      .map(profile => profile.trim())
      .filter(profile => profile.length > 0);
  } else if (Array.isArray(value)) {
    list = value;
  } else {
    throw new InvalidOptionsError(option, value, "an array of profile names like ['canary']");
  }
  const profiles: string[] = [];
  for (const profile of list) {
    if (!isServiceName(profile)) {
      throw new InvalidOptionsError(
        option,
        profile,
        'profile names of letters, digits, ".", "_" or "-" (no "/" or "@")',
      );
    }
    if (!profiles.includes(profile)) profiles.push(profile);
  }
  return profiles;
}

function optionalString(option: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new InvalidOptionsError(option, value, 'a string');
  return value;
}

function prefixString(option: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new InvalidOptionsError(option, value, "a non-empty key prefix such as '/config/'");
  }
  return value.endsWith('/') ? value : `${value}/`;
}

function positiveNumber(option: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new InvalidOptionsError(option, value, 'a positive number of milliseconds');
  }
  return value;
}

function nonNegativeNumber(option: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new InvalidOptionsError(option, value, 'a number of milliseconds >= 0');
  }
  return value;
}

function resolveMetrics(value: EtcdModuleOptions['metrics']): ResolvedEtcdOptions['metrics'] {
  if (value === undefined || value === false) return false;
  if (value === true) return {};
  if (value === null || typeof value !== 'object') {
    throw new InvalidOptionsError('metrics', value, 'true, false or { registry }');
  }
  const registry = value.registry;
  if (
    registry !== undefined &&
    (registry === null ||
      typeof registry !== 'object' ||
      typeof registry.metrics !== 'function' ||
      typeof registry.getSingleMetric !== 'function')
  ) {
    throw new InvalidOptionsError('metrics.registry', registry, 'a prom-client Registry');
  }
  return { registry };
}
