import { hostPort, parseHost, parsePort } from '../../lib/common/host-address.js';

describe('host and port rules (lib/common/host-address.ts)', () => {
  it.each([
    ['localhost', 'localhost'],
    ['orders.internal.', 'orders.internal.'],
    ['a-b.c_d.example', 'a-b.c_d.example'],
    ['127.0.0.1', '127.0.0.1'],
    ['::1', '::1'],
    ['[::1]', '::1'],
    ['[2001:DB8::7]', '2001:db8::7'],
    ['::ffff:10.0.0.1', '::ffff:10.0.0.1'],
    ['x'.repeat(63), 'x'.repeat(63)],
  ])('accepts %s', (host, expected) => {
    expect(parseHost(host)).toBe(expected);
  });

  it.each([
    [''],
    ['h:8080'],
    ['u@h'],
    ['h?q'],
    ['h/x'],
    ['h#f'],
    ['http://h'],
    ['h x'],
    ['-h'],
    ['h-'],
    ['a..b'],
    ['999.1.1.1'],
    ['10.1'],
    ['0x7f.1'],
    ['[h]'],
    ['[::1]:80'],
    ['fe80::1%eth0'],
    ['[fe80::1%25eth0]'],
    ['x'.repeat(64)],
    [`${'a.'.repeat(127)}ab`],
    ['ünïcode'],
  ])('refuses %j', host => {
    expect(parseHost(host)).toBeUndefined();
  });

  it('refuses what is not a string', () => {
    for (const host of [undefined, null, 1, ['h'], { host: 'h' }]) {
      expect(parseHost(host)).toBeUndefined();
    }
  });

  it('accepts ports 1..65535, as numbers or strings of digits', () => {
    expect([1, 80, 65535, '8080'].map(parsePort)).toEqual([1, 80, 65535, 8080]);
    for (const port of [0, -1, 65536, 80.5, NaN, '80a', '', ' 80', true, null, undefined]) {
      expect(parsePort(port)).toBeUndefined();
    }
  });

  it('puts an IPv6 host in brackets in a URL authority', () => {
    expect(hostPort('::1', 80)).toBe('[::1]:80');
    expect(hostPort('h', 80)).toBe('h:80');
  });
});
