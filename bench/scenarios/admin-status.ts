import { Etcd3 } from 'etcd3';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { EtcdAdmin } from '../../lib/admin/index.js';
import { buildLibOnce } from '../../test/support/build-lib.js';
import { type BenchContext, median, now } from '../bench-utils.js';

/** Result of the admin-status scenario. */
export interface AdminStatusResult {
  /** Instances of the service (each with a registration and a status key). */
  instances: number;
  /** Config keys in each status. */
  keysPerInstance: number;
  /** `nest-etcd status <svc> -o json` as a user runs it (a new node process), median ms. */
  cliMs: number;
  /** The same with the table output, median ms. */
  cliTableMs: number;
  /** `node -e ''` on this machine, median ms: the part of cliMs that is node itself. */
  nodeStartMs: number;
  /** `EtcdAdmin.connect()` + `status()` in a warm process, median ms. */
  coreMs: number;
  /** `status()` alone on a connected EtcdAdmin, median ms. */
  coreStatusMs: number;
  runs: number;
}

const SERVICE = 'bench-admin';

/**
 * The CLI's figure: the time `npx nest-etcd status` takes for a service of 200 instances. The
 * status and registry keys are written directly (as 200 instances would), then the compiled CLI is
 * run as a child process, alternating with a bare `node` start for the baseline; the admin core is
 * also timed in-process.
 */
export async function adminStatus(ctx: BenchContext): Promise<AdminStatusResult> {
  const instances = 200;
  const keysPerInstance = 5;
  const runs = ctx.quick ? 3 : 10;
  const writer = new Etcd3({ hosts: ctx.endpoint });
  try {
    await writer.delete().prefix('/config-status/').exec();
    await writer.delete().prefix(`/services/${SERVICE}/`).exec();
    for (let i = 0; i < instances; i += 50) {
      const txn = writer.if('/bench-admin-guard', 'Version', '==', 0);
      const ops = [];
      for (let j = i; j < Math.min(instances, i + 50); j++) {
        const id = `${SERVICE}-${String(j).padStart(3, '0')}`;
        const keys: Record<string, unknown> = {};
        for (let k = 0; k < keysPerInstance; k++) {
          keys[`key-${k}.json`] = {
            revision: 100 + k,
            source: `/config/key-${k}.json`,
            state: j % 50 === 0 && k === 0 ? 'rejected' : 'applied',
            schema: 'a'.repeat(64),
          };
        }
        ops.push(
          writer.put(`/config-status/${SERVICE}/${id}`).value(
            JSON.stringify({
              serviceName: SERVICE,
              instanceId: id,
              prefix: '/config/',
              shared: [],
              profiles: j % 10 === 0 ? ['canary'] : [],
              revision: 120,
              keys,
            }),
          ),
          writer
            .put(`/services/${SERVICE}/${id}`)
            .value(JSON.stringify({ host: '10.0.0.1', port: 8000 + j })),
        );
      }
      await txn.then(...ops).commit();
    }
  } finally {
    writer.close();
  }

  const bin = join(await buildLibOnce(), 'cli', 'main.js');
  const env = { ...process.env, ETCD_HOSTS: ctx.endpoint, NODE_OPTIONS: '' };
  const timed = async (args: string[]) => {
    const t = now();
    await new Promise<void>((resolve, reject) => {
      execFile(process.execPath, args, { env, maxBuffer: 64 * 1024 * 1024 }, (err, stdout) => {
        if (err) reject(new Error(`${args.join(' ')} failed: ${err.message}`));
        else if (args.length > 2 && !stdout.includes(`${SERVICE}-199`)) {
          reject(new Error(`${args.join(' ')}: instance ${SERVICE}-199 missing from the output`));
        } else resolve();
      });
    });
    return now() - t;
  };
  const cli: number[] = [];
  const table: number[] = [];
  const bare: number[] = [];
  await timed([bin, 'status', SERVICE, '-o', 'json']); // warm-up (disk cache)
  for (let i = 0; i < runs; i++) {
    cli.push(await timed([bin, 'status', SERVICE, '-o', 'json']));
    table.push(await timed([bin, 'status', SERVICE]));
    bare.push(await timed(['-e', '']));
  }

  const core: number[] = [];
  const coreStatus: number[] = [];
  for (let i = 0; i < runs + 1; i++) {
    const t = now();
    const admin = await EtcdAdmin.connect({ hosts: ctx.endpoint });
    try {
      const t2 = now();
      const statuses = await admin.status(SERVICE);
      if (statuses.length !== instances) throw new Error(`status() gave ${statuses.length}`);
      if (i > 0) {
        coreStatus.push(now() - t2);
        core.push(now() - t);
      }
    } finally {
      await admin.close();
    }
  }
  return {
    instances,
    keysPerInstance,
    cliMs: median(cli),
    cliTableMs: median(table),
    nodeStartMs: median(bare),
    coreMs: median(core),
    coreStatusMs: median(coreStatus),
    runs,
  };
}
