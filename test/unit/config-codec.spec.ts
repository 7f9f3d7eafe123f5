import {
  decodeDefault,
  decodeText,
  decodeWith,
  encodeValue,
} from '../../lib/config/config-codec.js';

const bytes = (text: string) => Buffer.from(text, 'utf8');

describe('config codec', () => {
  describe('decodeDefault: JSON when it parses, else the string', () => {
    it.each<[string, unknown]>([
      ['{"a":1,"b":[true,null]}', { a: 1, b: [true, null] }],
      ['[1,2]', [1, 2]],
      ['42', 42],
      ['-3.5', -3.5],
      ['1e3', 1000],
      ['true', true],
      ['false', false],
      ['null', null],
      ['"quoted"', 'quoted'],
      [' 7 ', 7],
      ['hello', 'hello'],
      ['', ''],
      ['   ', '   '],
      ['{broken', '{broken'],
      ['1.2.3', '1.2.3'],
      ['0x10', '0x10'],
      ['True', 'True'],
      ['NaN', 'NaN'],
      ['-', '-'],
      ['http://example.com', 'http://example.com'],
    ])('%j -> %j', (raw, expected) => {
      expect(decodeDefault(raw)).toEqual(expected);
    });

    it('decodes deeply nested JSON without blowing the stack', () => {
      const depth = 50_000;
      let value = decodeDefault('['.repeat(depth) + ']'.repeat(depth));
      let measured = 0;
      while (Array.isArray(value) && value.length > 0) {
        value = value[0] as unknown;
        measured++;
      }
      expect(measured).toBe(depth - 1);
    });
  });

  describe('decodeText', () => {
    it('accepts UTF-8 (including multi-byte characters)', () => {
      expect(decodeText(bytes('héllo ✓ 🚀'))).toEqual({ ok: true, value: 'héllo ✓ 🚀' });
    });
    it('rejects invalid UTF-8 with a reason naming the size', () => {
      const result = decodeText(Buffer.from([0xff, 0xfe, 0xc3, 0x28]));
      expect(result.ok).toBe(false);
      expect(!result.ok && result.reason).toMatch(/not valid UTF-8.*4 bytes/);
    });
  });

  describe('decodeWith: parse, then schema', () => {
    const portSchema = {
      parse(value: unknown): number {
        if (typeof value !== 'number' || value < 1 || value > 65535) {
          throw new Error('expected a port');
        }
        return value;
      },
    };

    it('uses the default decoding without options', () => {
      expect(decodeWith(bytes('{"x":1}'), {})).toEqual({ ok: true, value: { x: 1 } });
    });
    it('parse replaces the default decoding', () => {
      expect(decodeWith(bytes('{"x":1}'), { parse: raw => raw.length })).toEqual({
        ok: true,
        value: 7,
      });
    });
    it('schema validates (and may transform) the decoded value', () => {
      expect(decodeWith(bytes('8080'), { schema: portSchema })).toEqual({ ok: true, value: 8080 });
      const trimming = { parse: (v: unknown) => String(v).trim() };
      expect(decodeWith(bytes('"  padded "'), { schema: trimming })).toEqual({
        ok: true,
        value: 'padded',
      });
    });
    it('schema runs after parse', () => {
      const result = decodeWith(bytes('port=9000'), {
        parse: raw => Number(raw.split('=')[1]),
        schema: portSchema,
      });
      expect(result).toEqual({ ok: true, value: 9000 });
    });
    it('a throwing parse is a rejection with the reason', () => {
      const result = decodeWith(bytes('x'), {
        parse: () => {
          throw new Error('bad\n  format');
        },
      });
      expect(result).toEqual({ ok: false, reason: 'parse failed: bad format' });
    });
    it('a throwing schema is a rejection with the reason', () => {
      expect(decodeWith(bytes('"nope"'), { schema: portSchema })).toEqual({
        ok: false,
        reason: 'schema rejected it: expected a port',
      });
      expect(decodeWith(bytes('70000'), { schema: portSchema }).ok).toBe(false);
    });
    it('truncates very long reasons (one readable line)', () => {
      const result = decodeWith(bytes('x'), {
        schema: {
          parse: () => {
            throw new Error('y'.repeat(5000));
          },
        },
      });
      expect(result.ok).toBe(false);
      expect(!result.ok && result.reason.length).toBeLessThanOrEqual(330);
    });
    it('a thrown non-Error is reported too', () => {
      const result = decodeWith(bytes('x'), {
        parse: () => {
          throw 'plain string'; // eslint-disable-line @typescript-eslint/only-throw-error
        },
      });
      expect(result).toEqual({ ok: false, reason: 'parse failed: plain string' });
    });
    it('invalid UTF-8 is rejected before parse runs', () => {
      let called = false;
      const result = decodeWith(Buffer.from([0xff]), {
        parse: () => {
          called = true;
          return 1;
        },
      });
      expect(result.ok).toBe(false);
      expect(called).toBe(false);
    });
  });

  describe('encodeValue: strings as-is, anything else as JSON', () => {
    it.each<[unknown, string]>([
      ['plain', 'plain'],
      ['{"already":"json"}', '{"already":"json"}'],
      [42, '42'],
      [false, 'false'],
      [null, 'null'],
      [{ a: [1, 'b'] }, '{"a":[1,"b"]}'],
    ])('%j -> %j', (value, expected) => {
      expect(encodeValue(value)).toBe(expected);
    });
    it('round-trips through decodeDefault (except strings that look like JSON)', () => {
      for (const value of [42, false, null, { a: { b: [1, 2] } }, 'hello']) {
        expect(decodeDefault(encodeValue(value))).toEqual(value);
      }
    });
    it('refuses values that cannot be stored', () => {
      expect(() => encodeValue(undefined)).toThrow(/delete\(\)/);
      expect(() => encodeValue(() => 1)).toThrow(TypeError);
      expect(() => encodeValue(Symbol('s'))).toThrow(TypeError);
      expect(() => encodeValue(10n)).toThrow();
    });
  });
});
