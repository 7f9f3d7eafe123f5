import { Controller, Module, type DynamicModule, type Type } from '@nestjs/common';
import { EtcdConnection } from '../client/etcd-connection.js';
import { ConsoleActionsController } from './console-actions.controller.js';
import { ConsolePagesController } from './console-pages.controller.js';
import { ConsoleRuntime } from './console-runtime.js';
import { resolveConsoleOptions } from './console-options.resolver.js';
import type { EtcdConsoleOptions } from './console.interfaces.js';

/**
 * The etcd console: services and their instances, each service's config (values per profile,
 * formats, schemas, which instance serves which revision, live), a key's history with diffs and
 * rollback, edit with validation against the fleet's live schemas and a diff before publishing,
 * gray release (publish under a profile, promote), and the audit trail. Server-rendered pages on
 * the admin core (`nest-etcd/admin`), mounted as ordinary controllers of the host app: its global
 * prefix, guards and `RouterModule` apply. Works on express and fastify.
 *
 * Read-only unless `readOnly: false`; every write is a same-origin POST carrying a CSRF token.
 */
@Module({})
export class EtcdConsoleModule {
  /**
   * Mounts the console at `path` (default `etcd`).
   *
   * The console renders an `EtcdAdmin`: the one given as `admin`; else, when the host imports
   * `EtcdModule` (and `connection` is not given), one built on the module's connection (one etcd
   * client per app; the console never closes it); else one it connects itself with `connection`
   * (same option names and env defaults as `EtcdModule.forRoot`) on the first request, closed when
   * the app closes. The host's boot never waits for etcd because of it.
   *
   * @example
   * ```ts
   * import { Module } from '@nestjs/common';
   * import { EtcdConsoleModule } from 'nest-etcd/console';
   *
   * @Module({
   *   imports: [
   *     EtcdConsoleModule.forRoot({
   *       path: 'etcd',
   *       readOnly: false,
   *       actor: req => String(req.user?.name ?? 'anonymous'),
   *     }),
   *   ],
   * })
   * export class AppModule {}
   * ```
   */
  static forRoot(options: EtcdConsoleOptions = {}): DynamicModule {
    const resolved = resolveConsoleOptions(options);
    return {
      module: EtcdConsoleModule,
      controllers: consoleControllers(resolved.path),
      providers: [
        {
          provide: ConsoleRuntime,
          useFactory: (moduleConnection: EtcdConnection | undefined) =>
            new ConsoleRuntime(resolved, {
              admin: options.admin,
              connection: options.connection,
              moduleConnection,
            }),
          // The host's EtcdModule connection, when it has one: one etcd client per app.
          inject: [{ token: EtcdConnection, optional: true }],
        },
      ],
    };
  }
}

/**
 * The console's controllers at `path`: a subclass of each per module (Nest reads the path from the
 * class), so two consoles in one process share nothing.
 */
function consoleControllers(path: string): Type[] {
  @Controller(path)
  class EtcdConsolePagesController extends ConsolePagesController {}
  @Controller(path)
  class EtcdConsoleActionsController extends ConsoleActionsController {}
  return [EtcdConsolePagesController, EtcdConsoleActionsController];
}
