import { Body, HttpCode, Inject, Param, Post, Req } from '@nestjs/common';
import { diffLines } from '../admin/text-diff.js';
import { ConfigConflictError } from '../errors/config-conflict.error.js';
import { ConfigValidationError } from '../errors/config-validation.error.js';
import { CSRF_FIELD } from './console-csrf.js';
import { formOf, htmlResponse, seeOther } from './console-http.js';
import type { ConsoleRequest } from './console.interfaces.js';
import { ConsoleRuntime } from './console-runtime.js';
import { html } from './html.js';
import { invalidPage, previewPage, type KeyRef } from './pages/key.page.js';
import {
  href,
  message,
  renderPage,
  servicePath,
  type Page,
  type PageContext,
} from './pages/layout.js';

/** Every write route is `services/:service/<action>`: three segments below the console's root. */
const DEPTH = 3;

/** What a write handler gets once the request passed the read-only, origin and token checks. */
interface WriteRequest {
  ctx: PageContext;
  ref: KeyRef;
  form: Record<string, string>;
  actor: string;
}

/**
 * The console's writes: POSTs only, refused on a read-only console (403), refused without a
 * same-origin request and a valid CSRF token (403), each through the admin core with the actor
 * from `actor(req)` (recorded in the audit). After a write the browser is sent to the key's page
 * (303), which shows the outcome and the instances taking it.
 */
export class ConsoleActionsController {
  constructor(@Inject(ConsoleRuntime) private readonly console: ConsoleRuntime) {}

  /** Validates a candidate value against every live instance it would reach: writes nothing. */
  @Post('services/:service/preview')
  @HttpCode(200)
  preview(@Req() req: ConsoleRequest, @Param('service') service: string, @Body() body: unknown) {
    return this.write(req, service, body, async ({ ctx, ref, form }) => {
      const value = await (
        await this.console.admin()
      ).get(service, ref.key, { profile: ref.profile });
      const text = normalizeNewlines(form.text ?? '', value.text);
      const report = await (
        await this.console.admin()
      ).validate(service, ref.key, text, {
        profile: ref.profile,
      });
      if (!report.ok) return [invalidPage(ctx, ref, value, text, report), 422];
      return previewPage(ctx, ref, value, text, report, diffLines(value.text, text));
    });
  }

  /** Publishes: validated again, compare-and-swap on the revision the preview was made from. */
  @Post('services/:service/publish')
  @HttpCode(200)
  publish(@Req() req: ConsoleRequest, @Param('service') service: string, @Body() body: unknown) {
    return this.write(req, service, body, async ({ ctx, ref, form, actor }) => {
      const expectRevision = revisionField(form.expectRevision);
      const stored = await (
        await this.console.admin()
      ).get(service, ref.key, { profile: ref.profile });
      const text = normalizeNewlines(form.text ?? '', stored.text);
      try {
        const result = await (
          await this.console.admin()
        ).put(service, ref.key, text, {
          profile: ref.profile,
          expectRevision,
          actor,
        });
        return seeOther(done(ctx, ref, 'published', result.revision));
      } catch (err) {
        if (err instanceof ConfigValidationError) {
          const value = await (
            await this.console.admin()
          ).get(service, ref.key, { profile: ref.profile });
          const report = await (
            await this.console.admin()
          ).validate(service, ref.key, text, {
            profile: ref.profile,
          });
          return [invalidPage(ctx, ref, value, text, report), 422];
        }
        if (err instanceof ConfigConflictError) return [refused(ctx, ref, err.message), 409];
        throw err;
      }
    });
  }

  /** Writes the value the key had at `revision` (validated like a publish). */
  @Post('services/:service/rollback')
  @HttpCode(200)
  rollback(@Req() req: ConsoleRequest, @Param('service') service: string, @Body() body: unknown) {
    return this.write(req, service, body, async ({ ctx, ref, form, actor }) => {
      const revision = revisionField(form.revision);
      if (revision === undefined) return [refused(ctx, ref, 'No revision to roll back to.'), 400];
      try {
        const result = await (
          await this.console.admin()
        ).rollback(service, ref.key, revision, {
          profile: ref.profile,
          actor,
        });
        return seeOther(done(ctx, ref, 'rolledback', result.revision));
      } catch (err) {
        if (err instanceof ConfigValidationError) return [refused(ctx, ref, err.message), 422];
        throw err;
      }
    });
  }

