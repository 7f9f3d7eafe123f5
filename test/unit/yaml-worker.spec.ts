import * as jsYaml from 'js-yaml';
import { YamlWorker } from '../../lib/config/yaml-worker.js';

/** The YAML worker hands a parsed document back exactly as the event loop would have parsed it. */
describe('YamlWorker', () => {
  let worker: YamlWorker;
  beforeEach(() => {
    worker = new YamlWorker();
  });
  afterEach(async () => {
    await worker.close();
  });

  it('a plain document comes back equal to an on-loop parse (handed over as JSON text)', async () => {
    const lines = ['marker: m', 'services:'];
    for (let i = 0; i < 2000; i++)
      lines.push(`  - { name: s-${i}, port: ${i}, on: true, x: null }`);
    const text = `${lines.join('\n')}\n`;
    const result = await worker.decode(text, () => true);
    expect(result).toEqual({ ok: true, value: jsYaml.load(text, { schema: jsYaml.CORE_SCHEMA }) });
  });

  it('a document larger than one fragment comes back whole, in order, nested arrays and maps, __proto__ an own key', async () => {
    const lines = ['top: 1', 'list:'];
    for (let i = 0; i < 3000; i++) lines.push(`  - [${i}, { k: v-${i}, deep: [x, y] }]`);
    lines.push('map:');
    for (let i = 0; i < 3000; i++) lines.push(`  key-${i}: { n: ${i}, s: "text ${i}" }`);
    lines.push('  __proto__: { polluted: true }', 'last: end');
    const text = `${lines.join('\n')}\n`;
    const result = await worker.decode(text, () => true);
    const expected = jsYaml.load(text, { schema: jsYaml.CORE_SCHEMA }) as Record<string, unknown>;
    expect(result).toEqual({ ok: true, value: expected });
    const value = (result as { value: Record<string, Record<string, unknown>> }).value;
    expect(Object.keys(value)).toEqual(['top', 'list', 'map', 'last']);
    expect(Object.keys(value.map!).slice(-2)).toEqual(['key-2999', '__proto__']);
    expect(Object.hasOwn(value.map!, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(value.map)).toBe(Object.prototype);
    expect(({} as { polluted?: boolean }).polluted).toBeUndefined();
  });

  it('NaN, Infinity and -0 come back exactly (JSON cannot say them)', async () => {
    const result = await worker.decode('a: .nan\nb: -.inf\nc: -0.0\nd: [1, .inf]\n', () => true);
    expect(result?.ok).toBe(true);
    const value = (result as { value: { a: number; b: number; c: number; d: number[] } }).value;
    expect(value.a).toBeNaN();
    expect(value.b).toBe(-Infinity);
    expect(Object.is(value.c, -0)).toBe(true);
    expect(value.d).toEqual([1, Infinity]);
  });

  it('a check-only parse hands no document back; an invalid one still says why', async () => {
    expect(await worker.decode('a: 1\n', () => true, false)).toEqual({
      ok: true,
      value: undefined,
    });
    expect(await worker.decode('a: [unclosed\n', () => true, false)).toEqual({
      ok: false,
      reason: expect.stringMatching(/^invalid YAML document: /),
    });
  });
});
