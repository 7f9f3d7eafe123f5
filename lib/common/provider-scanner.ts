import type { DiscoveryService, MetadataScanner } from '@nestjs/core';

/** One method of a provider (or controller) instance that carries a decorator's metadata. @internal */
export interface DecoratedMethod<M> {
  /** The provider instance the method is called on. */
  readonly instance: Record<string | symbol, unknown>;
  /** The method's name on the instance. */
  readonly methodName: string;
  /** `Class.method`, for log lines. */
  readonly label: string;
  /** What the decorator recorded. */
  readonly metadata: M;
}

/** What {@link scanDecoratedMethods} found. @internal */
export interface ScanResult<M> {
  /** Decorated methods of singleton instances: the ones a module can wire up. */
  readonly methods: DecoratedMethod<M>[];
  /**
   * `Class.method` of decorated methods on request-scoped or transient providers: Nest builds
   * those per request (or per injection), so a module wiring at bootstrap never sees the instance
   * that runs. The caller warns about them.
   */
  readonly notSingleton: string[];
}

/**
 * The one walk over the app's providers (and, with `controllers`, its controllers) that decorators
 * such as `@OnConfigChange` and `@LeaderOnly` are found by: every method whose
 * `read(method)` is not `undefined`.
 * @internal
 */
export function scanDecoratedMethods<M>(
  discovery: DiscoveryService,
  scanner: MetadataScanner,
  read: (method: unknown) => M | undefined,
  options: { controllers?: boolean } = {},
): ScanResult<M> {
  const methods: DecoratedMethod<M>[] = [];
  const notSingleton: string[] = [];
  const wrappers = options.controllers
    ? [...discovery.getProviders(), ...discovery.getControllers()]
    : discovery.getProviders();
  for (const wrapper of wrappers) {
    const singleton = wrapper.isDependencyTreeStatic();
    // A request-scoped provider has no instance yet: read its class's prototype instead.
    const instance = (singleton ? wrapper.instance : undefined) as
      Record<string | symbol, unknown> | undefined;
    const prototype = singleton
      ? instance && typeof instance === 'object'
        ? (Object.getPrototypeOf(instance) as object | null)
        : null
      : ((wrapper.metatype as { prototype?: object } | null | undefined)?.prototype ?? null);
    if (!prototype) continue;
    for (const methodName of scanner.getAllMethodNames(prototype)) {
      const method = (instance ?? (prototype as Record<string, unknown>))[methodName];
      const metadata = read(method);
      if (metadata === undefined) continue;
      const label = `${(prototype.constructor as { name: string }).name}.${methodName}`;
      if (singleton && instance) methods.push({ instance, methodName, label, metadata });
      else notSingleton.push(label);
    }
  }
  return { methods, notSingleton };
}
