import { decodeKey, encodeKey, isUtf8Key, printableKey } from '../../lib/watch/etcd-key.js';

describe('etcd keys are bytes', () => {
  const bytes = (...parts: Array<string | number[]>) =>
    Buffer.concat(parts.map(p => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));

  it('names a UTF-8 key by its text', () => {
    for (const text of ['/config/greeting', '/config/grüße', '/services/日本/1', '/e/😀']) {
      const key = decodeKey(Buffer.from(text));
      expect(key).toBe(text);
      expect(isUtf8Key(key)).toBe(true);
      expect(encodeKey(key).equals(Buffer.from(text))).toBe(true);
    }
  });

  it('keeps keys that differ only in invalid bytes apart (no folding into U+FFFD)', () => {
    const ff = decodeKey(bytes('/config/', [0xff]));
    const fe = decodeKey(bytes('/config/', [0xfe]));
    expect(ff).not.toBe(fe);
    expect(ff).not.toBe(decodeKey(Buffer.from('/config/\ufffd')));
    expect(isUtf8Key(ff)).toBe(false);
    expect(printableKey(ff)).toBe('/config/\\xff');
  });

  it('round-trips any bytes exactly', () => {
    const samples = [
      bytes('/a/', [0xc3]), // truncated sequence
      bytes('/a/', [0xc0, 0xaf]), // overlong
      bytes('/a/', [0xed, 0xa0, 0x80]), // encoded surrogate
      bytes('/a/', [0xf4, 0x90, 0x80, 0x80]), // above U+10FFFF
      bytes('/a/ü', [0x80], '😀', [0xff, 0xfe]), // valid text around invalid bytes
      bytes([0xf0, 0x90, 0x82, 0x80]), // U+10080: a pair whose low half is in the escape range
    ];
    for (let i = 0; i < 2_000; i++) {
      samples.push(
        Buffer.from(Array.from({ length: 1 + (i % 9) }, (_, j) => (i * 31 + j * 97) % 256)),
      );
    }
    const names = new Set<string>();
    for (const sample of samples) {
      const key = decodeKey(sample);
      expect(encodeKey(key).equals(sample)).toBe(true);
      names.add(key);
    }
    expect(names.size).toBe(new Set(samples.map(s => s.toString('hex'))).size);
    expect(isUtf8Key(decodeKey(bytes([0xf0, 0x90, 0x82, 0x80])))).toBe(true);
  });

  describe('decodeKey(bytes, from): the key named from byte `from` (a namespace skipped)', () => {
    const ns = Buffer.from('/ns/');

    it('skips the namespace of an ASCII key', () => {
      expect(decodeKey(bytes('/ns/', '/config/greeting'), ns.length)).toBe('/config/greeting');
      expect(decodeKey(bytes('/ns/', 'a'), ns.length)).toBe('a');
      expect(decodeKey(bytes('/ns/'), ns.length)).toBe('');
      expect(decodeKey(bytes('/ns/x'), 0)).toBe('/ns/x');
    });

    it('skips the namespace of a UTF-8 key (below an ASCII or a UTF-8 namespace)', () => {
      const key = '/ns/配置/ключ';
      expect(decodeKey(Buffer.from(key), ns.length)).toBe('配置/ключ');
      const wide = Buffer.from('/配置/');
      expect(decodeKey(bytes('/配置/', 'ключ/😀'), wide.length)).toBe('ключ/😀');
      // an ASCII name below a UTF-8 namespace
      expect(decodeKey(bytes('/配置/', 'plain'), wide.length)).toBe('plain');
    });

    it('skips the namespace of a key with invalid bytes: the same name as the tail alone', () => {
      const tails = [
        bytes('a/', [0xff]),
        bytes([0xfe], 'b'),
        bytes('ü', [0x80], '😀', [0xc3]),
        bytes('配', [0xed, 0xa0, 0x80]),
      ];
      for (const tail of tails) {
        for (const namespace of [ns, Buffer.from('/配置/')]) {
          const name = decodeKey(Buffer.concat([namespace, tail]), namespace.length);
          expect(name).toBe(decodeKey(tail));
          expect(isUtf8Key(name)).toBe(false);
          expect(encodeKey(name).equals(tail)).toBe(true);
        }
      }
    });

    it('decodes ASCII (0x00-0x7f) exactly, edge characters included', () => {
      const all = Buffer.from(Array.from({ length: 0x80 }, (_, i) => i));
      const text = String.fromCharCode(...Array.from({ length: 0x80 }, (_, i) => i));
      expect(decodeKey(all)).toBe(text);
      expect(decodeKey(Buffer.concat([ns, all]), ns.length)).toBe(text);
      expect(decodeKey(bytes([0x00]))).toBe('\u0000');
      expect(decodeKey(bytes('/k/', [0x7f]), 3)).toBe('\u007f');
      // 0x80 is no longer ASCII: an escaped byte, not U+0080 (what a latin1 decode would give)
      expect(decodeKey(bytes('/k/', [0x80]), 3)).toBe('\udc80');
    });
  });
});
