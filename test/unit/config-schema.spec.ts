import { createHash } from 'node:crypto';
import { z } from 'zod';
import { z as z3 } from 'zod/v3';
import { canonicalJson, describeSchema, schemaHash } from '../../lib/config/config-schema.js';

describe('live schemas: canonical JSON, hash, what a definition publishes', () => {
  it('canonicalJson sorts keys recursively, keeps array order, drops undefined members', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: undefined } })).toBe(
      '{"a":{"d":[3,{"y":2,"z":1}]},"b":1}',
    );
    expect(canonicalJson([undefined, 'x'])).toBe('[null,"x"]');
    expect(canonicalJson('text')).toBe('"text"');
    expect(canonicalJson(undefined)).toBe('null');
    // A key named __proto__ is a key like any other.
    expect(canonicalJson(JSON.parse('{"__proto__":{"x":1},"a":2}'))).toBe(
      '{"__proto__":{"x":1},"a":2}',
    );
  });

  it('equal documents written in any key order have one hash: the sha256 hex of the canonical text', () => {
    const a = {
      type: 'object',
      properties: { port: { type: 'number' }, host: { type: 'string' } },
    };
    const b = {
      properties: { host: { type: 'string' }, port: { type: 'number' } },
      type: 'object',
    };
    expect(schemaHash(a)).toBe(schemaHash(b));
    expect(schemaHash(a)).toBe(createHash('sha256').update(canonicalJson(b), 'utf8').digest('hex'));
    expect(schemaHash(a)).toMatch(/^[0-9a-f]{64}$/);
    expect(schemaHash({ ...a, required: ['host'] })).not.toBe(schemaHash(a));
  });

  it('a zod 4 schema publishes its input JSON Schema, with the hash of its canonical text', () => {
    const described = describeSchema({
      schema: z.object({ host: z.string(), port: z.number().int().min(1) }),
    });
    expect(described.published).toBeDefined();
    const { jsonSchema, text, hash } = described.published!;
    expect(jsonSchema).toMatchObject({ type: 'object', required: ['host', 'port'] });
    expect(text).toBe(canonicalJson(jsonSchema));
    expect(hash).toBe(schemaHash(jsonSchema));
  });

  it('an explicit jsonSchema is published as given (even beside a zod 3 schema)', () => {
    const jsonSchema = { type: 'object', properties: { max: { type: 'number' } } };
    const described = describeSchema({ schema: z3.object({ max: z3.number() }), jsonSchema });
    expect(described.published?.hash).toBe(schemaHash(jsonSchema));
  });

  it.each<[string, Parameters<typeof describeSchema>[0], RegExp | undefined]>([
    ['no schema', {}, undefined],
    ['zod 3', { schema: z3.object({ a: z3.string() }) }, /cannot describe itself/],
    ['parse-only', { schema: { parse: (v: unknown) => v } }, /cannot describe itself/],
    ['refinement', { schema: z.string().refine(s => s.length > 2) }, /a refinement/],
    ['transform', { schema: z.object({ n: z.string().transform(Number) }) }, /a transform/],
    ['coercion', { schema: z.object({ port: z.coerce.number() }) }, /a coercion/],
    ['custom type', { schema: z.custom<string>(() => true) }, /cannot be represented/],
    [
      'custom parse',
      { schema: z.object({ a: z.string() }), parse: (raw: string) => ({ a: raw }) },
      /custom parse/,
    ],
  ])('%s: no schema published, and why', (_name, options, reason) => {
    const described = describeSchema(options);
    expect(described.published).toBeUndefined();
    const why = (described as { reason: string | undefined }).reason;
    if (reason) expect(why).toMatch(reason);
    else expect(why).toBeUndefined();
  });
});
