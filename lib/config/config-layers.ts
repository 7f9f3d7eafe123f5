/**
 * The layer rule of the config center, in one place: which etcd keys are config, which layer each
 * belongs to, and which layer wins. The store applies it to every key it watches; the admin core
 * uses the same functions to tell a user what an app sees. Pure: no etcd, no Nest.
 */

/** Where an app's config lives: its own prefix, the shared prefixes below it, its active profiles. */
export interface ConfigLayout {
  /** The app's own prefix (e.g. `/config/orders/`), inside the namespace. */
  prefix: string;
  /** Shared prefixes read below the app's own, lowest first. */
  shared: readonly string[];
  /** Active profiles, lowest first (a later profile wins). */
  profiles: readonly string[];
}

/** One layer of config keys: a source prefix, or one of its `@<profile>/` overlays. */
export interface ConfigLayer {
  /** `<source>` or `<source>@<profile>/`: a key of this layer is this prefix + the config key. */
  readonly prefix: string;
  /** The source prefix (a shared prefix or the app's own) whose watch delivers the layer's keys. */
  readonly source: string;
  /** The profile of an overlay layer; absent for a source's own keys. */
  readonly profile?: string;
}

/**
 * Every layer of a layout, lowest first: each source's own keys (shared prefixes, then the app's
 * prefix), then for each profile its overlay of each source. A higher layer holding a config key
 * supplies its effective value.
 */
export function configLayers(layout: ConfigLayout): ConfigLayer[] {
  const sources = sourcesOf(layout);
  const layers: ConfigLayer[] = sources.map(source => ({ prefix: source, source }));
  for (const profile of layout.profiles) {
    for (const source of sources) layers.push({ prefix: `${source}@${profile}/`, source, profile });
  }
  return layers;
}

/** The source prefixes of a layout, lowest first: the shared prefixes, then the app's own. */
export function sourcesOf(layout: ConfigLayout): string[] {
  return [...layout.shared, layout.prefix];
}

/**
 * The layer an etcd key belongs to and the config key it supplies, or `undefined` when the key is
 * not config for this layout: outside every source, the bare prefix of a layer, or an overlay of a
 * profile that is not active. A key below a shared prefix nested in another source belongs to the
 * longer (nested) source.
 */
export function locateKey(
  etcdKey: string,
  layout: ConfigLayout,
): { layer: ConfigLayer; key: string } | undefined {
  const sources = sourcesOf(layout);
  const source = ownerOf(etcdKey, sources);
  if (source === undefined) return undefined;
  const layer = layerIn(etcdKey, source, configLayers(layout).reverse(), sources);
  return layer && { layer, key: etcdKey.slice(layer.prefix.length) };
}

/** The source whose watch owns `etcdKey`: the longest source prefix of it. @internal */
export function ownerOf(etcdKey: string, sources: readonly string[]): string | undefined {
  let owner: string | undefined;
  for (let i = 0; i < sources.length; i++) {
    const source = sources[i]!;
    if (etcdKey.startsWith(source) && (owner === undefined || source.length > owner.length)) {
      owner = source;
    }
  }
  return owner;
}

/**
 * The layer of an etcd key delivered by the watch on `source`, among `layers` (highest first), or
 * `undefined` when it is not config. The store's hot path: no allocation.
 * @internal
 */
export function layerIn<L extends ConfigLayer>(
  etcdKey: string,
  source: string,
  layers: readonly L[],
  sources: readonly string[],
): L | undefined {
  if (!etcdKey.startsWith(source)) return undefined;
  // A shared prefix nested below another source belongs to its own watch only.
  for (let i = 0; i < sources.length; i++) {
    const other = sources[i]!;
    if (other !== source && other.length > source.length && etcdKey.startsWith(other)) {
      return undefined;
    }
  }
  let own: L | undefined;
  for (let i = 0; i < layers.length; i++) {
    const layer = layers[i]!;
    if (layer.source !== source || !etcdKey.startsWith(layer.prefix)) continue;
    if (etcdKey.length === layer.prefix.length) return undefined;
    if (layer.profile !== undefined) return layer;
    own = layer;
  }
  // A key of the source's own layer that starts with `@` belongs to an inactive profile.
  if (own && etcdKey.startsWith('@', source.length)) return undefined;
  return own;
}

/**
 * The effective value of a document (`*.json`, `*.yaml`) under an active profile: the overlay merged
 * into the document below it, as Spring profiles do. Objects merge key by key, deeply; anything else
 * (arrays, scalars, `null`) in the overlay replaces what is below. Neither input is changed; keys are
 * own properties (`__proto__` included).
 */
export function mergeDocuments(base: unknown, overlay: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(overlay)) return overlay;
  const merged: Record<string, unknown> = {};
  for (const key of Object.keys(base)) defineOwn(merged, key, base[key]);
  for (const key of Object.keys(overlay)) {
    defineOwn(
      merged,
      key,
      Object.hasOwn(base, key) ? mergeDocuments(base[key], overlay[key]) : overlay[key],
    );
  }
  return merged;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function defineOwn(object: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(object, key, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}
