import {
  type ParseResult,
  parseInstance,
  serializeInstance,
} from '../../lib/discovery/service-instance.codec.js';
import type { ServiceInstance } from '../../lib/discovery/service-instance.interface.js';

const parse = (value: string | Uint8Array): ParseResult =>
  parseInstance('orders', 'web-1', typeof value === 'string' ? Buffer.from(value) : value);

function reasonOf(value: string | Uint8Array): string {
  const result = parse(value);
  if (result.ok) throw new Error(`expected ${String(value)} to be rejected`);
  return result.reason;
}

describe('service instance wire format', () => {
  describe('parseInstance', () => {
    it('accepts the plain {"host", "port"} a script writes, with defaults', () => {
      expect(parse('{"host": "10.0.0.5", "port": 8080}')).toEqual({
        ok: true,
        instance: {
          serviceName: 'orders',
          instanceId: 'web-1',
          host: '10.0.0.5',
          port: 8080,
          metadata: {},
          weight: 1,
        },
      });
    });

    it('reads every field this module writes; serviceName and instanceId come from the key', () => {
      const value = JSON.stringify({
        host: 'orders-1.internal',
        port: 443,
        serviceName: 'something-else',
        instanceId: 'not-the-key',
        metadata: { version: '2.0.0', zone: 'b', tags: ['x'] },
        weight: 2.5,
        registeredAt: '2026-01-02T03:04:05.000Z',
      });
      expect(parse(value)).toEqual({
        ok: true,
        instance: {
          serviceName: 'orders',
          instanceId: 'web-1',
          host: 'orders-1.internal',
          port: 443,
          metadata: { version: '2.0.0', zone: 'b', tags: ['x'] },
          weight: 2.5,
          registeredAt: '2026-01-02T03:04:05.000Z',
        },
      });
    });

    it('ignores unknown fields and a registeredAt that is not a string', () => {
      const result = parse('{"host":"h","port":1,"extra":true,"registeredAt":12}');
      expect(result.ok && result.instance).toEqual({
        serviceName: 'orders',
        instanceId: 'web-1',
        host: 'h',
        port: 1,
        metadata: {},
        weight: 1,
      });
    });

    it('reads "metadata": null and "weight": null as absent', () => {
      const result = parse('{"host":"h","port":1,"metadata":null,"weight":null}');
      expect(result.ok && [result.instance.metadata, result.instance.weight]).toEqual([{}, 1]);
    });

    it.each([
      ['a DNS name', 'orders-1.svc.cluster.local', 'orders-1.svc.cluster.local'],
      ['a Docker name with "_"', 'app_web_1', 'app_web_1'],
      ['an IPv4 address', '10.0.0.5', '10.0.0.5'],
      ['a bare IPv6 address', '::1', '::1'],
      ['an IPv6 address in brackets, returned bare', '[fe80::1]', 'fe80::1'],
    ])('accepts %s as host', (_label, host, expected) => {
      const result = parse(JSON.stringify({ host, port: 80 }));
      expect(result.ok && result.instance.host).toBe(expected);
    });

    it('accepts a port written as a string of digits (common in shell scripts)', () => {
      const result = parse('{"host":"h","port":"8080"}');
      expect(result.ok && result.instance.port).toBe(8080);
    });

    it('accepts weight 0 (drained) and tolerates whitespace', () => {
      const result = parse('  {\n "host" : "h",\n "port": 65535, "weight": 0 }\n');
      expect(result.ok && [result.instance.port, result.instance.weight]).toEqual([65535, 0]);
    });

    it.each([
      ['not JSON', 'hello world', /not JSON: "hello world"/],
      ['truncated JSON', '{"host":', /not JSON/],
      ['empty value', '', /not JSON/],
      ['a JSON array', '[1, 2]', /not a JSON object/],
      ['JSON null', 'null', /not a JSON object/],
      ['a JSON string', '"10.0.0.5:8080"', /not a JSON object/],
      ['a JSON number', '8080', /not a JSON object/],
      ['no host', '{"port": 1}', /"host" must be a DNS name, .*got nothing/],
      ['empty host', '{"host": "", "port": 1}', /"host" must be a DNS name/],
      ['host with a port', '{"host": "h:8080", "port": 1}', /"host".*without port.*"h:8080"/],
      ['host with a user', '{"host": "u@h", "port": 1}', /"host".*"u@h"/],
      ['host with a query', '{"host": "h?q", "port": 1}', /"host".*"h\?q"/],
      ['host with a path', '{"host": "h/x", "port": 1}', /"host".*"h\/x"/],
      ['host with a scheme', '{"host": "http://h", "port": 1}', /"host"/],
      ['host not an IPv4', '{"host": "999.1.1.1", "port": 1}', /"host".*"999.1.1.1"/],
      ['bracketed non-IPv6', '{"host": "[h]", "port": 1}', /"host"/],
      ['host not a string', '{"host": ["a"], "port": 1}', /"host".*got an array/],
      ['host a number', '{"host": 10, "port": 1}', /"host".*got number 10/],
      ['no port', '{"host": "h"}', /"port" must be an integer from 1 to 65535, got nothing/],
      ['port true', '{"host": "h", "port": true}', /"port".*got boolean true/],
      ['port 0', '{"host": "h", "port": 0}', /"port".*got number 0/],
      ['port too large', '{"host": "h", "port": 70000}', /"port".*got number 70000/],
      ['port negative', '{"host": "h", "port": -1}', /"port"/],
      ['port fractional', '{"host": "h", "port": 80.5}', /"port"/],
      ['port not digits', '{"host": "h", "port": "http"}', /"port".*got the string "http"/],
      ['port an object', '{"host": "h", "port": {"n": 1}}', /"port".*got an object/],
      ['metadata an array', '{"host": "h", "port": 1, "metadata": []}', /"metadata".*an array/],
      ['metadata a string', '{"host": "h", "port": 1, "metadata": "x"}', /"metadata"/],
      ['weight a string', '{"host": "h", "port": 1, "weight": "heavy"}', /"weight".*"heavy"/],
      [
        'weight negative',
        '{"host": "h", "port": 1, "weight": -1}',
        /"weight" must be a number >= 0/,
      ],
    ])('rejects %s with a reason a person can act on', (_label, value, reason) => {
      expect(reasonOf(value)).toMatch(reason);
    });

    it('rejects bytes that are not UTF-8 without throwing', () => {
      expect(reasonOf(new Uint8Array([0xff, 0xfe, 0x00, 0x41]))).toMatch(
        /not UTF-8 text \(4 bytes\)/,
      );
    });

    it('keeps reasons short for huge values', () => {
      const reason = reasonOf(`not json ${'x'.repeat(10_000)}`);
      expect(reason.length).toBeLessThan(120);
      expect(reason).toMatch(/\.\.\."$/);
    });
  });

  describe('serializeInstance', () => {
    const instance: ServiceInstance = {
      serviceName: 'orders',
      instanceId: 'web-1',
      host: '127.0.0.1',
      port: 3000,
      metadata: { version: '1.0.0' },
      weight: 2,
      registeredAt: '2026-01-02T03:04:05.000Z',
    };

    it('writes one JSON object with host and port first, then the other fields', () => {
      const text = serializeInstance(instance);
      expect(Object.keys(JSON.parse(text) as object)).toEqual([
        'host',
        'port',
        'serviceName',
        'instanceId',
        'metadata',
        'weight',
        'registeredAt',
      ]);
      expect(text.startsWith('{"host":"127.0.0.1","port":3000,')).toBe(true);
    });

    it('round-trips through parseInstance', () => {
      expect(parseInstance('orders', 'web-1', Buffer.from(serializeInstance(instance)))).toEqual({
        ok: true,
        instance,
      });
    });

    it('is readable by a plain script that only knows host and port', () => {
      const { host, port } = JSON.parse(serializeInstance(instance)) as {
        host: string;
        port: number;
      };
      expect(`${host}:${port}`).toBe('127.0.0.1:3000');
    });
  });
});
