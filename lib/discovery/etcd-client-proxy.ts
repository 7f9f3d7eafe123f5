import { Logger } from '@nestjs/common';
import {
  ClientProxy,
  ClientTCP,
  type ReadPacket,
  type TcpClientOptions,
  type WritePacket,
} from '@nestjs/microservices';
import {
  type Observable,
  type Subscription,
  catchError,
  connectable,
  defer,
  finalize,
  firstValueFrom,
  lastValueFrom,
  mergeMap,
  Subject,
  take,
  throwError,
  timeout,
} from 'rxjs';
import type { ServiceInstance } from './service-instance.interface.js';
import { failureReason, isConnectionFailure } from './connection-failure.js';
import type { ChooseOptions, InstanceFilter } from './discovery.interfaces.js';
import { NoInstanceAvailableError } from '../errors/no-instance-available.error.js';
import { PassiveHealth } from './passive-health.js';
import { DiscoveryClient } from './discovery-client.js';
import type { LoadBalancingStrategy } from './service-instance.interface.js';

/**
 * What the proxy needs from `EtcdRegistryService`: the live instances of a service. A test can pass
 * a fake (`{ instances$: () => of([instance]) }`); the app's registry also shares its passive health
 * (ejections) with the proxy.
 */
export interface EtcdClientProxyRegistry {
  instances$(serviceName: string): Observable<ServiceInstance[]>;
}

/** Options of {@link EtcdClientProxy} (the `options` of a `ClientsModule` entry). */
export interface EtcdClientProxyOptions {
  /** The app's `EtcdRegistryService` (inject it in `registerAsync`). */
  registry: EtcdClientProxyRegistry;
  /** Service whose instances receive the messages. */
  serviceName: string;
  /** @default 'round-robin' */
  strategy?: LoadBalancingStrategy;
  /** Only instances whose metadata matches (object) or that the predicate accepts. */
  filter?: InstanceFilter;
  /** Preferred zone; default the caller's `registry.zone` (env `ETCD_ZONE`). */
  zone?: string | null;
  /**
   * How many other instances to try when an instance refuses the connection (the message was
   * not delivered, so a retry is always safe).
   * @default 2
   */
  retries?: number;
  /**
   * Also retry on another instance when the connection is lost with the message under way (reset,
   * closed by a stopping instance). Nest's TCP transport closes its server before the app
   * deregisters, so this is what keeps a stopping instance from failing calls; but an instance
   * that handled a message and died before answering sees it twice. Set `false` for patterns that
   * must not run twice: then only refused connections (never delivered) are retried.
   * @default true
   */
  retryOnConnectionLoss?: boolean;
  /**
   * How long (ms) `connect()` and the first message wait for the service's list to load.
   * @default 5000
   */
  loadTimeout?: number;
  /** Options of Nest's TCP client for each instance (serializer, deserializer, TLS...). */
  tcp?: Omit<NonNullable<TcpClientOptions['options']>, 'host' | 'port'>;
}

interface Connection {
  instance: ServiceInstance;
  client: ClientTCP;
  /** Calls under way on this connection. */
  inflight: number;
  /** Left the registry (or refused): takes no new call, closes when the last one ends. */
  retired: boolean;
}

/**
 * A Nest microservices `ClientProxy` for a service name over the TCP transport: each message goes
 * to a live instance of the service (balanced by `strategy`, zone-aware, skipping ejected
 * instances), following the registry's watch. An instance that leaves the registry never gets
 * another message, and its connection is closed. Use it as `ClientsModule`'s `customClass`.
 *
 * Import it from `nest-etcd/microservices` (needs the optional peer `@nestjs/microservices`).
 *
 * @example
 * ```ts
 * ClientsModule.registerAsync([
 *   {
 *     name: 'CALC',
 *     inject: [EtcdRegistryService],
 *     useFactory: (registry: EtcdRegistryService) => ({
 *       customClass: EtcdClientProxy,
 *       options: { registry, serviceName: 'calc' },
 *     }),
 *   },
 * ]);
 * // then: constructor(@Inject('CALC') private readonly calc: ClientProxy) {}
 * //       this.calc.send({ cmd: 'sum' }, [1, 2, 3])
 * ```
 */
