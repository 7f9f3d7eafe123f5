import { Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import type { HttpAdapterHost } from '@nestjs/core';
import type { AddressInfo } from 'node:net';
import { Observable } from 'rxjs';
import type { EtcdConnection } from '../client/etcd-connection.js';
import { sleep } from '../common/clock.js';
import { within } from '../common/timing.js';
import { EtcdStoppedError } from '../errors/etcd-stopped.error.js';
import { InvalidOptionsError } from '../errors/invalid-options.error.js';
import type { ResolvedEtcdOptions } from '../options/resolved-etcd-options.interface.js';
import type { InformerPool } from '../watch/informer-pool.js';
import { etcdLeasePort } from '../lease/etcd-lease-port.js';
import { LeaseEngine } from '../lease/lease-engine.js';
import { DiscoveryClient } from '../discovery/discovery-client.js';
import type { ChooseOptions, RegistryFetchInit } from '../discovery/discovery.interfaces.js';
import { InstanceCache } from '../discovery/instance-cache.js';
import { serializeInstance } from '../discovery/service-instance.codec.js';
import type {
  LoadBalancingStrategy,
  ServiceInstance,
} from '../discovery/service-instance.interface.js';
import { etcdRegistrationPort } from './etcd-registration-port.js';
import type { RegistryStatus } from './registry-status.interface.js';
import { SelfRegistration } from './self-registration.js';

/** Longest wait for deregistration on shutdown: `app.close()` never hangs because etcd is gone. */
const SHUTDOWN_TIMEOUT_MS = 3000;

/**
 * The service registry: registers this app under a lease (on bootstrap, healed for ever, removed on
 * shutdown) and discovers live instances of any service through shared etcd watches.
 *
 * @example
 * ```ts
 * constructor(private readonly registry: EtcdRegistryService) {}
 * const target = await this.registry.choose('orders', 'round-robin');
 * this.registry.instances$('orders').subscribe(list => console.log(list.length, 'orders instances'));
 * ```
 */
export class EtcdRegistryService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('EtcdRegistry');
  /** The other services: one shared, watched instance list per service name. */
  private readonly instanceCache: InstanceCache;
  private readonly discoveryClient: DiscoveryClient;
  private readonly registration: SelfRegistration | undefined;
  private listeningPort: number | undefined;
  private shuttingDown = false;

  /**
   * This app's registration state, current value first: `registering` (from the start when it
   * registers automatically, until etcd confirmed the key), `registered`, `lost` (healing) and
   * `deregistered` (after shutdown, or from the start when it does not register itself).
   */
  readonly status$: Observable<RegistryStatus>;

  /** @internal Created by EtcdModule; use injection. */
  constructor(
    private readonly connection: EtcdConnection,
    private readonly informers: InformerPool,
    private readonly options: ResolvedEtcdOptions,
    private readonly httpAdapterHost?: HttpAdapterHost,
  ) {
    this.instanceCache = new InstanceCache(connection, informers, options, this.logger);
    this.discoveryClient = new DiscoveryClient(this.instanceCache, {
      zone: options.discovery.zone,
      health: options.discovery.passiveHealth,
    });
    const registry = options.registry;
    if (registry === false) {
      this.status$ = new Observable<RegistryStatus>(subscriber => {
        subscriber.next('deregistered');
        subscriber.complete();
      });
      return;
    }
    const key = this.ownKey();
    this.registration = new SelfRegistration(
      etcdRegistrationPort(connection, key),
      new LeaseEngine(etcdLeasePort(connection, 'register')),
      {
        ttl: registry.ttl,
        retry: options.retry,
        logger: this.logger,
        initialStatus: registry.autoRegister ? 'registering' : 'deregistered',
      },
    );
    this.status$ = this.registration.status$;
    const firstRegistered = this.status$.subscribe(status => {
      if (status !== 'registered') return;
      queueMicrotask(() => firstRegistered.unsubscribe());
      this.warnWithoutShutdownHooks(key, registry.ttl);
    });
  }

  /** @internal Picking and passive health, shared with `EtcdClientProxy`. */
  get discovery(): DiscoveryClient {
    return this.discoveryClient;
  }

  /** This app's zone (`registry.zone`, else env `ETCD_ZONE`), when it has one. */
  get zone(): string | undefined {
    return this.options.discovery.zone;
  }

  /** This app's registration once etcd holds its key (kept while healing); `undefined` before and after. */
  get self(): ServiceInstance | undefined {
    return this.registration?.self;
  }

  /** Names of the services this app has discovered so far (via instances$, getInstances, choose, fetch). */
  get discoveredServices(): string[] {
    return this.instanceCache.serviceNames;
  }

  /** The current registration state. */
  get status(): RegistryStatus {
    return this.registration?.status ?? 'deregistered';
  }

  /**
   * Live instances of a service: the current list first (once loaded), then each change. One shared
   * etcd watch per service however many subscribers; a disconnect never empties the list.
   */
  instances$(serviceName: string): Observable<ServiceInstance[]> {
    return this.instanceCache.instances$(serviceName);
  }

  /**
   * The live instances of a service. The first call for a service loads it (bounded by
   * `connectTimeout`) and keeps it cached and watched for the rest of the app's life.
   * @throws EtcdUnavailableError when the list cannot be loaded in time.
   * @throws EtcdPermissionError when the user may not read the service's prefix.
   */
  getInstances(serviceName: string): Promise<ServiceInstance[]> {
    return this.instanceCache.getInstances(serviceName);
  }

  /**
   * Picks one live instance (`undefined` when none matches): `filter` first, then passive health
   * (ejected instances are left out while others remain), then the caller's zone, then the
   * strategy. `choose(name, 'random')` is `choose(name, { strategy: 'random' })`.
   *
   * @example
   * ```ts
   * await registry.choose('orders'); // round-robin
   * await registry.choose('orders', 'weighted');
   * await registry.choose('orders', { filter: { version: '2.0.0' }, zone: 'eu-1' });
   * ```
   */
  async choose(
    serviceName: string,
    strategy?: LoadBalancingStrategy | ChooseOptions,
  ): Promise<ServiceInstance | undefined> {
    return this.discoveryClient.choose(serviceName, strategy);
  }

  /**
   * The global `fetch` to a live instance of a service: `path` is appended to
   * `http://<host>:<port>`. Picks like {@link choose} (`strategy`, `filter`, `zone` in `init`);
   * a connection-level failure (refused, reset, timeout) counts against the instance (passive
   * health), and GET, HEAD, PUT, DELETE and OPTIONS are retried on another instance (`retries`,
   * default 2; POST and PATCH only with `retryNonIdempotent`). `timeout` (default 10 s) bounds
   * each attempt's wait for the response headers. Any HTTP status is an answer, returned as-is.
   *
   * @throws NoInstanceAvailableError when the service has no live instance (matching `filter`).
   * @throws ServiceCallError when every attempt failed at the connection level.
   *
   * @example
   * ```ts
   * const res = await registry.fetch('orders', '/orders/42');
   * const created = await registry.fetch('orders', '/orders', {
   *   method: 'POST',
   *   headers: { 'content-type': 'application/json' },
   *   body: JSON.stringify({ item: 'book' }),
   *   filter: { version: '2.0.0' },
   * });
   * ```
   */
  fetch(serviceName: string, path: string, init?: RegistryFetchInit): Promise<Response> {
    return this.discoveryClient.fetch(serviceName, path, init);
  }

  /**
   * Registers this app (automatic on bootstrap). Resolves once the key is in etcd; calling it again
   * returns the same registration.
   * @throws InvalidOptionsError when no `registry` options are set or no port is known.
   */
  register(): Promise<ServiceInstance> {
    const registry = this.options.registry;
    if (registry === false || !this.registration) {
      return Promise.reject(
        new InvalidOptionsError(
          'registry',
          undefined,
          'registry options with a serviceName to register this app',
        ),
      );
    }
    if (this.shuttingDown) {
      // A shutdown that began while the app was still booting: never publish a key now, it would
      // outlive the process by up to one TTL.
      return Promise.reject(
        new EtcdStoppedError(
          `registration of ${this.ownKey()}`,
          'because the app is shutting down',
        ),
      );
    }
    const port = registry.port ?? this.listeningPort;
    if (port === undefined) {
      return Promise.reject(
        new InvalidOptionsError(
          'registry.port',
          undefined,
          this.httpServer()
            ? 'a port number, or a call after app.listen(): the HTTP server does not listen yet'
            : 'a port number: this is a standalone application context without an HTTP server',
        ),
      );
    }
    const pending = this.registration.pending;
    if (pending) return pending;
    const instance: ServiceInstance = {
      serviceName: registry.serviceName,
      instanceId: registry.instanceId,
      host: registry.host,
      port,
      // registry.zone (or env ETCD_ZONE) is published as metadata.zone
      metadata:
        this.zone === undefined ? registry.metadata : { ...registry.metadata, zone: this.zone },
      weight: registry.weight,
      registeredAt: new Date().toISOString(),
    };
    return this.registration.start(instance, this.ownKey(), serializeInstance(instance));
  }

  /** Deregisters this app: revokes its lease, which deletes the key (automatic on shutdown). */
  async deregister(): Promise<void> {
    const registration = this.registration;
    if (!registration?.active) return;
    // etcd confirmed the key at least once; otherwise there is nothing that was "deregistered"
    const wasRegistered = registration.self !== undefined;
    await registration.stop(true, SHUTDOWN_TIMEOUT_MS);
    const serviceName = this.options.registry ? this.options.registry.serviceName : '';
    this.logger.log(
      wasRegistered
        ? `deregistered ${serviceName}`
        : `stopped registering ${serviceName} (etcd never confirmed the key)`,
    );
  }

  /** @internal Registers once the app is up (after the HTTP server listens when no port is set). */
  async onApplicationBootstrap(): Promise<void> {
    const registry = this.options.registry;
    if (registry === false || !registry.autoRegister || this.shuttingDown) return;
    if (registry.port !== undefined) {
      await this.registerWithinBootBudget();
      return;
    }
    const server = this.httpServer();
    if (!server) {
      throw new InvalidOptionsError(
        'registry.port',
        undefined,
        'a port number: this is a standalone application context without an HTTP server',
      );
    }
    const onListening = () => {
      const address = server.address();
      if (address && typeof address === 'object') {
        this.listeningPort = address.port;
        if (!this.shuttingDown) this.register().catch(err => this.onRegisterFailure(err));
      }
    };
    if (server.listening) onListening();
    else server.once('listening', onListening);
  }

  /** @internal Deregisters before the client closes. */
  async onModuleDestroy(): Promise<void> {
    this.shuttingDown = true;
    const published = this.registration?.self !== undefined;
    await this.deregister();
    const drainDelay = this.options.registry === false ? 0 : this.options.registry.drainDelay;
    if (published && drainDelay > 0) {
      // The key is gone: callers stop choosing this instance while its servers still answer.
      this.logger.log(`draining: waiting ${drainDelay} ms before the servers close`);
      await sleep(drainDelay);
    }
    this.instanceCache.clear();
    this.registration?.complete();
  }

  /**
   * Waits up to `connectTimeout` for the first registration. A shutdown meanwhile (SIGTERM during
   * boot) ends the wait quietly: stopping is never a boot failure.
   */
  private async registerWithinBootBudget(): Promise<void> {
    const registration = this.registration;
    if (!registration) return;
    this.register().catch(err => this.onRegisterFailure(err));
    const result = await within(registration.outcome(), this.options.connectTimeout);
    if (!result.settled) {
      this.logger.warn(
        'etcd did not confirm the registration at boot; it keeps trying in the background',
      );
    }
  }

  /**
   * Without `app.enableShutdownHooks()` (or a SIGTERM handler of the app's own), a SIGTERM or Ctrl-C
   * kills the process before `onModuleDestroy`, so the key outlives it by up to one TTL. Nest adds
   * its signal listeners when `enableShutdownHooks()` is called, so none at the first registration
   * (after `listen()`) means nobody will deregister on a signal: one warning line says so.
   */
  private warnWithoutShutdownHooks(key: string, ttl: number): void {
    if (process.listenerCount('SIGTERM') > 0) return;
    this.logger.warn(
      `app.enableShutdownHooks() was not called: after SIGTERM or Ctrl-C the key ${key} stays in etcd ` +
        `until its lease expires (up to ${ttl}s) and callers keep choosing a dead instance. ` +
        'Fix: call app.enableShutdownHooks() before app.listen()',
    );
  }

  /** A registration stopped by shutdown is normal; anything else is one error line. */
  private onRegisterFailure(err: unknown): void {
    if (err instanceof EtcdStoppedError || this.shuttingDown) return;
    this.logger.error(String(err));
  }

  private httpServer():
    | (NodeJS.EventEmitter & { listening: boolean; address(): AddressInfo | string | null })
    | undefined {
    const adapter = this.httpAdapterHost?.httpAdapter as
      { getHttpServer?: () => unknown } | undefined;
    const server = adapter?.getHttpServer?.();
    if (!server || typeof (server as { address?: unknown }).address !== 'function')
      return undefined;
    return server as NodeJS.EventEmitter & {
      listening: boolean;
      address(): AddressInfo | string | null;
    };
  }

  private ownKey(): string {
    const registry = this.options.registry;
    if (registry === false) return '';
    return `${this.servicePrefix(registry.serviceName)}${registry.instanceId}`;
  }

  private servicePrefix(serviceName: string): string {
    return `${this.options.registryPrefix}${serviceName}/`;
  }
}
