import { hostname, userInfo } from 'node:os';
import type { IKeyValue, Namespace } from 'etcd3';
import { ConfigConflictError } from '../errors/config-conflict.error.js';
import { InvalidOptionsError } from '../errors/invalid-options.error.js';
import type { EtcdConnection } from '../client/etcd-connection.js';
import { type Clock, systemClock } from '../common/clock.js';

/** The resolved key layout of the admin core (every prefix ends with `/`). @internal */
export interface AdminPrefixes {
  registry: string;
  status: string;
  schemas: string;
  audit: string;
  applySets: string;
  config: string;
}

/** What every part of the admin core works on: the connection and the key layout. @internal */
export class AdminContext {
  constructor(
    readonly connection: EtcdConnection,
    readonly prefixes: AdminPrefixes,
    readonly actor: string,
    /** Timers (rollout timeouts) and the audit's wall-clock time. */
    readonly clock: Clock = systemClock,
  ) {}

  /** The wall-clock time a person reads, ISO 8601 (audit records). */
  isoNow(): string {
    return new Date(this.clock.wallNow()).toISOString();
  }

  /** The namespaced client. */
  get kv(): Namespace {
    return this.connection.kv;
  }

  /** Every key/value under a prefix (one Range). */
  async list(prefix: string, operation: string): Promise<IKeyValue[]> {
    try {
      const res = await this.kv.getAll().prefix(prefix).exec();
      return res.kvs;
    } catch (err) {
      throw this.connection.mapError(err, operation, prefix);
    }
  }

  /**
   * Puts `text` at `etcdKey` (or deletes it when `text` is `undefined`) only while its mod revision
   * is still `seen` (0: absent), in one txn; returns the write's revision.
   * @throws ConfigConflictError naming both revisions when the key moved
   */
  async compareAndWrite(etcdKey: string, seen: number, text: string | undefined): Promise<number> {
    const kv = this.kv;
    const res = await this.call(text === undefined ? 'delete' : 'write', etcdKey, () =>
      kv
        .if(etcdKey, 'Mod', '==', seen)
        .then(text === undefined ? kv.delete().key(etcdKey) : kv.put(etcdKey).value(text))
        .else(kv.get(etcdKey))
        .commit(),
    );
    if (!res.succeeded) {
      const now = res.responses[0]?.response_range?.kvs[0]?.mod_revision;
      throw new ConfigConflictError(etcdKey, seen, Number(now ?? 0));
    }
    return Number(res.header.revision);
  }

  /** One key (optionally at a past revision), `undefined` when absent. */
  async read(key: string, operation: string, revision?: number): Promise<IKeyValue | undefined> {
    try {
      const builder = this.kv.get(key);
      if (revision !== undefined) builder.revision(revision);
      const res = await builder.exec();
      return res.kvs[0];
    } catch (err) {
      throw this.connection.mapError(err, operation, key);
    }
  }

  /** Wraps a call: client errors become the module's named errors. */
  async call<T>(operation: string, key: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw this.connection.mapError(err, operation, key);
    }
  }
}

/** The key of an etcd key/value as text (inside the namespace). @internal */
export function keyOf(kv: IKeyValue): string {
  return kv.key.toString('utf8');
}

/** The value of an etcd key/value as text. @internal */
export function textOf(kv: IKeyValue): string {
  return kv.value.toString('utf8');
}

/**
 * The admin's key layout: each prefix given (it must end with `/`), else the module's default.
 * @throws InvalidOptionsError
 * @internal
 */
export function resolvePrefixes(prefixes: Partial<AdminPrefixes> = {}): AdminPrefixes {
  const pick = (name: keyof AdminPrefixes, fallback: string): string => {
    const value = prefixes[name] ?? fallback;
    if (typeof value !== 'string' || !value.endsWith('/')) {
      throw new InvalidOptionsError(`prefixes.${name}`, value, 'a string ending with "/"');
    }
    return value;
  };
  return {
    registry: pick('registry', '/services/'),
    status: pick('status', '/config-status/'),
    schemas: pick('schemas', '/config-schemas/'),
    audit: pick('audit', '/config-audit/'),
    applySets: pick('applySets', '/config-applysets/'),
    config: pick('config', '/config/'),
  };
}

/** `$USER@host`, as the CLI records it: who writes when a call gives no `actor`. @internal */
export function defaultActor(): string {
  let user = process.env.USER ?? process.env.USERNAME;
  if (!user) {
    try {
      user = userInfo().username;
    } catch {
      user = 'unknown';
    }
  }
  return `${user}@${hostname()}`;
}
