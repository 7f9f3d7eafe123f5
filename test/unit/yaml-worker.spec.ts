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
