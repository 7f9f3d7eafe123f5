import { ConfigService } from '@nestjs/config';
import { mirrorValue, nestConfigStore } from '../../lib/config/nest-config.bridge.js';

/** Pins the @nestjs/config internal the mirror writes to (its `internalConfig` store). */
describe('nestConfig mirror on the installed @nestjs/config', () => {
  const before = { ...process.env };
  afterEach(() => {
    expect(process.env).toEqual(before); // the mirror never writes process.env
  });

  it('get() reads what the mirror writes, dotted and odd keys included, without process.env', () => {
    const service = new ConfigService({});
    const store = nestConfigStore(service);
    mirrorValue(store, 'greeting', 'hello');
    mirrorValue(store, 'feature.flag', true);
    mirrorValue(store, 'db/pool', { max: 5 });
    mirrorValue(store, '__proto__', { a: 1 });
    expect(service.get('greeting')).toBe('hello');
    expect(service.get('feature.flag')).toBe(true);
    expect(service.get('db/pool')).toEqual({ max: 5 });
    // An own property of the store (@nestjs/config's get() refuses the path `__proto__` itself).
    expect(Object.getOwnPropertyDescriptor(store, '__proto__')?.value).toEqual({ a: 1 });
    expect(Object.getPrototypeOf(store)).toBe(Object.prototype);
  });

  it('a value shadows an environment variable; deleting it falls back to the variable', () => {
    const service = new ConfigService({});
    const store = nestConfigStore(service);
    mirrorValue(store, 'PATH', '/from/etcd');
    expect(service.get('PATH')).toBe('/from/etcd');
    mirrorValue(store, 'PATH', undefined);
    expect(service.get('PATH')).toBe(process.env.PATH);
  });

  it('an object without the store is refused with a line naming @nestjs/config', () => {
    expect(() => nestConfigStore({})).toThrow(/@nestjs\/config/);
  });
});
