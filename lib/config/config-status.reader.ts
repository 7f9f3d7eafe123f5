import { setOwn } from '../common/own-property.js';
import type { ConfigFanout } from './config-fanout.js';
import type { ConfigReport, ServedValue } from './config-report.js';
import type { PublishedSchema } from './config-schema.js';
import type { ConfigKeyStatus, ConfigStatus } from './config-status.js';
import type { ConfigStore } from './config-store.js';

/** What the status reader reads of the config center. @internal */
export interface ConfigStatusView {
  prefix(): string;
  shared(): readonly string[];
  profiles(): readonly string[];
  /** The watches' revision, or the snapshot's while offline. */
  currentRevision(): number;
  store(): ConfigStore | undefined;
}

/**
 * Reads the config center's state as the status key, health and metrics show it: the revision
 * served, each key's served revision and state, and the JSON Schemas the app's ConfigValues publish.
 * It only reads (the {@link ConfigReport} marks, the readers' values, the store).
 * @internal
 */
export class ConfigStatusReader {
  constructor(
    private readonly view: ConfigStatusView,
    private readonly report: ConfigReport,
    private readonly fanout: ConfigFanout,
  ) {}

  /** See EtcdConfigService.servedRevision. */
  get servedRevision(): number {
    if (!this.report.hasRejections) return this.view.currentRevision();
    let served = this.report.lastDelete;
    for (const key of this.statusKeys()) served = Math.max(served, this.served(key).revision);
    return served;
  }

  /** Each key's served revision and state (what the status key reports), by key. */
  keyStatuses(): Record<string, ConfigKeyStatus> {
    const keys: Record<string, ConfigKeyStatus> = {};
    for (const key of this.statusKeys()) {
      setOwn(
        keys,
        key,
        this.report.keyStatus(key, this.served(key), this.fanout.values.get(key)?.options),
      );
    }
    return keys;
  }

  /** What this instance reports in its status key (without its service name and instance id). */
  status(): Omit<ConfigStatus, 'serviceName' | 'instanceId'> {
    const view = this.view;
    return {
      prefix: view.prefix(),
      shared: [...view.shared()],
      profiles: [...view.profiles()],
      revision: view.currentRevision(),
      keys: this.keyStatuses(),
    };
  }

  /** The JSON Schemas the app's ConfigValues publish (one per hash). */
  publishedSchemas(): PublishedSchema[] {
    const byHash = new Map<string, PublishedSchema>();
    for (const [key, value] of this.fanout.values) {
      const schema = this.report.schemaOf(key, value.options);
      if (schema) byHash.set(schema.hash, schema);
    }
    return [...byHash.values()];
  }

  /** Every key the status covers: those served (any layer) and those a ConfigValue declares. */
  private statusKeys(): string[] {
    const keys = new Set<string>(
      this.view
        .store()
        ?.effectiveEntries()
        .map(entry => entry.configKey),
    );
    for (const key of this.fanout.values.keys()) keys.add(key);
    return [...keys].sort();
  }

  /** The revision and etcd key of the value served for a key (revision 0: its default). */
  private served(key: string): ServedValue {
    const value = this.fanout.values.get(key);
    const accepted = value ? value.accepted : this.fanout.effectiveOf(key);
    return accepted
      ? { revision: accepted.revision, source: accepted.source }
      : { revision: 0, source: `${this.view.prefix()}${key}` };
  }
}
