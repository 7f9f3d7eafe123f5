import type { IKeyValue } from 'etcd3';
import { configLayers, mergeDocuments } from '../config/config-layers.js';
import { decodeByFormat, formatOf } from '../config/config-codec.js';
import { assembleFolder, type ConfigEntry } from '../config/config-store.js';
import type { AffectedInstance, InstanceVerdict, ValidationReport } from './admin.interfaces.js';
import { type AdminContext, keyOf, textOf } from './admin-context.js';
import { type InstanceReach, type KeyTarget, reachOf } from './fleet-layers.js';
import type { Fleet } from './fleet-reader.js';
import type { SchemaChecker } from './schema-checker.js';

/**
 * Checks a candidate value the way each instance it reaches will: decoded by the key's format (the
 * module's codec), placed in the instance's layers (a higher layer holding the key shadows it; under
 * a profile a document merges with the layers below it, config-layers.ts's mergeDocuments; a folder
 * key is assembled with the candidate in place), then checked against the JSON Schema the
 * instance published for that key. One per admin operation: it caches what it reads. @internal
 */
export class CandidateValidation {
  private readonly reads = new Map<string, Promise<IKeyValue | undefined>>();
  private readonly lists = new Map<string, Promise<IKeyValue[]>>();

  constructor(
    private readonly ctx: AdminContext,
    private readonly schemas: SchemaChecker,
    private readonly fleet: Fleet,
  ) {}

  /** Which instances a write of `etcdKey` reaches, and what shadows it for each. */
  async affected(etcdKey: string): Promise<AffectedInstance[]> {
    return Promise.all(
      reachOf(this.fleet, etcdKey).map(async reach => {
        const row: AffectedInstance = {
          instanceId: reach.status.instanceId,
          configKey: reach.configKey,
          layer: reach.kind,
        };
        if (reach.layer.profile !== undefined) row.profile = reach.layer.profile;
        const { shadowedBy } = await this.placement(reach, undefined);
        if (shadowedBy) row.shadowedBy = shadowedBy;
        if (reach.keyStatus?.schema) row.schema = reach.keyStatus.schema;
        return row;
      }),
    );
  }

  /** Validates `text` as the new value of `target` (`undefined`: a delete, only shadows change). */
  async validate(target: KeyTarget, text: string): Promise<ValidationReport> {
    const decoded = decodeByFormat(text, target.format);
    const report: ValidationReport = {
      etcdKey: target.etcdKey,
      format: target.format,
      ok: decoded.ok,
      instances: [],
    };
    if (!decoded.ok) {
      report.formatError = decoded.reason;
      return report;
    }
    report.instances = await Promise.all(
      reachOf(this.fleet, target.etcdKey).map(reach => this.verdict(reach, decoded.value)),
    );
    report.ok = report.instances.every(v => v.ok);
    return report;
  }

  private async verdict(reach: InstanceReach, value: unknown): Promise<InstanceVerdict> {
    const verdict: InstanceVerdict = {
      instanceId: reach.status.instanceId,
      ok: true,
      layer: reach.kind,
    };
    const placed = await this.placement(reach, value);
    if (placed.shadowedBy) verdict.shadowedBy = placed.shadowedBy;
    const hash = reach.keyStatus?.schema;
    if (hash === undefined) {
      verdict.noSchema = true;
      return verdict;
    }
    verdict.schema = hash;
    // A shadowed value is not served: the instance never checks it against its schema.
    if (placed.shadowedBy) return verdict;
    const schema = await this.schemas.load(hash);
    if (!schema.ok) {
      verdict.noSchema = true;
      verdict.reason = schema.reason;
      return verdict;
    }
    const checked =
      reach.statusKey !== undefined && reach.statusKey !== reach.configKey
        ? await this.folderValue(reach, reach.statusKey, value)
        : placed.value;
    const complaint = schema.check(checked);
    if (complaint !== undefined) {
      verdict.ok = false;
      verdict.reason = complaint;
    }
    return verdict;
  }

