import type { Logger } from '@nestjs/common';
import {
  Observable,
  TimeoutError,
  firstValueFrom,
  shareReplay,
  take,
  timeout,
  type Subscription,
} from 'rxjs';
import type { EtcdConnection } from '../client/etcd-connection.js';
import { assertServiceName } from '../common/names.js';
import { EtcdAuthError } from '../errors/etcd-auth.error.js';

import { EtcdPermissionError } from '../errors/etcd-permission.error.js';
import { EtcdUnavailableError } from '../errors/etcd-unavailable.error.js';
import type { ResolvedEtcdOptions } from '../options/resolved-etcd-options.interface.js';
import type { InformerPool } from '../watch/informer-pool.js';
import { SETTLED, SYNCED, type InformerChange } from '../watch/informer.interfaces.js';
import type { PrefixInformer } from '../watch/prefix-informer.js';
import type { InstancesSource } from './discovery.interfaces.js';
import { parseInstance } from './service-instance.codec.js';
import type { ServiceInstance } from './service-instance.interface.js';

/**
 * The other services, as this app sees them: one entry per discovered service name, with its
 * shared, ref-counted instance stream and, once `getInstances` was called, the pinned list it
 * answers from. It is the {@link InstancesSource} `DiscoveryClient` reads.
 * @internal
 */
export class InstanceCache implements InstancesSource {
  /** One entry per discovered service: its shared stream and, once asked for, its cached list. */
  private readonly services = new Map<string, ServiceCache>();

  constructor(
    private readonly connection: EtcdConnection,
    private readonly informers: InformerPool,
    private readonly options: Pick<
      ResolvedEtcdOptions,
      'registryPrefix' | 'connectTimeout' | 'hosts'
    >,
    private readonly logger: Logger,
  ) {}

  /** Names of the services discovered so far. */
  get serviceNames(): string[] {
    return [...this.services.keys()];
  }

  /** Live instances of a service: the current list first (once loaded), then each change. */
  instances$(serviceName: string): Observable<ServiceInstance[]> {
    return this.cacheOf(serviceName).stream;
  }

  /**
   * The live instances of a service. The first call for a service loads it (bounded by
   * `connectTimeout`) and keeps it cached and watched until {@link clear}.
   */
  async getInstances(serviceName: string): Promise<ServiceInstance[]> {
    const cache = this.cacheOf(serviceName);
    if (cache.latest) return cache.latest;
    if (!cache.pin) {
      cache.pin = cache.stream.subscribe({
        next: list => (cache.latest = list),
        // A failed service is forgotten: the next call tries again.
        error: () => {
          if (this.services.get(serviceName) === cache) this.services.delete(serviceName);
        },
      });
    }
    try {
      return await firstValueFrom(cache.stream.pipe(take(1), timeout(this.options.connectTimeout)));
    } catch (err) {
      if (!(err instanceof TimeoutError)) throw err;
      const prefix = this.servicePrefix(serviceName);
      const cause = this.informers.peek(prefix)?.lastError;
      const mapped =
        cause === undefined ? undefined : this.connection.mapError(cause, 'read', prefix);
      if (mapped instanceof EtcdPermissionError || mapped instanceof EtcdAuthError) throw mapped;
      // etcd was reached at boot: a list that does not load now is an outage, not a bad address.
      throw new EtcdUnavailableError(
        `listing the instances of "${serviceName}" (within ${this.options.connectTimeout} ms)`,
        prefix,
        this.options.hosts,
        cause,
      );
    }
  }

  /** The pinned list of a service once `getInstances` loaded it, else `undefined` (never loads). */
  cachedInstances(serviceName: string): ServiceInstance[] | undefined {
    return this.services.get(serviceName)?.latest;
  }

  /** Drops every pinned list and forgets every service (on shutdown). */
  clear(): void {
    for (const cache of this.services.values()) cache.pin?.unsubscribe();
    this.services.clear();
  }

  private cacheOf(serviceName: string): ServiceCache {
    assertServiceName(serviceName);
    let cache = this.services.get(serviceName);
    if (!cache) {
      const stream = this.informers
        .observe(this.servicePrefix(serviceName), informer =>
          this.instanceList(serviceName, informer),
        )
        .pipe(shareReplay({ bufferSize: 1, refCount: true }));
      cache = { stream };
      this.services.set(serviceName, cache);
    }
    return cache;
  }

  private instanceList(
    serviceName: string,
    informer: PrefixInformer,
  ): Observable<ServiceInstance[]> {
    return new Observable<ServiceInstance[]>(subscriber => {
      const view = new InstanceView(serviceName, this.servicePrefix(serviceName), this.logger);
      // One list per batch of changes (a re-list, a revoked lease's keys), not one per change.
      let changed = false;
      return informer.view$.subscribe(event => {
        if (event === SYNCED) {
          view.reset(informer);
        } else if (event !== SETTLED) {
          changed = view.apply(event) || changed;
          return;
        } else if (!changed) {
          return;
        }
        changed = false;
        subscriber.next(view.list());
      });
    });
  }

  private servicePrefix(serviceName: string): string {
    return `${this.options.registryPrefix}${serviceName}/`;
  }
}

/** One discovered service: the shared stream, and the list kept by `getInstances`. */
interface ServiceCache {
  readonly stream: Observable<ServiceInstance[]>;
  latest?: ServiceInstance[];
  pin?: Subscription;
}

/** The parsed instances of one service, updated change by change. */
class InstanceView {
  private readonly instances = new Map<string, ServiceInstance>();
  private readonly warned = new Set<string>();
  private cached: ServiceInstance[] | undefined;

  constructor(
    private readonly serviceName: string,
    private readonly prefix: string,
    private readonly logger: Logger,
  ) {}

  reset(informer: PrefixInformer): void {
    this.instances.clear();
    for (const entry of informer.current().entries)
      this.put(entry.key, entry.value, entry.modRevision);
    this.cached = undefined;
  }

  /** Applies one change; true when the list changed. */
  apply(change: InformerChange): boolean {
    const changed =
      change.type === 'put' && change.entry
        ? this.put(change.key, change.entry.value, change.revision)
        : this.forget(change.key);
    if (changed) this.cached = undefined;
    return changed;
  }

  /** Sorted by instance id, so round-robin rotation is stable. */
  list(): ServiceInstance[] {
    this.cached ??= [...this.instances.values()].sort((a, b) =>
      a.instanceId < b.instanceId ? -1 : a.instanceId > b.instanceId ? 1 : 0,
    );
    return this.cached;
  }

  private forget(key: string): boolean {
    this.warned.delete(key);
    return this.instances.delete(key);
  }

  private put(key: string, raw: Buffer, revision: number): boolean {
    const instanceId = key.slice(this.prefix.length);
    const result =
      instanceId.length === 0 || instanceId.includes('/')
        ? { ok: false as const, reason: 'key is not <prefix><service>/<instanceId>' }
        : parseInstance(this.serviceName, instanceId, raw);
    if (!result.ok) {
      // one warning per bad key (until it is fixed or deleted), never one per re-list or re-put
      if (!this.warned.has(key)) {
        this.warned.add(key);
        this.logger.warn(`skipping registry key ${key} at revision ${revision}: ${result.reason}`);
      }
      return this.instances.delete(key);
    }
    this.warned.delete(key);
    this.instances.set(key, result.instance);
    return true;
  }
}
