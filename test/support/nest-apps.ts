import {
  type INestApplicationContext,
  type INestMicroservice,
  Module,
  type Type,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { MicroserviceOptions } from '@nestjs/microservices';
import { EtcdModule } from '../../lib/index.js';

/**
 * Closes every app in `apps` (in parallel) and empties the array; an app that fails to close (or is
 * already closed) does not stop the others and is not an error. `undefined` entries are skipped, so
 * `closeAll([app])` is safe in a `finally` before `app` was assigned.
 */
export async function closeAll(apps: Array<INestApplicationContext | undefined>): Promise<void> {
  await Promise.allSettled(apps.splice(0).flatMap(app => (app ? [app.close()] : [])));
}

/**
 * Retry delays for every app a test boots (`retry` of `forRoot`): 50 ms, backing off to 500 ms, so a
 * test that heals a connection never waits for production backoff. The one copy in test/: kits,
 * specs and the chaos `FAST_TIMINGS` use it.
 */
export const TEST_RETRY = { initialDelay: 50, maxDelay: 500 };

/** Options of {@link startRegisteredMicroservice}. */
export interface RegisteredMicroserviceOptions {
  /** etcd endpoint(s). */
  hosts: string;
  serviceName: string;
  instanceId: string;
  /** The transport's port, registered as the instance's port (on 127.0.0.1). */
  port: number;
  /** The microservice's controller(s). */
  controllers: Type[];
  /** The Nest transport (`Transport.TCP`, `Transport.GRPC`...) and its options. */
  transport: MicroserviceOptions;
  /** The app is pushed here before it listens, so the spec's hooks close it even if listen fails. */
  apps: INestApplicationContext[];
}

/**
 * A Nest microservice with `EtcdModule.forRoot` (no config; registered as `serviceName/instanceId`
 * at 127.0.0.1:`port`), listening on its transport, logging errors only.
 */
export async function startRegisteredMicroservice(
  options: RegisteredMicroserviceOptions,
): Promise<INestMicroservice> {
  @Module({
    imports: [
      EtcdModule.forRoot({
        hosts: options.hosts,
        config: false,
        registry: {
          serviceName: options.serviceName,
          instanceId: options.instanceId,
          host: '127.0.0.1',
          port: options.port,
        },
      }),
    ],
    controllers: options.controllers,
  })
  class RegisteredMicroserviceModule {}
  const app = await NestFactory.createMicroservice<MicroserviceOptions>(
    RegisteredMicroserviceModule,
    { ...options.transport, logger: ['error'] },
  );
  options.apps.push(app);
  await app.listen();
  return app;
}
