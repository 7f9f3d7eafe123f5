import { hostname } from 'node:os';
import { resolve } from 'node:path';

/**
 * What the sample app reads from its environment. Everything has a default, so `nest start` works
 * with no variables set (etcd at http://127.0.0.1:2379, HTTP on port 3000).
 *
 * | variable               | default                                  |
 * | ---------------------- | ---------------------------------------- |
 * | `PORT`                 | `3000`                                   |
 * | `ETCD_HOSTS`           | `http://127.0.0.1:2379` (read by the module itself) |
 * | `SAMPLE_SNAPSHOT_FILE` | `.etcd/sample-config-<port>.snapshot.json` |
 * | `SAMPLE_HOST`          | first non-internal IPv4 (the module's default) |
 * | `SAMPLE_INSTANCE_ID`   | `sample-<hostname>-<port>`               |
 * | `SAMPLE_DRAIN_DELAY`   | `1000` (ms answering after deregistration on shutdown) |
 * | `SAMPLE_REPORT_CRON`   | every 10 s (ReportJob, leader only)      |
 */
export class SampleSettings {
  /** HTTP port; also the port published in the registry. */
  readonly port: number;
  /** This instance's id in the registry (`/services/sample/<instanceId>`). */
  readonly instanceId: string;
  /** Host other instances use to reach this one; `undefined` lets the module pick. */
  readonly host: string | undefined;
  /** Last-known-good copy of the config, used to boot while etcd is down. */
  readonly snapshotFile: string;
  /** `registry.drainDelay`: ms this instance keeps answering after it deregistered on shutdown. */
  readonly drainDelay: number;

  constructor(env: NodeJS.ProcessEnv = process.env) {
    this.port = parsePort(env.PORT);
    this.instanceId = env.SAMPLE_INSTANCE_ID || `sample-${hostname()}-${this.port}`;
    this.host = env.SAMPLE_HOST || undefined;
    // One file per port: two instances on one machine each keep their own last-known-good copy.
    this.snapshotFile = resolve(
      env.SAMPLE_SNAPSHOT_FILE || `.etcd/sample-config-${this.port}.snapshot.json`,
    );
    this.drainDelay = parseDrainDelay(env.SAMPLE_DRAIN_DELAY);
  }
}

/** The service name this app registers under, and the config prefix it owns. */
export const SERVICE_NAME = 'sample';
export const CONFIG_PREFIX = '/config/sample/';

function parsePort(raw: string | undefined): number {
  if (raw === undefined || raw === '') return 3000;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`PORT must be an integer between 0 and 65535, got ${JSON.stringify(raw)}`);
  }
  return port;
}

function parseDrainDelay(raw: string | undefined): number {
  if (raw === undefined || raw === '') return 1000;
  const ms = Number(raw);
  if (!Number.isInteger(ms) || ms < 0) {
    throw new Error(
      `SAMPLE_DRAIN_DELAY must be an integer number of ms >= 0, got ${JSON.stringify(raw)}`,
    );
  }
  return ms;
}
