import type { IKeyValue } from 'etcd3';
import type { EtcdConnection } from '../client/etcd-connection.js';
import { etcdAnswerCode } from '../client/etcd-errors.classifier.js';
import { ConfigRevisionCompactedError } from '../errors/config-revision-compacted.error.js';
import { decodeByFormat, formatOf } from './config-codec.js';
import type { ConfigRevision } from './config-value.interface.js';

/**
 * A config key's past, from etcd's MVCC store: `history()` and `rollback()` of
 * {@link EtcdConfigService}. Stateless: every call reads etcd.
 * @internal
 */
export class ConfigHistory {
  constructor(
    private readonly connection: EtcdConnection,
    /** The app's config prefix (`<prefix><key>` is the etcd key of a config key). */
    private readonly prefix: string,
  ) {}

  /**
   * The history of `<prefix><key>` newest first, back to etcd's compaction point or `limit` entries.
   * etcd has no "list revisions" call: puts are read back one version at a time; a key deleted and
   * re-created several times within the same few revisions far back may show one deletion for them.
   */
  async history(key: string, limit: number): Promise<ConfigRevision[]> {
    const etcdKey = `${this.prefix}${key}`;
    const format = formatOf(key);
    const out: ConfigRevision[] = [];
    const record = (kv: IKeyValue): void => {
      const raw = kv.value.toString('utf8');
      const decoded = decodeByFormat(raw, format);
      out.push({
        value: decoded.ok ? decoded.value : raw,
        raw,
        revision: Number(kv.mod_revision),
        version: Number(kv.version),
        deleted: false,
      });
    };
    const head = await this.readAt(etcdKey, undefined);
    let kv = head.kv;
    let absentAt = kv ? undefined : head.revision;
    while (out.length < limit) {
      if (kv) {
        record(kv);
        const modRevision = Number(kv.mod_revision);
        if (Number(kv.version) > 1) {
          // The previous version of this generation is what the key held just before.
          kv = (await this.readBack(etcdKey, modRevision - 1))?.kv;
          if (!kv) break; // compacted
          continue;
        }
        absentAt = Number(kv.create_revision) - 1;
        kv = undefined;
        continue;
      }
      if (absentAt === undefined || absentAt < 1) break;
      const before = await this.lastPresentBefore(etcdKey, absentAt);
      if (!before) break;
      out.push({
        value: undefined,
        raw: undefined,
        revision: before.deletedAt,
        version: 0,
        deleted: true,
      });
      kv = before.kv;
      absentAt = undefined;
    }
    return out.slice(0, limit);
  }

  /**
   * Puts back the value `<prefix><key>` held at an etcd revision (deletes it when it did not exist
   * then).
   * @throws ConfigRevisionCompactedError when etcd compacted that revision away.
   */
  async rollback(key: string, revision: number): Promise<void> {
    const etcdKey = `${this.prefix}${key}`;
    const at = await this.readAt(etcdKey, revision);
    try {
      if (at.kv) await this.connection.kv.put(etcdKey).value(at.kv.value);
      else await this.connection.kv.delete().key(etcdKey);
    } catch (err) {
      throw this.connection.mapError(err, 'rollback', etcdKey);
    }
  }

  /** The key at a revision (`undefined` revision: now). */
  private async readAt(
    etcdKey: string,
    revision: number | undefined,
  ): Promise<{ kv: IKeyValue | undefined; revision: number }> {
    const builder = this.connection.kv.get(etcdKey);
    if (revision !== undefined) builder.revision(revision);
    try {
      const res = await builder.exec();
      return { kv: res.kvs[0], revision: Number(res.header.revision) };
    } catch (err) {
      const code = revision === undefined ? undefined : etcdAnswerCode(err);
      if (code === 'compacted') {
        throw new ConfigRevisionCompactedError(etcdKey.slice(this.prefix.length), revision!);
      }
      if (code === 'future-revision') {
        throw new TypeError(`revision ${revision} is newer than etcd's current revision`);
      }
      throw this.connection.mapError(err, 'read history of', etcdKey);
    }
  }

  /** Like {@link readAt}, but `undefined` when the revision was compacted (history ends there). */
  private async readBack(
    etcdKey: string,
    revision: number,
  ): Promise<{ kv: IKeyValue | undefined } | undefined> {
    try {
      return await this.readAt(etcdKey, revision);
    } catch (err) {
      if (err instanceof ConfigRevisionCompactedError) return undefined;
      throw err;
    }
  }

  /**
   * The key was absent at `absentAt`: finds the last revision before it where the key existed (one
   * revision at a time for the 64 nearest, then doubling the step) and the revision that deleted it.
   */
  private async lastPresentBefore(
    etcdKey: string,
    absentAt: number,
  ): Promise<{ kv: IKeyValue; deletedAt: number } | undefined> {
    let absent = absentAt;
    let step = 1;
    let probes = 0;
    for (let at = absentAt - 1; at >= 1; at -= step) {
      const read = await this.readBack(etcdKey, at);
      if (!read) return undefined;
      if (read.kv) {
        // Narrow down the delete between `at` (present) and `absent`.
        let low = at;
        let high = absent;
        let kv = read.kv;
        while (high - low > 1) {
          const middle = Math.floor((low + high) / 2);
          const probe = await this.readBack(etcdKey, middle);
          if (!probe) return undefined;
          if (probe.kv) {
            low = middle;
            kv = probe.kv;
          } else {
            high = middle;
          }
        }
        return { kv, deletedAt: high };
      }
      absent = at;
      if (++probes >= 64) step *= 2;
    }
    return undefined;
  }
}
