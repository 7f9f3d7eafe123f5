import {
  type INestApplicationContext,
  type INestMicroservice,
  Module,
  type Type,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  type ClientProvider,
  ClientsModule,
  type MicroserviceOptions,
} from '@nestjs/microservices';
import { EtcdModule, EtcdRegistryService } from '../../lib/index.js';

/* Nest microservices (servers and clients) that find each other through the registry. */

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

/** Options of {@link startRegistryClient}. */
export interface RegistryClientOptions {
  /** etcd endpoint(s). */
  hosts: string;
  /** The client's injection token (`app.get(name)`). */
  name: string;
  /** The client's options, made from the app's registry (EtcdClientProxy, an etcd:/// gRPC target...). */
  client(registry: EtcdRegistryService): ClientProvider;
  /** The app is pushed here, so the spec's hooks close it. */
  apps: INestApplicationContext[];
}

/**
 * A Nest application context with `EtcdModule.forRoot` (no config) and one `ClientsModule` client
 * made from the registry, logging errors only.
 */
export async function startRegistryClient(
  options: RegistryClientOptions,
): Promise<INestApplicationContext> {
  @Module({
    imports: [
      EtcdModule.forRoot({ hosts: options.hosts, config: false }),
      ClientsModule.registerAsync([
        { name: options.name, inject: [EtcdRegistryService], useFactory: options.client },
      ]),
    ],
  })
  class RegistryClientModule {}
  const app = await NestFactory.createApplicationContext(RegistryClientModule, {
    logger: ['error'],
  });
  options.apps.push(app);
  return app;
}
