import { Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import type { HttpAdapterHost } from '@nestjs/core';
import type { AddressInfo } from 'node:net';
import {
  BehaviorSubject,
  Observable,
  distinctUntilChanged,
  filter,
  firstValueFrom,
  shareReplay,
  take,
  timeout,
  type Subscription,
} from 'rxjs';
import type { EtcdConnection } from '../client/etcd-connection.js';
import { within } from '../common/timing.js';
import { EtcdConnectionError } from '../errors/etcd-connection.error.js';
import { EtcdStoppedError } from '../errors/etcd-stopped.error.js';
import { InvalidOptionsError } from '../errors/invalid-options.error.js';
import type { ResolvedEtcdOptions } from '../etcd-options.resolver.js';
import type { InformerHandle, InformerPool } from '../watch/informer-pool.js';
import type { InformerChange } from '../watch/informer.interfaces.js';
import type { PrefixInformer } from '../watch/prefix-informer.js';
import { LeaseSupervisor } from './lease-supervisor.js';
import { LoadBalancer } from './load-balancer.js';
import { parseInstance, serializeInstance } from './service-instance.codec.js';
import type {
  LoadBalancingStrategy,
  RegistryStatus,
  ServiceInstance,
} from './service-instance.interface.js';

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
  private readonly statusSubject: BehaviorSubject<RegistryStatus>;
  private readonly streams = new Map<string, Observable<ServiceInstance[]>>();
  private readonly latest = new Map<string, ServiceInstance[]>();
  private readonly cacheSubscriptions = new Map<string, Subscription>();
  private readonly balancer = new LoadBalancer();
  private supervisor: LeaseSupervisor | undefined;
  private selfInstance: ServiceInstance | undefined;
  private selfWatch: { handle: InformerHandle; subscription: Subscription } | undefined;
  private registering: Promise<ServiceInstance> | undefined;
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
    const autoRegister = options.registry !== false && options.registry.autoRegister;
    this.statusSubject = new BehaviorSubject<RegistryStatus>(
      autoRegister ? 'registering' : 'deregistered',
    );
    this.status$ = this.statusSubject.pipe(distinctUntilChanged());
  }

  /** This app's registration, once registered (`undefined` before and after). */
  get self(): ServiceInstance | undefined {
    return this.selfInstance;
  }

  /** The current registration state. */
  get status(): RegistryStatus {
    return this.statusSubject.getValue();
  }

  /**
   * Live instances of a service: the current list first (once loaded), then each change. One shared
   * etcd watch per service however many subscribers; a disconnect never empties the list.
   */
  instances$(serviceName: string): Observable<ServiceInstance[]> {
    assertServiceName(serviceName);
    let stream = this.streams.get(serviceName);
    if (!stream) {
      const prefix = this.servicePrefix(serviceName);
      stream = this.informers
        .observe(prefix, informer => this.instanceList(serviceName, informer))
        .pipe(shareReplay({ bufferSize: 1, refCount: true }));
      this.streams.set(serviceName, stream);
    }
    return stream;
  }

  /**
   * The live instances of a service. The first call for a service loads it (bounded by
   * `connectTimeout`) and keeps it cached and watched for the rest of the app's life.
   * @throws EtcdConnectionError when the list cannot be loaded in time.
   */
  async getInstances(serviceName: string): Promise<ServiceInstance[]> {
    const cached = this.latest.get(serviceName);
    if (cached) return cached;
    if (!this.cacheSubscriptions.has(serviceName)) {
      this.cacheSubscriptions.set(
        serviceName,
        this.instances$(serviceName).subscribe(list => this.latest.set(serviceName, list)),
      );
    }
    try {
      return await firstValueFrom(
        this.instances$(serviceName).pipe(take(1), timeout(this.options.connectTimeout)),
      );
    } catch {
      const informer = this.informers.peek(this.servicePrefix(serviceName));
      throw new EtcdConnectionError(
        this.options.hosts,
        this.options.connectTimeout,
        informer?.lastError,
      );
    }
  }

  /** Picks one live instance (`undefined` when there is none). */
  async choose(
    serviceName: string,
    strategy: LoadBalancingStrategy = 'round-robin',
  ): Promise<ServiceInstance | undefined> {
    const instances = await this.getInstances(serviceName);
    return this.balancer.pick(serviceName, instances, strategy);
  }

  /**
   * Registers this app (automatic on bootstrap). Resolves once the key is in etcd; calling it again
   * returns the same registration.
   * @throws InvalidOptionsError when no `registry` options are set or no port is known.
   */
  register(): Promise<ServiceInstance> {
    if (this.registering && this.supervisor) return this.registering;
    const registry = this.options.registry;
    if (registry === false) {
      return Promise.reject(
        new InvalidOptionsError(
          'registry',
          undefined,
          'registry options with a serviceName to register this app',
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
    const instance: ServiceInstance = {
      serviceName: registry.serviceName,
      instanceId: registry.instanceId,
      host: registry.host,
      port,
      metadata: registry.metadata,
      weight: registry.weight,
      registeredAt: new Date().toISOString(),
    };
    const key = `${this.servicePrefix(registry.serviceName)}${registry.instanceId}`;
    const supervisor = new LeaseSupervisor(this.connection.kv, {
      key,
      value: serializeInstance(instance),
      ttl: registry.ttl,
      retry: this.options.retry,
      logger: this.logger,
      mapError: err => this.connection.mapError(err, 'register', key),
    });
    this.supervisor = supervisor;
    this.watchOwnKey(key, supervisor);
    const registered = new Promise<ServiceInstance>((resolve, reject) => {
      supervisor.status$.subscribe({
        next: status => {
          this.selfInstance = status === 'deregistered' ? undefined : instance;
          this.statusSubject.next(status);
          if (status === 'registered') resolve(instance);
        },
        complete: () =>
          reject(new EtcdStoppedError(`registration of ${key}`, 'before it completed')),
      });
    });
    registered.catch(() => undefined);
    supervisor.start();
    this.registering = registered;
    return registered;
  }

  /** Deregisters this app: revokes its lease, which deletes the key (automatic on shutdown). */
  async deregister(): Promise<void> {
    const supervisor = this.supervisor;
    this.supervisor = undefined;
    this.registering = undefined;
    this.selfWatch?.subscription.unsubscribe();
    this.selfWatch?.handle.release();
    this.selfWatch = undefined;
    if (!supervisor) return;
    await supervisor.stop(true, SHUTDOWN_TIMEOUT_MS);
    this.selfInstance = undefined;
    this.statusSubject.next('deregistered');
    this.logger.log(
      `deregistered ${this.options.registry ? this.options.registry.serviceName : ''}`,
    );
  }

  /** @internal Registers once the app is up (after the HTTP server listens when no port is set). */
  async onApplicationBootstrap(): Promise<void> {
    const registry = this.options.registry;
    if (registry === false || !registry.autoRegister) return;
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
        if (!this.shuttingDown) this.register().catch(err => this.logger.error(String(err)));
      }
    };
    if (server.listening) onListening();
    else server.once('listening', onListening);
  }

  /** @internal Deregisters before the client closes. */
  async onModuleDestroy(): Promise<void> {
    this.shuttingDown = true;
    await this.deregister();
    for (const subscription of this.cacheSubscriptions.values()) subscription.unsubscribe();
    this.cacheSubscriptions.clear();
    this.statusSubject.complete();
  }

  private async registerWithinBootBudget(): Promise<void> {
    const result = await within(this.register(), this.options.connectTimeout);
    if (!result.settled) {
      this.logger.warn(
        'etcd did not confirm the registration at boot; it keeps trying in the background',
      );
    }
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

  /** Puts the key back when someone deletes it while we are registered. */
  private watchOwnKey(key: string, supervisor: LeaseSupervisor): void {
    const registry = this.options.registry;
    if (registry === false) return;
    const handle = this.informers.acquire(this.servicePrefix(registry.serviceName));
    const subscription = handle.informer.changes$
      .pipe(filter(change => change.key === key && change.type === 'delete'))
      .subscribe(() => supervisor.repair());
    this.selfWatch = { handle, subscription };
  }

  private instanceList(
    serviceName: string,
    informer: PrefixInformer,
  ): Observable<ServiceInstance[]> {
    return new Observable<ServiceInstance[]>(subscriber => {
      const view = new InstanceView(serviceName, this.servicePrefix(serviceName), this.logger);
      let started = false;
      const emit = () => subscriber.next(view.list());
      const stateSub = informer.state$.subscribe(state => {
        if (state.synced && !started) {
          started = true;
          view.reset(informer);
          emit();
        }
      });
      const changeSub = informer.changes$.subscribe(change => {
        if (started && view.apply(change)) emit();
      });
      return () => {
        stateSub.unsubscribe();
        changeSub.unsubscribe();
      };
    });
  }

  private servicePrefix(serviceName: string): string {
    return `${this.options.registryPrefix}${serviceName}/`;
  }
}

/** The parsed instances of one service, updated change by change. */
class InstanceView {
  private readonly instances = new Map<string, ServiceInstance>();
  private readonly warned = new Map<string, number>();
  private cached: ServiceInstance[] | undefined;

  constructor(
    private readonly serviceName: string,
    private readonly prefix: string,
    private readonly logger: Logger,
  ) {}

  reset(informer: PrefixInformer): void {
    this.instances.clear();
    for (const entry of informer.snapshot.entries.values())
      this.put(entry.key, entry.value, entry.modRevision);
    this.cached = undefined;
  }

  /** Applies one change; true when the list changed. */
  apply(change: InformerChange): boolean {
    const changed =
      change.type === 'put' && change.entry
        ? this.put(change.key, change.entry.value, change.revision)
        : this.instances.delete(change.key);
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

  private put(key: string, raw: Buffer, revision: number): boolean {
    const instanceId = key.slice(this.prefix.length);
    const result =
      instanceId.length === 0 || instanceId.includes('/')
        ? { ok: false as const, reason: 'key is not <prefix><service>/<instanceId>' }
        : parseInstance(this.serviceName, instanceId, raw);
    if (!result.ok) {
      if (this.warned.get(key) !== revision) {
        this.warned.set(key, revision);
        this.logger.warn(`skipping registry key ${key} at revision ${revision}: ${result.reason}`);
      }
      return this.instances.delete(key);
    }
    this.warned.delete(key);
    this.instances.set(key, result.instance);
    return true;
  }
}

function assertServiceName(serviceName: string): void {
  if (typeof serviceName !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(serviceName)) {
    throw new TypeError(
      `service name ${JSON.stringify(serviceName)} is not valid: use letters, digits, ".", "_" or "-" (no "/")`,
    );
  }
}
