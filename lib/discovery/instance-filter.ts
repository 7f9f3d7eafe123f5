import type { InstanceFilter } from './discovery.interfaces.js';
import type { ServiceInstance } from './service-instance.interface.js';

/**
 * The test an {@link InstanceFilter} stands for: a predicate as given, or every metadata entry
 * equal (`===`); no filter keeps every instance. Shared by `choose()`/`fetch()`, the microservice
 * proxy and the gRPC resolver. @internal
 */
export function instanceMatcher(
  filter: InstanceFilter | undefined,
): (instance: ServiceInstance) => boolean {
  if (!filter) return () => true;
  if (typeof filter === 'function') return filter;
  const entries = Object.entries(filter);
  return instance => entries.every(([key, value]) => instance.metadata[key] === value);
}
