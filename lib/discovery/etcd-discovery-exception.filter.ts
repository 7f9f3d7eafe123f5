import {
  type ArgumentsHost,
  Catch,
  type ExceptionFilter,
  HttpStatus,
  Logger,
  Optional,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { type Observable, throwError } from 'rxjs';
import { NoInstanceAvailableError } from '../errors/no-instance-available.error.js';
import { ServiceCallError } from '../errors/service-call.error.js';

/** The JSON body {@link EtcdDiscoveryExceptionFilter} answers with. */
export interface EtcdDiscoveryErrorBody {
  statusCode: 503;
  error: 'Service Unavailable';
  /** `service "<name>" is unavailable`: no instance address or reason reaches the caller. */
  message: string;
  /** The service that could not be called. */
  service: string;
}

/**
 * Turns {@link NoInstanceAvailableError} and {@link ServiceCallError} (from `registry.fetch()` and
 * `EtcdClientProxy`) into HTTP **503 Service Unavailable** instead of Nest's default 500: the
 * dependency is down, not this app. The answer names the service only; the full error (instances
 * tried and why they failed) goes to the log, one warning line. It answers through Nest's
 * `HttpAdapterHost` (express, fastify); in other contexts (a microservice handler) the error goes on
 * unchanged.
 *
 * @example
 * ```ts
 * // for the whole app, with the HTTP adapter taken from Nest:
 * providers: [{ provide: APP_FILTER, useClass: EtcdDiscoveryExceptionFilter }]
 * // or: app.useGlobalFilters(new EtcdDiscoveryExceptionFilter(app.get(HttpAdapterHost)));
 * // or on one controller: @UseFilters(EtcdDiscoveryExceptionFilter)
 * ```
 */
@Catch(NoInstanceAvailableError, ServiceCallError)
export class EtcdDiscoveryExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('EtcdDiscovery');

  constructor(@Optional() private readonly adapterHost?: HttpAdapterHost) {}

  catch(
    exception: NoInstanceAvailableError | ServiceCallError,
    host: ArgumentsHost,
  ): Observable<never> | undefined {
    // an RPC handler (a microservice calling another through the registry) keeps its error
    if (host.getType() !== 'http') return throwError(() => exception);
    const http = host.switchToHttp();
    const body: EtcdDiscoveryErrorBody = {
      statusCode: HttpStatus.SERVICE_UNAVAILABLE,
      error: 'Service Unavailable',
      message: `service "${exception.serviceName}" is unavailable`,
      service: exception.serviceName,
    };
    this.logger.warn(`answered 503: ${exception.message}`);
    const adapter = this.adapterHost?.httpAdapter;
    if (adapter) {
      adapter.reply(http.getResponse(), body, HttpStatus.SERVICE_UNAVAILABLE);
      return undefined;
    }
    // no adapter host (a filter built with `new` and no argument): express's response API
    const response = http.getResponse<{
      status(code: number): { json(body: unknown): void };
    }>();
    response.status(HttpStatus.SERVICE_UNAVAILABLE).json(body);
    return undefined;
  }
}