  /** Gray release, end: the overlay's value becomes the base value (validated for every instance). */
  @Post('services/:service/promote')
  @HttpCode(200)
  promote(@Req() req: ConsoleRequest, @Param('service') service: string, @Body() body: unknown) {
    return this.write(req, service, body, async ({ ctx, ref, actor }) => {
      if (!ref.profile) return [refused(ctx, ref, 'Only a profile overlay can be promoted.'), 400];
      const overlay = await (
        await this.console.admin()
      ).get(service, ref.key, { profile: ref.profile });
      if (overlay.text === undefined) {
        return [refused(ctx, ref, `No @${ref.profile} overlay to promote.`), 409];
      }
      const base = await (await this.console.admin()).get(service, ref.key);
      try {
        const result = await (
          await this.console.admin()
        ).put(service, ref.key, overlay.text, {
          expectRevision: base.revision,
          actor,
        });
        return seeOther(done(ctx, { service, key: ref.key }, 'promoted', result.revision));
      } catch (err) {
        if (err instanceof ConfigValidationError || err instanceof ConfigConflictError) {
          return [refused(ctx, ref, err.message), 422];
        }
        throw err;
      }
    });
  }

  /** Gray release, dropped: the overlay is deleted, its instances fall back to the base value. */
  @Post('services/:service/drop')
  @HttpCode(200)
  drop(@Req() req: ConsoleRequest, @Param('service') service: string, @Body() body: unknown) {
    return this.write(req, service, body, async ({ ctx, ref, actor }) => {
      if (!ref.profile) return [refused(ctx, ref, 'Only a profile overlay can be dropped.'), 400];
      const admin = await this.console.admin();
      const overlay = await admin.get(service, ref.key, { profile: ref.profile });
      if (overlay.text === undefined) {
        return [refused(ctx, ref, `No @${ref.profile} overlay to drop.`), 409];
      }
      try {
        const result = await admin.delete(service, ref.key, {
          profile: ref.profile,
          expectRevision: overlay.revision,
          actor,
        });
        return seeOther(done(ctx, { service, key: ref.key }, 'dropped', result.revision));
      } catch (err) {
        if (err instanceof ConfigValidationError || err instanceof ConfigConflictError) {
          return [refused(ctx, ref, err.message), 422];
        }
        throw err;
      }
    });
  }

  /**
   * The handler of a write, after the checks every write passes: the console is writable, the
   * request is same-origin with a valid token, and it names a key. A handler answers a
   * `Response` (a redirect), a page, or a page with its status.
   */
  private async write(
    req: ConsoleRequest,
    service: string,
    body: unknown,
    handle: (write: WriteRequest) => Promise<Response | Page | [Page, number]>,
  ): Promise<Response> {
    const { ctx, setCookie } = this.console.context(req, DEPTH);
    const form = formOf(body);
    const fail = (status: number, text: string) =>
      htmlResponse(
        renderPage(ctx, {
          title: 'Refused',
          body: html`<h1>Refused</h1>
            ${message('bad', text)}`,
        }),
        status,
        setCookie,
      );
    if (this.console.options.readOnly) {
      return fail(403, 'This console is read-only: nothing was written.');
    }
    const refusal = this.console.csrf.refusal(req, form[CSRF_FIELD]);
    if (refusal !== undefined) return fail(403, `Refused, nothing was written: ${refusal}.`);
    const profile = form.profile ? form.profile : undefined;
    const ref: KeyRef = { service, key: form.key ?? '', profile };
    if (ref.key === '') return fail(400, 'No key given: nothing was written.');
    try {
      const answer = await handle({ ctx, ref, form, actor: this.console.actor(req) });
      if (answer instanceof Response) return answer;
      const [page, status] = Array.isArray(answer) ? answer : [answer, 200];
      return htmlResponse(renderPage(ctx, page), status, setCookie);
    } catch (err) {
      const [status, text] = this.console.describe(err);
      return fail(status, text);
    }
  }
}

/** The key page after a write, with its fixed flash message. */
function done(ctx: PageContext, ref: KeyRef, what: string, revision: number): string {
  return href(ctx, servicePath(ref.service, 'key'), {
    key: ref.key,
    profile: ref.profile,
    done: what,
    revision,
  });
}

/** A refused write: the reason, and the way back to the key. */
function refused(ctx: PageContext, ref: KeyRef, text: string): Page {
  return {
    title: 'Refused',
    body: html`<h1>Refused</h1>
      ${message('bad', text)}
      <p>
        <a
          href="${href(ctx, servicePath(ref.service, 'key'), { key: ref.key, profile: ref.profile })}"
          >Back to ${ref.key}</a
        >
      </p>`,
  };
}

/** A revision posted by a form: a non-negative integer, else undefined. */
function revisionField(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d+$/.test(value)) return undefined;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : undefined;
}

/**
 * Browsers post a textarea's line breaks as CRLF. A stored value without CR keeps its LF line
 * breaks (an unedited value is not a change); one that had CRLF keeps what the browser sent.
 */
function normalizeNewlines(text: string, stored: string | undefined): string {
  return stored?.includes('\r') ? text : text.replace(/\r\n/g, '\n');
}
