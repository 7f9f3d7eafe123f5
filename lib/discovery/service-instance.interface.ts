/**
 * One live instance of a service, as read from `<prefix><serviceName>/<instanceId>`.
 * `serviceName` and `instanceId` always come from the key.
 */
export interface ServiceInstance {
  serviceName: string;
  instanceId: string;
  host: string;
  port: number;
  /** Free-form metadata (`{}` when the writer gave none). */
  metadata: Record<string, unknown>;
  /** Relative weight for the `weighted` strategy (1 when the writer gave none). */
  weight: number;
  /** ISO time of the first registration, when the writer recorded it. */
  registeredAt?: string;
}

/** How `choose()` picks an instance. */
export type LoadBalancingStrategy = 'round-robin' | 'random' | 'weighted';
