import {
  locateKey,
  sourcesOf,
  type ConfigLayer,
  type ConfigLayout,
} from '../config/config-layers.js';
import { formatOf, type ConfigFormat } from '../config/config-codec.js';
import { ConfigKeyOutsidePrefixError } from '../errors/config-key-outside-prefix.error.js';
import type { InstanceStatus, KeyStatus, LayerKind } from './admin.interfaces.js';
import type { Fleet } from './fleet-reader.js';

/** The etcd key a command names, with its format. @internal */
export interface KeyTarget {
  etcdKey: string;
  format: ConfigFormat;
}

/** How one instance reads an etcd key: its layer, config key, and what its status says of it. @internal */
export interface InstanceReach {
  status: InstanceStatus;
  layout: ConfigLayout;
  layer: ConfigLayer;
  kind: LayerKind;
  /** The config key the etcd key supplies. */
  configKey: string;
  /** The status key whose value it is part of: the config key itself, or a folder (`db/`) above it. */
  statusKey: string | undefined;
  keyStatus: KeyStatus | undefined;
}

/** The layout an instance reports. @internal */
export function layoutOf(status: InstanceStatus): ConfigLayout {
  return { prefix: status.prefix, shared: status.shared, profiles: status.profiles };
}

/** The service's own config prefix: the one most of its instances report, else `fallback`. @internal */
export function ownPrefix(fleet: Fleet, fallback: string): string {
  const counts = new Map<string, number>();
  for (const status of fleet.statuses) {
    counts.set(status.prefix, (counts.get(status.prefix) ?? 0) + 1);
  }
  let best = fallback;
  let most = 0;
  for (const [prefix, count] of counts) {
    if (count > most) {
      best = prefix;
      most = count;
    }
  }
  return best;
}

/**
 * The etcd key a command names: a config key relative to the service's prefix (under
 * `@<profile>/` with a profile), or an etcd key (leading `/`) under one of its instances' sources.
 * @throws ConfigKeyOutsidePrefixError
 * @internal
 */
export function resolveKey(
  fleet: Fleet,
  key: string,
  profile: string | undefined,
  fallbackPrefix: string,
): KeyTarget {
  const prefix = ownPrefix(fleet, fallbackPrefix);
  const sources = new Set<string>([prefix]);
  for (const status of fleet.statuses) for (const s of sourcesOf(layoutOf(status))) sources.add(s);
  if (profile !== undefined && (profile.length === 0 || profile.includes('/'))) {
    throw new ConfigKeyOutsidePrefixError(`@${profile}/${key}`, fleet.service, [...sources]);
  }
  if (key.startsWith('/')) {
    const inside = [...sources].some(s => key.startsWith(s) && key.length > s.length);
    if (!inside || key.endsWith('/')) {
      throw new ConfigKeyOutsidePrefixError(key, fleet.service, [...sources]);
    }
    if (profile !== undefined) {
      // an etcd key already says its layer
      throw new ConfigKeyOutsidePrefixError(`@${profile}/ with ${key}`, fleet.service, [
        ...sources,
      ]);
    }
    return { etcdKey: key, format: formatOf(key) };
  }
  if (key.length === 0 || key.endsWith('/') || key.split('/').includes('..')) {
    throw new ConfigKeyOutsidePrefixError(key, fleet.service, [...sources]);
  }
  const etcdKey = `${prefix}${profile !== undefined ? `@${profile}/` : ''}${key}`;
  return { etcdKey, format: formatOf(etcdKey) };
}

/** Every instance that reads `etcdKey`, through its prefix, shared prefixes and profiles. @internal */
export function reachOf(fleet: Fleet, etcdKey: string): InstanceReach[] {
  const out: InstanceReach[] = [];
  for (const status of fleet.statuses) {
    const layout = layoutOf(status);
    const located = locateKey(etcdKey, layout);
    if (!located) continue;
    const statusKey = statusKeyOf(status, located.key);
    out.push({
      status,
      layout,
      layer: located.layer,
      kind:
        located.layer.profile !== undefined
          ? 'profile'
          : located.layer.source === layout.prefix
            ? 'prefix'
            : 'shared',
      configKey: located.key,
      statusKey,
      keyStatus: statusKey !== undefined ? status.keys[statusKey] : undefined,
    });
  }
  return out;
}

/**
 * The status key a config key is checked under: itself or a folder key above it (longest first),
 * preferring one that has a published schema. A folder child is also listed as a key of its own
 * once it exists in etcd; without this preference the leaf (no schema of its own) would hide the
 * folder's schema, and a value the instance refuses would pass.
 */
function statusKeyOf(status: InstanceStatus, configKey: string): string | undefined {
  const candidates: string[] = [];
  if (Object.hasOwn(status.keys, configKey)) candidates.push(configKey);
  const folders = Object.keys(status.keys)
    .filter(key => key.endsWith('/') && key !== configKey && configKey.startsWith(key))
    .sort((a, b) => b.length - a.length);
  candidates.push(...folders);
  return candidates.find(key => status.keys[key]?.schema !== undefined) ?? candidates[0];
}
