import {
  configLayers,
  locateKey,
  mergeDocuments,
  type ConfigLayout,
} from '../../lib/config/config-layers.js';

const layout: ConfigLayout = {
  prefix: '/config/app/',
  shared: ['/config/shared/'],
  profiles: ['canary', 'eu'],
};

describe('configLayers: the layer order the store applies', () => {
  it('lists each source, then each profile over each source, lowest first', () => {
    expect(configLayers(layout)).toEqual([
      { prefix: '/config/shared/', source: '/config/shared/' },
      { prefix: '/config/app/', source: '/config/app/' },
      { prefix: '/config/shared/@canary/', source: '/config/shared/', profile: 'canary' },
      { prefix: '/config/app/@canary/', source: '/config/app/', profile: 'canary' },
      { prefix: '/config/shared/@eu/', source: '/config/shared/', profile: 'eu' },
      { prefix: '/config/app/@eu/', source: '/config/app/', profile: 'eu' },
    ]);
  });

  it('is the app prefix alone without shared prefixes or profiles', () => {
    expect(configLayers({ prefix: '/config/', shared: [], profiles: [] })).toEqual([
      { prefix: '/config/', source: '/config/' },
    ]);
  });
});

describe('locateKey: which layer an etcd key belongs to', () => {
  it('finds the own, shared and overlay layers with the config key', () => {
    expect(locateKey('/config/app/db.yaml', layout)).toEqual({
      layer: { prefix: '/config/app/', source: '/config/app/' },
      key: 'db.yaml',
    });
    expect(locateKey('/config/shared/greeting', layout)?.key).toBe('greeting');
    expect(locateKey('/config/app/@eu/db/pool/max', layout)).toEqual({
      layer: { prefix: '/config/app/@eu/', source: '/config/app/', profile: 'eu' },
      key: 'db/pool/max',
    });
    expect(locateKey('/config/shared/@canary/x', layout)?.layer.profile).toBe('canary');
  });

  it('is undefined outside every source, for a bare prefix and for an inactive profile', () => {
    expect(locateKey('/other/x', layout)).toBeUndefined();
    expect(locateKey('/config/app/', layout)).toBeUndefined();
    expect(locateKey('/config/app/@canary/', layout)).toBeUndefined();
    expect(locateKey('/config/app/@beta/greeting', layout)).toBeUndefined();
  });

  it('gives a key below a nested shared prefix to that prefix, not to the outer one', () => {
    const nested: ConfigLayout = { prefix: '/config/', shared: ['/config/common/'], profiles: [] };
    expect(locateKey('/config/common/greeting', nested)).toEqual({
      layer: { prefix: '/config/common/', source: '/config/common/' },
      key: 'greeting',
    });
    expect(locateKey('/config/greeting', nested)?.layer.source).toBe('/config/');
  });
});

describe('mergeDocuments: a profile overlay of a document merges into it', () => {
  it('merges objects deeply, replaces arrays and scalars, changes neither input', () => {
    const base = { host: 'db', port: 5432, pool: { min: 1, max: 10 }, tags: ['a', 'b'] };
    const overlay = { pool: { max: 50 }, tags: ['c'], replica: true };
    expect(mergeDocuments(base, overlay)).toEqual({
      host: 'db',
      port: 5432,
      pool: { min: 1, max: 50 },
      tags: ['c'],
      replica: true,
    });
    expect(base.pool.max).toBe(10);
    expect(mergeDocuments({ a: 1 }, null)).toBeNull();
    expect(mergeDocuments([1, 2], { a: 1 })).toEqual({ a: 1 });
  });

  it('keeps __proto__ an own key', () => {
    const merged = mergeDocuments(JSON.parse('{"a":1}'), JSON.parse('{"__proto__":{"x":1}}'));
    expect(Object.getPrototypeOf(merged)).toBe(Object.prototype);
    expect(Object.keys(merged as object)).toEqual(['a', '__proto__']);
  });
});
