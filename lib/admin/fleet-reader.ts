import { parseInstance } from '../discovery/service-instance.codec.js';
import type { ServiceInstance } from '../discovery/service-instance.interface.js';
import { UnknownServiceError } from '../errors/unknown-service.error.js';
import type {
  AdminInstance,
  InstanceStatus,
  KeyStatus,
  ServiceSummary,
} from './admin.interfaces.js';
import { type AdminContext, keyOf, textOf } from './admin-context.js';

/** A service's registrations and statuses, read together. @internal */
export interface Fleet {
  service: string;
  instances: Array<ServiceInstance & { lease: string }>;
  statuses: InstanceStatus[];
}

/**
 * Reads what the fleet tells about itself: registrations under the registry prefix and the status
 * keys the instances write (docs/cli.md). @internal
 */
export class FleetReader {
  constructor(private readonly ctx: AdminContext) {}

  /** Every service with a registration or a status, sorted. */
  async services(): Promise<ServiceSummary[]> {
    const { registry, status } = this.ctx.prefixes;
    const [registered, reported] = await Promise.all([
      this.ctx.list(registry, 'list services under'),
      this.ctx.list(status, 'list config statuses under'),
    ]);
    const summaries = new Map<string, ServiceSummary>();
    const summary = (name: string) => {
      let found = summaries.get(name);
      if (!found) {
        found = { name, instances: 0, reporting: 0, rejecting: 0 };
        summaries.set(name, found);
      }
      return found;
    };
    for (const kv of registered) {
      const path = split(keyOf(kv).slice(registry.length));
      if (path) summary(path.service).instances++;
    }
    for (const kv of reported) {
      const path = split(keyOf(kv).slice(status.length));
      if (!path) continue;
      const parsed = parseStatus(path.service, path.id, textOf(kv), true);
      const found = summary(path.service);
      found.reporting++;
      if (parsed && rejects(parsed)) found.rejecting++;
    }
    return [...summaries.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Registrations and statuses of one service. @throws UnknownServiceError when it has neither. */
  async fleet(service: string): Promise<Fleet> {
    checkName(service);
    const registryPrefix = `${this.ctx.prefixes.registry}${service}/`;
    const statusPrefix = `${this.ctx.prefixes.status}${service}/`;
    const [registered, reported] = await Promise.all([
      this.ctx.list(registryPrefix, 'list instances under'),
      this.ctx.list(statusPrefix, 'list config statuses under'),
    ]);
    const instances = registered.flatMap(kv => {
      const id = keyOf(kv).slice(registryPrefix.length);
      if (id.length === 0 || id.includes('/')) return [];
      const parsed = parseInstance(service, id, kv.value);
      return parsed.ok ? [{ ...parsed.instance, lease: kv.lease }] : [];
    });
    const ids = new Set(instances.map(i => i.instanceId));
    const statuses = reported
      .flatMap(kv => {
        const id = keyOf(kv).slice(statusPrefix.length);
        const parsed = parseStatus(service, id, textOf(kv), ids.has(id));
        return parsed ? [parsed] : [];
      })
      .sort((a, b) => a.instanceId.localeCompare(b.instanceId));
    if (instances.length === 0 && statuses.length === 0) {
      const known = (await this.services()).map(s => s.name);
      throw new UnknownServiceError(service, known);
    }
    return { service, instances, statuses };
  }

  /** The registered instances, with lease TTL left and the config revision each applied. */
  async instances(service: string): Promise<AdminInstance[]> {
    const fleet = await this.fleet(service);
    const byId = new Map(fleet.statuses.map(s => [s.instanceId, s]));
    const rows = await Promise.all(
      fleet.instances.map(async ({ lease, ...instance }) => {
        const status = byId.get(instance.instanceId);
        const row: AdminInstance = {
          ...instance,
          rejectedKeys: status ? Object.values(status.keys).filter(isRejected).length : 0,
        };
        const ttl = await this.leaseTtl(lease);
        if (ttl !== undefined) row.leaseTtlLeft = ttl;
        if (status) row.configRevision = status.revision;
        return row;
      }),
    );
    return rows.sort((a, b) => a.instanceId.localeCompare(b.instanceId));
  }

  private async leaseTtl(lease: string): Promise<number | undefined> {
    if (!lease || lease === '0') return undefined;
    try {
      const res = await this.ctx.kv.leaseClient.leaseTimeToLive({ ID: lease });
      const ttl = Number(res.TTL);
      return Number.isFinite(ttl) && ttl >= 0 ? ttl : undefined;
    } catch {
      // a lease that ended between the list and this call, or no permission: no TTL shown
      return undefined;
    }
  }
}

/** Reads one status key; `undefined` when it is not a status object. @internal */
export function parseStatus(
  service: string,
  instanceId: string,
  text: string,
  registered: boolean,
): InstanceStatus | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isObject(raw)) return undefined;
  const keys: Record<string, KeyStatus> = {};
  if (isObject(raw.keys)) {
    for (const [key, value] of Object.entries(raw.keys)) {
      if (!isObject(value)) continue;
      const status: KeyStatus = {
        revision: num(value.revision),
        source: typeof value.source === 'string' ? value.source : '',
        state: value.state === 'rejected' ? 'rejected' : 'applied',
      };
      if (typeof value.reason === 'string') status.reason = value.reason;
      if (typeof value.rejectedRevision === 'number') {
        status.rejectedRevision = value.rejectedRevision;
      }
      if (typeof value.schema === 'string') status.schema = value.schema;
      Object.defineProperty(keys, key, { value: status, enumerable: true, writable: true });
    }
  }
  return {
    serviceName: service,
    instanceId,
    prefix: typeof raw.prefix === 'string' ? raw.prefix : '/config/',
    shared: strings(raw.shared),
    profiles: strings(raw.profiles),
    revision: num(raw.revision),
    keys,
    registered,
  };
}

function rejects(status: InstanceStatus): boolean {
  return Object.values(status.keys).some(isRejected);
}

function isRejected(key: KeyStatus): boolean {
  return key.state === 'rejected';
}

function split(rest: string): { service: string; id: string } | undefined {
  const slash = rest.indexOf('/');
  if (slash <= 0 || slash === rest.length - 1) return undefined;
  return { service: rest.slice(0, slash), id: rest.slice(slash + 1) };
}

function checkName(service: string): void {
  if (service.length === 0 || service.includes('/')) {
    throw new UnknownServiceError(service, []);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function num(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : Number(value) || 0;
}
