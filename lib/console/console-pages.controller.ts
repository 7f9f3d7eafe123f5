import { Get, Inject, Param, Query, Req, Sse, type MessageEvent } from '@nestjs/common';
import {
  catchError,
  distinctUntilChanged,
  exhaustMap,
  from,
  map,
  of,
  takeUntil,
  timer,
  type Observable,
} from 'rxjs';
import { diffLines } from '../admin/text-diff.js';
import { CONSOLE_CSS, CONSOLE_JS } from './console-assets.js';
import { assetResponse } from './console-http.js';
import type { ConsoleRequest } from './console.interfaces.js';
import { ConsoleRuntime } from './console-runtime.js';
import type { SafeHtml } from './html.js';
import { auditPage } from './pages/audit.page.js';
import { configPage, configTable } from './pages/config.page.js';
import { diffPage, keyInstancesTable, keyPage, type KeyRef } from './pages/key.page.js';
import { message, type PageContext } from './pages/layout.js';
import { instancesTable, servicePage, servicesPage, servicesTable } from './pages/services.page.js';

/** The flash messages a write redirects with (`?done=`): fixed texts, nothing from the request. */
const DONE: Record<string, string> = {
  published: 'Published',
  rolledback: 'Rolled back',
  promoted: 'Promoted to base',
  dropped: 'Overlay dropped',
};

/** A key page's reference from its query (`key`, `profile`). */
function keyRef(service: string, query: Record<string, unknown>): KeyRef {
  const key = typeof query.key === 'string' ? query.key : '';
  const profile =
    typeof query.profile === 'string' && query.profile !== '' ? query.profile : undefined;
  return { service, key, profile };
}

/**
 * The console's pages (GET) and their live updates (server-sent events). The route path is given
 * by `EtcdConsoleModule.forRoot({ path })`: a subclass per module carries `@Controller(path)`.
 * Each handler states the depth of its route, so links are built from the URL the browser used
 * (host prefixes included).
 */
export class ConsolePagesController {
  constructor(@Inject(ConsoleRuntime) private readonly console: ConsoleRuntime) {}

  @Get('assets/console.css')
  css(): Response {
    return assetResponse(CONSOLE_CSS, 'text/css; charset=utf-8');
  }

  @Get('assets/console.js')
  js(): Response {
    return assetResponse(CONSOLE_JS, 'text/javascript; charset=utf-8');
  }

  @Get()
  services(@Req() req: ConsoleRequest): Promise<Response> {
    return this.console.page(req, 0, async ctx =>
      servicesPage(ctx, await (await this.console.admin()).services()),
    );
  }

  @Sse('events')
  servicesEvents(@Req() req: ConsoleRequest): Observable<MessageEvent> {
    return this.live(req, 1, 'services', async ctx =>
      servicesTable(ctx, await (await this.console.admin()).services()),
    );
  }

  @Get('services/:service')
  service(@Req() req: ConsoleRequest, @Param('service') service: string): Promise<Response> {
    return this.console.page(req, 2, async ctx =>
      servicePage(ctx, service, await (await this.console.views()).instances(service)),
    );
  }

  @Sse('services/:service/events')
  serviceEvents(
    @Req() req: ConsoleRequest,
    @Param('service') service: string,
  ): Observable<MessageEvent> {
    return this.live(req, 3, 'instances', async ctx =>
      instancesTable(ctx, await (await this.console.views()).instances(service)),
    );
  }

  @Get('services/:service/config')
  config(@Req() req: ConsoleRequest, @Param('service') service: string): Promise<Response> {
    return this.console.page(req, 3, async ctx => {
      const { statuses, keys } = await (await this.console.views()).config(service);
      return configPage(ctx, service, statuses, keys);
    });
  }

  @Sse('services/:service/config/events')
  configEvents(
    @Req() req: ConsoleRequest,
    @Param('service') service: string,
  ): Observable<MessageEvent> {
    return this.live(req, 4, 'config', async ctx => {
      const { statuses, keys } = await (await this.console.views()).config(service);
      return configTable(ctx, service, statuses, keys);
    });
  }

  @Get('services/:service/key')
  key(
    @Req() req: ConsoleRequest,
    @Param('service') service: string,
    @Query() query: Record<string, unknown>,
  ): Promise<Response> {
    const ref = keyRef(service, query);
    return this.console.page(req, 3, async ctx => {
      const data = await (await this.console.views()).key(ref);
      const done = typeof query.done === 'string' ? DONE[query.done] : undefined;
      const revision = Number(query.revision);
      if (done) {
        data.flash = {
          kind: 'ok',
          text: Number.isSafeInteger(revision) ? `${done}: revision ${revision}.` : `${done}.`,
        };
      }
      return keyPage(ctx, ref, data);
    });
  }

  @Sse('services/:service/key/events')
  keyEvents(
    @Req() req: ConsoleRequest,
    @Param('service') service: string,
    @Query() query: Record<string, unknown>,
  ): Observable<MessageEvent> {
    const ref = keyRef(service, query);
    return this.live(req, 4, 'key-instances', async () =>
      keyInstancesTable(await (await this.console.views()).keyInstances(ref)),
    );
  }

  @Get('services/:service/diff')
  diff(
    @Req() req: ConsoleRequest,
    @Param('service') service: string,
    @Query() query: Record<string, unknown>,
  ): Promise<Response> {
    const ref = keyRef(service, query);
    return this.console.page(req, 3, async ctx => {
      const data = await (await this.console.views()).key(ref);
      const a = data.history.find(e => e.revision === Number(query.a));
      const b = data.history.find(e => e.revision === Number(query.b));
      if (!a || !b) {
        return {
          title: 'Diff',
          body: message('bad', 'Pick two revisions of the history (A and B).'),
        };
      }
      return diffPage(ctx, ref, a, b, diffLines(a.text, b.text), data.value.revision);
    });
  }

  @Get('services/:service/audit')
  audit(@Req() req: ConsoleRequest, @Param('service') service: string): Promise<Response> {
    return this.console.page(req, 3, async ctx =>
      auditPage(ctx, service, await (await this.console.admin()).audit(service)),
    );
  }

  /**
   * A live region: `render` again every `refreshInterval`, sent only when it changed; an error is
   * shown in the region and the stream goes on. Ends when the client leaves or the app closes.
   */
  private live(
    req: ConsoleRequest,
    depth: number,
    id: string,
    render: (ctx: PageContext) => Promise<SafeHtml>,
  ): Observable<MessageEvent> {
    const { ctx } = this.console.context(req, depth);
    return timer(0, this.console.options.refreshInterval).pipe(
      exhaustMap(() =>
        from(render(ctx)).pipe(
          map(fragment => fragment.text),
          catchError((err: unknown) => of(message('bad', this.console.describe(err)[1]).text)),
        ),
      ),
      distinctUntilChanged(),
      map(text => ({ data: JSON.stringify({ id, html: text }) })),
      takeUntil(this.console.closing$),
    );
  }
}
