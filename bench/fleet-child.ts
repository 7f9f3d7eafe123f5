/**
 * One process of the fleet scenario (bench/scenarios/fleet.ts), started with `startChild(env,
 * 'fleet-child.ts')`. It prints `ready` once its part of the fleet is up, then a `status` line every
 * 250 ms until it is killed:
 *
 * - `FLEET_MODE=nest`: `FLEET_COUNT` Nest application contexts, each with `EtcdModule` and its own
 *   registration (`FLEET_SERVICE`, ttl `FLEET_TTL`); status:
 *   `status <registered> <lostEvents> <instancesLost> <revived>`: instances that went `lost` at
 *   least once, and how many times one came back to `registered` after `lost` (revived or re-registered).
 * - `FLEET_MODE=raw`: the control fleet: `FLEET_COUNT` plain etcd3 clients, each with
 *   `client.lease(ttl)` and one put, as a hand-written service would; same status line (a lost
 *   etcd3 lease is not revived: revived stays 0).
 * - `FLEET_MODE=discover-nest`: one Nest app discovering `FLEET_SERVICE` (and `FLEET_EXTRA` more,
 *   empty, services); status: `status <instances> <recoveries> <warnLines>`: recoveries counts
 *   the informers' "resumed"/"re-listed" lines, warnLines every warning the app logged.
 * - `FLEET_MODE=discover-raw`: a raw etcd3 prefix watcher (etcd3 resumes it by itself); same status.
 */
import 'reflect-metadata';
import { type LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Etcd3, type Lease } from 'etcd3';
import { EtcdModule, EtcdRegistryService, type RegistryStatus } from '../lib/index.js';

const env = process.env;
const mode = env.FLEET_MODE ?? 'nest';
const hosts = (env.FLEET_HOSTS ?? '').split(',');
const first = Number(env.FLEET_FIRST ?? '0');
const count = Number(env.FLEET_COUNT ?? '1');
const service = env.FLEET_SERVICE ?? 'fleet';
const ttl = Number(env.FLEET_TTL ?? '10');
const extra = Number(env.FLEET_EXTRA ?? '0');
const prefix = `/services/${service}/`;

const print = (line: string) => process.stdout.write(`${line}\n`);

/** Counts what the discovering app logs (one Nest app per process: the logger is process-wide). */
class CountingLogger implements LoggerService {
  warns = 0;
  recoveries = 0;
  log(message: unknown, context?: string): void {
    if (env.FLEET_DEBUG) process.stderr.write(`log ${context} ${String(message)}\n`);
    if (context === 'EtcdInformer' && /resumed|re-listed/.test(String(message))) this.recoveries++;
  }
  warn(message: unknown, context?: string): void {
    if (env.FLEET_DEBUG) process.stderr.write(`warn ${context} ${String(message)}\n`);
    this.warns++;
  }
  error(message: unknown): void {
    process.stderr.write(`${String(message)}\n`);
  }
  debug(): void {}
  verbose(): void {}
}

async function nestFleet(): Promise<() => string> {
  const statuses: RegistryStatus[] = [];
  const wentLost = new Set<number>();
  /** Instances lost and not registered again since. */
  const down = new Set<number>();
  let lost = 0;
  let revived = 0;
  for (let i = 0; i < count; i++) {
    const id = first + i;
    const app = await NestFactory.createApplicationContext(
      EtcdModule.forRoot({
        hosts,
        registry: {
          serviceName: service,
          instanceId: `i${String(id).padStart(5, '0')}`,
          host: '127.0.0.1',
          port: 20_000 + id,
          ttl,
        },
      }),
      { logger: ['error'], abortOnError: false },
    );
    const registry = app.get(EtcdRegistryService);
    const slot = statuses.push(registry.status) - 1;
    registry.status$.subscribe(status => {
      if (status === 'lost' && statuses[slot] !== 'lost') {
        lost++;
        wentLost.add(slot);
        down.add(slot);
      }
      // back to `registered` after `lost` (through `registering` or not): revived or re-registered
      if (status === 'registered' && down.delete(slot)) revived++;
      statuses[slot] = status;
    });
  }
  await waitUntil(() => statuses.every(s => s === 'registered'));
  return () =>
    `${statuses.filter(s => s === 'registered').length} ${lost} ${wentLost.size} ${revived}`;
}

async function rawFleet(): Promise<() => string> {
  let alive = 0;
  let lost = 0;
  const leases: Lease[] = [];
  for (let i = 0; i < count; i++) {
    const id = first + i;
    const client = new Etcd3({ hosts });
    const lease = client.lease(ttl);
    lease.on('lost', () => {
      lost++;
      alive--;
    });
    await lease
      .put(`${prefix}i${String(id).padStart(5, '0')}`)
      .value(JSON.stringify({ host: '127.0.0.1', port: 20_000 + id }));
    leases.push(lease);
    alive++;
  }
  return () => `${alive} ${lost} ${lost} 0`;
}

async function discoverNest(): Promise<() => string> {
  const logger = new CountingLogger();
  const app = await NestFactory.createApplicationContext(
    EtcdModule.forRoot({ hosts, config: { prefix: '/bench/fleet/config/' } }),
    { logger, abortOnError: false },
  );
  const registry = app.get(EtcdRegistryService);
  let instances = (await registry.getInstances(service)).length;
  await Promise.all(Array.from({ length: extra }, (_, i) => registry.getInstances(`extra-${i}`)));
  setInterval(() => {
    void registry.getInstances(service).then(list => (instances = list.length));
  }, 250);
  return () => `${instances} ${logger.recoveries} ${logger.warns}`;
}

async function discoverRaw(): Promise<() => string> {
  const client = new Etcd3({ hosts });
  const keys = new Set<string>();
  let recoveries = 0;
  let disconnected = false;
  const watcher = await client.watch().prefix(prefix).create();
  watcher.on('put', kv => keys.add(kv.key.toString()));
  watcher.on('delete', kv => keys.delete(kv.key.toString()));
  watcher.on('disconnected', () => (disconnected = true));
  watcher.on('connected', () => {
    if (disconnected) recoveries++;
    disconnected = false;
  });
  for (const key of await client.getAll().prefix(prefix).keys()) keys.add(key);
  return () => `${keys.size} ${recoveries} 0`;
}

async function waitUntil(done: () => boolean): Promise<void> {
  while (!done()) await new Promise(resolve => setTimeout(resolve, 100));
}

const status =
  mode === 'nest'
    ? await nestFleet()
    : mode === 'raw'
      ? await rawFleet()
      : mode === 'discover-nest'
        ? await discoverNest()
        : await discoverRaw();
print('ready');
setInterval(() => print(`status ${status()}`), 250);
