import * as bundledGrpc from '@grpc/grpc-js';
import type { ChannelOptions, experimental } from '@grpc/grpc-js';
import { Logger } from '@nestjs/common';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Observable, Subscription } from 'rxjs';
import { isServiceName } from '../common/names.js';
import { instanceMatcher } from './instance-filter.js';
import type { ServiceInstance } from './service-instance.interface.js';
import type { InstanceFilter } from './discovery.interfaces.js';

/** The part of `@grpc/grpc-js` the resolver uses (any 1.10+ copy fits). */
export type GrpcJsModule = Pick<typeof bundledGrpc, 'experimental' | 'status' | 'Metadata'>;

/** What the resolver needs from `EtcdRegistryService`. */
export interface EtcdResolverRegistry {
  instances$(serviceName: string): Observable<ServiceInstance[]>;
}

/** Options of {@link registerEtcdResolver}. */
export interface EtcdResolverOptions {
  /**
   * The `@grpc/grpc-js` module your gRPC clients use. Resolvers are registered in one copy of
   * grpc-js; pass `await import('@grpc/grpc-js')` from your app when npm installed two copies.
   * @default the copy nest-etcd depends on
   */
  grpc?: GrpcJsModule;
  /**
   * URI scheme to register: targets look like `<scheme>:///<serviceName>`. Registering a scheme
   * again replaces its resolver (use another scheme for a second app in the same process).
   * @default 'etcd'
   */
  scheme?: string;
  /** Only instances whose metadata matches (object) or that the predicate accepts. */
  filter?: InstanceFilter;
}

/**
 * Makes gRPC targets `etcd:///<serviceName>` resolve to every live instance of the service in
 * the registry, updated by its watch (an instance that leaves is removed from the channel at
 * once). Combine it with the `round_robin` policy to spread calls over all instances.
 *
 * Import it from `nest-etcd/grpc`.
 *
 * @example
 * ```ts
 * ClientsModule.registerAsync([
 *   {
 *     name: 'CALC',
 *     inject: [EtcdRegistryService],
 *     useFactory: (registry: EtcdRegistryService) => {
 *       registerEtcdResolver(registry);
 *       return {
 *         transport: Transport.GRPC,
 *         options: {
 *           url: 'etcd:///calc',
 *           package: 'calc',
 *           protoPath: 'calc.proto',
 *           channelOptions: {
 *             'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
 *           },
 *         },
 *       };
 *     },
 *   },
 * ]);
 * ```
 */
export function registerEtcdResolver(
  registry: EtcdResolverRegistry,
  options: EtcdResolverOptions = {},
): void {
  if (!registry || typeof registry.instances$ !== 'function') {
    throw new TypeError(
      "registerEtcdResolver(): pass the app's EtcdRegistryService (app.get(EtcdRegistryService), or inject it)",
    );
  }
  const scheme = options.scheme ?? 'etcd';
  if (!/^[a-z][a-z0-9+.-]*$/.test(scheme)) {
    throw new TypeError(
      `registerEtcdResolver(): scheme must be a lower-case URI scheme, got ${JSON.stringify(scheme)}`,
    );
  }
  const grpc = options.grpc ?? bundledGrpc;
  if (!options.grpc) warnOnSecondCopy();
  const filter = options.filter;
  const matches = instanceMatcher(filter);

  class EtcdResolver {
    private readonly serviceName: string;
    private subscription: Subscription | undefined;
    private latest: ServiceInstance[] | undefined;
    private destroyed = false;

    constructor(
      private readonly target: GrpcUri,
      private readonly listener: ResolverListener,
      _channelOptions: ChannelOptions,
    ) {
      this.serviceName = serviceNameOf(target);
    }

    static getDefaultAuthority(target: GrpcUri): string {
      return serviceNameOf(target);
    }

    updateResolution(): void {
      this.destroyed = false;
      if (this.subscription) {
        const latest = this.latest;
        if (latest) setImmediate(() => this.report(latest));
        return;
      }
      // Never call the listener synchronously from updateResolution (grpc-js contract): a
      // cached list is replayed at subscription time, so every report is deferred.
      let failed = false;
      const subscription = registry.instances$(this.serviceName).subscribe({
        next: list => {
          this.latest = list;
          setImmediate(() => this.report(list));
        },
        // e.g. permission denied: UNAVAILABLE for now; grpc-js asks again later, and we resubscribe
        error: (err: unknown) => {
          failed = true;
          this.subscription = undefined;
          this.latest = undefined;
          setImmediate(() => this.reportError(String(err)));
        },
      });
      // (an error can arrive synchronously, during subscribe)
      if (!failed) this.subscription = subscription;
    }

    destroy(): void {
      this.destroyed = true;
      this.subscription?.unsubscribe();
      this.subscription = undefined;
      this.latest = undefined;
    }

    private report(list: ServiceInstance[]): void {
      if (this.destroyed || list !== this.latest) return;
      const live = list.filter(matches);
      if (live.length === 0) {
        this.reportError(
          `no live instance of service "${this.serviceName}" in the registry (target ${this.target.scheme ?? ''}:///${this.target.path})`,
        );
        return;
      }
      const endpoints = live.map(instance => ({
        addresses: [{ host: instance.host, port: instance.port }],
      }));
      this.listener(grpc.experimental.statusOrFromValue(endpoints), {}, null, '');
    }

    private reportError(details: string): void {
      if (this.destroyed) return;
      this.listener(
        grpc.experimental.statusOrFromError({
          code: grpc.status.UNAVAILABLE,
          details,
          metadata: new grpc.Metadata(),
        }),
        {},
        null,
        details,
      );
    }
  }

  grpc.experimental.registerResolver(scheme, EtcdResolver);
}

type GrpcUri = experimental.GrpcUri;
type ResolverListener = experimental.ResolverListener;

function serviceNameOf(target: GrpcUri): string {
  const name = target.path.replace(/^\/+/, '');
  if (!isServiceName(name)) {
    throw new Error(
      `etcd gRPC target must be <scheme>:///<serviceName> (letters, digits, ".", "_", "-"), got path ${JSON.stringify(target.path)}`,
    );
  }
  return name;
}

let secondCopyChecked = false;

/**
 * Warns (once per process) when the app resolves `@grpc/grpc-js` to another copy than the one
 * nest-etcd imports: the resolver would land in a copy the app's clients never consult.
 */
function warnOnSecondCopy(): void {
  if (secondCopyChecked) return;
  secondCopyChecked = true;
  try {
    const ours = createRequire(import.meta.url).resolve('@grpc/grpc-js');
    const apps = createRequire(join(process.cwd(), 'noop.js')).resolve('@grpc/grpc-js');
    if (ours !== apps) {
      new Logger('EtcdDiscovery').warn(
        `two copies of @grpc/grpc-js: nest-etcd uses ${ours}, the app ${apps}; pass registerEtcdResolver(registry, { grpc: await import('@grpc/grpc-js') }) so etcd:/// targets resolve in the app's copy`,
      );
    }
  } catch {
    // The app does not resolve @grpc/grpc-js itself: it can only be using ours.
  }
}
