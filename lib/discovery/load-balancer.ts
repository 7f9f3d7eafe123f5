import type { LoadBalancingStrategy, ServiceInstance } from './service-instance.interface.js';

/**
 * Picks instances. Round-robin keeps one counter per service (per module instance, never static), so
 * successive picks rotate through the sorted list exactly.
 * @internal
 */
export class LoadBalancer {
  private readonly counters = new Map<string, number>();

  constructor(private readonly random: () => number = Math.random) {}

  pick(
    serviceName: string,
    instances: readonly ServiceInstance[],
    strategy: LoadBalancingStrategy,
  ): ServiceInstance | undefined {
    if (instances.length === 0) return undefined;
    switch (strategy) {
      case 'round-robin': {
        const next = this.counters.get(serviceName) ?? 0;
        this.counters.set(serviceName, (next + 1) % Number.MAX_SAFE_INTEGER);
        return instances[next % instances.length];
      }
      case 'random':
        return instances[Math.floor(this.random() * instances.length)];
      case 'weighted': {
        const total = instances.reduce((sum, instance) => sum + instance.weight, 0);
        if (total <= 0) return instances[Math.floor(this.random() * instances.length)];
        let point = this.random() * total;
        for (const instance of instances) {
          point -= instance.weight;
          if (point < 0) return instance;
        }
        return instances[instances.length - 1];
      }
      default:
        throw new TypeError(
          `unknown load-balancing strategy "${String(strategy)}"; use 'round-robin', 'random' or 'weighted'`,
        );
    }
  }
}
