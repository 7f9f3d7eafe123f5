import { z } from 'zod';
import { canonicalJson, schemaHash } from '../../lib/index.js';
import type { EtcdServer } from './etcd-server.js';

/** The `orders` schemas of the story: v2 also requires `currency`, which v1 ignores. */
export const ordersV1 = z.object({ max: z.number().int().positive() });
export const ordersV2 = z.object({
  max: z.number().int().positive(),
  currency: z.enum(['EUR', 'USD']),
});

/** A status key as an instance writes it (docs/cli.md), for specs that run no instance. */
export interface FakeStatus {
  instanceId: string;
  prefix?: string;
  shared?: string[];
  profiles?: string[];
  revision?: number;
  keys?: Record<
    string,
    {
      revision?: number;
      source?: string;
      state?: string;
      reason?: string;
      rejectedRevision?: number;
      schema?: string;
    }
  >;
}

/** Publishes a zod 4 schema at `/config-schemas/<hash>` as an instance would; resolves with the hash. */
export async function publishSchema(etcd: EtcdServer, schema: z.ZodType): Promise<string> {
  const jsonSchema = z.toJSONSchema(schema, { io: 'input' });
  const hash = schemaHash(jsonSchema);
  await etcd.put(`/config-schemas/${hash}`, canonicalJson(jsonSchema));
  return hash;
}

/** Writes the status key of an instance of `service` (and its registration, unless `registered: false`). */
export async function writeStatus(
  etcd: EtcdServer,
  service: string,
  status: FakeStatus,
  options: { registered?: boolean } = {},
): Promise<void> {
  const { instanceId } = status;
  await etcd.put(
    `/config-status/${service}/${instanceId}`,
    JSON.stringify({
      serviceName: service,
      prefix: '/config/',
      shared: [],
      profiles: [],
      revision: 0,
      keys: {},
      ...status,
    }),
  );
  if (options.registered !== false) {
    await etcd.put(
      `/services/${service}/${instanceId}`,
      JSON.stringify({ host: '127.0.0.1', port: 1000, serviceName: service, instanceId }),
    );
  }
}
