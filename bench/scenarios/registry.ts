import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Etcd3, type Lease } from 'etcd3';
import { EtcdModule, EtcdRegistryService, type ServiceInstance } from '../../lib/index.js';
import {
  type BenchContext,
  now,
  percentile,
  sleep,
  until,
  OBSERVER_CONFIG,
} from '../bench-utils.js';

/** Result of the registry convergence scenario. */
export interface RegistryResult {
  instances: number;
  convergeMs: number;
  deregisterP50Ms: number;
  deregisterP99Ms: number;
  deregisterMaxMs: number;
}

/** The value the module writes for an instance (the wire format of docs/registry.md). */
export function instanceValue(serviceName: string, instanceId: string, port: number): string {
  return JSON.stringify({
    host: '127.0.0.1',
    port,
    serviceName,
    instanceId,
    metadata: { zone: 'bench' },
    weight: 1,
    registeredAt: new Date().toISOString(),
  });
}

/**
 * Scenario 3: `instances` instances, each with its own lease, register at once (raw etcd3 lease +
 * put in the module's wire format, as another app's LeaseSupervisor does); time until an observer
 * app's `instances$` lists all of them. Then each one deregisters gracefully (lease revoke, which
 * deletes the key), one at a time: time until the observer's list no longer holds it.
 */
export async function registryConvergence(ctx: BenchContext): Promise<RegistryResult> {
  const instances = 200;
  const service = 'bench-registry';
  const client = new Etcd3({ hosts: ctx.endpoint });

  @Module({ imports: [EtcdModule.forRoot({ hosts: ctx.endpoint, config: OBSERVER_CONFIG })] })
  class ObserverModule {}
  const app = await NestFactory.createApplicationContext(ObserverModule, {
    logger: false,
    abortOnError: false,
  });
  const leases = new Map<string, Lease>();
  try {
    const registry = app.get(EtcdRegistryService);
    let latest: ServiceInstance[] = [];
    let notify: (() => void) | undefined;
    const subscription = registry.instances$(service).subscribe(list => {
      latest = list;
      notify?.();
    });
    await until(registry.instances$(service), list => list.length === 0, 10_000);

    const all = until(registry.instances$(service), list => list.length === instances, 30_000);
    const start = now();
    await Promise.all(
      Array.from({ length: instances }, async (_, i) => {
        const lease = client.lease(60, { autoKeepAlive: false });
        const id = `inst-${String(i).padStart(3, '0')}`;
        leases.set(id, lease);
        await lease.put(`/services/${service}/${id}`).value(instanceValue(service, id, 8000 + i));
      }),
    );
    await all;
    const convergeMs = now() - start;

    const deregisterMs: number[] = [];
    for (const [id, lease] of leases) {
      const gone = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${id} still listed after 10 s`)), 10_000);
        notify = () => {
          if (!latest.some(i => i.instanceId === id)) {
            clearTimeout(timer);
            resolve();
          }
        };
      });
      const t0 = now();
      await lease.revoke();
      leases.delete(id);
      notify?.();
      await gone;
      deregisterMs.push(now() - t0);
      await sleep(1);
    }
    notify = undefined;
    subscription.unsubscribe();
    return {
      instances,
      convergeMs,
      deregisterP50Ms: percentile(deregisterMs, 50),
      deregisterP99Ms: percentile(deregisterMs, 99),
      deregisterMaxMs: Math.max(...deregisterMs),
    };
  } finally {
    await Promise.all([...leases.values()].map(l => l.revoke().catch(() => undefined)));
    await app.close();
    client.close();
  }
}
