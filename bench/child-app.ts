/**
 * A small Nest app the bench runs as a separate process (see bench-utils `startChild`):
 *
 * - `BENCH_MODE=register`: registers `BENCH_SERVICE` with `ttl: BENCH_TTL`, prints `ready <id>`,
 *   then idles until it is killed (failure detection).
 * - `BENCH_MODE=tcp`: injects `BENCH_KEYS` config keys, watches `BENCH_SERVICES` services and
 *   registers itself, prints `ready`, then idles (TCP connection count).
 */
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { filter, firstValueFrom } from 'rxjs';
import { EtcdModule, EtcdRegistryService } from '../lib/index.js';

const env = process.env;
const hosts = env.BENCH_ETCD ?? '';
const mode = env.BENCH_MODE ?? 'register';
const service = env.BENCH_SERVICE ?? 'bench-child';
const ttl = Number(env.BENCH_TTL ?? '2');
const keyCount = Number(env.BENCH_KEYS ?? '0');
const serviceCount = Number(env.BENCH_SERVICES ?? '0');

const keys = Array.from({ length: keyCount }, (_, i) => `tcp.key${i}`);

@Module({
  imports: [
    EtcdModule.forRoot({
      hosts,
      config: { prefix: '/bench/child/config/' },
      registry: {
        serviceName: service,
        instanceId: `${service}-${process.pid}`,
        host: '127.0.0.1',
        port: 40000 + (process.pid % 20000),
        ttl,
      },
    }),
    ...(keys.length > 0 ? [EtcdModule.forFeature(keys)] : []),
  ],
})
class ChildModule {}

const app = await NestFactory.createApplicationContext(ChildModule, {
  logger: ['error'],
  abortOnError: false,
});
const registry = app.get(EtcdRegistryService);
await firstValueFrom(registry.status$.pipe(filter(s => s === 'registered')));
if (mode === 'tcp') {
  await Promise.all(
    Array.from({ length: serviceCount }, (_, i) => registry.getInstances(`tcp-svc-${i}`)),
  );
}
process.stdout.write(`ready ${registry.self?.instanceId ?? ''}\n`);
const shutdown = () => {
  void app.close().then(() => process.exit(0));
};
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
// Idle until killed; the bench never leaves a child behind (it SIGKILLs it on exit).
setInterval(() => undefined, 60_000);
