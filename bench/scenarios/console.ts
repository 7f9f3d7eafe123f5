import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Etcd3, type Lease } from 'etcd3';
import { EtcdConsoleModule } from '../../lib/console/index.js';
import { type BenchContext, median, now, percentile } from '../bench-utils.js';
import { instanceValue } from './registry.js';

/** Result of the console scenario: server time of a page, request to last byte, per page. */
export interface ConsoleResult {
  instances: number;
  keys: number;
  /** Median and p99 ms per page (services, instances of the service, its config, one key). */
  pages: Record<string, { p50Ms: number; p99Ms: number; bytes: number }>;
  /** The slowest page's median: the figure the < 100 ms target is about. */
  slowestP50Ms: number;
}

const SERVICE = 'bench-console';
const PREFIX = `/config/${SERVICE}/`;

/**
 * Scenario: the console's pages for a service of 200 instances reading 500 keys. Instance keys
 * (each under its own lease, as a registered app keeps it), the 500 config keys and each instance's
 * status key (DESIGN §10: every key applied, a few rejected) are written directly; then an express
 * app with only the console GETs each page `rounds` times (after one warm-up) over loopback HTTP.
 */
export async function consolePages(ctx: BenchContext): Promise<ConsoleResult> {
  const instances = 200;
  const keys = 500;
  const rounds = ctx.quick ? 10 : 40;
  const client = new Etcd3({ hosts: ctx.endpoint });
  const leases: Lease[] = [];
  try {
    const names = Array.from({ length: keys }, (_, i) => `key-${String(i).padStart(3, '0')}.json`);
    for (let i = 0; i < keys; i += 100) {
      await Promise.all(
        names
          .slice(i, i + 100)
          .map(name => client.put(`${PREFIX}${name}`).value(JSON.stringify({ name, limit: 10 }))),
      );
    }
    const revision = Number((await client.get(`${PREFIX}${names[0]}`).exec()).header.revision);
    for (let i = 0; i < instances; i += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, instances - i) }, async (_, j) => {
          const n = i + j;
          const id = `inst-${String(n).padStart(3, '0')}`;
          const lease = client.lease(120, { autoKeepAlive: false });
          leases.push(lease);
          await lease.put(`/services/${SERVICE}/${id}`).value(instanceValue(SERVICE, id, 9000 + n));
          const status = {
            serviceName: SERVICE,
            instanceId: id,
            prefix: PREFIX,
            shared: [],
            profiles: n % 20 === 0 ? ['canary'] : [],
            revision,
            keys: Object.fromEntries(
              names.map((name, k) => [
                name,
                n % 50 === 0 && k === 0
                  ? {
                      revision,
                      source: `${PREFIX}${name}`,
                      state: 'rejected',
                      rejectedRevision: revision + 1,
                      reason: 'limit: expected number',
                    }
                  : { revision, source: `${PREFIX}${name}`, state: 'applied' },
              ]),
            ),
          };
          await lease.put(`/config-status/${SERVICE}/${id}`).value(JSON.stringify(status));
        }),
      );
    }

    ctx.log(`  wrote ${keys} keys and ${instances} instances with their status`);
    @Module({ imports: [EtcdConsoleModule.forRoot({ connection: { hosts: ctx.endpoint } })] })
    class ConsoleBenchModule {}
    const app = await NestFactory.create(ConsoleBenchModule, { logger: false });
    await app.listen(0, '127.0.0.1');
    try {
      const base = `${(await app.getUrl()).replace('[::1]', '127.0.0.1')}/etcd`;
      const paths: Record<string, string> = {
        services: '',
        instances: `/services/${SERVICE}`,
        config: `/services/${SERVICE}/config`,
        key: `/services/${SERVICE}/key?key=${names[0]}`,
      };
      const pages: ConsoleResult['pages'] = {};
      for (const [page, path] of Object.entries(paths)) {
        const samples: number[] = [];
        let bytes = 0;
        for (let r = 0; r <= rounds; r++) {
          const t = now();
          const res = await fetch(base + path);
          const body = await res.text();
          if (res.status !== 200)
            throw new Error(`GET ${path}: HTTP ${res.status}: ${body.slice(0, 300)}`);
          if (r > 0) samples.push(now() - t);
          else ctx.log(`  ${page}: first GET ${Math.round(now() - t)} ms, ${body.length} bytes`);
          bytes = body.length;
        }
        pages[page] = { p50Ms: median(samples), p99Ms: percentile(samples, 99), bytes };
      }
      return {
        instances,
        keys,
        pages,
        slowestP50Ms: Math.max(...Object.values(pages).map(p => p.p50Ms)),
      };
    } finally {
      await app.close();
    }
  } finally {
    await Promise.allSettled(leases.map(lease => lease.revoke()));
    await client
      .delete()
      .prefix(PREFIX)
      .exec()
      .catch(() => undefined);
    client.close();
  }
}