export class EtcdClientProxy extends ClientProxy {
  private readonly logger = new Logger('EtcdClientProxy');
  private readonly registry: EtcdClientProxyRegistry;
  /** Picking and passive health: the registry's own when it has one. */
  private readonly discovery: DiscoveryClient;
  private readonly serviceName: string;
  private readonly choice: ChooseOptions;
  private readonly retries: number;
  private readonly retryOnConnectionLoss: boolean;
  private readonly loadTimeout: number;
  private readonly tcpOptions: EtcdClientProxyOptions['tcp'];
  private readonly connections = new Map<string, Connection>();
  private instances: ServiceInstance[] | undefined;
  /** Emits once the list is loaded (`undefined`) or its stream failed (the error). */
  private readonly loaded = new Subject<Error | undefined>();
  private subscription: Subscription | undefined;

  constructor(options: EtcdClientProxyOptions) {
    super();
    if (
      !options ||
      typeof options !== 'object' ||
      typeof options.registry?.instances$ !== 'function'
    ) {
      throw new TypeError(
        "EtcdClientProxy: options.registry must be the app's EtcdRegistryService (inject it: inject: [EtcdRegistryService], useFactory: registry => ({ customClass: EtcdClientProxy, options: { registry, serviceName } }))",
      );
    }
    if (typeof options.serviceName !== 'string' || options.serviceName === '') {
      throw new TypeError('EtcdClientProxy: options.serviceName must name the service to call');
    }
    this.registry = options.registry;
    this.discovery = sharedDiscovery(options.registry) ?? ownDiscovery(options.registry);
    this.serviceName = options.serviceName;
    this.choice = { strategy: options.strategy, filter: options.filter, zone: options.zone };
    this.retries = options.retries ?? 2;
    this.retryOnConnectionLoss = options.retryOnConnectionLoss ?? true;
    this.loadTimeout = options.loadTimeout ?? 5000;
    this.tcpOptions = options.tcp;
  }

  /** Starts following the service's instances and resolves once its list is loaded. */
  async connect(): Promise<void> {
    if (!this.subscription) {
      let failed: Error | undefined;
      const subscription = this.registry.instances$(this.serviceName).subscribe({
        next: list => this.onInstances(list),
        // e.g. EtcdPermissionError: surfaced to the waiting calls; the next call subscribes again
        error: (err: unknown) => {
          failed = err instanceof Error ? err : new Error(String(err));
          this.subscription = undefined;
          this.loaded.next(failed);
        },
      });
      if (failed) throw failed;
      this.subscription = subscription;
    }
    if (this.instances) return;
    const failure = await firstValueFrom(
      this.loaded.pipe(
        take(1),
        timeout({
          first: this.loadTimeout,
          with: () =>
            throwError(
              () =>
                new Error(
                  `EtcdClientProxy: the instances of "${this.serviceName}" did not load within ${this.loadTimeout} ms (is etcd reachable?)`,
                ),
            ),
        }),
      ),
    );
    if (failure) throw failure;
  }

  /** Stops following the registry and closes every instance connection. */
  close(): void {
    this.subscription?.unsubscribe();
    this.subscription = undefined;
    this.instances = undefined;
    for (const { client } of this.connections.values()) client.close();
    this.connections.clear();
  }

  /** The open per-instance TCP clients, by instance id. */
  unwrap<T>(): T {
    const byId = new Map<string, ClientTCP>();
    for (const { instance, client } of this.connections.values())
      byId.set(instance.instanceId, client);
    return byId as T;
  }

  /** Sends a message to one live instance; the response comes from that instance. */
  override send<TResult = unknown, TInput = unknown>(
    pattern: unknown,
    data: TInput,
  ): Observable<TResult> {
    return this.route(connection => connection.client.send<TResult, TInput>(pattern, data));
  }

  /** Emits an event to one live instance (hot, like every Nest client's `emit`). */
  override emit<TResult = unknown, TInput = unknown>(
    pattern: unknown,
    data: TInput,
  ): Observable<TResult> {
    const source = connectable(
      this.route(connection => connection.client.emit<TResult, TInput>(pattern, data)),
      { connector: () => new Subject<TResult>(), resetOnDisconnect: false },
    );
    source.connect();
    return source;
  }

  protected publish(packet: ReadPacket, callback: (packet: WritePacket) => void): () => void {
    const subscription = this.send(packet.pattern, packet.data).subscribe({
      next: response => callback({ response }),
      error: (err: unknown) => callback({ err, isDisposed: true }),
      complete: () => callback({ isDisposed: true }),
    });
    return () => subscription.unsubscribe();
  }

