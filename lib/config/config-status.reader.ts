import { setOwn } from '../common/own-property.js';
import type { ConfigFanout } from './config-fanout.js';
import type { ConfigReport, ServedValue } from './config-report.js';
import type { PublishedSchema } from './config-schema.js';
import type { ConfigKeyStatus, ConfigStatus } from './config-status.js';
import type { ConfigStore } from './config-store.js';

type Reported = ReturnType<ConfigStore['reportedEntries']>;

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
    const reported = this.reported();
    let served = this.report.lastDelete;
    for (const key of this.statusKeys(reported)) {
      served = Math.max(served, this.served(key, reported).revision);
    }
    return served;
  }

  /** Each key's served revision and state (what the status key reports), by key. */
  keyStatuses(reported = this.reported()): Record<string, ConfigKeyStatus> {
    const keys: Record<string, ConfigKeyStatus> = {};
    for (const key of this.statusKeys(reported)) {
      const options = this.fanout.values.get(key)?.options;
      setOwn(keys, key, this.report.keyStatus(key, this.served(key, reported), options));
    }
    return keys;
  }

  /**
   * What this instance reports in its status key (without its service name and instance id). A key
   * nobody read is not decoded for it where that costs: a large YAML document is checked off the
   * loop, and until then reported at the revision before it, with the top-level `revision` below
   * its own (so a rollout waits for the outcome).
   */
  status(): Omit<ConfigStatus, 'serviceName' | 'instanceId'> {
    const view = this.view;
    const reported = this.reported();
    const revision = view.currentRevision();
    return {
      prefix: view.prefix(),
      shared: [...view.shared()],
      profiles: [...view.profiles()],
      revision:
        reported.undecided === undefined ? revision : Math.min(revision, reported.undecided - 1),
      keys: this.keyStatuses(reported),
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

  /** The store's entries as the status reports them (nothing decoded that nobody read). */
  private reported(): Reported {
    return this.view.store()?.reportedEntries() ?? { entries: new Map(), undecided: undefined };
  }

  /**
   * Every key the status covers: those served (any layer), those a ConfigValue declares and those
   * that refused a revision with nothing to keep.
   */
  private statusKeys(reported: Reported): string[] {
    const keys = new Set<string>(reported.entries.keys());
    for (const key of this.fanout.values.keys()) keys.add(key);
    for (const key of this.report.refusedKeys()) keys.add(key);
    return [...keys].sort();
  }

  /** The revision and etcd key of the value served for a key (revision 0: its default). */
  private served(key: string, reported: Reported): ServedValue {
    const value = this.fanout.values.get(key);
    if (value) {
      const accepted = value.accepted;
      if (accepted) return { revision: accepted.revision, source: accepted.source };
    } else {
      const entry = reported.entries.get(key);
      if (entry) return { revision: entry.modRevision, source: entry.key };
    }
    return { revision: 0, source: `${this.view.prefix()}${key}` };
  }
}
