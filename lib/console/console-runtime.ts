import { Logger, type OnModuleDestroy } from '@nestjs/common';
import { Subject, type Observable } from 'rxjs';
import { EtcdAdmin } from '../admin/etcd-admin.js';
import type { EtcdConnection } from '../client/etcd-connection.js';
import type { EtcdAdminOptions } from '../admin/admin.interfaces.js';
import { NestEtcdError } from '../errors/nest-etcd.error.js';
import { UnknownServiceError } from '../errors/unknown-service.error.js';
import { ConfigKeyOutsidePrefixError } from '../errors/config-key-outside-prefix.error.js';
import { EtcdUnavailableError } from '../errors/etcd-unavailable.error.js';
import { EtcdConnectionError } from '../errors/etcd-connection.error.js';
import { ConsoleCsrf } from './console-csrf.js';
import { baseOf, htmlResponse } from './console-http.js';
import type { ConsoleRequest, ResolvedConsoleOptions } from './console.interfaces.js';
import { ConsoleViews } from './console-views.js';
import { html } from './html.js';
import { message, renderPage, type Page, type PageContext } from './pages/layout.js';

/**
 * One console's state (one per `EtcdConsoleModule.forRoot()`, nothing static): its options, its
 * CSRF secret, its views on the admin core, and the end of its live streams at shutdown.
 */
export class ConsoleRuntime implements OnModuleDestroy {
  readonly csrf = new ConsoleCsrf();
  private readonly closing = new Subject<void>();
  private readonly logger = new Logger('EtcdConsole');
  private connecting: Promise<EtcdAdmin> | undefined;

  constructor(
    readonly options: ResolvedConsoleOptions,
    /**
     * The host's `EtcdAdmin` (`admin` option), or how to connect the console's own (`connection`
     * options), or the `EtcdModule`'s connection (`moduleConnection`) to build it on.
     */
    private readonly source: {
      admin?: EtcdAdmin;
      connection?: EtcdAdminOptions;
      moduleConnection?: EtcdConnection;
    },
  ) {}

  /**
   * The admin core the pages render: the host's, or the console's own, connected on first use
   * (a console never fails or delays the host's boot because etcd is unreachable: its pages say
   * so, and the next request tries again).
   */
  admin(): Promise<EtcdAdmin> {
    if (this.source.admin) return Promise.resolve(this.source.admin);
    const lent = this.source.connection === undefined ? this.source.moduleConnection : undefined;
    if (lent) {
      // One etcd client per app: the module's; the admin never closes it.
      this.connecting ??= Promise.resolve(EtcdAdmin.fromConnection(lent, { watchFleet: true }));
      return this.connecting;
    }
    this.connecting ??= EtcdAdmin.connect({
      watchFleet: true,
      ...this.source.connection,
    }).catch((err: unknown) => {
      this.connecting = undefined;
      throw err;
    });
    return this.connecting;
  }

  /** What the pages show, on the admin core. */
  async views(): Promise<ConsoleViews> {
    return new ConsoleViews(await this.admin());
  }

  /** Emits once when the app shuts down: live streams end. */
  get closing$(): Observable<void> {
    return this.closing.asObservable();
  }

  /** Who acts, as `actor(req)` says (a throwing or empty `actor` is `anonymous`). */
  actor(req: ConsoleRequest): string {
    try {
      const actor = this.options.actor(req);
      return typeof actor === 'string' && actor.length > 0 ? actor : 'anonymous';
    } catch {
      return 'anonymous';
    }
  }

  /**
   * The context of a page answering `req` on a route `depth` segments below the console's root,
   * and the cookie to set when the browser has no CSRF nonce yet.
   */
  context(req: ConsoleRequest, depth: number): { ctx: PageContext; setCookie?: string } {
    const base = baseOf(req, depth);
    let nonce = this.csrf.nonceOf(req);
    let setCookie: string | undefined;
    if (nonce === undefined) {
      ({ nonce, setCookie } = this.csrf.newNonce(base || '/'));
    }
    return {
      ctx: {
        base,
        readOnly: this.options.readOnly,
        banner: this.options.banner,
        csrf: this.csrf.tokenFor(nonce),
        actor: this.actor(req),
      },
      setCookie,
    };
  }

  /** Renders a page (HTML response), or the page of the error `build` threw. */
  async page(
    req: ConsoleRequest,
    depth: number,
    build: (ctx: PageContext) => Promise<Page | Response>,
    status = 200,
  ): Promise<Response> {
    const { ctx, setCookie } = this.context(req, depth);
    try {
      const page = await build(ctx);
      if (page instanceof Response) return page;
      return htmlResponse(renderPage(ctx, page), status, setCookie);
    } catch (err) {
      const [code, text] = this.describe(err);
      return htmlResponse(
        renderPage(ctx, {
          title: 'Error',
          body: html`<h1>Error</h1>
            ${message('bad', text)}`,
        }),
        code,
        setCookie,
      );
    }
  }

  /** The status and one line a person can act on, for an error of a page or a write. */
  describe(err: unknown): [number, string] {
    if (err instanceof UnknownServiceError) return [404, err.message];
    if (err instanceof ConfigKeyOutsidePrefixError) return [400, err.message];
    if (err instanceof EtcdUnavailableError || err instanceof EtcdConnectionError) {
      return [503, err.message];
    }
    if (err instanceof NestEtcdError) return [500, err.message];
    this.logger.error(
      `unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
    );
    return [500, 'Unexpected error: see the server log.'];
  }

  async onModuleDestroy(): Promise<void> {
    this.closing.next();
    this.closing.complete();
    const own = this.connecting;
    this.connecting = undefined;
    if (own) await (await own.catch(() => undefined))?.close();
  }
}
