import type { Logger } from '@nestjs/common';
import type { ConfigKeyStatus } from './config-status.js';
import { describeSchema, type PublishedSchema, type SchemaDescription } from './config-schema.js';
import type { ConfigRejection, ConfigValueOptions } from './config-value.interface.js';

/** What a key serves: the revision and etcd key of its value (revision 0: its default). @internal */
export interface ServedValue {
  readonly revision: number;
  readonly source: string;
}

/**
 * What the config center knows about its own state, for the status key, health and metrics: the
 * rejections still standing (a key refused a revision and no newer change replaced it), the last
 * applied delete, and the JSON Schema of each key's options. Marks on a change's path are a map
 * look-up at most; everything else runs when a status is built.
 * @internal
 */
export class ConfigReport {
  /** Standing rejections per key: the newest refused revision and why. */
  private readonly refused = new Map<string, ConfigRejection>();
  private readonly schemas = new WeakMap<object, SchemaDescription>();
  /** Revision of the last delete applied (a deleted key serves no revision of its own). */
  private deletedAt = 0;
  /** Called when what the status says may have changed (set by the status writer). */
  listener: (() => void) | undefined;

  constructor(private readonly logger: Logger) {}

  /** Whether any key has a standing rejection. */
  get hasRejections(): boolean {
    return this.refused.size > 0;
  }

  /** The revision of the last applied delete. */
  get lastDelete(): number {
    return this.deletedAt;
  }

  /** The keys with a standing rejection. */
  refusedKeys(): IterableIterator<string> {
    return this.refused.keys();
  }

  /** The standing rejection of a key, if any. */
  refusal(key: string): ConfigRejection | undefined {
    return this.refused.get(key);
  }

  /** A key refused a revision (the last good value is kept). */
  refuse(rejection: ConfigRejection): void {
    const known = this.refused.get(rejection.key);
    if (!known || known.revision <= rejection.revision) this.refused.set(rejection.key, rejection);
    this.listener?.();
  }

  /**
   * A change of `key` at `revision` reached the app: it replaces an older rejection (a rejection of
   * this revision is recorded after it, by {@link refuse}).
   */
  changed(key: string, revision: number, deleted: boolean): void {
    if (deleted && revision > this.deletedAt) this.deletedAt = revision;
    if (this.refused.size === 0) return;
    const known = this.refused.get(key);
    if (known && known.revision < revision) this.refused.delete(key);
  }

  /** Something the status shows changed (a batch, a new key). */
  touched(): void {
    this.listener?.();
  }

  /** The status of one key, serving `served` with `options` (those of its ConfigValue, if any). */
  keyStatus(
    key: string,
    served: ServedValue,
    options: ConfigValueOptions<unknown> | undefined,
  ): ConfigKeyStatus {
    const status: ConfigKeyStatus = {
      revision: served.revision,
      source: served.source,
      state: 'applied',
    };
    const refused = this.refused.get(key);
    if (refused && refused.revision > served.revision) {
      status.state = 'rejected';
      status.reason = refused.reason;
      status.rejectedRevision = refused.revision;
    }
    const schema = options && this.schemaOf(key, options);
    if (schema) status.schema = schema.hash;
    return status;
  }

  /**
   * The JSON Schema `options` publish, described once per options object. A schema that says more
   * than JSON Schema can is one warning line; one that cannot describe itself is a debug line.
   */
  schemaOf(key: string, options: ConfigValueOptions<unknown>): PublishedSchema | undefined {
    let described = this.schemas.get(options);
    if (!described) {
      described = describeSchema(options);
      this.schemas.set(options, described);
      if (!described.published && described.reason) {
        const line = `config "${key}": no schema published (${described.reason}); only its format is checked by tools`;
        if (described.lossy) this.logger.warn(line);
        else this.logger.debug(line);
      }
    }
    return described.published;
  }
}
