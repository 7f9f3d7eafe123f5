import type { Logger } from '@nestjs/common';
import { describeCause } from '../common/describe-cause.js';
import { within } from '../common/timing.js';
import { applyOptions } from './config-codec.js';
import type { ConfigStore } from './config-store.js';
import type { ConfigSnapshotData } from './config-snapshot.js';
import type {
  ConfigRejection,
  ConfigRevision,
  ConfigValidation,
  ConfigValueOptions,
} from './config-value.interface.js';
import type { EffectiveValue } from './effective-value.js';
import { recordedConfigKeys } from './inject-config.decorator.js';
import { LiveConfigValue } from './live-config-value.js';

/** What {@link newestValid} reads of the config center. @internal */
export interface BootView {
  /** The app's config prefix. */
  readonly prefix: string;
  /** The key's effective value in etcd now (`undefined`: none, or its only revision was refused). */
  effective(key: string): EffectiveValue | undefined;
  /** The standing rejection of a key (a revision refused while decoding). */
  refusal(key: string): ConfigRejection | undefined;
  /** A text decoded by the key's format (no parse / schema). */
  decode(key: string, text: string): ConfigValidation<unknown>;
  /** The history of an etcd key, newest first, each put checked. */
  history(
    etcdKey: string,
    limit: number,
    check: (text: string) => ConfigValidation<unknown>,
  ): Promise<ConfigRevision[]>;
  /** The snapshot file, if there is a usable one. */
  snapshot(): ConfigSnapshotData | undefined;
}

/** A key refused at boot, and what to serve instead. @internal */
export interface BootRepair {
  /** The revision refused, why, and its etcd key. */
  readonly bad: { readonly revision: number; readonly reason: string; readonly source: string };
  /** The value etcd holds now (for the snapshot's "accepted text" rule), if any. */
  readonly refused: EffectiveValue | undefined;
  /** The newest revision the key's options accept (decoded by format only). */
  readonly served: EffectiveValue;
  readonly from: 'history' | 'snapshot';
}

/**
 * For a key whose value in etcd the app refuses at boot (a bad put, then a rolling deploy): the
 * newest revision since the key was last created that its options accept (etcd's history), else the
 * snapshot file's when it is accepted; `undefined` when the value in etcd is fine or nothing passes.
 * @internal
 */
export async function newestValid(
  view: BootView,
  key: string,
  options: ConfigValueOptions<unknown>,
): Promise<BootRepair | undefined> {
  const refused = view.effective(key);
  let bad: BootRepair['bad'] | undefined;
  if (refused) {
    const result = applyOptions(() => refused.text, refused.value, options);
    if (!result.ok) {
      bad = { revision: refused.revision, reason: result.reason, source: refused.source };
    }
  } else {
    const refusal = view.refusal(key);
    if (refusal) bad = { ...refusal, source: `${view.prefix}${key}` };
  }
  if (!bad) return undefined;
  const check = (text: string): ConfigValidation<unknown> => {
    const decoded = view.decode(key, text);
    return decoded.ok ? applyOptions(() => text, decoded.value, options) : decoded;
  };
  // The value is handed over decoded by format only: the ConfigValue applies parse / schema.
  const servedFrom = (text: string, revision: number): EffectiveValue | undefined => {
    const decoded = view.decode(key, text);
    if (!decoded.ok) return undefined;
    const raw = Buffer.from(text, 'utf8');
    return { text, raw, value: decoded.value, source: bad.source, revision };
  };
  const history = await view.history(bad.source, 1_000, check);
  // The newest accepted revision since the key was last created (a delete is a decision too).
  const deletedAt = history.findIndex(entry => entry.deleted);
  const generation = deletedAt === -1 ? history : history.slice(0, deletedAt);
  const good = generation.find(entry => entry.valid && entry.revision < bad.revision);
  const fromHistory = good?.raw === undefined ? undefined : servedFrom(good.raw, good.revision);
  if (fromHistory) return { bad, refused, served: fromHistory, from: 'history' };
  const snapshot = view.snapshot();
  const text = bad.source.startsWith(view.prefix)
    ? snapshot?.values[bad.source.slice(view.prefix.length)]
    : undefined;
  if (text === undefined || !check(text).ok) return undefined;
  const fromSnapshot = servedFrom(text, snapshot!.revision);
  return fromSnapshot && { bad, refused, served: fromSnapshot, from: 'snapshot' };
}

/** What {@link bootInjected} needs of the config center. @internal */
export interface InjectedBootHost {
  readonly view: BootView;
  readonly store: ConfigStore;
  /** The app's ConfigValues (a repaired key's is made here). */
  readonly values: Map<string, LiveConfigValue<unknown>>;
  readonly logger: Logger;
  /** How long to wait for large YAML documents decoded off the event loop. */
  readonly connectTimeout: number;
  /** A value refused a revision (reported and streamed by the service). */
  refuse(rejection: ConfigRejection): void;
}

/**
 * Decodes the keys `@InjectConfig` recorded before their ConfigValues are made, waiting (bounded by
 * `connectTimeout`) for large YAML documents decoded off the event loop, so every injected value
 * holds its etcd value when the app's constructors run.
 * @internal
 */
export async function decodeInjected(store: ConfigStore, connectTimeout: number): Promise<void> {
  for (const key of recordedConfigKeys().keys()) {
    if (key.endsWith('/')) store.effectiveEntries(key);
    else store.effective(key);
  }
  await within(store.idle(), connectTimeout).catch(() => undefined);
}

/**
 * Online boot: injected values decoded, and none served from a default when etcd has a valid one.
 * @internal
 */
export async function bootInjected(host: InjectedBootHost): Promise<void> {
  await decodeInjected(host.store, host.connectTimeout);
  for (const [key, options] of recordedConfigKeys()) {
    if (key.endsWith('/') || host.values.has(key)) continue;
    try {
      await bootNewestValid(host, key, options);
    } catch (err) {
      host.logger.warn(
        `config "${key}": could not read its history for a valid revision (${describeCause(err)})`,
      );
    }
  }
}

/**
 * A key whose value in etcd the app refuses at boot (a bad put, then a rolling deploy) is served
 * the newest revision it accepts ({@link newestValid}), not its default: instances booted after a
 * bad put serve what the running ones kept. One warning names the key and both revisions; the
 * status reports the key `rejected` with the revision served.
 */
async function bootNewestValid(
  host: InjectedBootHost,
  key: string,
  options: ConfigValueOptions<unknown>,
): Promise<void> {
  const repair = await newestValid(host.view, key, options);
  if (!repair) return;
  const { bad, served } = repair;
  const value = new LiveConfigValue<unknown>(key, options, host.logger, rejection =>
    host.refuse(rejection),
  );
  value.apply(served);
  value.rejected = repair.refused;
  host.values.set(key, value);
  host.refuse({ key, revision: bad.revision, reason: bad.reason });
  host.logger.warn(
    `config "${key}" at revision ${bad.revision} rejected at boot: ${bad.reason}; serving ` +
      `revision ${served.revision}, the newest valid one ` +
      (repair.from === 'history' ? "in etcd's history" : 'in the snapshot file'),
  );
}
