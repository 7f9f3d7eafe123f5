import type { EtcdAdmin } from '../admin/etcd-admin.js';
import type { AdminInstance, InstanceStatus } from '../admin/admin.interfaces.js';
import { formatOf } from '../config/config-codec.js';
import { UnknownServiceError } from '../errors/unknown-service.error.js';
import type { ConfigKeyView } from './pages/config.page.js';
import type { KeyPageData, KeyRef, KeyInstanceView } from './pages/key.page.js';

/** History rows shown on a key's page. */
const HISTORY_LIMIT = 20;

/**
 * What each page shows, read from the admin core: the only place the console asks etcd anything.
 * It combines the core's answers for a page (e.g. status + stored values for the config table) and
 * decides nothing the core decides (formats, layers, schemas, who is affected).
 */
export class ConsoleViews {
  constructor(private readonly admin: EtcdAdmin) {}

  /** The statuses of a service's instances; none (not an error) when nothing reports. */
  async statuses(service: string): Promise<InstanceStatus[]> {
    try {
      return await this.admin.status(service);
    } catch (err) {
      if (err instanceof UnknownServiceError) return [];
      throw err;
    }
  }

  /** The live instances of a service; none (not an error) when nothing is registered. */
  async instances(service: string): Promise<AdminInstance[]> {
    try {
      return await this.admin.instances(service);
    } catch (err) {
      if (err instanceof UnknownServiceError) return [];
      throw err;
    }
  }

  /**
   * Every key of the service: those stored under its own prefix or a profile overlay, and those its
   * instances report (from a shared layer, say); with who serves what. One fleet read and one range
   * read per layer (`EtcdAdmin.list`).
   */
  async config(service: string): Promise<{ statuses: InstanceStatus[]; keys: ConfigKeyView[] }> {
    const statuses = await this.statuses(service);
    const profiles = [...new Set(statuses.flatMap(s => s.profiles))].sort();
    const [base, ...overlays] = await Promise.all([
      this.admin.list(service),
      ...profiles.map(profile => this.admin.list(service, { profile })),
    ]);
    const stored = new Map(base.map(v => [v.key, v]));
    const overlaid = overlays.map(list => new Map(list.map(v => [v.key, v])));
    const names = [
      ...new Set([
        ...stored.keys(),
        ...overlays.flatMap(list => list.map(v => v.key)),
        ...statuses.flatMap(s => Object.keys(s.keys)),
      ]),
    ].sort();
    const prefix = statuses[0]?.prefix ?? '';
    // One pass over what the instances report (200 instances x 500 keys), not one per key.
    const served = new Map<string, ConfigKeyView['instances']>();
    for (const s of statuses) {
      for (const [key, status] of Object.entries(s.keys)) {
        const row = { instanceId: s.instanceId, profiles: s.profiles, status };
        const rows = served.get(key);
        if (rows) rows.push(row);
        else served.set(key, [row]);
      }
    }
    const keys = names.map((key): ConfigKeyView => ({
      key,
      base: stored.get(key) ?? {
        key,
        etcdKey: `${prefix}${key}`,
        text: undefined,
        revision: 0,
        version: 0,
        format: formatOf(key),
      },
      overlays: overlaid.flatMap((map, i) => {
        const value = map.get(key);
        return value ? [{ profile: profiles[i]!, value }] : [];
      }),
      instances: served.get(key) ?? [],
    }));
    return { statuses, keys };
  }

  /** The instances a write of the key reaches, with what each serves now. */
  async keyInstances(ref: KeyRef, etcdKey?: string): Promise<KeyInstanceView[]> {
    const target =
      etcdKey ?? (await this.admin.get(ref.service, ref.key, { profile: ref.profile })).etcdKey;
    const [affected, statuses] = await Promise.all([
      this.admin.affected(ref.service, target),
      this.statuses(ref.service),
    ]);
    const byId = new Map(statuses.map(s => [s.instanceId, s]));
    return affected.map(a => ({ affected: a, status: byId.get(a.instanceId)?.keys[a.configKey] }));
  }

  /** Everything a key's page shows. */
  async key(ref: KeyRef): Promise<KeyPageData> {
    const value = await this.admin.get(ref.service, ref.key, { profile: ref.profile });
    const [instances, history, overlays] = await Promise.all([
      this.keyInstances(ref, value.etcdKey),
      this.admin.history(ref.service, ref.key, { profile: ref.profile, limit: HISTORY_LIMIT }),
      ref.profile ? Promise.resolve([]) : this.overlays(ref),
    ]);
    return { value, instances, history, overlays };
  }

  /** The active profiles of the fleet that have an overlay of the key. */
  private async overlays(ref: KeyRef): Promise<string[]> {
    const statuses = await this.statuses(ref.service);
    const profiles = [...new Set(statuses.flatMap(s => s.profiles))].sort();
    const values = await Promise.all(
      profiles.map(profile => this.admin.get(ref.service, ref.key, { profile })),
    );
    return profiles.filter((_, i) => values[i]!.text !== undefined);
  }
}
