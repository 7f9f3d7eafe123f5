import { parseInstance } from '../discovery/service-instance.codec.js';
import type { ServiceInstance } from '../discovery/service-instance.interface.js';
import { UnknownServiceError } from '../errors/unknown-service.error.js';
import type {
  AdminInstance,
  InstanceStatus,
  KeyStatus,
  ServiceSummary,
} from './admin.interfaces.js';
import { type AdminContext, keyOf } from './admin-context.js';
import type { FleetEntry, FleetView } from './fleet-view.js';

/** How long (ms) a lease's TimeToLive answer is reused, counted down, by a reader with a live view. */
const TTL_REUSE_MS = 3_000;

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
  /** Each entry's parsed status (registered: false) or instance: parsed once per key revision. */
  private readonly parsedStatuses = new WeakMap<FleetEntry, InstanceStatus | null>();
  private readonly parsedInstances = new WeakMap<
    FleetEntry,
    (ServiceInstance & { lease: string }) | null
  >();

  /** The last TimeToLive answer per lease (with a live view only) and when it came. */
  private readonly ttls = new Map<string, { ttl: number | undefined; at: number }>();

  constructor(
    private readonly ctx: AdminContext,
    /** The live view of the registry and status prefixes, when the face keeps one (the console). */
    private readonly view?: FleetView,
  ) {}

  /** Every service with a registration or a status, sorted. */
  async services(): Promise<ServiceSummary[]> {
    const { registry, status } = this.ctx.prefixes;
    const [registered, reported] = await Promise.all([
      this.read(registry, registry, 'list services under'),
      this.read(status, status, 'list config statuses under'),
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
    for (const entry of registered) {
      const path = split(entry.key.slice(registry.length));
      if (path) summary(path.service).instances++;
    }
    for (const entry of reported) {
      const path = split(entry.key.slice(status.length));
      if (!path) continue;
      const parsed = this.status(entry, path.service, path.id);
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
    const readBoth = (fresh: boolean) =>
      Promise.all([
        this.read(this.ctx.prefixes.registry, registryPrefix, 'list instances under', fresh),
        this.read(this.ctx.prefixes.status, statusPrefix, 'list config statuses under', fresh),
      ]);
    let [registered, reported] = await readBoth(false);
    if (registered.length === 0 && reported.length === 0 && this.view) {
      // The live view may not have seen a registration made a moment ago: ask etcd itself before
      // calling the service unknown.
      [registered, reported] = await readBoth(true);
    }
    const instances = registered.flatMap(entry => {
      const id = entry.key.slice(registryPrefix.length);
      if (id.length === 0 || id.includes('/')) return [];
      const parsed = this.instance(entry, service, id);
      return parsed ? [parsed] : [];
    });
    const ids = new Set(instances.map(i => i.instanceId));
    const statuses = reported
      .flatMap(entry => {
        const id = entry.key.slice(statusPrefix.length);
        const parsed = this.status(entry, service, id);
        return parsed ? [{ ...parsed, registered: ids.has(id) }] : [];
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

  /**
   * The entries under `prefix` (inside the watched `root`): from the live view when it is synced
   * and connected, else one Range (in key order, as etcd lists them).
   */
  private async read(
    root: string,
    prefix: string,
    operation: string,
    fresh = false,
  ): Promise<FleetEntry[]> {
    const live = fresh ? undefined : await this.view?.entries(root, prefix);
    if (live) return live.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const kvs = await this.ctx.list(prefix, operation);
    return kvs.map(kv => ({
      key: keyOf(kv),
      value: kv.value,
      lease: kv.lease,
      modRevision: Number(kv.mod_revision),
    }));
  }

  private status(entry: FleetEntry, service: string, id: string): InstanceStatus | undefined {
    let parsed = this.parsedStatuses.get(entry);
    if (parsed === undefined) {
      parsed = parseStatus(service, id, entry.value.toString('utf8'), false) ?? null;
      this.parsedStatuses.set(entry, parsed);
    }
    return parsed ?? undefined;
  }

  private instance(
    entry: FleetEntry,
    service: string,
    id: string,
  ): (ServiceInstance & { lease: string }) | undefined {
    let parsed = this.parsedInstances.get(entry);
    if (parsed === undefined) {
      const result = parseInstance(service, id, entry.value);
      parsed = result.ok ? { ...result.instance, lease: entry.lease } : null;
      this.parsedInstances.set(entry, parsed);
    }
    return parsed ?? undefined;
  }

  private async leaseTtl(lease: string): Promise<number | undefined> {
    if (!lease || lease === '0') return undefined;
    if (this.view) return this.cachedTtl(lease);
    return this.askTtl(lease);
  }

  /**
   * With a live view (a console page of 200 instances would ask 200 TimeToLive per render): the
   * answer of the last TimeToLive of the lease, minus the time since, for {@link TTL_REUSE_MS}.
   * A kept-alive lease is renewed in the meantime, so this never shows more time left than it has.
   */
  private async cachedTtl(lease: string): Promise<number | undefined> {
    const now = this.ctx.clock.now();
    const known = this.ttls.get(lease);
    if (known && now - known.at < TTL_REUSE_MS) {
      if (known.ttl === undefined) return undefined;
      return Math.max(0, Math.round(known.ttl - (now - known.at) / 1000));
    }
    if (this.ttls.size > 10_000) {
      for (const [id, entry] of this.ttls) if (now - entry.at >= TTL_REUSE_MS) this.ttls.delete(id);
    }
    const ttl = await this.askTtl(lease);
    this.ttls.set(lease, { ttl, at: now });
    return ttl;
  }

  private async askTtl(lease: string): Promise<number | undefined> {
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