  protected dispatchEvent<T = unknown>(packet: ReadPacket): Promise<T> {
    return lastValueFrom(this.emit<T>(packet.pattern, packet.data), {
      defaultValue: undefined as T,
    });
  }

  /** Picks an instance and runs `call` on its connection; a refused connection tries another. */
  private route<T>(call: (connection: Connection) => Observable<T>): Observable<T> {
    const attempt = (tried: Set<string>, left: number): Observable<T> =>
      defer(async () => {
        await this.connect();
        return this.connectionFor(tried);
      }).pipe(
        mergeMap(connection => {
          connection.inflight += 1;
          return call(connection).pipe(
            finalize(() => {
              connection.inflight -= 1;
              if (connection.retired && connection.inflight === 0) connection.client.close();
            }),
            catchError((err: unknown) => {
              const retryable =
                isRefused(err) || (this.retryOnConnectionLoss && isConnectionLoss(err));
              if (!retryable) return throwError(() => err);
              this.discovery.reportFailure(connection.instance, err);
              this.drop(connection);
              tried.add(PassiveHealth.keyOf(connection.instance));
              return left > 0 ? attempt(tried, left - 1) : throwError(() => err);
            }),
          );
        }),
      );
    return defer(() => attempt(new Set(), this.retries));
  }

  private connectionFor(tried: Set<string>): Connection {
    const list = this.instances ?? [];
    const instance = this.discovery.pick(this.serviceName, list, this.choice, tried);
    if (!instance) throw new NoInstanceAvailableError(this.serviceName, list.length > 0);
    const key = PassiveHealth.keyOf(instance);
    let connection = this.connections.get(key);
    if (!connection) {
      const client = new InstanceClient(
        { ...this.tcpOptions, host: instance.host, port: instance.port },
        this.logger,
        `${instance.instanceId} (${instance.host}:${instance.port})`,
      );
      if (this.onDispatchHook) client.setOnDispatchHook(this.onDispatchHook);
      connection = { instance, client, inflight: 0, retired: false };
      this.connections.set(key, connection);
    }
    return connection;
  }

  private onInstances(list: ServiceInstance[]): void {
    this.instances = list;
    const live = new Set(list.map(instance => PassiveHealth.keyOf(instance)));
    for (const [key, connection] of this.connections) {
      if (!live.has(key)) this.drop(connection);
    }
    this.loaded.next(undefined);
  }

  private drop(connection: Connection): void {
    const key = PassiveHealth.keyOf(connection.instance);
    if (this.connections.get(key) !== connection) return;
    this.connections.delete(key);
    connection.retired = true;
    // Calls under way finish on it (an instance that drains still answers them).
    if (connection.inflight === 0) connection.client.close();
  }
}

function isRefused(err: unknown): boolean {
  return failureReason(err) === 'ECONNREFUSED';
}

/** The connection broke with the message under way (or written to a socket the peer had ended). */
function isConnectionLoss(err: unknown): boolean {
  if (isConnectionFailure(err)) return true;
  const { message, code } = (err ?? {}) as { message?: unknown; code?: unknown };
  return (
    message === 'Connection closed' ||
    code === 'ERR_STREAM_DESTROYED' ||
    code === 'ERR_STREAM_WRITE_AFTER_END'
  );
}

/**
 * Nest's TCP client for one instance; a broken connection is one warning line naming the
 * instance (the proxy retries elsewhere), not an ERROR with a stack.
 */
class InstanceClient extends ClientTCP {
  constructor(
    options: NonNullable<TcpClientOptions['options']>,
    private readonly proxyLogger: Logger,
    private readonly label: string,
  ) {
    super(options);
  }

  override handleError(err: unknown): void {
    this.proxyLogger.warn(`connection to ${this.label} failed: ${failureReason(err)}`);
  }
}

/** The picking and passive-health engine of the app's `EtcdRegistryService`, when it is one. */
function sharedDiscovery(registry: EtcdClientProxyRegistry): DiscoveryClient | undefined {
  const discovery = (registry as { discovery?: unknown }).discovery;
  return discovery instanceof DiscoveryClient ? discovery : undefined;
}

/** An engine of the proxy's own, over a registry that has none (a fake in a test). */
function ownDiscovery(registry: EtcdClientProxyRegistry): DiscoveryClient {
  return new DiscoveryClient({
    instances$: name => registry.instances$(name),
    getInstances: name => firstValueFrom(registry.instances$(name)),
  });
}
