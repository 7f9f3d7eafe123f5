import type { EtcdAdmin } from '../admin/etcd-admin.js';
import type { AdminInstance, InstanceStatus } from '../admin/admin.interfaces.js';
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

  /** Every key the service's instances report, with its stored values and who serves what. */
  async config(service: string): Promise<{ statuses: InstanceStatus[]; keys: ConfigKeyView[] }> {
    const statuses = await this.statuses(service);
    const names = [...new Set(statuses.flatMap(s => Object.keys(s.keys)))].sort();
    const profiles = [...new Set(statuses.flatMap(s => s.profiles))].sort();
    const keys = await Promise.all(
      names.map(async (key): Promise<ConfigKeyView> => {
        const [base, ...overlays] = await Promise.all([
          this.admin.get(service, key),
          ...profiles.map(profile => this.admin.get(service, key, { profile })),
        ]);
        return {
          key,
          base: base,
          overlays: overlays
            .map((value, i) => ({ profile: profiles[i]!, value }))
            .filter(o => o.value.text !== undefined),
          instances: statuses.flatMap(s => {
            const status = s.keys[key];
            return status ? [{ instanceId: s.instanceId, profiles: s.profiles, status }] : [];
          }),
        };
      }),
    );
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
