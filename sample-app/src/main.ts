import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module.js';
import { SampleSettings } from './sample-settings.js';

const logger = new Logger('Sample');
const app = await NestFactory.create<NestExpressApplication>(AppModule, {
  bodyParser: false,
  // Open /events streams must not keep the server from closing on SIGTERM.
  forceCloseConnections: true,
});
// PUT /config/:key takes the raw body whatever its content type (see ConfigController).
app.useBodyParser('text', { type: () => true, limit: '1mb' });
// SIGINT / SIGTERM run the shutdown hooks: the module revokes this instance's lease (which deletes
// its registry key) and closes the etcd client.
app.enableShutdownHooks(['SIGINT', 'SIGTERM']);

const settings = app.get(SampleSettings);
await app.listen(settings.port);
logger.log(
  `listening on http://localhost:${settings.port} as ${settings.instanceId} ` +
    `(etcd: ${process.env.ETCD_HOSTS ?? 'http://127.0.0.1:2379'})`,
);
