import type { Logger } from '@nestjs/common';
import type { EtcdConnection } from '../client/etcd-connection.js';
import { isTlsFailure } from '../client/etcd-errors.classifier.js';
import { within } from '../common/timing.js';
import { EtcdConnectionError } from '../errors/etcd-connection.error.js';
import { EtcdUnavailableError } from '../errors/etcd-unavailable.error.js';
import type { ResolvedEtcdOptions } from '../options/resolved-etcd-options.interface.js';
import type { InformerPool } from '../watch/informer-pool.js';
import { bootInjected, decodeInjected } from './config-boot.js';
import type { ConfigFanout } from './config-fanout.js';
import type { ConfigHistory } from './config-history.js';
import { ConfigOfflineKeeper } from './config-offline.js';
import type { ConfigReport } from './config-report.js';
import { ConfigSource, type ConfigSources } from './config-source.js';
import { ConfigStore } from './config-store.js';
import type { ConfigRejection } from './config-value.interface.js';

/** The config center's options when it is on. @internal */
export type EnabledConfigOptions = Exclude<ResolvedEtcdOptions['config'], false>;

/** What {@link startConfig} needs of the config center (EtcdConfigService). @internal */
export interface ConfigStartupHost {
  readonly config: EnabledConfigOptions;
  readonly options: ResolvedEtcdOptions;
  readonly connection: EtcdConnection;
  readonly informers: InformerPool;
  /** The watched prefixes; each source is added here. */
  readonly sources: ConfigSources;
  readonly fanout: ConfigFanout;
  readonly report: ConfigReport;
  readonly past: ConfigHistory;
  readonly logger: Logger;
  /** Released when the module stops. */
  readonly subscriptions: Array<{ unsubscribe(): void }>;
  /** Why etcd was unreachable at boot (the boot state), when the module may boot from its snapshot. */
  readonly bootError: EtcdConnectionError | undefined;
  /** The revision of the config served (the snapshot file is written at it). */
  currentRevision(): number;
  /** A value refused a revision (reported and streamed by the service). */
  refuse(rejection: ConfigRejection): void;
  /** The store and snapshot keeper are made: the service holds them from here on (before any watch). */
  opened(store: ConfigStore, keeper: ConfigOfflineKeeper): void;
}

/**
 * The boot sequence of the config center: the store and the snapshot keeper made, one watch per
 * prefix (shared ones, then the app's own), every key loaded before the app finishes `init()`. With
 * etcd down and a valid snapshot file it serves the snapshot and catches up in the background. The
 * one place that decides an offline boot.
 * @throws EtcdConnectionError (TLS-classified) or the mapped read error when etcd did not answer in
 * time and there is no snapshot to serve.
 * @internal
 */
export async function startConfig(host: ConfigStartupHost): Promise<void> {
  const { config, options, fanout, report, past } = host;
  const prefixes = [...config.shared, config.prefix];
  // Both built before any watch is opened: a source may call back at once.
  const made: { keeper?: ConfigOfflineKeeper } = {};
  /** Schedules a write of the snapshot file, once every watch has synced. */
  const saveSnapshot = (): void => {
    if (!host.sources.synced) return;
    made.keeper?.save(() => host.currentRevision());
  };
  const store = new ConfigStore(
    prefixes,
    config.profiles,
    host.logger,
    (changes, revision) => fanout.publish(changes, revision),
    rejection => host.refuse(rejection),
    {
      maxValueBytes: config.maxValueBytes,
      isRead: key => fanout.isRead(key),
      // A revision decoded or checked off the loop: the snapshot file and the status are due.
      onDecoded: () => {
        saveSnapshot();
        report.touched();
      },
      history: etcdKey => past.historyOf(etcdKey, 1_000, text => ({ ok: true, value: text })),
    },
  );
  const keeper = new ConfigOfflineKeeper(
    config,
    `${options.namespace}${config.prefix}`,
    store,
    host.logger,
    entry => fanout.acceptedText(entry),
  );
  made.keeper = keeper;
  host.opened(store, keeper);
  for (const prefix of prefixes) watchSource(host, prefix, store, keeper, saveSnapshot);
  if (host.sources.synced) return bootOnline(host, store, keeper);

  const bootError = host.bootError;
  const loaded =
    bootError === undefined &&
    (await within(host.sources.ready(), options.connectTimeout).then(
      result => result.settled,
      () => false,
    ));
  if (loaded || host.sources.synced) return bootOnline(host, store, keeper);
  const snapshot = keeper.read();
  if (snapshot) {
    const why = bootError instanceof EtcdConnectionError ? bootError.cause : host.sources.lastError;
    keeper.boot(snapshot, why, options.hosts, options.connectTimeout);
    await decodeInjected(store, options.connectTimeout);
    for (const value of fanout.values.values()) value.apply(fanout.effectiveOf(value.key));
    return;
  }
  if (bootError) throw bootError;
  throw bootFailure(host.sources.lastError, options, (err: Error) =>
    host.connection.mapError(err, 'read config', config.prefix),
  );
}

/**
 * Why an online boot failed (etcd did not list the config in time, no snapshot to serve): the read
 * error as the connection maps it when etcd answered (e.g. permission denied), else an
 * EtcdConnectionError naming the hosts and timeout, classified TLS or not by the client's classifier
 * as connect() does.
 * @internal
 */
export function bootFailure(
  cause: unknown,
  options: Pick<ResolvedEtcdOptions, 'hosts' | 'connectTimeout'>,
  mapError: (err: Error) => Error,
): Error {
  const mapped =
    cause instanceof Error && !(cause instanceof EtcdConnectionError) ? mapError(cause) : undefined;
  if (mapped && !(mapped instanceof EtcdUnavailableError)) return mapped;
  return new EtcdConnectionError(
    options.hosts,
    options.connectTimeout,
    cause,
    undefined,
    isTlsFailure(cause),
  );
}

function watchSource(
  host: ConfigStartupHost,
  prefix: string,
  store: ConfigStore,
  keeper: ConfigOfflineKeeper,
  saveSnapshot: () => void,
): void {
  // The end of each watch response: the snapshot file and the status key are due (both written
  // later, coalesced); keys nothing reads are not in the store's batches.
  const source = new ConfigSource(prefix, host.informers, store, () => {
    saveSnapshot();
    host.report.touched();
  });
  host.sources.add(source);
  host.subscriptions.push(
    source.follow(() => {
      if (host.sources.synced) keeper.caughtUp(host.sources.revision);
      saveSnapshot();
    }),
  );
}

/** Online boot: injected values decoded, and none served from a default when etcd has a valid one. */
function bootOnline(
  host: ConfigStartupHost,
  store: ConfigStore,
  keeper: ConfigOfflineKeeper,
): Promise<void> {
  const prefix = host.config.prefix;
  return bootInjected({
    view: {
      prefix,
      effective: name => host.fanout.effectiveOf(name),
      refusal: name => host.report.refusal(name),
      decode: (name, text) => store.decoder.decodeNow(`${prefix}${name}`, text),
      history: (etcdKey, limit, check) => host.past.historyOf(etcdKey, limit, check),
      snapshot: () => keeper.read(),
    },
    store,
    values: host.fanout.values,
    logger: host.logger,
    connectTimeout: host.options.connectTimeout,
    refuse: rejection => host.refuse(rejection),
  });
}
