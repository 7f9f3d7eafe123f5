import type { ExecutionContext } from '@nestjs/common';
import { ForbiddenException } from '@nestjs/common';
import { LoopbackOnlyGuard, isLoopback } from '../../sample-app/src/loopback-only.guard.js';

function http(url: string, remoteAddress: string): ExecutionContext {
  return {
    getType: () => 'http',
    switchToHttp: () => ({ getRequest: () => ({ url, socket: { remoteAddress } }) }),
  } as unknown as ExecutionContext;
}

describe("sample app: the console's loopback-only guard", () => {
  const guard = new LoopbackOnlyGuard();

  it('knows loopback addresses (IPv4, IPv4-mapped IPv6, IPv6) from others', () => {
    expect(['127.0.0.1', '127.8.9.10', '::ffff:127.0.0.1', '::1'].map(isLoopback)).toEqual([
      true,
      true,
      true,
      true,
    ]);
    expect(['10.0.0.2', '::ffff:192.0.2.1', '2001:db8::1', '', undefined].map(isLoopback)).toEqual([
      false,
      false,
      false,
      false,
      false,
    ]);
  });

  it('refuses a non-loopback peer on /etcd and below, and nowhere else', () => {
    expect(() => guard.canActivate(http('/etcd', '192.0.2.1'))).toThrow(ForbiddenException);
    expect(() => guard.canActivate(http('/etcd/services/x?y=1', '192.0.2.1'))).toThrow(
      ForbiddenException,
    );
    expect(guard.canActivate(http('/etcd/services/x', '127.0.0.1'))).toBe(true);
    expect(guard.canActivate(http('/etcdx', '192.0.2.1'))).toBe(true);
    expect(guard.canActivate(http('/', '192.0.2.1'))).toBe(true);
  });
});