  /**
   * Where the candidate lands among the instance's layers, by the store's rule: the highest layer
   * holding the key supplies the value; under an active profile a document (`*.json`, `*.yaml`) is
   * the overlays merged into the document below them, down to the first layer without a profile
   * ({@link mergeDocuments}). The candidate is shadowed when it is not part of that value.
   */
  private async placement(
    reach: InstanceReach,
    candidate: unknown,
  ): Promise<{ value: unknown; shadowedBy?: string }> {
    const layers = configLayers(reach.layout).reverse(); // highest first
    const own = layers.findIndex(l => l.prefix === reach.layer.prefix);
    const entries = await Promise.all(
      layers.map(async (layer, i) => {
        const key = layer.prefix + reach.configKey;
        if (i === own) return { key, layer, value: candidate };
        const kv = await this.read(key);
        if (!kv) return undefined;
        const decoded = decodeByFormat(textOf(kv), formatOf(key));
        // an undecodable value is refused by the instance, which serves what it had: left out
        return decoded.ok ? { key, layer, value: decoded.value } : undefined;
      }),
    );
    const top = entries.findIndex(e => e !== undefined);
    const shadowed = { value: candidate, shadowedBy: entries[top]!.key };
    if (formatOf(reach.configKey) === 'auto' || layers[top]!.profile === undefined) {
      return top === own ? { value: candidate } : shadowed;
    }
    // a document under a profile: the overlays merged into the document below them, down to the
    // first layer without a profile
    const parts: unknown[] = [];
    let includesOwn = false;
    for (let i = top; i < layers.length; i++) {
      const entry = entries[i];
      if (!entry) continue;
      parts.push(entry.value);
      if (i === own) includesOwn = true;
      if (entry.layer.profile === undefined) break;
    }
    if (!includesOwn) return shadowed;
    let value = parts[parts.length - 1];
    for (let n = parts.length - 2; n >= 0; n--) value = mergeDocuments(value, parts[n]);
    return { value };
  }

  /** The folder `folder` as the instance would assemble it with the candidate in place. */
  private async folderValue(
    reach: InstanceReach,
    folder: string,
    candidate: unknown,
  ): Promise<Record<string, unknown>> {
    const layers = configLayers(reach.layout);
    const effective = new Map<string, { rank: number; decoded: unknown }>();
    const put = (configKey: string, rank: number, decoded: unknown) => {
      const current = effective.get(configKey);
      if (!current || current.rank <= rank) effective.set(configKey, { rank, decoded });
    };
    await Promise.all(
      layers.map(async (layer, rank) => {
        for (const kv of await this.list(layer.prefix + folder)) {
          const etcdKey = keyOf(kv);
          const result = decodeByFormat(textOf(kv), formatOf(etcdKey));
          // the instance keeps its last good value for a key it cannot decode: left out here
          if (result.ok) put(etcdKey.slice(layer.prefix.length), rank, result.value);
        }
      }),
    );
    const rank = layers.findIndex(l => l.prefix === reach.layer.prefix);
    put(reach.configKey, rank, candidate);
    const entries = [...effective.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([configKey, { decoded }]) => ({ configKey, decoded }));
    // assembleFolder reads only `configKey` and `decoded` of each entry: the module's own rule.
    return assembleFolder(folder, entries as unknown as ConfigEntry[]);
  }

  private read(key: string): Promise<IKeyValue | undefined> {
    let found = this.reads.get(key);
    if (!found) {
      found = this.ctx.read(key, 'read');
      this.reads.set(key, found);
    }
    return found;
  }

  private list(prefix: string): Promise<IKeyValue[]> {
    let found = this.lists.get(prefix);
    if (!found) {
      found = this.ctx.list(prefix, 'list');
      this.lists.set(prefix, found);
    }
    return found;
  }
}
