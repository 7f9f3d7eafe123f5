import { ForbiddenException, type CanActivate, type ExecutionContext } from '@nestjs/common';

/** Where the sample app mounts the etcd console (`EtcdConsoleModule.forRoot({ path })`). */
export const CONSOLE_PATH = 'etcd';

/** Loopback addresses, IPv4 (with its IPv6-mapped form) and IPv6. */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const ip = address.startsWith('::ffff:') ? address.slice(7) : address;
  return ip === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(ip);
}

/**
 * The sample app's console is read-write, so it answers only this machine: a request to
 * `/etcd...` from any other address is refused (403). A global guard (APP_GUARD), as a host would
 * protect any admin route; the console's controllers are ordinary ones, so the guard applies to
 * them. The TCP peer's address is checked, never a header a client could set.
 */
export class LoopbackOnlyGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    if (context.getType() !== 'http') return true;
    const req = context.switchToHttp().getRequest<{
      url?: string;
      socket?: { remoteAddress?: string };
    }>();
    const path = (req.url ?? '').split('?')[0]!;
    if (path !== `/${CONSOLE_PATH}` && !path.startsWith(`/${CONSOLE_PATH}/`)) return true;
    if (isLoopback(req.socket?.remoteAddress)) return true;
    throw new ForbiddenException(
      'The etcd console of the sample app answers loopback addresses only.',
    );
  }
}
