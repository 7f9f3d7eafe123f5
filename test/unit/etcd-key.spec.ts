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
});
