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
import type { AdminInstance, ServiceSummary } from '../admin/admin.interfaces.js';
import { diffLines } from '../admin/text-diff.js';
import { CONSOLE_CSS, CONSOLE_JS } from './console-assets.js';
import { assetResponse } from './console-http.js';
import type { ConsoleRequest } from './console.interfaces.js';
import { ConsoleRuntime } from './console-runtime.js';
import type { ConsoleViews } from './console-views.js';
import type { SafeHtml } from './html.js';
import { auditPage } from './pages/audit.page.js';
import { configPage, configTable } from './pages/config.page.js';
import { diffPage, keyInstancesTable, keyPage, type KeyRef } from './pages/key.page.js';
import { message, type Page, type PageContext } from './pages/layout.js';
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
 * A live region of a page (the element with id `id`, updated by server-sent events): its data, read
 * once per render, and the HTML rendered from it.
 */
interface LiveRegion<T> {
  readonly id: string;
  load(): Promise<T>;
  region(ctx: PageContext, data: T): SafeHtml;
}

/** A page and its live region, rendered from the same read: each pair written once. */
interface LiveView<T> extends LiveRegion<T> {
  page(ctx: PageContext, data: T): Page;
}

type ConfigData = Awaited<ReturnType<ConsoleViews['config']>>;

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
    return this.page(req, 0, this.servicesView());
  }

  @Sse('events')
  servicesEvents(@Req() req: ConsoleRequest): Observable<MessageEvent> {
    return this.live(req, 1, this.servicesView());
  }

  @Get('services/:service')
  service(@Req() req: ConsoleRequest, @Param('service') service: string): Promise<Response> {
    return this.page(req, 2, this.instancesView(service));
  }

  @Sse('services/:service/events')
  serviceEvents(
    @Req() req: ConsoleRequest,
    @Param('service') service: string,
  ): Observable<MessageEvent> {
    return this.live(req, 3, this.instancesView(service));
  }

  @Get('services/:service/config')
  config(@Req() req: ConsoleRequest, @Param('service') service: string): Promise<Response> {
    return this.page(req, 3, this.configView(service));
  }

  @Sse('services/:service/config/events')
  configEvents(
    @Req() req: ConsoleRequest,
    @Param('service') service: string,
  ): Observable<MessageEvent> {
    return this.live(req, 4, this.configView(service));
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
    return this.live(req, 4, {
      id: 'key-instances',
      load: async () => (await this.console.views()).keyInstances(ref),
      region: (_ctx, instances) => keyInstancesTable(instances),
    });
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

  private servicesView(): LiveView<ServiceSummary[]> {
    return {
      id: 'services',
      load: async () => (await this.console.admin()).services(),
      page: servicesPage,
      region: servicesTable,
    };
  }

  private instancesView(service: string): LiveView<AdminInstance[]> {
    return {
      id: 'instances',
      load: async () => (await this.console.views()).instances(service),
      page: (ctx, instances) => servicePage(ctx, service, instances),
      region: instancesTable,
    };
  }

  private configView(service: string): LiveView<ConfigData> {
    return {
      id: 'config',
      load: async () => (await this.console.views()).config(service),
      page: (ctx, { statuses, keys }) => configPage(ctx, service, statuses, keys),
      region: (ctx, { statuses, keys }) => configTable(ctx, service, statuses, keys),
    };
  }

  /** A view's page: its data read once, rendered whole. */
  private page<T>(req: ConsoleRequest, depth: number, view: LiveView<T>): Promise<Response> {
    return this.console.page(req, depth, async ctx => view.page(ctx, await view.load()));
  }

  /**
   * A view's live region: read and rendered again every `refreshInterval`, sent only when it
   * changed; an error is shown in the region and the stream goes on. Ends when the client leaves or
   * the app closes.
   */
  private live<T>(
    req: ConsoleRequest,
    depth: number,
    view: LiveRegion<T>,
  ): Observable<MessageEvent> {
    const { ctx } = this.console.context(req, depth);
    const { id } = view;
    return timer(0, this.console.options.refreshInterval).pipe(
      exhaustMap(() =>
        from(view.load().then(data => view.region(ctx, data))).pipe(
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
