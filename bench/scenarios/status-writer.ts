import 'reflect-metadata';
import { type INestApplicationContext, Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { firstValueFrom, filter, timeout } from 'rxjs';
import {
  EtcdModule,
  EtcdRegistryService,
  InjectConfig,
  type ConfigStatus,
  type ConfigValue,
} from '../../lib/index.js';
import {
  type BenchContext,
  clientOfItsOwn,
  measurePropagation,
  moduleSide,
  now,
  round,
  sleep,
} from '../bench-utils.js';

/** Result of the status writer scenario: what reporting config status costs. */
export interface StatusWriterResult {
  /** Config changes put back to back (one put each). */
  burstChanges: number;
  /** Writes of the status key those changes caused. */
  statusWrites: number;
  /** From the first put to the status showing the last one (ms). */
  burstToStatusMs: number;
  /** Propagation with the status writer on / off (p50, p99, ms) and the p50 it adds. */
  changes: number;
  reportingP50Ms: number;
  reportingP99Ms: number;
  silentP50Ms: number;
  silentP99Ms: number;
  addedP50Ms: number;
  p50Ratio: number;
}

const KEY = 'status.key';

@Injectable()
class Listener {
  constructor(@InjectConfig(KEY, { parse: raw => raw }) readonly setting: ConfigValue<string>) {}
}

/** A registered app on `prefix`, keeping its status key (`report`) or not. */
async function startRegisteredApp(
  hosts: string,
  prefix: string,
  instanceId: string,
  report: boolean,
): Promise<INestApplicationContext> {
  @Module({
    imports: [
      EtcdModule.forRoot({
        hosts,
        config: { prefix, report },
        registry: { serviceName: 'bench-status', instanceId, host: '127.0.0.1', port: 9 },
      }),
    ],
    providers: [Listener],
  })
  class BenchStatusModule {}
  const app = await NestFactory.createApplicationContext(BenchStatusModule, {
    logger: false,
    abortOnError: false,
  });
  await firstValueFrom(
    app.get(EtcdRegistryService).status$.pipe(
      filter(status => status === 'registered'),
      timeout(10_000),
    ),
  );
  return app;
}

/**
 * The status writer's cost (DESIGN §10): a burst of 1,000 config changes put back to back (how many
 * status writes, how long until the status shows the last one), and change propagation of an app
 * that keeps its status key against the same app with `config.report: false`, one side at a time
 * ({@link measurePropagation}: the "raw" side is the silent app).
 */
export async function statusWriter(ctx: BenchContext): Promise<StatusWriterResult> {
  const burstChanges = 1_000;
  const writer = clientOfItsOwn(ctx.endpoint);
  const statusKey = '/config-status/bench-status/reporting-1';
  try {
    // The burst.
    const burstApp = await startRegisteredApp(
      ctx.endpoint,
      '/bench/status-burst/',
      'reporting-1',
      true,
    );
    let burst: { writes: number; ms: number };
    try {
      const versionOf = async () =>
        Number((await writer.get(statusKey).exec()).kvs[0]?.version ?? 0);
      const deadline = now() + 10_000;
      while ((await versionOf()) === 0 && now() < deadline) await sleep(20);
      const before = await versionOf();
      const started = now();
      let last = 0;
      for (let i = 0; i < burstChanges; i++) {
        const res = await writer
          .put(`/bench/status-burst/k${i % 50}`)
          .value(String(i))
          .exec();
        last = Number(res.header.revision);
      }
      let ms = Number.NaN;
      while (now() - started < 30_000) {
        const text = (await writer.get(statusKey).string()) ?? '';
        const status = text ? (JSON.parse(text) as ConfigStatus) : undefined;
        if (status && status.revision >= last) {
          ms = now() - started;
          break;
        }
        await sleep(5);
      }
      // Let any trailing write land before counting.
      await sleep(1_000);
      burst = { writes: (await versionOf()) - before, ms };
    } finally {
      await burstApp.close();
    }

    // Propagation with and without the writer (each app on its own prefix and instance).
    const reporting = '/bench/status-on/';
    const silent = '/bench/status-off/';
    await writer.put(`${reporting}${KEY}`).value('v-init');
    await writer.put(`${silent}${KEY}`).value('v-init');
    const side = (prefix: string, instanceId: string, report: boolean) =>
      moduleSide(
        () => startRegisteredApp(ctx.endpoint, prefix, instanceId, report),
        app => app.get(Listener).setting,
        (value: string) => value,
        marker => () => writer.put(`${prefix}${KEY}`).value(marker).exec(),
      );
    const silentSide = side(silent, 'silent-1', false);
    const stats = await measurePropagation({
      changes: ctx.quick ? 300 : 1000,
      module: side(reporting, 'reporting-2', true),
      raw: {
        markerOf: kv => kv.value.toString(),
        put: silentSide.put,
        start: seen =>
          silentSide.start(value => seen({ key: Buffer.alloc(0), value: Buffer.from(value) })),
      },
    });
    return {
      burstChanges,
      statusWrites: burst.writes,
      burstToStatusMs: round(burst.ms, 0),
      changes: stats.changes,
      reportingP50Ms: round(stats.moduleP50Ms, 3),
      reportingP99Ms: round(stats.moduleP99Ms, 3),
      silentP50Ms: round(stats.rawP50Ms, 3),
      silentP99Ms: round(stats.rawP99Ms, 3),
      addedP50Ms: round(stats.moduleP50Ms - stats.rawP50Ms, 3),
      p50Ratio: round(stats.p50Ratio, 3),
    };
  } finally {
    writer.close();
  }
}
